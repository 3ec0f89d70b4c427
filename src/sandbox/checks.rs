//! The sandbox's own field checks, standing in for the vendor's: what it refuses and with which
//! business error code (the table in the module doc of `sandbox`). Written apart from the crate's
//! `validate` on purpose: the tool must cope with a vendor that judges differently, and a test can
//! only see that when the two are not the same code. Cheap: no regex, no allocation.

use chrono::{Datelike, NaiveDate};
use serde_json::{Map, Value};

/// A request the application refuses with HTTP 200 and `status: "False"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BusinessError {
    Body,
    OrderId,
    FirstName,
    LastName,
    Pan,
    DateOfBirth,
    Mobile,
    Email,
    OrderIdReused,
    MiddleName,
    /// With `--refuse-repeated-order-ids`: an order id seen before, even for the same PAN.
    DuplicateOrderId,
}

impl BusinessError {
    pub const ALL: [BusinessError; 11] = [
        BusinessError::Body,
        BusinessError::OrderId,
        BusinessError::FirstName,
        BusinessError::LastName,
        BusinessError::Pan,
        BusinessError::DateOfBirth,
        BusinessError::Mobile,
        BusinessError::Email,
        BusinessError::OrderIdReused,
        BusinessError::MiddleName,
        BusinessError::DuplicateOrderId,
    ];

    /// The stable code sent under `code`.
    pub fn code(self) -> &'static str {
        match self {
            BusinessError::Body => "201",
            BusinessError::OrderId => "202",
            BusinessError::FirstName => "203",
            BusinessError::LastName => "204",
            BusinessError::Pan => "205",
            BusinessError::DateOfBirth => "206",
            BusinessError::Mobile => "207",
            BusinessError::Email => "208",
            BusinessError::OrderIdReused => "209",
            BusinessError::MiddleName => "210",
            BusinessError::DuplicateOrderId => "211",
        }
    }

    /// The text sent under `description`, in the vendor's terse style.
    pub fn description(self) -> &'static str {
        match self {
            BusinessError::Body => "Invalid Request: body must be a JSON object",
            BusinessError::OrderId => "Order Id is Required",
            BusinessError::FirstName => "Invalid First Name",
            BusinessError::LastName => "Invalid Last Name",
            BusinessError::Pan => "Invalid PAN Number",
            BusinessError::DateOfBirth => "Invalid Date of Birth: expected DD/MM/YYYY",
            BusinessError::Mobile => "Invalid Mobile Number",
            BusinessError::Email => "Invalid Email Id",
            BusinessError::OrderIdReused => "Order Id already used for another PAN",
            BusinessError::MiddleName => "Invalid Middle Name",
            BusinessError::DuplicateOrderId => "Duplicate order id",
        }
    }
}

/// A PAN that passed the check: ten ASCII bytes, `AAAAA9999A`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Pan([u8; 10]);

impl Pan {
    pub fn parse(text: &str) -> Option<Pan> {
        let bytes: [u8; 10] = text.as_bytes().try_into().ok()?;
        let shape_ok = bytes.iter().enumerate().all(|(i, b)| match i {
            5..=8 => b.is_ascii_digit(),
            _ => b.is_ascii_uppercase(),
        });
        shape_ok.then_some(Pan(bytes))
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII bytes get in (see `parse`).
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The `cibil_id` the sandbox gives this PAN: 13 digits, and no two PANs share one. The PAN
    /// is read as a number (letters base 26, digits base 10: below 3.1e12) and scrambled by an
    /// affine map modulo 9e12 whose factor is coprime to 9e12, which is a bijection, then
    /// shifted into 13 digits. A PAN gets the same id in every sandbox, so a test can predict it.
    pub fn cibil_id(&self) -> u64 {
        const SPAN: u128 = 9_000_000_000_000;
        // A prime other than 2, 3 and 5, the prime factors of SPAN.
        const FACTOR: u128 = 2_654_435_761;
        const OFFSET: u128 = 1_234_567_890_123;
        let index = self.0.iter().enumerate().fold(0u128, |n, (i, b)| match i {
            5..=8 => n * 10 + u128::from(b - b'0'),
            _ => n * 26 + u128::from(b - b'A'),
        });
        let scrambled = (index * FACTOR + OFFSET) % SPAN;
        // Below 1e13 by construction, so it fits.
        u64::try_from(1_000_000_000_000 + scrambled).unwrap_or(u64::MAX)
    }
}

/// The fields a registration needs once the checks passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checked<'a> {
    pub order_id: &'a str,
    pub pan: Pan,
}

/// `order_id` as the sandbox keys it: the string as sent, when it is one.
pub fn order_id(body: &Map<String, Value>) -> Option<&str> {
    body.get("order_id").and_then(Value::as_str)
}

/// Whether the body carries exactly the configured credentials.
pub fn credentials_match(body: &Map<String, Value>, registration_id: &str, company_code: &str) -> bool {
    body.get("RegistrationID").and_then(Value::as_str) == Some(registration_id)
        && body.get("CompanyCode").and_then(Value::as_str) == Some(company_code)
}

/// The fields in the vendor's documented order; the first that fails decides the error.
pub fn check_fields<'a>(
    body: &'a Map<String, Value>,
    today: NaiveDate,
) -> Result<Checked<'a>, BusinessError> {
    let text = |key: &str| body.get(key).and_then(Value::as_str);
    let optional = |key: &str| match body.get(key) {
        None | Some(Value::Null) => Some(""),
        Some(value) => value.as_str(),
    };

    let order_id = text("order_id").filter(|o| !o.trim().is_empty()).ok_or(BusinessError::OrderId)?;
    text("first_name").filter(|n| is_name(n)).ok_or(BusinessError::FirstName)?;
    optional("middle_name").filter(|n| n.is_empty() || is_name(n)).ok_or(BusinessError::MiddleName)?;
    text("last_name").filter(|n| is_name(n)).ok_or(BusinessError::LastName)?;
    let pan = text("pancard").and_then(Pan::parse).ok_or(BusinessError::Pan)?;
    text("date_of_birth").filter(|d| is_date_of_birth(d, today)).ok_or(BusinessError::DateOfBirth)?;
    optional("email_id").filter(|e| e.is_empty() || e.contains('@')).ok_or(BusinessError::Email)?;
    // A number is refused: the vendor's sample sends a string, and a number loses leading digits
    // in some clients.
    text("mobile_number").filter(|m| is_mobile(m)).ok_or(BusinessError::Mobile)?;
    Ok(Checked { order_id, pan })
}

/// Letters, with spaces, dots, apostrophes and hyphens between them (`Mary Ann`, `D'Souza`,
/// `K.`): what the crate sends for real names. At least one letter.
fn is_name(name: &str) -> bool {
    name.bytes().any(|b| b.is_ascii_alphabetic())
        && name.bytes().all(|b| b.is_ascii_alphabetic() || matches!(b, b' ' | b'.' | b'\'' | b'-'))
}

/// `DD/MM/YYYY`, a real date, from 1900 to today.
fn is_date_of_birth(text: &str, today: NaiveDate) -> bool {
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        b[range].iter().try_fold(0u32, |n, d| d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0')))
    };
    if b.len() != 10 || b[2] != b'/' || b[5] != b'/' {
        return false;
    }
    let (Some(day), Some(month), Some(year)) = (digits(0..2), digits(3..5), digits(6..10)) else {
        return false;
    };
    let Ok(year) = i32::try_from(year) else { return false };
    NaiveDate::from_ymd_opt(year, month, day).is_some_and(|date| date.year() >= 1900 && date <= today)
}

/// Ten digits, the first 6 to 9 (an Indian mobile number).
fn is_mobile(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 10 && matches!(b[0], b'6'..=b'9') && b.iter().all(u8::is_ascii_digit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 25).unwrap()
    }

    fn valid() -> Map<String, Value> {
        let Value::Object(map) = json!({
            "order_id": "ORD-1", "first_name": "Ravi", "middle_name": "", "last_name": "Kumar",
            "pancard": "ABCPK1234F", "date_of_birth": "31/01/1985", "email_id": "ravi@example.com",
            "mobile_number": "9876543210", "RegistrationID": "AOP-SANDBOX", "CompanyCode": "CMP-SANDBOX"
        }) else {
            unreachable!()
        };
        map
    }

    fn with(key: &str, value: Value) -> Result<(), BusinessError> {
        let mut body = valid();
        if value == json!("<absent>") {
            body.remove(key);
        } else {
            body.insert(key.to_owned(), value);
        }
        check_fields(&body, today()).map(|_| ())
    }

    #[test]
    fn a_valid_body_passes_and_yields_its_order_id_and_pan() {
        let body = valid();
        let checked = check_fields(&body, today()).unwrap();
        assert_eq!((checked.order_id, checked.pan.as_str()), ("ORD-1", "ABCPK1234F"));
    }

    #[test]
    fn each_field_fails_with_its_own_code() {
        let cases: &[(&str, Value, BusinessError)] = &[
            ("order_id", json!("<absent>"), BusinessError::OrderId),
            ("order_id", json!(""), BusinessError::OrderId),
            ("order_id", json!("  "), BusinessError::OrderId),
            ("order_id", json!(1234), BusinessError::OrderId),
            ("first_name", json!("<absent>"), BusinessError::FirstName),
            ("first_name", json!(""), BusinessError::FirstName),
            ("first_name", json!("R4vi"), BusinessError::FirstName),
            ("first_name", json!("..."), BusinessError::FirstName),
            ("middle_name", json!(7), BusinessError::MiddleName),
            ("middle_name", json!("M1"), BusinessError::MiddleName),
            ("last_name", json!("<absent>"), BusinessError::LastName),
            ("last_name", json!("Kumár"), BusinessError::LastName),
            ("pancard", json!("FRS23456"), BusinessError::Pan),
            ("pancard", json!("abcpk1234f"), BusinessError::Pan),
            ("pancard", json!(" ABCPK1234F"), BusinessError::Pan),
            ("pancard", json!("ABCPK12345"), BusinessError::Pan),
            ("date_of_birth", json!("31/02/1985"), BusinessError::DateOfBirth),
            ("date_of_birth", json!("1985-01-31"), BusinessError::DateOfBirth),
            ("date_of_birth", json!("1/1/1985"), BusinessError::DateOfBirth),
            ("date_of_birth", json!("01/01/1899"), BusinessError::DateOfBirth),
            ("date_of_birth", json!("26/11/2026"), BusinessError::DateOfBirth),
            ("email_id", json!("ravi.example.com"), BusinessError::Email),
            ("email_id", json!(false), BusinessError::Email),
            ("mobile_number", json!(9876543210u64), BusinessError::Mobile),
            ("mobile_number", json!("5876543210"), BusinessError::Mobile),
            ("mobile_number", json!("987654321"), BusinessError::Mobile),
            ("mobile_number", json!("+919876543210"), BusinessError::Mobile),
        ];
        for (key, value, expected) in cases {
            assert_eq!(with(key, value.clone()), Err(*expected), "{key} = {value}");
        }
    }

    #[test]
    fn optional_fields_and_name_punctuation_pass() {
        for (key, value) in [
            ("middle_name", json!("<absent>")),
            ("middle_name", Value::Null),
            ("middle_name", json!("Mary Ann")),
            ("last_name", json!("D'Souza-Pereira Jr.")),
            ("email_id", json!("")),
            ("email_id", json!("<absent>")),
            ("email_id", Value::Null),
            ("date_of_birth", json!("29/02/2000")),
            ("date_of_birth", json!("25/11/2026")),
        ] {
            assert_eq!(with(key, value.clone()), Ok(()), "{key} = {value}");
        }
    }

    #[test]
    fn the_first_failing_field_in_documented_order_wins() {
        let mut body = valid();
        body.insert("mobile_number".into(), json!("1"));
        body.insert("pancard".into(), json!("X"));
        body.insert("middle_name".into(), json!("9"));
        assert_eq!(check_fields(&body, today()), Err(BusinessError::MiddleName));
    }

    #[test]
    fn credentials_must_match_exactly() {
        let body = valid();
        assert!(credentials_match(&body, "AOP-SANDBOX", "CMP-SANDBOX"));
        assert!(!credentials_match(&body, "AOP-SANDBOX", "cmp-sandbox"));
        let mut body = valid();
        body.remove("CompanyCode");
        assert!(!credentials_match(&body, "AOP-SANDBOX", "CMP-SANDBOX"));
    }

    #[test]
    fn cibil_ids_are_thirteen_digits_stable_and_distinct() {
        let id = |pan: &str| Pan::parse(pan).unwrap().cibil_id();
        assert_eq!(id("ABCPK1234F"), id("ABCPK1234F"));
        let ids: std::collections::HashSet<u64> =
            ["AAAAA0000A", "AAAAA0000B", "AAAAA0001A", "ZZZZZ9999Z", "ABCPK1234F", "BBCPK1234F"]
                .into_iter()
                .map(id)
                .collect();
        assert_eq!(ids.len(), 6);
        assert!(ids.iter().all(|id| (1_000_000_000_000..10_000_000_000_000).contains(id)));
    }

    #[test]
    fn codes_are_distinct_and_in_the_2xx_series() {
        let codes: std::collections::HashSet<&str> = BusinessError::ALL.iter().map(|e| e.code()).collect();
        assert_eq!(codes.len(), BusinessError::ALL.len());
        assert!(codes.iter().all(|c| c.len() == 3 && c.starts_with('2')));
    }
}
