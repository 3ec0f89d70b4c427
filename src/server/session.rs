//! Who is asking, over HTTP: a person by the session cookie (pages), a machine by its bearer
//! token (the API). The session cookie holds 256 random bits and is HttpOnly (no script reads
//! it), SameSite=Strict (no other site's page sends it), Secure when the request came over https
//! (through the reverse proxy), and expires; only its SHA-256 is in the state. The CSRF token of
//! the session goes in every form; the sign-in form, before any session, carries one of its own,
//! matched against a cookie (a double submit).
//!
//! A person whose session has ended (ten hours on, or signed out in another tab) is sent to sign
//! in again with what they were doing kept: a page they asked for is where they land; a form they
//! sent is not done — a form from an ended session is nobody's — and they land where it can be
//! sent again (the confirmation, the choices), told that nothing was sent, or, for a file being
//! checked (the file itself is not kept), told to choose it again.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::auth::{csrf_matches, secret_hash};
use super::{App, Failure};
use crate::store::{Role, Scope, UploadRecord, now_ms};

/// The session cookie.
pub const SESSION_COOKIE: &str = "cibil_bulk_session";
/// The sign-in form's CSRF cookie.
pub const LOGIN_COOKIE: &str = "cibil_bulk_login";

/// A person signed in.
#[derive(Debug, Clone)]
pub struct Person {
    pub name: String,
    pub role: Role,
    pub csrf: String,
    /// The SHA-256 of the session's id.
    pub session: [u8; 32],
}

impl Person {
    /// Refuses a form without this session's CSRF token.
    pub fn check_csrf(&self, given: &str) -> Result<(), Failure> {
        if csrf_matches(&self.csrf, given) { Ok(()) } else { Err(Failure::Forbidden) }
    }

    /// Who is acting, for what the pages and the API do alike.
    pub fn actor(&self) -> Actor {
        Actor::Person { name: self.name.clone(), role: self.role }
    }

    /// Refuses what only an admin may do.
    pub fn require_admin(&self) -> Result<(), Failure> {
        if self.role == Role::Admin { Ok(()) } else { Err(Failure::NotAllowed(NOT_AN_ADMIN)) }
    }
}

const NOT_AN_ADMIN: &str = "Only an admin can do this: ask your team lead.";

/// Whoever asks the server to do something: a person on the pages, or a machine with a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    Person { name: String, role: Role },
    Machine { name: String, scopes: Vec<Scope> },
}

impl Actor {
    /// How the uploads list and the audit log name them: `asha`, `token nightly-cron`.
    pub fn who(&self) -> String {
        match self {
            Actor::Person { name, .. } => name.clone(),
            Actor::Machine { name, .. } => format!("token {name}"),
        }
    }

    /// Refuses a machine whose token lacks `scope` (people may do all a clerk does).
    pub fn require(&self, scope: Scope) -> Result<(), Failure> {
        match self {
            Actor::Machine { scopes, .. } if !scopes.contains(&scope) => {
                Err(Failure::NotAllowed(match scope {
                    Scope::Upload => "this API token may not upload: it needs the scope upload",
                    Scope::Register => "this API token may not register: it needs the scope register",
                    Scope::ReadResults => {
                        "this API token may not read results: it needs the scope read-results"
                    }
                    Scope::AllUploads => {
                        "this API token may not see other uploads: it needs the scope all-uploads"
                    }
                }))
            }
            _ => Ok(()),
        }
    }

    /// Whether `upload` is theirs to see: every upload for a person (a team shares its uploads),
    /// only those it made for a machine (a script's token never reads a clerk's customers) unless
    /// its scopes say every upload.
    pub fn sees(&self, upload: &UploadRecord) -> bool {
        match self {
            Actor::Person { .. } => true,
            Actor::Machine { scopes, .. } if scopes.contains(&Scope::AllUploads) => true,
            Actor::Machine { .. } => upload.uploaded_by == self.who(),
        }
    }
}

/// The value of cookie `name` in the request.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
}

/// Whether the request came over https: the reverse proxy that brings TLS says so in
/// `X-Forwarded-Proto`. Believing a forged one costs nothing: it only makes the cookie Secure.
pub fn is_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').next().is_some_and(|p| p.trim().eq_ignore_ascii_case("https")))
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Strict, on `path`, for `seconds` (0 removes it).
pub fn set_cookie(name: &str, value: &str, path: &str, seconds: i64, secure: bool) -> HeaderValue {
    let built = cookie::Cookie::build((name, value))
        .path(path)
        .http_only(true)
        .same_site(cookie::SameSite::Strict)
        .secure(secure)
        .max_age(cookie::time::Duration::seconds(seconds))
        .build();
    HeaderValue::from_str(&built.to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Where to go after signing in: a path on this site, never another site. Browsers drop tabs and
/// line breaks from a URL and read `\\` as `/`, so `/\t/evil.example` would be `//evil.example`:
/// a path holding any of them, or any other control or space character, is not taken.
pub fn local_path(next: &str) -> &str {
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && !next.chars().any(|c| c == '\\' || c.is_control() || c.is_whitespace());
    if local { next } else { "/" }
}

/// Where to sign in when a request came from no session (`ended`: one that has ended), keeping
/// what the person was doing: the page asked for, or the page a form can be sent again from,
/// with what the landing page is to say (`said`, [`super::views::Said`]).
fn sign_in_again(method: &axum::http::Method, path_and_query: &str, ended: bool) -> String {
    let path = path_and_query.split('?').next().unwrap_or("/");
    let next = if method == axum::http::Method::GET {
        (path_and_query != "/").then(|| path_and_query.to_owned())
    } else if method == axum::http::Method::POST {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match segments.as_slice() {
            ["uploads"] => Some("/?said=file-lost".to_owned()),
            ["uploads", id, "register" | "choices"] if id.parse::<i64>().is_ok() => {
                Some(format!("{path}?said=signed-out"))
            }
            _ => None,
        }
    } else {
        None
    };
    let mut query = Vec::new();
    if let Some(next) = next {
        query.push(format!(
            "next={}",
            url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
        ));
    }
    // A form sent is an intent interrupted, whether the session ended or its cookie is gone.
    if ended || method == axum::http::Method::POST {
        query.push("why=ended".to_owned());
    }
    if query.is_empty() { "/login".to_owned() } else { format!("/login?{}", query.join("&")) }
}

impl FromRequestParts<App> for Person {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Person, Response> {
        let to_login = |parts: &Parts, ended: bool| {
            let asked = parts.uri.path_and_query().map_or("/", |p| p.as_str());
            Redirect::to(&sign_in_again(&parts.method, asked, ended)).into_response()
        };
        let Some(id) = cookie(&parts.headers, SESSION_COOKIE) else { return Err(to_login(parts, false)) };
        let hash = secret_hash(&id);
        match app.db(move |store| store.session(&hash, now_ms())).await {
            Ok(Some(session)) => {
                Ok(Person { name: session.user, role: session.role, csrf: session.csrf, session: hash })
            }
            Ok(None) => {
                let mut response = to_login(parts, true);
                let gone = set_cookie(SESSION_COOKIE, "", "/", 0, is_https(&parts.headers));
                response.headers_mut().append(header::SET_COOKIE, gone);
                Err(response)
            }
            Err(failure) => Err(super::pages::PageFailure(failure).into_response()),
        }
    }
}

/// The client's address, for the sign-in throttle: the peer's, or — when the peer is this machine
/// (the reverse proxy the README puts in front) — the last address it put in `X-Forwarded-For`.
/// `None` when neither is known.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddress(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<ClientAddress, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|info| info.0.ip());
        let forwarded = || {
            parts
                .headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .filter_map(|a| a.trim().parse::<std::net::IpAddr>().ok())
                .next_back()
        };
        Ok(ClientAddress(match peer {
            Some(peer) if peer.is_loopback() => forwarded().or(Some(peer)),
            other => other,
        }))
    }
}

/// A machine, by its API token, and what the token may do.
#[derive(Debug, Clone)]
pub struct Machine {
    pub name: String,
    pub scopes: Vec<Scope>,
}

impl Machine {
    pub fn actor(&self) -> Actor {
        Actor::Machine { name: self.name.clone(), scopes: self.scopes.clone() }
    }
}

impl FromRequestParts<App> for Machine {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Machine, Response> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim)
            .filter(|t| !t.is_empty());
        let Some(token) = token else {
            return Err(unauthorized(
                "send an API token: Authorization: Bearer TOKEN (make one with `cibil-bulk tokens add NAME`)",
            ));
        };
        let hash = secret_hash(token);
        match app.db(move |store| store.token(&hash)).await {
            Ok(Some(holder)) => Ok(Machine { name: holder.name, scopes: holder.scopes }),
            Ok(None) => Err(unauthorized("this API token is not valid, or was revoked")),
            Err(failure) => Err(super::api::ApiFailure(failure).into_response()),
        }
    }
}

fn unauthorized(message: &str) -> Response {
    let mut response =
        (StatusCode::UNAUTHORIZED, axum::Json(serde_json::json!({ "error": message }))).into_response();
    response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_private_to_this_site() {
        let value = set_cookie(SESSION_COOKIE, "abc", "/", 3600, false);
        let text = value.to_str().unwrap();
        for part in ["cibil_bulk_session=abc", "HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=3600"] {
            assert!(text.contains(part), "{text}");
        }
        assert!(!text.contains("Secure"));
        assert!(set_cookie(SESSION_COOKIE, "abc", "/", 3600, true).to_str().unwrap().contains("Secure"));
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("a=1; cibil_bulk_session=xyz; b=2"));
        assert_eq!(cookie(&headers, SESSION_COOKIE).as_deref(), Some("xyz"));
        assert_eq!(cookie(&headers, LOGIN_COOKIE), None);
    }

    #[test]
    fn https_is_what_the_proxy_says() {
        let mut headers = HeaderMap::new();
        assert!(!is_https(&headers));
        headers.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        assert!(is_https(&headers));
    }

    #[test]
    fn an_ended_session_keeps_what_the_person_was_doing() {
        use axum::http::Method;
        assert_eq!(sign_in_again(&Method::GET, "/", false), "/login");
        assert_eq!(sign_in_again(&Method::GET, "/uploads/3", false), "/login?next=%2Fuploads%2F3");
        assert_eq!(sign_in_again(&Method::GET, "/uploads/3", true), "/login?next=%2Fuploads%2F3&why=ended");
        assert_eq!(
            sign_in_again(&Method::POST, "/uploads/3/register", true),
            "/login?next=%2Fuploads%2F3%2Fregister%3Fsaid%3Dsigned-out&why=ended"
        );
        assert_eq!(
            sign_in_again(&Method::POST, "/uploads", true),
            "/login?next=%2F%3Fsaid%3Dfile-lost&why=ended"
        );
        assert_eq!(sign_in_again(&Method::POST, "/logout", false), "/login?why=ended");
        assert_eq!(sign_in_again(&Method::POST, "/uploads/x/register", true), "/login?why=ended");
    }

    #[test]
    fn after_signing_in_only_this_site() {
        assert_eq!(local_path("/uploads/3"), "/uploads/3");
        for other in [
            "//evil.example/x",
            "https://evil.example",
            "/\\evil.example",
            "uploads",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r//evil.example",
            " //evil.example",
            "/ /evil.example",
        ] {
            assert_eq!(local_path(other), "/", "{other}");
        }
    }
}
