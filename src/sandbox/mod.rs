//! The AOPay sandbox: a local stand-in for the vendor's registration API, with fault injection,
//! behind `cibil-bulk sandbox` and `run --sandbox`, and started in-process by tests on port 0. It
//! owns everything about the simulated vendor: the path and field names, its own field checks
//! (deliberately *not* the crate's `validate`, so the two can disagree and tests see it), the
//! answers in the vendor's shapes, the registrations it remembers, the faults it injects, and the
//! statistics that let a test prove the tool's guarantees from the server's side. The tool's
//! engine knows it only by its URL.
//!
//! ## What it answers, in order
//! For a request on [`REGISTRATION_PATH`] (`GET` with a JSON body as documented, or `POST`):
//! 1. **Server-side rate limit** (`rate_limit`): a request is refused at once with 429, and counts
//!    as a violation, when the one second ending at it already holds N *accepted* requests. Its
//!    `Retry-After` is the whole seconds until the oldest of those leaves the window, rounded up
//!    and at least 1 (with a one-second window, always 1). Refused requests do not count toward
//!    the window, as at the gateways a client meets: nginx's `limit_req` leaves its state alone
//!    when it rejects, and a token bucket takes no token for a refusal. So a client that
//!    overshoots still gets its N a second, and one that honours `Retry-After` is let in.
//! 2. **Faults** (`*_rate`, `latency`, `jitter`): one uniform draw per request picks at most one
//!    fault. They model what sits in front of the vendor's application (a proxy, the network), so
//!    they hit every request on the path, whatever its body or credentials. With
//!    `commit_before_fault`, a share of the hangs, resets and errors strike after step 3 instead
//!    (see "Faults a client sees").
//! 3. **The application**: the body must be a JSON object; wrong or missing `RegistrationID` /
//!    `CompanyCode` → HTTP 401 `{"responsecode":401,"status":false,"message":...}`; then the
//!    field checks below, in the vendor's documented field order, first failure only; then the
//!    registration.
//!
//! ## Business errors
//! HTTP 200 with `{"code":"2xx","description":...,"merchantTrxnRefId":null,"token":null,
//! "status":"False"}`, as the vendor's second envelope. Codes are stable:
//!
//! | code | when |
//! |---|---|
//! | 201 | the body is not JSON, or not a JSON object |
//! | 202 | `order_id` missing, not a string, or blank |
//! | 203 | `first_name` missing, not a string, or not a name (letters, with space `.` `'` `-` between) |
//! | 204 | `last_name`, as `first_name` |
//! | 205 | `pancard` not `^[A-Z]{5}[0-9]{4}[A-Z]$` (no trimming, no case folding) |
//! | 206 | `date_of_birth` not `DD/MM/YYYY`, not a real date, before 1900 or in the future |
//! | 207 | `mobile_number` not a JSON *string* of 10 digits starting 6-9 |
//! | 208 | `email_id` not a string, or neither empty nor containing `@` (absent or null: empty) |
//! | 209 | `order_id` already registered with another PAN |
//! | 210 | `middle_name` present but not a string, or not a name (absent, null or empty: fine) |
//!
//! ## Registrations
//! A new `order_id` with valid fields is registered: `is_returning_customer` is 1 when its PAN was
//! registered before under another `order_id`. The `cibil_id` is a function of the PAN alone (13
//! digits, one-to-one: two PANs never share one); `access_token` and `merchant_trans_id` are
//! derived from the `order_id` and the time of its registration. A repeated `order_id` with the
//! same PAN is a *replay*: the very same bytes as its first answer, and no new registration.
//! The application sees a request only once no fault stands before it: a fault before it, or a
//! client that gives up during the latency, leaves nothing registered.
//!
//! ## Faults a client sees
//! `hang`: no answer until the client gives up or the sandbox shuts down. `reset`: the connection
//! is dropped without a byte of answer, with an RST. `error`: 500, 502 or 503, a third of them
//! with an HTML page as a reverse proxy sends, the rest with ASP.NET's JSON. `throttle`: 429 with
//! `Retry-After: 1`. `garbage`: 200 with a body that is not JSON. Latency (mean `latency`,
//! uniform ±`jitter`, never below zero) comes before every answer but the rate limit's (and the
//! 413 for a body over 64 KiB).
//!
//! `commit_before_fault` (a share, 0 by default) makes that share of the hangs, resets and errors
//! strike after the application, as a server that commits and then fails: the request is handled
//! on arrival (its registration recorded, or its replay or refusal decided), then comes the
//! latency, then the fault instead of the answer. The client cannot tell it from the same fault
//! before the application; but a retry with the same `order_id` gets the replay of a
//! registration it never heard of, and the same customer sent again under a new `order_id` gets
//! `is_returning_customer: 1`: a double registration. The statistics expose both:
//! `faults.*_after_commit`, `order_ids_registered_without_answer` and
//! `pans_with_several_order_ids`.
//! Decisions are drawn from the seed and the request's arrival number, so a run that sends
//! requests one at a time meets the same faults again with the same `seed`.
//!
//! `GET /__sandbox/stats` returns [`Stats`]; `POST /__sandbox/reset` forgets registrations and
//! statistics and restarts the arrival count. Neither counts as a request nor meets faults.

mod checks;
mod faults;
pub(crate) mod quota;
mod responses;
mod routes;
mod server;
mod state;

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use checks::BusinessError;
pub use state::{FaultCounts, Stats};

/// The vendor's path, misspelling included.
pub const REGISTRATION_PATH: &str = "/api/AOP/CibilScore/registeration";
/// What the sandbox received, as JSON ([`Stats`]).
pub const STATS_PATH: &str = "/__sandbox/stats";
/// `POST` here forgets registrations and statistics.
pub const RESET_PATH: &str = "/__sandbox/reset";
/// The merchant credentials the sandbox accepts unless configured otherwise. Not secrets.
pub const SANDBOX_REGISTRATION_ID: &str = "AOP-SANDBOX";
pub const SANDBOX_COMPANY_CODE: &str = "CMP-SANDBOX";

/// How the sandbox behaves. The default accepts the sandbox credentials and injects no fault.
#[derive(Debug, Clone, PartialEq)]
pub struct SandboxConfig {
    /// The `RegistrationID` accepted; any other gets a 401.
    pub registration_id: String,
    /// The `CompanyCode` accepted; any other gets a 401.
    pub company_code: String,
    /// Mean delay before each answer.
    pub latency: Duration,
    /// Each delay is `latency` plus a uniform amount in ±`jitter` (never below zero).
    pub jitter: Duration,
    /// Share of requests answered 500/502/503.
    pub error_rate: f64,
    /// Share of requests answered 429 with `Retry-After: 1`.
    pub throttle_rate: f64,
    /// Share of requests never answered.
    pub hang_rate: f64,
    /// Share of requests whose connection is dropped without an answer.
    pub reset_rate: f64,
    /// Share of requests answered 200 with a body that is not JSON.
    pub garbage_rate: f64,
    /// Share of the hang, reset and error faults that come after the application has handled the
    /// request: its registration is recorded, then the answer hangs, is reset or is a 5xx.
    pub commit_before_fault: f64,
    /// At most this many accepted requests in any one-second window; the rest get 429.
    pub rate_limit: Option<u32>,
    /// Seed of the fault decisions; `None` picks one at random (reported in [`Stats::seed`]).
    pub seed: Option<u64>,
    /// Send `cibil_id` as a JSON number instead of a string (the vendor's pages show both).
    pub numeric_cibil_id: bool,
    /// Refuse an order id already registered and answered ("Duplicate order id") instead of
    /// replaying its answer: a vendor that does not de-duplicate on `order_id`.
    pub refuse_repeated_order_ids: bool,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            registration_id: SANDBOX_REGISTRATION_ID.to_owned(),
            company_code: SANDBOX_COMPANY_CODE.to_owned(),
            latency: Duration::ZERO,
            jitter: Duration::ZERO,
            error_rate: 0.0,
            throttle_rate: 0.0,
            hang_rate: 0.0,
            reset_rate: 0.0,
            garbage_rate: 0.0,
            commit_before_fault: 0.0,
            rate_limit: None,
            seed: None,
            numeric_cibil_id: false,
            refuse_repeated_order_ids: false,
        }
    }
}

/// A [`SandboxConfig`] that cannot be used. Field names are the config's; the command line's
/// settings check the same things first and name their flags.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SandboxConfigError {
    #[error("{field} is {value}: a fault rate is a share of requests, between 0 and 1")]
    Rate { field: &'static str, value: f64 },
    #[error("the fault rates add up to {sum}: each request meets at most one fault, so at most 1")]
    RatesAboveOne { sum: f64 },
    #[error(
        "commit_before_fault is {value}: it is a share of the hang, reset and error faults, between 0 and 1"
    )]
    CommitShare { value: f64 },
    #[error("rate_limit is 0: allow at least 1 request a second, or set no limit")]
    ZeroRateLimit,
}

impl SandboxConfig {
    /// The fault rates by name, in the order one draw is matched against them.
    pub fn fault_rates(&self) -> [(&'static str, f64); 5] {
        [
            ("hang_rate", self.hang_rate),
            ("reset_rate", self.reset_rate),
            ("error_rate", self.error_rate),
            ("throttle_rate", self.throttle_rate),
            ("garbage_rate", self.garbage_rate),
        ]
    }

    pub fn check(&self) -> Result<(), SandboxConfigError> {
        let rates = self.fault_rates();
        for (field, value) in rates {
            if !(0.0..=1.0).contains(&value) {
                return Err(SandboxConfigError::Rate { field, value });
            }
        }
        let sum: f64 = rates.iter().map(|(_, rate)| rate).sum();
        // A little slack for decimal rates like 0.7 + 0.2 + 0.1, which add up to 1.0000000000000002.
        if sum > 1.0 + 1e-9 {
            return Err(SandboxConfigError::RatesAboveOne { sum });
        }
        if !(0.0..=1.0).contains(&self.commit_before_fault) {
            return Err(SandboxConfigError::CommitShare { value: self.commit_before_fault });
        }
        if self.rate_limit == Some(0) {
            return Err(SandboxConfigError::ZeroRateLimit);
        }
        Ok(())
    }
}

/// A running sandbox. Dropping it stops it too (without waiting); [`Sandbox::shutdown`] waits
/// until every connection is closed.
pub struct Sandbox {
    addr: SocketAddr,
    vendor: Arc<routes::Vendor>,
    stop: CancellationToken,
    accept: JoinHandle<()>,
    connections: TaskTracker,
}

impl fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sandbox").field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl Sandbox {
    /// Listens on `listen` (port 0: a free port, see [`Sandbox::addr`]) and serves on the current
    /// tokio runtime until [`Sandbox::shutdown`] or drop. An unusable `config` is an
    /// [`std::io::ErrorKind::InvalidInput`] error.
    pub async fn start(listen: SocketAddr, config: SandboxConfig) -> std::io::Result<Sandbox> {
        config.check().map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let stop = CancellationToken::new();
        let vendor = Arc::new(routes::Vendor::new(config, stop.clone()));
        let connections = TaskTracker::new();
        let accept = tokio::spawn(server::accept(
            listener,
            routes::router(vendor.clone()),
            stop.clone(),
            connections.clone(),
        ));
        Ok(Sandbox { addr, vendor, stop, accept, connections })
    }

    /// The address actually listened on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR` without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The registration endpoint: `http://127.0.0.1:PORT/api/AOP/CibilScore/registeration`.
    pub fn endpoint(&self) -> String {
        format!("{}{REGISTRATION_PATH}", self.base_url())
    }

    /// What `GET /__sandbox/stats` returns, without going through HTTP.
    pub fn stats(&self) -> Stats {
        self.vendor.stats()
    }

    /// What `POST /__sandbox/reset` does, without going through HTTP.
    pub fn reset(&self) {
        self.vendor.reset();
    }

    /// Stops accepting connections, ends hanging and delayed requests (their connections close
    /// without an answer), lets answers being written finish, and waits until every connection
    /// is closed. Nothing of the sandbox runs after it returns.
    pub async fn shutdown(mut self) {
        self.stop.cancel();
        let _ = (&mut self.accept).await;
        self.connections.close();
        self.connections.wait().await;
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
