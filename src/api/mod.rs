//! The AOPay registration call (ARCHITECTURE.md, "The vendor"): the request body with exactly the
//! vendor's field names, one pooled HTTP client, and [`classify`] deciding what each answer means.
//! Sends one request and reports its [`Outcome`]; never sleeps, retries or persists — the engine
//! does.

mod classify;
mod credentials;
mod order_id;
mod vendor_text;

use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use serde::Serialize;

pub use classify::{
    Abort, AbortKind, CIBIL_ID_SHAPE, Outcome, RAW_BODY_LIMIT, Registration, Rejection, Transient, classify,
    classify_at,
};
pub use credentials::{Credentials, SecretMask};
pub use order_id::{ORDER_ID_SCHEME, OrderIds, after_refusals, hex_id};
pub use vendor_text::{CIBIL_ID_MAX_DIGITS, FIELD_LIMIT, MESSAGE_LIMIT, TOKEN_LIMIT};

use crate::validate::Applicant;

/// The vendor's production endpoint (the misspelling is the real path).
pub const PRODUCTION_ENDPOINT: &str = "https://api.aopay.co.in/api/AOP/CibilScore/registeration";

/// The longest wait for one answer without `--timeout`, from connecting to its last byte.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest wait for a connection without `[aopay] connect_timeout`.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The method without `--method`: every vendor page labels the call GET with a JSON body.
pub const DEFAULT_METHOD: Method = Method::Get;

/// Answers larger than this are not read further: no registration answer is anywhere near it.
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// An endpoint's identity, which a state database is bound to: scheme, host, port and path —
/// never a query, a fragment or user information.
pub fn endpoint_identity(url: &reqwest::Url) -> String {
    let mut identity = format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default());
    if let Some(port) = url.port() {
        identity.push_str(&format!(":{port}"));
    }
    identity.push_str(url.path());
    identity
}

/// How the vendor wants to be called. Every page labels the method GET with a JSON body; the
/// cURL sample sends POST. GET is the default, POST a setting away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// Everything the client needs, validated by `settings`.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    pub endpoint: reqwest::Url,
    pub method: Method,
    /// The whole request, from connecting to the last byte of the answer.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Extra headers from the config file (an API gateway key, say).
    pub headers: Vec<(String, String)>,
    /// Leave `middle_name` out of the body when empty, instead of sending `""`.
    pub omit_empty_middle_name: bool,
    pub credentials: Credentials,
    /// Idle connections kept per host: the number of workers.
    pub pool_size: usize,
}

impl ApiSettings {
    /// What a request carries that is secret — the credentials, the extra headers' values — as
    /// it is sought in text to mask it.
    pub fn secrets(&self) -> SecretMask {
        SecretMask::new(
            self.credentials.both().into_iter().chain(self.headers.iter().map(|(_, value)| value.as_str())),
        )
    }
}

/// A client could not be built from the settings.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("config [aopay.headers]: \"{name}\" is not a valid HTTP header name or value")]
    Header { name: String },
    // The cause is the `source`, which `{:#}` prints after the message: not repeated here.
    #[error("cannot set up the HTTP client")]
    Client(#[from] reqwest::Error),
}

/// The registration body, field for field as the vendor names them. Serialised by serde: the
/// vendor's own samples are not valid JSON, so nothing here is written by hand.
#[derive(Debug, Serialize)]
pub struct RegistrationRequest<'a> {
    pub order_id: &'a str,
    pub first_name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub middle_name: Option<&'a str>,
    pub last_name: &'a str,
    pub pancard: &'a str,
    /// DD/MM/YYYY.
    pub date_of_birth: &'a str,
    pub email_id: &'a str,
    /// Ten digits, as a string.
    pub mobile_number: &'a str,
    #[serde(rename = "RegistrationID")]
    pub registration_id: &'a str,
    #[serde(rename = "CompanyCode")]
    pub company_code: &'a str,
}

impl<'a> RegistrationRequest<'a> {
    pub fn new(applicant: &'a Applicant, credentials: &'a Credentials, omit_empty_middle_name: bool) -> Self {
        let middle = applicant.middle_name.as_str();
        RegistrationRequest {
            order_id: &applicant.order_id,
            first_name: &applicant.first_name,
            middle_name: (!(omit_empty_middle_name && middle.is_empty())).then_some(middle),
            last_name: &applicant.last_name,
            pancard: &applicant.pancard,
            date_of_birth: &applicant.date_of_birth,
            email_id: &applicant.email_id,
            mobile_number: &applicant.mobile_number,
            registration_id: &credentials.registration_id,
            company_code: &credentials.company_code,
        }
    }
}

/// The customer of a request body, as they are sought in what the vendor says of it
/// ([`crate::mask::Sought`]): their names, and their PAN, date of birth, e-mail and mobile.
fn customer_in(request: &[u8]) -> crate::mask::Sought {
    let Ok(serde_json::Value::Object(fields)) = serde_json::from_slice(request) else {
        return crate::mask::Sought::default();
    };
    let field = |name: &str| fields.get(name).and_then(serde_json::Value::as_str).unwrap_or_default();
    crate::mask::Sought::customer(
        ["first_name", "middle_name", "last_name"].map(field),
        field("pancard"),
        field("date_of_birth"),
        field("email_id"),
        field("mobile_number"),
    )
}

/// One pooled HTTP client for the whole run.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    endpoint: reqwest::Url,
    method: reqwest::Method,
    credentials: Credentials,
    /// The credentials, to mask in what the vendor says.
    secrets: SecretMask,
    omit_empty_middle_name: bool,
}

impl Client {
    pub fn new(settings: &ApiSettings) -> Result<Client, ApiError> {
        let mut headers = HeaderMap::new();
        for (name, value) in &settings.headers {
            let bad = || ApiError::Header { name: name.clone() };
            let name = HeaderName::try_from(name.as_str()).map_err(|_| bad())?;
            let mut value = HeaderValue::try_from(value.as_str()).map_err(|_| bad())?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        // rustls' cryptography (Cargo.toml says why ring): reqwest uses the process's default,
        // which only the first call installs.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .user_agent(concat!("cibil-bulk/", env!("CARGO_PKG_VERSION")))
            .default_headers(headers)
            .timeout(settings.timeout)
            .connect_timeout(settings.connect_timeout)
            .pool_max_idle_per_host(settings.pool_size)
            .tcp_nodelay(true)
            // The body carries the credentials: a redirect is reported, never followed.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Client {
            http,
            endpoint: settings.endpoint.clone(),
            method: match settings.method {
                Method::Get => reqwest::Method::GET,
                Method::Post => reqwest::Method::POST,
            },
            credentials: settings.credentials.clone(),
            secrets: settings.secrets(),
            omit_empty_middle_name: settings.omit_empty_middle_name,
        })
    }

    /// The JSON body for `applicant`, built once per row and reused by every attempt.
    pub fn body(&self, applicant: &Applicant) -> Bytes {
        let request = RegistrationRequest::new(applicant, &self.credentials, self.omit_empty_middle_name);
        // Serialising a struct of strings cannot fail.
        Bytes::from(serde_json::to_vec(&request).unwrap_or_default())
    }

    /// Sends one registration request and classifies what came back.
    pub async fn send(&self, body: Bytes) -> Outcome {
        let sent = body.clone();
        let request = self
            .http
            .request(self.method.clone(), self.endpoint.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(body);
        let mut response = match request.send().await {
            Ok(response) => response,
            Err(error) => return transport_failure(&error, &self.endpoint),
        };
        let status = response.status().as_u16();
        let headers = std::mem::take(response.headers_mut());
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                        return Outcome::Transient(Transient {
                            http_status: Some(status),
                            reason: format!(
                                "HTTP {status} with an answer over {} KiB",
                                MAX_RESPONSE_BYTES / 1024
                            ),
                            retry_after: None,
                            throttled: false,
                        });
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(error) => return transport_failure(&error, &self.endpoint),
            }
        }
        self.made_safe(classify(status, &headers, &body), &sent)
    }

    /// What the vendor said, made fit to keep and show beyond the row's own files: the merchant's
    /// credentials masked in every string of the answer, wherever the vendor repeated them; and
    /// in what stops a run or is retried — which reaches the terminal, the log, the summary and
    /// the server's pages — the customer of `request`, the body it answers, masked as well,
    /// however the vendor wrote them (`customer_in`). A rejected row's message keeps them: it goes
    /// to the errors file the clerk asked for, beside the row it is about.
    fn made_safe(&self, outcome: Outcome, request: &[u8]) -> Outcome {
        let credentials = |text: &str| self.secrets.masked(text);
        let shown = |text: &str| {
            let text = credentials(text);
            customer_in(request).masked_in(&text).unwrap_or_else(|| crate::mask::mask(&text))
        };
        match outcome {
            Outcome::Registered(mut registration) => {
                registration.cibil_status = registration.cibil_status.as_deref().map(credentials);
                registration.merchant_trans_id = registration.merchant_trans_id.as_deref().map(credentials);
                Outcome::Registered(registration)
            }
            Outcome::Rejected(mut rejection) => {
                rejection.code = rejection.code.as_deref().map(credentials);
                rejection.message = credentials(&rejection.message);
                rejection.raw = credentials(&rejection.raw);
                Outcome::Rejected(rejection)
            }
            Outcome::Transient(mut transient) => {
                transient.reason = shown(&transient.reason);
                Outcome::Transient(transient)
            }
            Outcome::Abort(mut abort) => {
                abort.message = shown(&abort.message);
                Outcome::Abort(abort)
            }
        }
    }
}

/// A request that got no complete answer: worth another try, unless the endpoint's certificate
/// was refused, which no retry changes.
fn transport_failure(error: &reqwest::Error, endpoint: &reqwest::Url) -> Outcome {
    if let Some(problem) = certificate_problem(error) {
        let host = endpoint.host_str().unwrap_or("the endpoint");
        return Outcome::Abort(Abort {
            kind: AbortKind::Certificate,
            http_status: None,
            message: format!(
                "the TLS certificate of {host} {problem}. Nothing was sent to it; check --endpoint, \
                 and for a certificate said to be expired or not yet valid, this machine's clock"
            ),
        });
    }
    let reason = if error.is_timeout() {
        "no answer before the timeout".to_owned()
    } else if error.is_connect() {
        format!("cannot connect: {}", root_cause(error))
    } else {
        format!("connection failed: {}", root_cause(error))
    };
    Outcome::Transient(Transient { http_status: None, reason, retry_after: None, throttled: false })
}

/// What is wrong with the server's certificate, when that is why the connection failed. The TLS
/// error sits inside `io::Error`s (nested: the connector wraps the TLS stream's), whose `source()`
/// skips what they wrap, so each one on the chain is opened too.
fn certificate_problem(error: &(dyn std::error::Error + 'static)) -> Option<&'static str> {
    use rustls::CertificateError as Cert;
    fn tls_error<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
        if let Some(tls) = error.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        let inner: &(dyn std::error::Error + 'static) = error.downcast_ref::<std::io::Error>()?.get_ref()?;
        tls_error(inner)
    }
    let mut cause = Some(error);
    while let Some(current) = cause {
        let tls = tls_error(current);
        match tls {
            Some(rustls::Error::InvalidCertificate(problem)) => {
                return Some(match problem {
                    Cert::UnknownIssuer => {
                        "is signed by no authority this machine trusts: self-signed, or from a private CA"
                    }
                    Cert::Expired | Cert::ExpiredContext { .. } => "has expired",
                    Cert::NotValidYet | Cert::NotValidYetContext { .. } => "is not valid yet",
                    Cert::NotValidForName | Cert::NotValidForNameContext { .. } => "is for another host name",
                    Cert::Revoked => "has been revoked",
                    Cert::BadSignature
                    | Cert::UnsupportedSignatureAlgorithmContext { .. }
                    | Cert::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => {
                        "carries a signature that cannot be verified"
                    }
                    Cert::InvalidPurpose | Cert::InvalidPurposeContext { .. } => "is not for a web server",
                    _ => "was refused",
                });
            }
            Some(rustls::Error::NoCertificatesPresented) => return Some("is missing: the server sent none"),
            _ => {}
        }
        cause = current.source();
    }
    None
}

/// The innermost error's text ("connection reset by peer"), which says more than reqwest's own.
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applicant() -> Applicant {
        Applicant::sample("CB0123456789abcdef-2", "ABCPK1234F")
    }

    fn credentials() -> Credentials {
        Credentials { registration_id: "AOP-554".into(), company_code: "CMP1045".into() }
    }

    /// A client of `credentials` and extra `headers`, to an address nothing answers: for what it
    /// makes of an answer.
    fn client_of(credentials: Credentials, headers: &[(&str, &str)]) -> Client {
        Client::new(&ApiSettings {
            endpoint: "http://127.0.0.1:9/registeration".parse().unwrap(),
            method: Method::Post,
            timeout: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(1),
            headers: headers.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect(),
            omit_empty_middle_name: false,
            credentials,
            pool_size: 1,
        })
        .unwrap()
    }

    /// Every way the red teams had a vendor repeat the customer in an answer that stops a run: none
    /// is left whole, whatever else of the message is kept.
    #[test]
    fn the_customer_is_never_left_whole_in_what_stops_a_run() {
        let client = client_of(credentials(), &[]);
        let request = br#"{"first_name":"Zubeida","middle_name":"","last_name":"Xylander","pancard":"ABCPK1234F","date_of_birth":"14/02/1988","email_id":"zx@example.in","mobile_number":"9876543210"}"#;
        for said in [
            "Zubeida Xylander",
            "ZUBEIDA XYLANDER",
            "Zübéídá Xylándér",
            "ZubeidaXylander",
            "Xylander, Z.",
            "WnViZWlkYSBYeWxhbmRlcg==",
            "5a7562656964612058796c616e646572",
            "&#90;&#117;&#98;&#101;&#105;&#100;&#97; Xylander",
            "%5A%75%62%65%69%64%61%20%58%79%6C%61%6E%64%65%72",
            "QUJDUEsxMjM0Rg==",
            "OTg3NjU0MzIxMA",
            r"\u005aubeida",
        ] {
            let abort = Outcome::Abort(Abort {
                kind: AbortKind::Credentials,
                http_status: Some(401),
                message: format!("denied: {said}"),
            });
            let Outcome::Abort(abort) = client.made_safe(abort, request) else { unreachable!() };
            assert_ne!(abort.message, format!("denied: {said}"), "left as it was");
            let read = crate::mask::letters_and_digits(&abort.message);
            for detail in ["zubeida", "xylander", "abcpk1234f", "9876543210"] {
                assert!(!read.contains(detail), "{said} → {}", abort.message);
            }
        }
    }

    /// Every disguise of a credential the red teams used, one message each: none is left whole,
    /// and a code that only contains the company code's digits inside a longer number is left be.
    #[test]
    fn a_credential_in_disguise_is_never_left_whole_in_what_the_vendor_says() {
        let client = client_of(
            Credentials { registration_id: "Reg-Zq81x77".into(), company_code: "1045".into() },
            &[("X-Api-Key", "HDRSECRET9931"), ("Authorization", "Bearer zzTOPSECRETzz77")],
        );
        // Its own reading, not `disguised`'s, so that a slip there shows here.
        let bare = |t: &str| {
            crate::mask::plain(t).chars().filter(|c| c.is_alphanumeric()).collect::<String>().to_lowercase()
        };
        for said in [
            "Reg-Zq81x77",
            "reg-zq81x77",
            "RegZq81x77",
            "Reg Zq81x77",
            "Reg_Zq81x77",
            "R-e-g-Z-q-8-1-x-7-7",
            "Reg\u{200B}-Zq81x77",
            "Reg\\u200b-Zq81x77",
            "Ｒｅｇ－Ｚｑ８１ｘ７７",
            "R e g - Z q 8 1 x 7 7",
            "Reg–Zq81x77",
            "%52eg-Zq81x77",
            "&#82;eg-Zq81x77",
            "&#x52;&#x65;g-Zq81x77",
            // The request echoed in base64, standard and URL-safe.
            "eyJSZWdpc3RyYXRpb25JRCI6IlJlZy1acTgxeDc3In0=",
            "eyJSZWdpc3RyYXRpb25JRCI6IlJlZy1acTgxeDc3In0",
            // One credential alone, in base64, base32 and hexadecimal.
            "UmVnLVpxODF4Nzc=",
            "KJSWOLK2OE4DC6BXG4======",
            "5265672d5a713831783737",
            // A gateway's key and bearer token, from [aopay.headers].
            "key HDRSECRET9931",
            "token zzTOPSECRETzz77",
        ] {
            let abort = Outcome::Abort(Abort {
                kind: AbortKind::Credentials,
                http_status: Some(401),
                message: format!("not whitelisted: {said}"),
            });
            let Outcome::Abort(abort) = client.made_safe(abort, b"") else { unreachable!() };
            assert!(!bare(&abort.message).contains("regzq81x77"), "{said} → {}", abort.message);
            // Escaped and encoded forms, read as they spell: masked, and nothing left to find.
            assert_ne!(abort.message, format!("not whitelisted: {said}"), "left as it was");
            let read = crate::mask::letters_and_digits(&abort.message);
            for secret in ["regzq81x77", "hdrsecret9931", "zztopsecretzz77"] {
                assert!(!read.contains(secret), "{said} → {}", abort.message);
            }
        }
        let registered = Outcome::Registered(Registration {
            http_status: 200,
            cibil_id: "9362678".into(),
            cibil_status: Some("Pending 1045".into()),
            is_returning_customer: false,
            merchant_trans_id: Some("SPCBL2310452178507".into()),
            access_token: None,
        });
        let Outcome::Registered(registration) = client.made_safe(registered, b"") else { unreachable!() };
        assert_eq!(
            registration.merchant_trans_id.as_deref(),
            Some("SPCBL2310452178507"),
            "digits inside an id"
        );
        assert_eq!(registration.cibil_status.as_deref(), Some("Pending 1***"), "the code as a word");
    }

    #[test]
    fn the_body_has_exactly_the_vendors_field_names() {
        let body =
            serde_json::to_string_pretty(&RegistrationRequest::new(&applicant(), &credentials(), false))
                .unwrap();
        insta::assert_snapshot!(body, @r#"
        {
          "order_id": "CB0123456789abcdef-2",
          "first_name": "Ravi",
          "middle_name": "",
          "last_name": "Kumar",
          "pancard": "ABCPK1234F",
          "date_of_birth": "31/01/1985",
          "email_id": "ravi@example.com",
          "mobile_number": "9876543210",
          "RegistrationID": "AOP-554",
          "CompanyCode": "CMP1045"
        }
        "#);
    }

    #[test]
    fn an_empty_middle_name_can_be_left_out() {
        let body =
            serde_json::to_value(RegistrationRequest::new(&applicant(), &credentials(), true)).unwrap();
        assert!(body.get("middle_name").is_none());
        let mut with_middle = applicant();
        with_middle.middle_name = "Prasad".into();
        let body =
            serde_json::to_value(RegistrationRequest::new(&with_middle, &credentials(), true)).unwrap();
        assert_eq!(body["middle_name"], "Prasad");
    }

    #[test]
    fn an_endpoints_identity_is_scheme_host_port_and_path() {
        for (url, identity) in [
            (PRODUCTION_ENDPOINT, PRODUCTION_ENDPOINT),
            ("https://api.aopay.co.in:443/a/b?x=1#f", "https://api.aopay.co.in/a/b"),
            ("http://127.0.0.1:8080/a", "http://127.0.0.1:8080/a"),
            ("https://u:p@h.in/a", "https://h.in/a"),
        ] {
            assert_eq!(endpoint_identity(&url.parse().unwrap()), identity, "{url}");
        }
    }

    #[test]
    fn credentials_never_print() {
        let text = format!("{:?}", credentials());
        assert!(!text.contains("AOP-554") && !text.contains("CMP1045"), "{text}");
    }
}
