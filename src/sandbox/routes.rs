//! The sandbox's routes and the life of one registration request: arrival (counted, rate
//! limited), fault, delay, then the application's answer; or, for a fault after the commit, the
//! application first, then the delay and the fault. `Vendor` is the simulated vendor the handlers
//! share: its settings, its memory, and the gauge of requests in flight.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

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
use super::quota::retry_after_secs;
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
            state: Mutex::new(State::new(config.rate_limit)),
            config,
            seed,
            salt,
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
        *state = State::new(self.config.rate_limit);
        self.max_in_flight.store(self.in_flight.load(Ordering::Relaxed), Ordering::Relaxed);
    }

    fn enter(&self) -> InFlight<'_> {
        let now = self.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        self.max_in_flight.fetch_max(now, Ordering::Relaxed);
        InFlight(&self.in_flight)
    }

    /// The application behind the faults: body, credentials, fields, registry. `answered`: its
    /// answer goes out (false when a fault after the commit takes its place).
    fn answer(&self, method: &Method, body: Option<&Map<String, Value>>, answered: bool) -> Response {
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
        let refuse_repeats = self.config.refuse_repeated_order_ids;
        let verdict =
            self.state().register(checked.order_id, checked.pan, now.timestamp(), answered, refuse_repeats);
        match verdict {
            Verdict::Registered(registration) | Verdict::Replay(registration) => {
                self.success(checked.order_id, &registration)
            }
            Verdict::OrderIdReused => {
                self.state().rejected(BusinessError::OrderIdReused);
                responses::business_error(BusinessError::OrderIdReused)
            }
            Verdict::Duplicate => {
                self.state().rejected(BusinessError::DuplicateOrderId);
                responses::business_error(BusinessError::DuplicateOrderId)
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
        // Read under the lock, so that arrival times are in arrival-number order. Tokio's clock,
        // so that a test with a paused clock decides when each request arrives.
        let now = tokio::time::Instant::now();
        state.arrive(now, &parts.method, order_id)
    };
    if let Some(wait) = arrival.refused_for {
        vendor.state().answered(StatusCode::TOO_MANY_REQUESTS.as_u16());
        return responses::too_many_requests(retry_after_secs(wait));
    }
    if too_large {
        vendor.state().answered(StatusCode::PAYLOAD_TOO_LARGE.as_u16());
        return responses::payload_too_large();
    }

    let plan = vendor.faults.plan(arrival.n);
    if plan.after_commit {
        // The application's work is done and recorded before anything can go wrong, so that a
        // client that gives up during the delay cannot undo it: what it says is never sent.
        let _lost = vendor.answer(&parts.method, object.as_ref(), false);
    }
    let after_commit = u64::from(plan.after_commit);
    match plan.fault {
        Some(Fault::Hang) => {
            let mut state = vendor.state();
            state.faults().hangs += 1;
            state.faults().hangs_after_commit += after_commit;
        }
        Some(Fault::Reset) => {
            let mut state = vendor.state();
            state.faults().resets += 1;
            state.faults().resets_after_commit += after_commit;
        }
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
            state.faults().errors_after_commit += after_commit;
            drop(state);
            responses::server_error(status, html)
        }
        Some(Fault::Throttle) => {
            vendor.state().faults().throttled += 1;
            responses::too_many_requests(1)
        }
        Some(Fault::Garbage { variant }) => {
            vendor.state().faults().garbage += 1;
            responses::garbage(variant)
        }
        None => vendor.answer(&parts.method, object.as_ref(), true),
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use axum::body::Body;
    use axum::http::header::RETRY_AFTER;

    use super::*;
    use crate::sandbox::{SANDBOX_COMPANY_CODE, SANDBOX_REGISTRATION_ID};

    fn request(order_id: &str) -> Request {
        let body = serde_json::json!({
            "order_id": order_id,
            "first_name": "Ravi",
            "last_name": "Kumar",
            "pancard": "ABCPK1234F",
            "date_of_birth": "31/01/1985",
            "email_id": "ravi@example.com",
            "mobile_number": "9876543210",
            "RegistrationID": SANDBOX_REGISTRATION_ID,
            "CompanyCode": SANDBOX_COMPANY_CODE,
        });
        Request::builder()
            .method(Method::POST)
            .uri(REGISTRATION_PATH)
            .body(Body::from(body.to_string()))
            .unwrap()
    }

    /// The handler on the test's clock, without a socket: paused, it moves only when told to.
    #[tokio::test(start_paused = true)]
    async fn the_rate_limit_refuses_by_the_clock_and_says_when_to_come_back() {
        let vendor = Arc::new(Vendor::new(
            SandboxConfig { rate_limit: Some(2), seed: Some(1), ..SandboxConfig::default() },
            CancellationToken::new(),
        ));
        let mut seen = Vec::new();
        for (after_ms, order_id) in
            [(0, "A"), (400, "B"), (200, "C"), (399, "D"), (1, "E"), (0, "F"), (400, "G")]
        {
            tokio::time::advance(Duration::from_millis(after_ms)).await;
            let response = register(Shared(vendor.clone()), request(order_id)).await;
            let retry_after = response.headers().get(RETRY_AFTER).map(|v| v.to_str().unwrap().to_owned());
            seen.push((order_id, response.status().as_u16(), retry_after));
        }
        let refused = |id| (id, 429, Some("1".to_owned()));
        let accepted = |id| (id, 200, None);
        // At 0 A, at 400 B; C (600) and D (999) find both. At 1000 A has left: E is let in, and F
        // at the same instant finds B and E. At 1400 B has left: G is let in. Were the refused
        // ones counted, E and G would be refused as well.
        assert_eq!(
            seen,
            [
                accepted("A"),
                accepted("B"),
                refused("C"),
                refused("D"),
                accepted("E"),
                refused("F"),
                accepted("G")
            ]
        );
        let stats = vendor.stats();
        assert_eq!((stats.rate_limit_violations, stats.registered, stats.busiest_second), (3, 4, 5));
        assert_eq!(stats.by_status, BTreeMap::from([("200".into(), 4), ("429".into(), 3)]));

        // A reset empties the window with the rest: E and G would refuse H.
        vendor.reset();
        let response = register(Shared(vendor.clone()), request("H")).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
}
