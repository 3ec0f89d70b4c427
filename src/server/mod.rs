//! `cibil-bulk serve`: the onboarding team's web page and the cron job's JSON API, in the same
//! binary, on the same state, engine and rules as `run`.
//!
//! One process holds the state database's run lock for its whole life and owns two connections
//! to it: one for the pages and the API (behind a mutex, used on blocking threads), and one that
//! the job runner hands to the engine for each job. Jobs run one after another in upload order
//! (`jobs`), so every job shares one rate limit and one ledger. People sign in to the pages
//! (`session`, `auth`); machines send a bearer token to `/api`; `/healthz` alone needs neither.
//!
//! | module | owns |
//! |---|---|
//! | `auth` | passwords, tokens, session ids, CSRF tokens, the login throttle |
//! | `session` | who is asking, from a cookie or a bearer token |
//! | `pages`, `views` | the pages: handlers, and their maud templates |
//! | `api` | the JSON API |
//! | `uploads` | what pages and API do alike: receive, register, download |
//! | `files` | the uploads directory (every file written there cleared by the gate) and downloads |
//! | `check` | checking an upload: the pass `validate` makes, its errors files, typed refusals |
//! | `runner` | the job runner: each queued upload driven by the one run driver (`job::drive`) |
//! | `context` | what checks and jobs share: reading rules, target, state, uploads, metrics |
//! | `live`, `report` | the data the pages show: live progress, what a check found |
//!
//! Below it are the one run driver (`job`) and the gate (`gate`); it never reaches up to the
//! command layer (`commands`), which starts it.

mod admin;
mod api;
pub mod auth;
mod check;
mod context;
mod files;
mod hashing;
pub mod listen;
mod live;
mod pages;
mod report;
mod runner;
mod session;
mod uploads;
mod views;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use tokio::sync::{Notify, Semaphore, watch};
use tokio_util::sync::CancellationToken;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutLayer};

use crate::gate::Gate;
use crate::job::lifecycle::Target;
use crate::sandbox::Sandbox;
use crate::settings::ServeSettings;
use crate::store::{DEFAULT_LOCK_WAIT, Store, StoreError};

pub use files::Uploads;

/// What the handlers share.
#[derive(Clone)]
pub(crate) struct App(Arc<Inner>);

pub(crate) struct Inner {
    ctx: Arc<context::Context>,
    /// Whether the job runner is alive, for `/healthz`.
    runner: Arc<runner::Alive>,
    /// The pages' and the API's connection to the state.
    db: Arc<Mutex<Store>>,
    throttle: Mutex<auth::LoginThrottle>,
    /// Password checks, on a small pool of their own.
    hashers: hashing::Hashers,
    /// Upload checks under way at once: a workbook can take hundreds of megabytes to read.
    checks: Semaphore,
    /// Tells the job runner an upload was queued.
    wake: Arc<Notify>,
    /// Live streams open, per person ([`listen::MOST_STREAMS_EACH`], [`listen::MOST_STREAMS`]).
    streams: Arc<listen::Shares<String>>,
    live: watch::Receiver<Option<live::Progress>>,
    shutdown: CancellationToken,
    max_upload: u64,
    session_lifetime: Duration,
    sandbox: bool,
    /// Where registrations go, as the confirmation names it.
    target: String,
}

impl std::ops::Deref for App {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App").field("target", &self.target).finish_non_exhaustive()
    }
}

impl App {
    /// Runs `work` on the pages' connection, on a thread that may block.
    async fn db<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, Failure> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || {
            let store = db.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            work(&store)
        })
        .await
        .map_err(|e| Failure::Internal(e.into()))?
        .map_err(|e| Failure::Internal(e.into()))
    }
}

/// Why a request could not be done; the pages and the API each say it their way.
#[derive(Debug)]
pub(crate) enum Failure {
    NotFound,
    /// A form without the right CSRF token.
    Forbidden,
    /// Allowed to others, not to whoever asked (a clerk on an admin's page, a token without the
    /// scope): why, in their words.
    NotAllowed(&'static str),
    /// A method the path does not answer to (`DELETE /api/uploads/1`).
    NotAllowedHere,
    /// The server is busy with work of this kind: try again after the seconds given.
    Busy(u64),
    /// The upload's personal data was erased at this time (Unix milliseconds): its files are gone.
    Gone(i64),
    /// An upload over the limit (bytes).
    TooLarge(u64),
    /// A file that cannot be used, and why.
    Unusable(String),
    Conflict(String),
    BadRequest(String),
    Internal(anyhow::Error),
}

impl Failure {
    fn status(&self) -> StatusCode {
        match self {
            Failure::NotFound => StatusCode::NOT_FOUND,
            Failure::Forbidden | Failure::NotAllowed(_) => StatusCode::FORBIDDEN,
            Failure::NotAllowedHere => StatusCode::METHOD_NOT_ALLOWED,
            Failure::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            Failure::Gone(_) => StatusCode::GONE,
            Failure::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Failure::Unusable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Failure::Conflict(_) => StatusCode::CONFLICT,
            Failure::BadRequest(_) => StatusCode::BAD_REQUEST,
            Failure::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The answer, as the pages or the API put `body`: the status, and when to ask again.
    fn respond(&self, body: impl IntoResponse) -> axum::response::Response {
        let mut response = (self.status(), body).into_response();
        if let Failure::Busy(seconds) = self {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(*seconds));
        }
        response
    }

    /// What to tell whoever asked. The detail of a server failure goes to the log, not to them.
    fn message(&self) -> String {
        match self {
            Failure::NotFound => "There is no such upload.".to_owned(),
            Failure::Forbidden => {
                "This form had expired or did not come from this site: go back, reload the page and try again."
                    .to_owned()
            }
            Failure::NotAllowed(why) => (*why).to_owned(),
            Failure::NotAllowedHere => {
                "This address does not answer to that method: see the API's calls in the README.".to_owned()
            }
            Failure::Busy(seconds) => format!(
                "The server is busy with other work of this kind: try again in {}.",
                live::rough_duration(Duration::from_secs(*seconds))
            ),
            Failure::Gone(at) => format!(
                "This upload's customer data was erased on {}, as the team's retention rule asks: its \
                 files are gone, and it cannot be registered again. Upload the file again if needed.",
                crate::output::local_time(*at)
            ),
            Failure::TooLarge(limit) => format!(
                "The file is larger than this server accepts ({} bytes): split it into smaller files, or ask your team lead to raise the limit.",
                live::group(*limit)
            ),
            Failure::Unusable(why) | Failure::Conflict(why) | Failure::BadRequest(why) => why.clone(),
            Failure::Internal(e) => {
                tracing::error!("{e:#}");
                "The server could not do this: ask your team lead to look at the server's log.".to_owned()
            }
        }
    }
}

/// Upload checks under way at once: one workbook at its size limit may take some 700 MB to read,
/// so the server's memory for checks stays within about that, whatever is uploaded at once.
const CHECKS_AT_ONCE: usize = 1;

const STYLE: &str = include_str!("static/style.css");
const SCRIPT: &str = include_str!("static/live.js");

fn router(app: App) -> Router {
    // The multipart envelope adds a little to the file; the file itself is held to the limit
    // as it arrives.
    let upload_limit = DefaultBodyLimit::max(
        usize::try_from(app.max_upload).unwrap_or(usize::MAX).saturating_add(64 * 1024),
    );
    // A sign-in form is a name, a password and two tokens: nothing a stranger sends there is
    // read past this.
    let form_limit = DefaultBodyLimit::max(FORM_LIMIT);
    let pages = Router::new()
        .route("/", get(pages::home))
        .route(
            "/login",
            get(pages::login_form).post(pages::login).layer((
                form_limit,
                TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, listen::FORM_DEADLINE),
            )),
        )
        .route("/logout", post(pages::logout))
        .route("/uploads", post(pages::upload_file).layer(upload_limit))
        .route("/uploads/{id}", get(pages::upload_page))
        .route("/uploads/{id}/choices", get(pages::choices_page).post(pages::choose))
        .route("/uploads/{id}/register", get(pages::confirm_page).post(pages::register))
        .route("/uploads/{id}/results", get(pages::results))
        .route("/uploads/{id}/errors", get(pages::errors))
        .route("/uploads/{id}/events", get(pages::events))
        .merge(admin::routes());
    // The API answers in JSON, its refusals too: a path or id it does not know included.
    let api = Router::new()
        .route("/uploads", post(api::create).layer(upload_limit).get(api::list))
        .route("/uploads/{id}", get(api::show))
        .route("/uploads/{id}/register", post(api::register))
        .route("/uploads/{id}/results", get(api::results))
        .route("/uploads/{id}/errors", get(api::errors))
        .fallback(|| async { api::ApiFailure(Failure::NotFound).into_response() })
        .method_not_allowed_fallback(|| async { api::ApiFailure(Failure::NotAllowedHere).into_response() });
    let assets = Router::new()
        .route("/healthz", get(health))
        .route(
            "/static/style.css",
            get(|| async { ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE) }),
        )
        .route(
            "/static/live.js",
            get(|| async { ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], SCRIPT) }),
        );
    // Anything else is no such page, said in JSON under `/api` (`/api` and `/api/` themselves
    // included, which the nested router never sees).
    let not_found = |uri: axum::http::Uri| async move {
        let path = uri.path();
        if path == "/api" || path.starts_with("/api/") {
            api::ApiFailure(Failure::NotFound).into_response()
        } else {
            pages::PageFailure(Failure::NotFound).into_response()
        }
    };
    pages
        .nest("/api", api)
        .merge(assets)
        .fallback(not_found)
        .with_state(app)
        // A body that stops arriving (an upload stalled mid-way) is dropped, not held.
        .layer(RequestBodyTimeoutLayer::new(listen::BODY_IDLE_TIMEOUT))
        .layer(axum::middleware::map_response(close_after_a_body_left_unread))
        .layer(axum::middleware::from_fn(strict_transport))
        // Personal data must not linger in caches; nothing here may be framed or sniffed; the
        // pages load scripts and styles from this site only.
        .layer(SetResponseHeaderLayer::overriding(header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
            ),
        ))
        .layer(SetResponseHeaderLayer::overriding(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(SetResponseHeaderLayer::overriding(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .layer(SetResponseHeaderLayer::overriding(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")))
}

/// A request refused before its body was read (too large, or too slow to arrive) ends its
/// connection: the rest of the body is never read, so the connection cannot carry another
/// request, and the client is told so (`Connection: close`) rather than left to reuse it and meet
/// a reset.
async fn close_after_a_body_left_unread(mut response: axum::response::Response) -> axum::response::Response {
    if matches!(response.status(), StatusCode::PAYLOAD_TOO_LARGE | StatusCode::REQUEST_TIMEOUT) {
        response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// The largest sign-in form read: a name of 64 characters and a password of 256 fit many times.
const FORM_LIMIT: usize = 8 * 1024;

/// Behind https (the reverse proxy says so), browsers are told to come back only over https for
/// a year (HSTS). Over plain http the header would mean nothing, and is not sent.
async fn strict_transport(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let https = session::is_https(request.headers());
    let mut response = next.run(request).await;
    if https {
        response
            .headers_mut()
            .insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000"));
    }
    response
}

/// `/healthz`, for load balancers and monitoring: ok while the server can register uploads; 503
/// once its job runner has died (uploads would be taken and never sent).
async fn health(axum::extract::State(app): axum::extract::State<App>) -> axum::response::Response {
    if app.runner.is_alive() || app.shutdown.is_cancelled() {
        axum::Json(serde_json::json!({ "status": "ok" })).into_response()
    } else {
        let status = crate::output::notices::RUNNER_DIED;
        (StatusCode::SERVICE_UNAVAILABLE, axum::Json(serde_json::json!({ "status": status }))).into_response()
    }
}

/// A running server. [`Server::stop`] shuts it down as SIGTERM does: no new requests, the job
/// being sent stops as `run` stops on Ctrl-C (requests in flight finish, the rest stays pending,
/// to resume at the next start).
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    /// Uploads whose jobs were stopped with the server, queued again to resume.
    pub resumed: Vec<i64>,
    pub sandbox_endpoint: Option<String>,
}

impl Server {
    /// Opens the state, takes its run lock, and starts serving on `settings.listen` (port 0 picks
    /// a free one: see [`Server::addr`]) and running jobs.
    pub async fn start(settings: ServeSettings) -> anyhow::Result<Server> {
        // Every file the server writes passes the gate, the metrics file before anything is done;
        // no file it keeps may be replaced by one.
        let gate = || Gate::new().keep_config(Some(&settings.config));
        let [metrics_file] = gate()
            .keep_state(&settings.state)
            .clear([("--metrics-file", settings.metrics_file.as_deref())])?;
        let uploads_gate = gate().keep_state_writing_uploads(&settings.state);
        let uploads_gate = match &metrics_file {
            Some(metrics) => uploads_gate.keep("the metrics file", metrics.path()),
            None => uploads_gate,
        };
        let Target { api, scope: endpoint_scope, sandbox } =
            crate::job::lifecycle::target(&settings.api, settings.sandbox).await?;
        let target = match &sandbox {
            Some(_) => "the built-in sandbox".to_owned(),
            None => api.endpoint.host_str().unwrap_or("AOPay").to_owned(),
        };

        let state = settings.state.clone();
        let opened = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            let mut runner = Store::open(&state)?;
            if let Some(was) = runner.tightened_from() {
                tracing::warn!("{}", crate::output::notices::state_tightened(&state, was));
            }
            let lock = runner.acquire_lock(DEFAULT_LOCK_WAIT, |_| {})?;
            runner.bind_endpoint(&endpoint_scope)?;
            let resumed = runner.requeue_stopped_jobs()?;
            let web = Store::open_another(&state)?;
            Ok((runner, web, lock, resumed, endpoint_scope))
        })
        .await
        .context("opening the state stopped unexpectedly")??;
        let (runner, web, lock, resumed, endpoint_scope) = opened;
        let uploads = Uploads::open(&settings.state, uploads_gate).with_context(|| {
            format!("cannot prepare the uploads directory beside {}", settings.state.display())
        })?;

        let listener = tokio::net::TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("cannot listen on {}", settings.listen))?;
        let addr = listener.local_addr()?;

        let ctx = Arc::new(context::Context {
            input: settings.input.clone(),
            today_pinned: settings.today_pinned,
            api,
            engine: settings.engine.clone(),
            endpoint_scope,
            state: settings.state.clone(),
            uploads,
            metrics_file,
            keep_personal_data: settings.keep_personal_data,
            started_at: crate::store::now_ms(),
        });
        let shutdown = CancellationToken::new();
        let (live_tx, live_rx) = watch::channel(None);
        let wake = Arc::new(Notify::new());
        let db = Arc::new(Mutex::new(web));
        let alive = Arc::new(runner::Alive::default());
        let app = App(Arc::new(Inner {
            ctx: ctx.clone(),
            runner: alive.clone(),
            db: db.clone(),
            throttle: Mutex::default(),
            hashers: hashing::Hashers::start().context("cannot start the password checkers")?,
            checks: Semaphore::new(CHECKS_AT_ONCE),
            wake: wake.clone(),
            streams: listen::Shares::new(listen::MOST_STREAMS_EACH, Some(listen::MOST_STREAMS)),
            live: live_rx,
            shutdown: shutdown.clone(),
            max_upload: settings.max_upload,
            session_lifetime: settings.session_lifetime,
            sandbox: settings.sandbox,
            target,
        }));

        let runner = tokio::spawn(runner::run_jobs(ctx, runner, live_tx, wake, shutdown.clone(), alive));
        let http = listen::serve(listener, router(app), shutdown.clone());
        let sandbox_endpoint = sandbox.as_ref().map(Sandbox::endpoint);
        let task = tokio::spawn(async move {
            let served = http.await.context("the server stopped");
            // The job runner ends its job before the lock goes.
            let _ = runner.await;
            if let Some(sandbox) = sandbox {
                sandbox.shutdown().await;
            }
            drop(lock);
            served
        });
        Ok(Server { addr, shutdown, task, resumed, sandbox_endpoint })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Asks the server to stop (as SIGTERM does).
    pub fn shutdown(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Stops the server and waits until it has: the running job recorded, the lock released.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.wait().await
    }

    /// Waits until the server has stopped.
    pub async fn wait(self) -> anyhow::Result<()> {
        self.task.await.context("the server stopped unexpectedly")?
    }
}
