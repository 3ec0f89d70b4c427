//! The one decision about every answer the vendor gives (ARCHITECTURE.md, "The vendor"): abort
//! the run, retry, registered, or rejected. Parses leniently — the vendor's documentation shows
//! `cibil_id` as a string and as a number, `status` as `"SUCCESS"`, `"False"` and `false`, and the
//! error code under four different names — and decides on the body, never on the status alone,
//! because Indian aggregator APIs answer business errors with HTTP 200. Nothing the vendor says is
//! trusted as it comes: every string taken from an answer is cleaned and bounded
//! (`vendor_text`), and a `cibil_id` that is not the documented run of digits is no registration.

use std::fmt::Write as _;

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};
use serde_json::{Map, Value};

use super::vendor_text::{self, FIELD_LIMIT, MESSAGE_LIMIT};

/// The most of a response body kept with a rejected row, for forensics.
pub const RAW_BODY_LIMIT: usize = 4 * 1024;

/// What became of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The customer is registered (new, or returning).
    Registered(Registration),
    /// The API refused this row: permanent for its content.
    Rejected(Rejection),
    /// Try again later: nothing is known about the row.
    Transient(Transient),
    /// Stop the whole run: the answer is about the account or the endpoint, not the row, which
    /// stays to do.
    Abort(Abort),
}

#[derive(Clone, PartialEq, Eq)]
pub struct Registration {
    pub http_status: u16,
    pub cibil_id: String,
    pub cibil_status: Option<String>,
    pub is_returning_customer: bool,
    pub merchant_trans_id: Option<String>,
    /// Needed for the OTP step that follows registration. A secret: stored, never shown.
    pub access_token: Option<String>,
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("http_status", &self.http_status)
            .field("cibil_id", &self.cibil_id)
            .field("cibil_status", &self.cibil_status)
            .field("is_returning_customer", &self.is_returning_customer)
            .field("merchant_trans_id", &self.merchant_trans_id)
            .field("access_token", &self.access_token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub http_status: u16,
    pub code: Option<String>,
    pub message: String,
    /// The body as received (capped at [`RAW_BODY_LIMIT`], tokens removed).
    pub raw: String,
    /// The vendor refused the row (its own business error): `true`. `false` for an answer this
    /// client refuses to believe, such as a registration whose `cibil_id` is not a number
    /// ([`CIBIL_ID_SHAPE`]): the vendor may well have registered the customer, so the row's
    /// `order_id` must be kept for any later attempt, never replaced by a new one.
    pub by_vendor: bool,
    /// The vendor refused the order id, not the customer: it was used before (by another state of
    /// the same merchant, or for a request it refused). A made id moves on to the next suffix.
    pub order_id_used: bool,
}

/// The error code of a registration refused because its `cibil_id` is not the documented shape.
pub const CIBIL_ID_SHAPE: &str = "cibil_id.shape";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transient {
    pub http_status: Option<u16>,
    pub reason: String,
    /// How long the server asked us to wait (`Retry-After`, seconds or HTTP-date).
    pub retry_after: Option<Duration>,
    /// The server said "too many requests": every worker should pause, not only this one.
    pub throttled: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Abort {
    pub kind: AbortKind,
    /// `None` when no HTTP answer came (a certificate refused before any request).
    pub http_status: Option<u16>,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AbortKind {
    /// 401/403: the RegistrationID/CompanyCode (or the IP whitelisting) were refused.
    Credentials,
    /// 3xx, 404, 405, 501: the endpoint or method is wrong. Every row would fail the same way, so
    /// marking rows rejected (a final status) would be wrong.
    Endpoint,
    /// The endpoint's TLS certificate is not one to trust (self-signed, expired, for another
    /// host, from an unknown authority): no request was sent, and none should be until someone
    /// looks. Retrying cannot help.
    Certificate,
}

/// Statuses that mean "not now" (rule 2 of ARCHITECTURE.md, "The vendor").
fn is_transient_status(status: u16) -> bool {
    matches!(status, 408 | 425 | 429) || (status >= 500 && status != 501)
}

/// Classifies an HTTP answer: the four rules of ARCHITECTURE.md ("The vendor") in order, plus the
/// endpoint-level abort.
pub fn classify(status: u16, headers: &HeaderMap, body: &[u8]) -> Outcome {
    classify_at(status, headers, body, SystemTime::now())
}

/// As [`classify`], with the clock that an HTTP-date `Retry-After` is measured against.
pub fn classify_at(status: u16, headers: &HeaderMap, body: &[u8], now: SystemTime) -> Outcome {
    // Rule 1: the account is refused. No row is at fault.
    if matches!(status, 401 | 403) {
        let message = parse_object(body).and_then(|o| message_of(&o)).unwrap_or_else(|| {
            format!(
                "HTTP {status}: RegistrationID/CompanyCode refused, or this machine's IP is not whitelisted"
            )
        });
        return Outcome::Abort(Abort { kind: AbortKind::Credentials, http_status: Some(status), message });
    }
    if (300..400).contains(&status) || matches!(status, 404 | 405 | 501) {
        let hint = match status {
            405 | 501 => "the endpoint does not accept this method: try --method post (or get)",
            404 => "no such endpoint: check --endpoint",
            _ => {
                "the endpoint redirects elsewhere: check --endpoint (redirects are not followed, as the body carries credentials)"
            }
        };
        return Outcome::Abort(Abort {
            kind: AbortKind::Endpoint,
            http_status: Some(status),
            message: format!("HTTP {status}: {hint}"),
        });
    }
    // Rule 2: not now.
    if is_transient_status(status) {
        return Outcome::Transient(Transient {
            http_status: Some(status),
            reason: format!("HTTP {status}"),
            retry_after: retry_after(headers, now),
            throttled: status == 429,
        });
    }
    let Some(object) = parse_object(body) else {
        let reason = if body.iter().all(u8::is_ascii_whitespace) {
            format!("HTTP {status} with an empty body")
        } else {
            format!("HTTP {status} with a body that is not JSON (a proxy's page?)")
        };
        return Outcome::Transient(Transient {
            http_status: Some(status),
            reason,
            retry_after: retry_after(headers, now),
            throttled: false,
        });
    };
    // Rule 3: registered, whatever `cibil_status` or `status` say.
    let result = get(&object, "result").and_then(Value::as_object);
    let cibil_id = result.and_then(|r| get(r, "cibil_id")).and_then(text_of).filter(|id| !id.is_empty());
    if let (true, Some(cibil_id)) = ((200..300).contains(&status), cibil_id) {
        if !vendor_text::is_cibil_id(&cibil_id) {
            return Outcome::Rejected(malformed_cibil_id(status, &cibil_id, object));
        }
        let field = |value: Option<&Value>| {
            value.and_then(text_of).map(|t| vendor_text::clean(&t, FIELD_LIMIT)).filter(|t| !t.is_empty())
        };
        return Outcome::Registered(Registration {
            http_status: status,
            cibil_id,
            cibil_status: field(result.and_then(|r| get(r, "cibil_status"))),
            is_returning_customer: result.and_then(|r| get(r, "is_returning_customer")).is_some_and(truthy),
            merchant_trans_id: field(get(&object, "merchant_trans_id")),
            // A token is used as given or not at all: one with control characters, or longer than
            // any token is, would only fail the OTP step later, so it is not kept.
            access_token: get(&object, "access_token").and_then(text_of).filter(|t| vendor_text::is_token(t)),
        });
    }
    // Rule 4: refused, permanently.
    let code = ["error_code", "code", "responsecode", "response_code"].iter().find_map(|k| {
        get(&object, k)
            .and_then(text_of)
            .map(|c| vendor_text::clean(&c, FIELD_LIMIT))
            .filter(|c| !c.is_empty())
    });
    let message = match message_of(&object) {
        // `{"status":"SUCCESS","message":"success"}` without a cibil_id is not a registration.
        Some(m) if m.eq_ignore_ascii_case("success") => {
            format!("HTTP {status}: the API answered \"{m}\" but gave no cibil_id")
        }
        Some(m) => m,
        None => format!("HTTP {status}: the answer has no registration and no message"),
    };
    let order_id_used = says_order_id_used(code.as_deref(), &message);
    Outcome::Rejected(Rejection {
        http_status: status,
        code,
        message,
        raw: redacted_body(object),
        by_vendor: true,
        order_id_used,
    })
}

/// Whether a refusal is about the order id having been used before. The vendor publishes no
/// error table, so the words are what tell: an order id (or reference) and "duplicate",
/// "already", "exists", "used" or "repeated" — `Duplicate order id`, `order_id already exists`.
fn says_order_id_used(code: Option<&str>, message: &str) -> bool {
    let text =
        format!("{} {message}", code.unwrap_or_default()).to_ascii_lowercase().replace(['_', '-'], " ");
    let about_the_id = ["order id", "orderid", "order no", "order ref", "reference id", "ref id"]
        .iter()
        .any(|w| text.contains(w));
    about_the_id && ["duplicate", "already", "exist", "used", "repeat"].iter().any(|w| text.contains(w))
}

/// A 2xx answer with a `cibil_id` that is not a run of digits: a broken or hostile answer, not a
/// registration (the text is never stored or shown as a `cibil_id`), and not the vendor's refusal
/// either: the customer may be registered. The message describes the value without repeating it;
/// the raw answer is kept for whoever looks into it.
fn malformed_cibil_id(status: u16, cibil_id: &str, object: Map<String, Value>) -> Rejection {
    let chars = cibil_id.chars().count();
    let what = if cibil_id.bytes().all(|b| b.is_ascii_digit()) {
        format!("{chars} digits, more than {}", vendor_text::CIBIL_ID_MAX_DIGITS)
    } else {
        format!("{chars} characters, not all digits")
    };
    Rejection {
        http_status: status,
        code: Some(CIBIL_ID_SHAPE.to_owned()),
        message: format!(
            "HTTP {status}: the answer looks like a registration but its cibil_id is not a number \
             ({what}), so it was not taken as one. AOPay may have registered this customer: ask \
             them about this order_id before sending the row again (the raw answer is kept in the \
             state)"
        ),
        raw: redacted_body(object),
        by_vendor: false,
        order_id_used: false,
    }
}

fn parse_object(body: &[u8]) -> Option<Map<String, Value>> {
    match serde_json::from_slice::<Value>(body).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// A key looked up as written, then ignoring case (`Message`, `CIBIL_ID`).
fn get<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    object.get(key).or_else(|| object.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v))
}

/// The vendor's message, cleaned and bounded: it reaches the results file and the terminal.
fn message_of(object: &Map<String, Value>) -> Option<String> {
    ["message", "description", "error"].iter().find_map(|k| {
        get(object, k)
            .and_then(text_of)
            .map(|m| vendor_text::clean(&m, MESSAGE_LIMIT))
            .filter(|m| !m.is_empty())
    })
}

/// Strings as they are, numbers and booleans as text; nothing for null, arrays and objects.
fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn truthy(value: &Value) -> bool {
    match value {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|n| n != 0.0),
        Value::String(s) => matches!(s.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "y"),
        _ => false,
    }
}

/// `Retry-After` as delta-seconds or an HTTP-date (RFC 9110 §10.2.3).
fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The body with every token-like field removed, capped, for keeping beside a rejected row.
fn redacted_body(object: Map<String, Value>) -> String {
    fn scrub(value: &mut Value) {
        match value {
            Value::Object(map) => {
                for (key, v) in map.iter_mut() {
                    let k = key.to_ascii_lowercase();
                    if k.contains("token") || k == "registrationid" || k == "companycode" {
                        *v = Value::String("<redacted>".into());
                    } else {
                        scrub(v);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(scrub),
            _ => {}
        }
    }
    let mut value = Value::Object(object);
    scrub(&mut value);
    // JSON escapes the control characters below U+0020 itself; DEL, the C1 controls and the
    // invisible characters (`mask::is_invisible`: the marks that reorder text, zero-width ones)
    // are escaped here the same way, so the kept body is faithful JSON that shows as it reads.
    let json = value.to_string();
    let mut text = String::with_capacity(json.len());
    for c in json.chars() {
        if c.is_control() || crate::mask::is_invisible(c) {
            let _ = write!(text, "\\u{:04x}", u32::from(c));
        } else {
            text.push(c);
        }
    }
    if text.len() > RAW_BODY_LIMIT {
        let mut end = RAW_BODY_LIMIT;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

#[cfg(test)]
mod tests;
