//! Arbitrary answers (status, Retry-After, body) through `classify`. Nothing may panic
//! (serde_json's recursion limit holds deep nesting), the kept body stays capped, and the decisions
//! ARCHITECTURE.md fixes hold whatever the body says: 401/403 abort, 2xx without a cibil_id is
//! never registered.
#![no_main]

use std::time::{Duration, SystemTime};

use arbitrary::Arbitrary;
use cibil_bulk::api::{Outcome, RAW_BODY_LIMIT, classify_at};
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
            assert!(!r.cibil_id.is_empty());
        }
        Outcome::Rejected(r) => assert!(r.raw.len() <= RAW_BODY_LIMIT, "{} bytes kept", r.raw.len()),
        Outcome::Transient(_) => {}
        Outcome::Abort(_) => {}
    }
    if matches!(status, 401 | 403) {
        assert!(matches!(outcome, Outcome::Abort(_)), "HTTP {status}: {outcome:?}");
    }
    let _ = format!("{outcome:?}");
});
