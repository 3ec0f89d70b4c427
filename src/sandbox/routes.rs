//! The sandbox's routes and the life of one registration request: arrival (counted, rate
//! limited), fault, delay, then the application's answer. `Vendor` is the simulated vendor the
//! handlers share: its settings, its memory, and the gauge of requests in flight.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use axum::Router;
use axum::extract::{Request, State as Shared};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use rand::RngExt as _;
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};
use tokio_util::sync::CancellationToken;

use super::checks::{self, BusinessError};
use super::faults::{Fault, Faults};
use super::responses::{self, Registration};
use super::state::{State, Stats, Verdict};
use super::{REGISTRATION_PATH, RESET_PATH, STATS_PATH, SandboxConfig};

/// Bodies above this are refused unread (a registration body is under 1 KiB).
const MAX_BODY: usize = 64 * 1024;

#[derive(Debug)]
pub struct Vendor {
    config: SandboxConfig,
    seed: u64,
    /// Mixed into tokens so that two sandboxes (two seeds) hand out different ones.
    salt: [u8; 16],
    faults: Faults,
    state: Mutex<State>,
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
    /// Cancelled on shutdown: ends hangs and delays.
    stop: CancellationToken,
}

impl Vendor {
    pub fn new(config: SandboxConfig, stop: CancellationToken) -> Vendor {
        let seed = config.seed.unwrap_or_else(|| rand::rng().random());
        let digest: [u8; 32] =
            Sha256::new().chain_update(b"sandbox salt").chain_update(seed.to_le_bytes()).finalize().into();
        let mut salt = [0; 16];
        salt.copy_from_slice(&digest[..16]);
        Vendor {
            faults: Faults::new(&config, seed),
            config,
            seed,
            salt,
            state: Mutex::default(),
            in_flight: AtomicU64::new(0),
            max_in_flight: AtomicU64::new(0),
            stop,
        }
    }

    /// A panic in one handler must not take the statistics down with it: the counters are plain
    /// numbers, consistent at every await-free step.
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn stats(&self) -> Stats {
        let mut stats = self.state().stats();
        stats.in_flight = self.in_flight.load(Ordering::Relaxed);
        stats.max_in_flight = self.max_in_flight.load(Ordering::Relaxed);
        stats.seed = self.seed;
        stats
    }

    pub fn reset(&self) {
        let mut state = self.state();
        *state = State::default();
        self.max_in_flight.store(self.in_flight.load(Ordering::Relaxed), Ordering::Relaxed);
    }

    fn enter(&self) -> InFlight<'_> {
        let now = self.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        self.max_in_flight.fetch_max(now, Ordering::Relaxed);
        InFlight(&self.in_flight)
    }

    /// The application behind the faults: body, credentials, fields, registry.
    fn answer(&self, method: &Method, body: Option<&Map<String, Value>>) -> Response {
        if method != Method::GET && method != Method::POST {
            return responses::method_not_allowed(method);
        }
        let Some(body) = body else {
            self.state().rejected(BusinessError::Body);
            return responses::business_error(BusinessError::Body);
        };
        if !checks::credentials_match(body, &self.config.registration_id, &self.config.company_code) {
            self.state().unauthorized();
            return responses::unauthorized();
        }
        let now = chrono::Utc::now();
        let checked = match checks::check_fields(body, now.date_naive()) {
            Ok(checked) => checked,
            Err(error) => {
                self.state().rejected(error);
                return responses::business_error(error);
            }
        };
        let verdict = self.state().register(checked.order_id, checked.pan, now.timestamp());
        match verdict {
            Verdict::Registered(registration) | Verdict::Replay(registration) => {
                self.success(checked.order_id, &registration)
            }
            Verdict::OrderIdReused => {
                self.state().rejected(BusinessError::OrderIdReused);
                responses::business_error(BusinessError::OrderIdReused)
            }
        }
    }

    fn success(&self, order_id: &str, registration: &Registration) -> Response {
        let body = responses::success(order_id, registration, &self.salt, self.config.numeric_cibil_id);
        responses::json(StatusCode::OK, body)
    }
}

/// Counts a request in flight for as long as its handler lives, including when the client goes
/// away and the handler is dropped mid-hang.
struct InFlight<'a>(&'a AtomicU64);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

pub fn router(vendor: Arc<Vendor>) -> Router {
    Router::new()
        .route(REGISTRATION_PATH, any(register))
        .route(STATS_PATH, get(stats))
        .route(RESET_PATH, post(reset))
        .with_state(vendor)
}

async fn stats(Shared(vendor): Shared<Arc<Vendor>>) -> Response {
    responses::json(StatusCode::OK, serde_json::to_vec(&vendor.stats()).unwrap_or_default())
}

async fn reset(Shared(vendor): Shared<Arc<Vendor>>) -> Response {
    vendor.reset();
    StatusCode::NO_CONTENT.into_response()
}

async fn register(Shared(vendor): Shared<Arc<Vendor>>, request: Request) -> Response {
    let _in_flight = vendor.enter();
    let (parts, body) = request.into_parts();
    // The body is read before the request counts as arrived: its order_id is part of what the
    // statistics record, and reading a small body takes microseconds.
    let (object, too_large) = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(bytes) => (parse_object(&bytes), false),
        Err(_) => (None, true),
    };
    let arrival = {
        let order_id = object.as_ref().and_then(checks::order_id);
        let mut state = vendor.state();
        // Read under the lock, so that arrival times are in arrival-number order.
        let now = Instant::now();
        state.arrive(now, &parts.method, order_id, vendor.config.rate_limit)
    };
    if arrival.over_limit {
        vendor.state().answered(StatusCode::TOO_MANY_REQUESTS.as_u16());
        return responses::too_many_requests();
    }
    if too_large {
        vendor.state().answered(StatusCode::PAYLOAD_TOO_LARGE.as_u16());
        return responses::payload_too_large();
    }

    let plan = vendor.faults.plan(arrival.n);
    match plan.fault {
        Some(Fault::Hang) => vendor.state().faults().hangs += 1,
        Some(Fault::Reset) => vendor.state().faults().resets += 1,
        _ => {}
    }
    if !plan.delay.is_zero() {
        tokio::select! {
            () = tokio::time::sleep(plan.delay) => {}
            // Shutting down: the connection closes without an answer.
            () = vendor.stop.cancelled() => return responses::drop_connection(),
        }
    }
    let response = match plan.fault {
        Some(Fault::Hang) => {
            // Until the client gives up (hyper drops this future) or the sandbox shuts down.
            vendor.stop.cancelled().await;
            return responses::drop_connection();
        }
        Some(Fault::Reset) => return responses::drop_connection(),
        Some(Fault::Error { status, html }) => {
            let mut state = vendor.state();
            state.faults().errors += 1;
            state.faults().html_errors += u64::from(html);
            drop(state);
            responses::server_error(status, html)
        }
        Some(Fault::Throttle) => {
            vendor.state().faults().throttled += 1;
            responses::too_many_requests()
        }
        Some(Fault::Garbage { variant }) => {
            vendor.state().faults().garbage += 1;
            responses::garbage(variant)
        }
        None => vendor.answer(&parts.method, object.as_ref()),
    };
    vendor.state().answered(response.status().as_u16());
    response
}

/// The body as a JSON object, or `None` when it is not JSON or not an object.
fn parse_object(body: &[u8]) -> Option<Map<String, Value>> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    }
}
