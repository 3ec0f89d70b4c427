//! A `cibil-bulk serve` started in the test's process on 127.0.0.1 port 0, on a state of its own
//! in a temporary directory, sending to a sandbox of its own (whose statistics prove from the
//! vendor's side what was sent), with one person and one API token to ask as; and an HTTP client
//! that follows no redirects and keeps cookies by hand, so that every status and cookie the
//! server answers with can be checked.

use std::path::{Path, PathBuf};
use std::time::Duration;

use cibil_bulk::cli::Cli;
use cibil_bulk::sandbox::{SANDBOX_COMPANY_CODE, SANDBOX_REGISTRATION_ID, Sandbox, SandboxConfig, Stats};
use cibil_bulk::server::{Server, auth};
use cibil_bulk::settings::{CommandSettings, ENV_COMPANY_CODE, ENV_REGISTRATION_ID, Settings};
use cibil_bulk::store::{Role, Scope, Store};
use reqwest::StatusCode;
use reqwest::header::{COOKIE, SET_COOKIE};
use serde_json::Value;

use super::TODAY;

/// The person every server knows: a clerk.
pub const USER: &str = "asha";
/// The admin every server knows, with the same password.
pub const ADMIN: &str = "meera";
pub const PASSWORD: &str = "a long enough password";
/// The API token every server knows.
pub const TOKEN: &str = "cbk_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// `cibil-bulk serve` with `args`, started in this process, in `dir`.
async fn serve(dir: &Path, args: &[String]) -> Server {
    let cli = Cli::try_parse_args_from(args).expect("serve's flags");
    let env = |name: &str| match name {
        ENV_REGISTRATION_ID => Some(SANDBOX_REGISTRATION_ID.to_owned()),
        ENV_COMPANY_CODE => Some(SANDBOX_COMPANY_CODE.to_owned()),
        _ => None,
    };
    let today = chrono::NaiveDate::parse_from_str(TODAY, "%Y-%m-%d").unwrap();
    let settings = Settings::resolve_in(&cli, dir, today, &env).expect("serve's settings");
    let CommandSettings::Serve(settings) = settings.command else { panic!("not serve") };
    Server::start(*settings).await.expect("the server starts")
}

/// The samples, as a clerk would upload them.
pub fn sample(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("samples").join(name)).expect("a sample file")
}

pub struct Served {
    pub dir: tempfile::TempDir,
    pub state: PathBuf,
    /// Serving until the test ends (or [`Served::stop`]).
    server: Option<Server>,
    /// Its command line, to start it again.
    args: Vec<String>,
    pub base: String,
    pub http: reqwest::Client,
    pub sandbox: Sandbox,
}

impl Served {
    /// A server sending fast (2000/s) to a fault-free sandbox; `extra` flags after the defaults.
    pub async fn start(extra: &[&str]) -> Served {
        Served::start_with(SandboxConfig { seed: Some(7), ..SandboxConfig::default() }, extra).await
    }

    pub async fn start_with(config: SandboxConfig, extra: &[&str]) -> Served {
        let _ = tracing_subscriber::fmt().with_test_writer().with_env_filter("cibil_bulk=info").try_init();
        let sandbox = Sandbox::start(([127, 0, 0, 1], 0).into(), config).await.expect("the sandbox starts");
        let dir = tempfile::tempdir().expect("a temporary directory");
        let state = dir.path().join("cibil-bulk.db");
        {
            let store = Store::open(&state).expect("a state");
            assert!(store.add_user(USER, &auth::hash_password(PASSWORD).unwrap(), Role::Clerk).unwrap());
            assert!(store.add_user(ADMIN, &auth::hash_password(PASSWORD).unwrap(), Role::Admin).unwrap());
            assert!(store.add_token("nightly-cron", &auth::secret_hash(TOKEN), &Scope::ALL).unwrap());
        }
        let endpoint = sandbox.endpoint();
        let state_text = state.display().to_string();
        let mut args: Vec<String> =
            ["cibil-bulk", "serve", "--listen", "127.0.0.1:0", "--state", &state_text, "--today", TODAY]
                .map(str::to_owned)
                .to_vec();
        // `--sandbox` brings the server's own simulator; otherwise the test's, whose statistics
        // it reads.
        if !extra.contains(&"--sandbox") {
            args.extend(["--endpoint".to_owned(), endpoint]);
        }
        if !extra.contains(&"--rate") {
            args.extend(["--rate".to_owned(), "2000/s".to_owned()]);
        }
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        let server = serve(dir.path(), &args).await;
        let base = format!("http://{}", server.addr());
        let http = super::http_client()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        Served { dir, state, server: Some(server), args, base, http, sandbox }
    }

    /// Stops the server as SIGTERM does, and waits until it has.
    pub async fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.stop().await.expect("the server stops");
        }
    }

    /// Starts the server again on the same state, with the same flags (on another port).
    pub async fn restart(&mut self) {
        self.stop().await;
        let server = serve(self.dir.path(), &self.args).await;
        self.base = format!("http://{}", server.addr());
        self.server = Some(server);
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The sandbox's statistics: what was sent.
    pub fn stats(&self) -> Stats {
        self.sandbox.stats()
    }

    /// A request to the API with the token.
    pub fn api(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, self.url(path)).bearer_auth(TOKEN)
    }

    /// `POST /api/uploads` with `bytes` as the file `name`.
    pub async fn upload(&self, name: &str, bytes: Vec<u8>) -> (StatusCode, Value) {
        let part = reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned());
        let form = reqwest::multipart::Form::new().part("file", part);
        let response = self.api(reqwest::Method::POST, "/api/uploads").multipart(form).send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// A JSON answer of the API.
    pub async fn get_json(&self, path: &str) -> (StatusCode, Value) {
        let response = self.api(reqwest::Method::GET, path).send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// `POST /api/uploads/{id}/register`.
    pub async fn register(&self, id: u64) -> (StatusCode, Value) {
        let response =
            self.api(reqwest::Method::POST, &format!("/api/uploads/{id}/register")).send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Waits until upload `id` is in `state`, and returns its summary.
    pub async fn wait_for(&self, id: u64, state: &str) -> Value {
        loop {
            let (status, summary) = self.get_json(&format!("/api/uploads/{id}")).await;
            assert_eq!(status, StatusCode::OK, "{summary}");
            if summary["state"] == state {
                return summary;
            }
            assert!(
                !["aborted", "interrupted"].contains(&summary["state"].as_str().unwrap_or_default()),
                "upload {id} stopped: {summary}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until upload `id` is in `state`, as the state database records it (for an upload a
    /// person made, which the API's token does not see).
    pub async fn wait_in_state(&self, id: u64, state: &str) -> cibil_bulk::store::UploadRecord {
        let store = Store::open(&self.state).expect("the server's state");
        loop {
            let upload = store.upload(id as i64).unwrap().expect("the upload");
            if upload.state.as_str() == state {
                return upload;
            }
            assert!(!["aborted", "interrupted"].contains(&upload.state.as_str()), "upload {id} stopped");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Signs in as the person every server knows.
    pub async fn sign_in(&self) -> Session {
        self.sign_in_as(USER, PASSWORD).await.expect("signed in")
    }

    /// Signs in through the form, as a browser does: the form's CSRF token and its cookie, then
    /// the name and password. The answer when it did not work.
    pub async fn sign_in_as(&self, name: &str, password: &str) -> Result<Session, reqwest::Response> {
        let form = self.http.get(self.url("/login")).send().await.unwrap();
        let login_cookie = set_cookie(&form, "cibil_bulk_login").expect("the sign-in form's cookie");
        let csrf = hidden_csrf(&form.text().await.unwrap());
        let answer = self
            .http
            .post(self.url("/login"))
            .header(COOKIE, format!("cibil_bulk_login={login_cookie}"))
            .form(&[("name", name), ("password", password), ("csrf", &csrf), ("next", "/")])
            .send()
            .await
            .unwrap();
        let Some(session) = set_cookie(&answer, "cibil_bulk_session").filter(|s| !s.is_empty()) else {
            return Err(answer);
        };
        let home = self.http.get(self.url("/")).header(COOKIE, format!("cibil_bulk_session={session}"));
        let page = home.send().await.unwrap().text().await.unwrap();
        Ok(Session { cookie: format!("cibil_bulk_session={session}"), csrf: hidden_csrf(&page) })
    }

    /// Signs the person of `session` out, as the page's button does.
    pub async fn sign_out(&self, session: &Session) -> reqwest::Response {
        self.page(session, reqwest::Method::POST, "/logout")
            .form(&[("csrf", &session.csrf)])
            .send()
            .await
            .unwrap()
    }

    /// A page request as the person of `session`.
    pub fn page(&self, session: &Session, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, self.url(path)).header(COOKIE, &session.cookie)
    }
}

/// A signed-in person's cookie, and the CSRF token of their forms.
#[derive(Debug, Clone)]
pub struct Session {
    pub cookie: String,
    pub csrf: String,
}

/// The value of cookie `name` set by `response`.
pub fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    set_cookie_header(response, name)
        .and_then(|h| h.split(';').next().map(|kv| kv.trim_start_matches(&format!("{name}=")).to_owned()))
}

/// The whole `Set-Cookie` header for cookie `name`.
pub fn set_cookie_header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

/// The value of the hidden `csrf` field of a page's first form that has one.
pub fn hidden_csrf(html: &str) -> String {
    let start = html.find("name=\"csrf\" value=\"").expect("a form with a CSRF token") + 19;
    html[start..].split('"').next().unwrap_or_default().to_owned()
}

/// The rows of a CSV answer, by header (the BOM taken off the first).
pub fn csv_rows(bytes: &[u8]) -> Vec<std::collections::BTreeMap<String, String>> {
    let mut reader = csv::Reader::from_reader(bytes);
    let headers: Vec<String> =
        reader.headers().unwrap().iter().map(|h| h.trim_start_matches('\u{feff}').to_owned()).collect();
    reader
        .records()
        .map(|r| headers.iter().cloned().zip(r.unwrap().iter().map(str::to_owned)).collect())
        .collect()
}
