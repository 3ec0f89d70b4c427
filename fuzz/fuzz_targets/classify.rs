//! Arbitrary answers (status, Retry-After, body) through `classify`. Nothing may panic (serde_json's
//! recursion limit holds deep nesting), the kept body stays capped, and the decisions
//! ARCHITECTURE.md fixes hold whatever the body says: 401/403 abort, 2xx without a cibil_id is
//! never registered, a cibil_id is only ever digits, and whatever of the vendor's text is kept is
//! bounded and has no control character in it.
#![no_main]

use std::time::{Duration, SystemTime};

use arbitrary::Arbitrary;
use cibil_bulk::api::{CIBIL_ID_MAX_DIGITS, FIELD_LIMIT, MESSAGE_LIMIT, Outcome, RAW_BODY_LIMIT, classify_at};
use libfuzzer_sys::fuzz_target;
use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};

#[derive(Debug, Arbitrary)]
struct Answer<'a> {
    status: u16,
    retry_after: Option<&'a [u8]>,
    /// Seconds since the epoch of "now", for HTTP-date Retry-After values.
    now: u32,
    body: &'a [u8],
}

/// Text from the vendor as it may be kept and shown: bounded, and no control character in it.
fn vendor_text(text: &str, limit: usize) {
    assert!(text.len() <= limit, "{} bytes of vendor text kept", text.len());
    assert!(!text.chars().any(char::is_control), "{text:?}");
}

fuzz_target!(|answer: Answer<'_>| {
    let status = 100 + answer.status % 900;
    let mut headers = HeaderMap::new();
    if let Some(value) = answer.retry_after.and_then(|v| HeaderValue::from_bytes(v).ok()) {
        headers.insert(RETRY_AFTER, value);
    }
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(u64::from(answer.now));
    let outcome = classify_at(status, &headers, answer.body, now);
    match &outcome {
        Outcome::Registered(r) => {
            assert!((200..300).contains(&status), "registered on HTTP {status}");
            // Only the documented shape is a cibil_id: digits, never a formula or an escape.
            assert!(!r.cibil_id.is_empty() && r.cibil_id.len() <= CIBIL_ID_MAX_DIGITS, "{:?}", r.cibil_id);
            assert!(r.cibil_id.bytes().all(|b| b.is_ascii_digit()), "{:?}", r.cibil_id);
            for field in [&r.cibil_status, &r.merchant_trans_id].into_iter().flatten() {
                vendor_text(field, FIELD_LIMIT);
            }
        }
        Outcome::Rejected(r) => {
            assert!(r.raw.len() <= RAW_BODY_LIMIT, "{} bytes kept", r.raw.len());
            assert!(!r.raw.chars().any(char::is_control), "the kept body escapes control characters");
            vendor_text(&r.message, MESSAGE_LIMIT);
            if let Some(code) = &r.code {
                vendor_text(code, FIELD_LIMIT);
            }
        }
        Outcome::Transient(_) => {}
        Outcome::Abort(a) => vendor_text(&a.message, MESSAGE_LIMIT),
    }
    if matches!(status, 401 | 403) {
        assert!(matches!(outcome, Outcome::Abort(_)), "HTTP {status}: {outcome:?}");
    }
    let _ = format!("{outcome:?}");
});
