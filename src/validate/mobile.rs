//! Mobile number rules (libphonenumber's India metadata): ten
//! digits starting 6–9, with the `+91`/`0091`/`91`/`0` prefixes people type removed — and a number
//! that a spreadsheet has already turned into scientific notation refused, never "repaired".

use std::fmt;
use std::sync::LazyLock;

use regex::Regex;

use super::Finding;

/// A ten-digit Indian mobile number, sent as a JSON string.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Mobile([u8; 10]);

impl Mobile {
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The number itself, as an exact key for finding it again within a file.
    pub fn key(&self) -> u64 {
        self.0.iter().fold(0u64, |k, b| k * 10 + u64::from(b - b'0'))
    }
}

impl fmt::Debug for Mobile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mobile({})", crate::mask::mask(self.as_str()))
    }
}

impl fmt::Display for Mobile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `9.87654E+09`: Excel's display of a long number in a General-formatted cell. Only the first
/// 6–15 digits survive (Microsoft KB 269370), so the real number is gone.
static SCIENTIFIC: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[+-]?[0-9]+(?:[.,][0-9]+)?[eE][+-]?[0-9]+$").expect("valid regex"));
/// `9876543210.0`: a number cell exported with its decimal part; nothing is lost.
static DECIMAL_ZERO: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^([0-9]+)\.0+$").expect("valid regex"));

const SHAPE: &str = "an Indian mobile number has 10 digits and starts with 6, 7, 8 or 9, like 9876543210";

pub fn check(raw: &str, findings: &mut Vec<Finding>) -> Option<Mobile> {
    let raw = raw.trim();
    if let Ok(bytes) = <[u8; 10]>::try_from(raw.as_bytes())
        && matches!(bytes[0], b'6'..=b'9')
        && bytes.iter().all(u8::is_ascii_digit)
        && bytes.iter().any(|b| *b != bytes[0])
    {
        // Ten digits as they should be: nothing to strip, nothing to warn about.
        return Some(Mobile(bytes));
    }
    if raw.is_empty() {
        findings.push(Finding::error("mobile.missing", format!("is empty: {SHAPE}")));
        return None;
    }
    if raw.contains(['e', 'E']) && SCIENTIFIC.is_match(raw) {
        findings.push(Finding::error(
            "mobile.scientific",
            "is in scientific notation: the spreadsheet has already replaced the last digits of the \
             number, so it cannot be recovered from this file. Format the column as Text, type the \
             numbers again (or copy them from the source), and export again"
                .into(),
        ));
        return None;
    }
    let raw = match raw.contains('.') {
        true => DECIMAL_ZERO.captures(raw).and_then(|c| c.get(1)).map_or(raw, |m| m.as_str()),
        false => raw,
    };

    let mut text: String =
        raw.chars().filter(|c| !c.is_whitespace() && !matches!(c, '-' | '.' | '(' | ')')).collect();
    let international = text.starts_with('+');
    if international {
        text.remove(0);
    }
    if let Some(bad) = text.chars().find(|c| !c.is_ascii_digit()) {
        findings.push(Finding::error(
            "mobile.format",
            format!("contains '{bad}', which is not a digit: {SHAPE}"),
        ));
        return None;
    }
    let digits = if international {
        match text.strip_prefix("91") {
            Some(rest) => rest,
            None => {
                findings.push(Finding::error(
                    "mobile.country",
                    format!("is not an Indian number (it does not start with +91): {SHAPE}"),
                ));
                return None;
            }
        }
    } else {
        [("0091", 14), ("91", 12), ("0", 11)]
            .iter()
            .find(|(prefix, len)| text.len() == *len && text.starts_with(prefix))
            .map_or(text.as_str(), |(prefix, _)| &text[prefix.len()..])
    };
    if digits.len() != 10 {
        findings.push(Finding::error(
            "mobile.length",
            format!("has {} digits after removing any +91 or 0 prefix: {SHAPE}", digits.len()),
        ));
        return None;
    }
    if !matches!(digits.as_bytes()[0], b'6'..=b'9') {
        findings.push(Finding::error(
            "mobile.format",
            format!("starts with {}: {SHAPE}", char::from(digits.as_bytes()[0])),
        ));
        return None;
    }
    let bytes: [u8; 10] = digits.as_bytes().try_into().ok()?;
    if bytes.iter().all(|b| *b == bytes[0]) {
        findings.push(Finding::warning(
            "mobile.repeated",
            "is one digit ten times, which looks like a placeholder rather than the customer's number".into(),
        ));
    }
    Some(Mobile(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(raw: &str) -> (Option<String>, Vec<&'static str>) {
        let mut f = Vec::new();
        let m = check(raw, &mut f).map(|m| m.to_string());
        (m, f.iter().map(|f| f.code).collect())
    }

    fn ok(raw: &str) -> Option<String> {
        let (m, codes) = run(raw);
        assert!(codes.is_empty(), "{raw}: {codes:?}");
        m
    }

    #[test]
    fn accepts_what_people_type() {
        for raw in [
            "9876543210",
            "+919876543210",
            "+91 98765 43210",
            "+91-98765-43210",
            "919876543210",
            "00919876543210",
            "09876543210",
            "98765 43210",
            "(987) 654-3210",
            "9876543210.0",
            "9876543210.00",
            "98765.43210",
        ] {
            assert_eq!(ok(raw).as_deref(), Some("9876543210"), "{raw}");
        }
    }

    #[test]
    fn scientific_notation_is_refused_with_the_text_hint() {
        let mut f = Vec::new();
        assert!(check("9.87654E+09", &mut f).is_none());
        assert_eq!(f[0].code, "mobile.scientific");
        assert!(f[0].detail.contains("Format the column as Text"));
        assert_eq!(run("9.876543210e9").1, vec!["mobile.scientific"]);
        assert_eq!(run("9,87654E+09").1, vec!["mobile.scientific"]);
    }

    #[test]
    fn rejects_what_is_not_a_mobile() {
        assert_eq!(run("").1, vec!["mobile.missing"]);
        assert_eq!(run("12345").1, vec!["mobile.length"]);
        assert_eq!(run("5876543210").1, vec!["mobile.format"]);
        assert_eq!(run("98765x3210").1, vec!["mobile.format"]);
        assert_eq!(run("+14155550123").1, vec!["mobile.country"]);
        assert_eq!(run("91987654321").1, vec!["mobile.length"]);
        assert_eq!(run("919876543210123").1, vec!["mobile.length"]);
        assert_eq!(run("9876543210.5").1, vec!["mobile.length"]);
    }

    #[test]
    fn a_prefix_is_only_removed_when_ten_digits_remain() {
        // A ten-digit number that starts with 91 keeps it.
        assert_eq!(ok("9198765432").as_deref(), Some("9198765432"));
        // 91 followed by 8 digits is not a prefix: the number is simply short.
        assert_eq!(run("9198765432 1").1, vec!["mobile.length"]);
        assert_eq!(run("919876543").1, vec!["mobile.length"]);
        // A leading 0 on ten digits stays, and no mobile starts with 0.
        assert_eq!(run("0987654321").1, vec!["mobile.format"]);
    }

    #[test]
    fn the_vendors_sample_number_is_a_warning() {
        assert_eq!(run("9999999999"), (Some("9999999999".into()), vec!["mobile.repeated"]));
    }
}
