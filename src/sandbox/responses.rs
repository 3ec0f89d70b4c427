//! The bytes of every answer the sandbox gives, in the vendor's shapes (ARCHITECTURE.md, "The
//! vendor"): success, the 401 envelope, the business-error envelope, and what the faults send.
//! Field order follows the vendor's samples, and a success is a pure function of its inputs, which
//! is what makes a replay byte-identical without storing the bytes.

use axum::body::Body;
use axum::http::header::{ALLOW, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::Response;
use chrono::{DateTime, FixedOffset};
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use super::checks::{BusinessError, Pan};

const JSON: &str = "application/json; charset=utf-8";
const HTML: &str = "text/html";

/// Asks the connection layer to drop the connection instead of answering (see `server`).
#[derive(Debug, Clone, Copy)]
pub struct DropConnection;

/// A registration as the sandbox remembers it: all a success body is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Registration {
    pub pan: Pan,
    pub returning: bool,
    /// Unix seconds of the first answer, shown in `merchant_trans_id`.
    pub registered_at: i64,
}

#[derive(Serialize)]
struct Success<'a> {
    status: &'static str,
    message: &'static str,
    error_code: &'static str,
    merchant_trans_id: &'a str,
    access_token: &'a str,
    result: SuccessResult,
}

#[derive(Serialize)]
struct SuccessResult {
    cibil_id: CibilId,
    cibil_status: &'static str,
    is_returning_customer: u8,
    cibil_score_fetch_date: Option<()>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum CibilId {
    Text(String),
    Number(u64),
}

/// The success body for `order_id`. `salt` keeps tokens of different sandboxes apart.
pub fn success(
    order_id: &str,
    registration: &Registration,
    salt: &[u8; 16],
    numeric_cibil_id: bool,
) -> Vec<u8> {
    let digest = |purpose: &[u8]| -> [u8; 32] {
        Sha256::new()
            .chain_update(salt)
            .chain_update(purpose)
            .chain_update(order_id.as_bytes())
            .finalize()
            .into()
    };
    let token = digest(b"access_token");
    let access_token: String = token[..20].iter().map(|b| format!("{b:02x}")).collect();

    // The vendor's sample, SPCBL2308181502178507b3S8ckeFd: SPCBL, yyMMddHHmmss in India's time,
    // then 13 letters and digits.
    const ALPHANUMERIC: &[u8; 62] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let ist = FixedOffset::east_opt(5 * 3600 + 1800).expect("IST is a valid offset");
    let stamp = DateTime::from_timestamp(registration.registered_at, 0)
        .unwrap_or_default()
        .with_timezone(&ist)
        .format("%y%m%d%H%M%S");
    let tail: String = digest(b"merchant_trans_id")[..13]
        .iter()
        .map(|b| char::from(ALPHANUMERIC[usize::from(*b) % 62]))
        .collect();
    let merchant_trans_id = format!("SPCBL{stamp}{tail}");

    let cibil_id = registration.pan.cibil_id();
    let body = Success {
        status: "SUCCESS",
        message: "success",
        error_code: "SPC-200",
        merchant_trans_id: &merchant_trans_id,
        access_token: &access_token,
        result: SuccessResult {
            cibil_id: if numeric_cibil_id {
                CibilId::Number(cibil_id)
            } else {
                CibilId::Text(cibil_id.to_string())
            },
            cibil_status: "Pending",
            is_returning_customer: u8::from(registration.returning),
            cibil_score_fetch_date: None,
        },
    };
    serde_json::to_vec(&body).unwrap_or_default()
}

pub fn json(status: StatusCode, body: impl Into<Body>) -> Response {
    let mut response = Response::new(body.into());
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(JSON));
    response
}

/// HTTP 401 in the documented shape.
pub fn unauthorized() -> Response {
    json(
        StatusCode::UNAUTHORIZED,
        r#"{"responsecode":401,"status":false,"message":"Invalid RegistrationID or CompanyCode"}"#,
    )
}

/// HTTP 200 with the vendor's second envelope.
pub fn business_error(error: BusinessError) -> Response {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Envelope {
        code: &'static str,
        description: &'static str,
        merchant_trxn_ref_id: Option<()>,
        token: Option<()>,
        status: &'static str,
    }
    let envelope = Envelope {
        code: error.code(),
        description: error.description(),
        merchant_trxn_ref_id: None,
        token: None,
        status: "False",
    };
    json(StatusCode::OK, serde_json::to_vec(&envelope).unwrap_or_default())
}

/// 429 with `Retry-After` in whole seconds, from the throttle fault or the rate limit.
pub fn too_many_requests(retry_after_secs: u64) -> Response {
    let unit = if retry_after_secs == 1 { "second" } else { "seconds" };
    let body = format!(
        r#"{{"responsecode":429,"status":false,"message":"Too many requests, retry after {retry_after_secs} {unit}"}}"#
    );
    let mut response = json(StatusCode::TOO_MANY_REQUESTS, body);
    response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(retry_after_secs));
    response
}

/// A 5xx: a reverse proxy's HTML page, or the JSON an ASP.NET Web API sends (the vendor's paths
/// look like one).
pub fn server_error(status: StatusCode, html: bool) -> Response {
    if !html {
        return json(status, r#"{"Message":"An error has occurred."}"#);
    }
    let reason = status.canonical_reason().unwrap_or("Error");
    let code = status.as_u16();
    let page = format!(
        "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n\
         <center><h1>{code} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    );
    let mut response = Response::new(Body::from(page));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(HTML));
    response
}

/// HTTP 200, labelled JSON, that no JSON parser accepts: the vendor's own missing comma, or a
/// body cut short.
pub fn garbage(variant: u8) -> Response {
    json(StatusCode::OK, GARBAGE[usize::from(variant) % GARBAGE.len()])
}

const GARBAGE: [&str; 2] = [
    "{\n\"status\": \"SUCCESS\",\n\"message\": \"success\"\n\"error_code\": \"SPC-200\"\n}",
    r#"{"status":"SUCCESS","message":"success","error_code":"SPC-200","result":{"cibil_id":"93"#,
];

/// What ASP.NET answers for a method the route does not take.
pub fn method_not_allowed(method: &Method) -> Response {
    let body = serde_json::json!({
        "Message": format!("The requested resource does not support http method '{method}'.")
    });
    let mut response = json(StatusCode::METHOD_NOT_ALLOWED, body.to_string());
    response.headers_mut().insert(ALLOW, HeaderValue::from_static("GET, POST"));
    response
}

/// A body larger than the sandbox reads.
pub fn payload_too_large() -> Response {
    json(
        StatusCode::PAYLOAD_TOO_LARGE,
        r#"{"responsecode":413,"status":false,"message":"Request body too large"}"#,
    )
}

/// No answer at all: the connection is dropped.
pub fn drop_connection() -> Response {
    let mut response = Response::new(Body::empty());
    response.extensions_mut().insert(DropConnection);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registration(returning: bool) -> Registration {
        Registration { pan: Pan::parse("ABCPK1234F").unwrap(), returning, registered_at: 1_692_351_137 }
    }

    #[test]
    fn success_has_the_documented_shape() {
        let bytes = success("ORD-1", &registration(false), &[7; 16], false);
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.starts_with(r#"{"status":"SUCCESS","message":"success","error_code":"SPC-200","merchant_trans_id":"SPCBL230818"#), "{text}");
        let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let token = value["access_token"].as_str().unwrap();
        assert!(token.len() == 40 && token.bytes().all(|b| b.is_ascii_hexdigit()), "{token}");
        let mtid = value["merchant_trans_id"].as_str().unwrap();
        assert_eq!(mtid.len(), 30, "{mtid}");
        assert!(mtid.bytes().all(|b| b.is_ascii_alphanumeric()));
        let expected = Pan::parse("ABCPK1234F").unwrap().cibil_id().to_string();
        assert_eq!(
            value["result"],
            serde_json::json!({"cibil_id": expected, "cibil_status": "Pending", "is_returning_customer": 0, "cibil_score_fetch_date": null})
        );
    }

    #[test]
    fn success_is_a_function_of_its_inputs() {
        let a = success("ORD-1", &registration(false), &[7; 16], false);
        assert_eq!(a, success("ORD-1", &registration(false), &[7; 16], false));
        assert_ne!(a, success("ORD-2", &registration(false), &[7; 16], false));
        assert_ne!(a, success("ORD-1", &registration(false), &[8; 16], false));
        let returning: serde_json::Value =
            serde_json::from_slice(&success("ORD-1", &registration(true), &[7; 16], true)).unwrap();
        assert_eq!(returning["result"]["is_returning_customer"], 1);
        assert!(returning["result"]["cibil_id"].is_u64());
    }

    #[test]
    fn garbage_is_never_json() {
        for body in GARBAGE {
            assert!(serde_json::from_str::<serde_json::Value>(body).is_err(), "{body}");
        }
        assert_eq!(garbage(1).status(), StatusCode::OK);
    }
}
