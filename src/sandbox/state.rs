//! What the sandbox remembers: the registrations (by `order_id` and by PAN) and the counters
//! behind [`Stats`]. One `State` behind one mutex, held for a few map operations per request,
//! never across an await. Counters are kept as they happen; the "more than once" lists are
//! computed when asked for, by a scan, so the request path stays cheap and the lists stay honest.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use axum::http::Method;
use serde::{Deserialize, Serialize};

use super::checks::{BusinessError, Pan};
use super::responses::Registration;

/// What the sandbox received and answered since it started or was last reset. Served as JSON at
/// `GET /__sandbox/stats`; `Deserialize` so that tests of a spawned binary can read it back.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Stats {
    /// Requests that arrived on the registration path, whatever became of them.
    pub requests: u64,
    /// Answers sent, by HTTP status (`"200"`). Hangs, resets and requests still in flight have none.
    pub by_status: BTreeMap<String, u64>,
    /// Requests by HTTP method (`"GET"`, `"POST"`).
    pub by_method: BTreeMap<String, u64>,
    /// Faults injected, by kind.
    pub faults: FaultCounts,
    /// Requests answered 401 (credentials wrong or missing).
    pub unauthorized: u64,
    /// Business errors answered, by code (`"205"`).
    pub rejected: BTreeMap<String, u64>,
    /// Distinct `order_id`s answered with a success.
    pub registered: u64,
    /// Distinct PANs registered.
    pub new_customers: u64,
    /// Registrations of a PAN already registered under another `order_id` (`is_returning_customer: 1`).
    pub returning: u64,
    /// Requests answered with the stored success of their `order_id`.
    pub replays: u64,
    /// `order_id` → requests carrying it, for those sent more than once (retries, replays, faults).
    pub order_ids_sent_more_than_once: BTreeMap<String, u64>,
    /// `order_id` → new registrations made for it, for those above 1. Empty unless the sandbox is
    /// broken: a repeated `order_id` is a replay or a 209.
    pub order_ids_registered_more_than_once: BTreeMap<String, u64>,
    /// PAN → distinct `order_id`s that registered it, for those above 1.
    pub pans_registered_more_than_once: BTreeMap<String, u64>,
    /// The most requests that arrived within any one second.
    pub busiest_second: u64,
    /// Milliseconds from the first request's arrival to the last one's: with `requests`, the
    /// rate a client achieved while it was sending (benches/e2e.sh uses it).
    pub arrivals_span_ms: u64,
    /// Requests refused by the rate limit (`rate_limit`), each answered 429.
    pub rate_limit_violations: u64,
    /// Requests being handled now (hanging ones included).
    pub in_flight: u64,
    /// The most requests handled at once (hanging ones included).
    pub max_in_flight: u64,
    /// The seed of the fault decisions: pass it as `--seed` to meet the same faults again.
    pub seed: u64,
}

/// Faults injected, by kind. `errors` includes `html_errors`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FaultCounts {
    pub errors: u64,
    pub html_errors: u64,
    pub throttled: u64,
    pub hangs: u64,
    pub resets: u64,
    pub garbage: u64,
}

/// A request's place in line, as decided on arrival.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrival {
    /// Its arrival number since start or reset, from 0: the fault decision's input.
    pub n: u64,
    /// It is above the rate limit and must be refused.
    pub over_limit: bool,
}

/// What the registry made of a request that passed the checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Registered(Registration),
    Replay(Registration),
    OrderIdReused,
}

#[derive(Debug, Default)]
struct Order {
    requests: u64,
    registrations: u64,
    registration: Option<Registration>,
}

#[derive(Debug, Default)]
pub struct State {
    stats: Stats,
    /// Arrivals in the last second, oldest first.
    window: VecDeque<Instant>,
    first_arrival: Option<Instant>,
    last_arrival: Option<Instant>,
    orders: HashMap<Box<str>, Order>,
    /// PAN → distinct `order_id`s that registered it.
    pans: HashMap<Pan, u64>,
}

const WINDOW: Duration = Duration::from_secs(1);

impl State {
    /// Counts a request on arrival (`now` read under the lock, so arrivals are in order) and
    /// decides whether the rate limit refuses it.
    pub fn arrive(
        &mut self,
        now: Instant,
        method: &Method,
        order_id: Option<&str>,
        rate_limit: Option<u32>,
    ) -> Arrival {
        let n = self.stats.requests;
        self.stats.requests += 1;
        *self.stats.by_method.entry(method.as_str().to_owned()).or_default() += 1;
        if let Some(order_id) = order_id {
            match self.orders.get_mut(order_id) {
                Some(order) => order.requests += 1,
                None => {
                    self.orders.insert(order_id.into(), Order { requests: 1, ..Order::default() });
                }
            }
        }
        while self.window.front().is_some_and(|&t| now.duration_since(t) >= WINDOW) {
            self.window.pop_front();
        }
        self.window.push_back(now);
        self.first_arrival.get_or_insert(now);
        self.last_arrival = Some(now);
        // The window (now - 1 s, now]: a busiest window can always be slid to end on an arrival,
        // so the maximum over arrivals is the maximum over all windows.
        let in_window = self.window.len() as u64;
        self.stats.busiest_second = self.stats.busiest_second.max(in_window);
        let over_limit = rate_limit.is_some_and(|limit| in_window > u64::from(limit));
        if over_limit {
            self.stats.rate_limit_violations += 1;
        }
        Arrival { n, over_limit }
    }

    /// Registers `order_id` for `pan`, or finds it was already.
    pub fn register(&mut self, order_id: &str, pan: Pan, now_unix: i64) -> Verdict {
        if !self.orders.contains_key(order_id) {
            // Counted on arrival normally; a reset in between forgot it.
            self.orders.insert(order_id.into(), Order { requests: 1, ..Order::default() });
        }
        let Some(order) = self.orders.get_mut(order_id) else { unreachable!("inserted above") };
        match order.registration {
            Some(registration) if registration.pan == pan => {
                self.stats.replays += 1;
                Verdict::Replay(registration)
            }
            Some(_) => Verdict::OrderIdReused,
            None => {
                let seen = self.pans.entry(pan).or_default();
                let registration = Registration { pan, returning: *seen > 0, registered_at: now_unix };
                *seen += 1;
                order.registration = Some(registration);
                order.registrations += 1;
                self.stats.registered += 1;
                if registration.returning {
                    self.stats.returning += 1;
                } else {
                    self.stats.new_customers += 1;
                }
                Verdict::Registered(registration)
            }
        }
    }

    pub fn answered(&mut self, status: u16) {
        *self.stats.by_status.entry(status.to_string()).or_default() += 1;
    }

    pub fn rejected(&mut self, error: BusinessError) {
        *self.stats.rejected.entry(error.code().to_owned()).or_default() += 1;
    }

    pub fn unauthorized(&mut self) {
        self.stats.unauthorized += 1;
    }

    pub fn faults(&mut self) -> &mut FaultCounts {
        &mut self.stats.faults
    }

    /// The statistics, with the "more than once" lists computed now.
    pub fn stats(&self) -> Stats {
        let mut stats = self.stats.clone();
        if let (Some(first), Some(last)) = (self.first_arrival, self.last_arrival) {
            stats.arrivals_span_ms =
                u64::try_from(last.duration_since(first).as_millis()).unwrap_or(u64::MAX);
        }
        for (order_id, order) in &self.orders {
            if order.requests > 1 {
                stats.order_ids_sent_more_than_once.insert(order_id.to_string(), order.requests);
            }
            if order.registrations > 1 {
                stats.order_ids_registered_more_than_once.insert(order_id.to_string(), order.registrations);
            }
        }
        stats.pans_registered_more_than_once =
            self.pans.iter().filter(|(_, n)| **n > 1).map(|(pan, n)| (pan.as_str().to_owned(), *n)).collect();
        stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pan(text: &str) -> Pan {
        Pan::parse(text).unwrap()
    }

    #[test]
    fn the_rate_limit_counts_every_arrival_in_a_sliding_second() {
        let mut state = State::default();
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut over = Vec::new();
        for ms in [0, 100, 200, 300, 999, 1000, 1001, 1150] {
            over.push(state.arrive(at(ms), &Method::GET, None, Some(3)).over_limit);
        }
        // In the second ending at each arrival: 1, 2, 3, 4, 5, 5 (0 has left), 6, 6 (100 has left).
        assert_eq!(over, [false, false, false, true, true, true, true, true]);
        let stats = state.stats();
        assert_eq!((stats.busiest_second, stats.rate_limit_violations, stats.requests), (6, 5, 8));
        assert_eq!(stats.arrivals_span_ms, 1150);
        assert_eq!(stats.by_method["GET"], 8);
    }

    #[test]
    fn arrival_numbers_count_from_zero() {
        let mut state = State::default();
        let now = Instant::now();
        let ns: Vec<u64> = (0..3).map(|_| state.arrive(now, &Method::POST, None, None).n).collect();
        assert_eq!(ns, [0, 1, 2]);
    }

    #[test]
    fn registrations_replays_and_returning_customers() {
        let mut state = State::default();
        let now = Instant::now();
        for order_id in ["A", "A", "B", "C", "C"] {
            state.arrive(now, &Method::GET, Some(order_id), None);
        }
        let first = state.register("A", pan("ABCPK1234F"), 100);
        assert!(matches!(first, Verdict::Registered(Registration { returning: false, .. })));
        assert_eq!(
            state.register("A", pan("ABCPK1234F"), 200),
            match first {
                Verdict::Registered(r) => Verdict::Replay(r),
                _ => unreachable!(),
            }
        );
        assert!(matches!(
            state.register("B", pan("ABCPK1234F"), 300),
            Verdict::Registered(Registration { returning: true, .. })
        ));
        assert!(matches!(state.register("C", pan("XYZPK9999Z"), 300), Verdict::Registered(_)));
        assert_eq!(state.register("C", pan("ABCPK1234F"), 400), Verdict::OrderIdReused);

        let stats = state.stats();
        assert_eq!((stats.registered, stats.new_customers, stats.returning, stats.replays), (3, 2, 1, 1));
        assert_eq!(stats.order_ids_sent_more_than_once, BTreeMap::from([("A".into(), 2), ("C".into(), 2)]));
        assert!(stats.order_ids_registered_more_than_once.is_empty());
        assert_eq!(stats.pans_registered_more_than_once, BTreeMap::from([("ABCPK1234F".into(), 2)]));
    }
}
