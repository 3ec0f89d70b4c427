//! What the sandbox remembers: the registrations (by `order_id` and by PAN) and the counters
//! behind [`Stats`]. One `State` behind one mutex, held for a few map operations per request,
//! never across an await. Counters are kept as they happen; the "more than once" lists are
//! computed when asked for, by a scan, so the request path stays cheap and the lists stay honest.
//! Times are `tokio::time::Instant`s passed in by the caller (see `quota`).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::num::NonZeroU32;
use std::time::Duration;

use axum::http::Method;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::checks::{BusinessError, Pan};
use super::quota::{ONE_SECOND, Quota};
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
    /// Requests the application refused with a 401 (credentials wrong or missing); like every
    /// decision of the application, including those whose answer a fault after the commit replaced.
    pub unauthorized: u64,
    /// Business errors the application decided, by code (`"205"`).
    pub rejected: BTreeMap<String, u64>,
    /// Distinct `order_id`s registered, answered or not (`order_ids_registered_without_answer`).
    pub registered: u64,
    /// Distinct PANs registered.
    pub new_customers: u64,
    /// Registrations of a PAN already registered under another `order_id` (`is_returning_customer: 1`).
    pub returning: u64,
    /// Requests answered with the stored success of their `order_id` (or that would have been,
    /// had a fault after the commit not taken its place).
    pub replays: u64,
    /// `order_id` → requests carrying it, for those sent more than once (retries, replays, faults).
    pub order_ids_sent_more_than_once: BTreeMap<String, u64>,
    /// `order_id` → new registrations made for it, for those above 1. Empty unless the sandbox is
    /// broken: a repeated `order_id` is a replay or a 209.
    pub order_ids_registered_more_than_once: BTreeMap<String, u64>,
    /// PAN → distinct `order_id`s that registered it, for those above 1.
    pub pans_registered_more_than_once: BTreeMap<String, u64>,
    /// PAN → the `order_id`s that registered it, in the order they did, for PANs registered under
    /// more than one: each is a customer registered twice (`is_returning_customer: 1` from the
    /// second on). The same PANs as `pans_registered_more_than_once`, with the order ids to look
    /// them up by. Empty unless a client sent a customer again under a new `order_id`.
    pub pans_with_several_order_ids: BTreeMap<String, Vec<String>>,
    /// `order_id`s registered whose success has not been sent: every answer to them so far was a
    /// fault after the commit (`commit_before_fault`). A client that retries with the same
    /// `order_id` takes its one out of here (the replay is answered); one that gave up, or sent
    /// the customer again under another `order_id`, leaves it here.
    pub order_ids_registered_without_answer: BTreeSet<String>,
    /// The most requests that arrived within any one second, refused ones included: what the
    /// client sent, whatever the rate limit made of it.
    pub busiest_second: u64,
    /// Milliseconds from the first request's arrival to the last one's: with `requests`, the
    /// rate a client achieved while it was sending (benches/e2e.sh uses it).
    pub arrivals_span_ms: u64,
    /// Requests refused by the rate limit (`rate_limit`), each answered 429. They do not count
    /// toward the limit's window.
    pub rate_limit_violations: u64,
    /// Requests being handled now (hanging ones included).
    pub in_flight: u64,
    /// The most requests handled at once (hanging ones included).
    pub max_in_flight: u64,
    /// The seed of the fault decisions: pass it as `--seed` to meet the same faults again.
    pub seed: u64,
}

/// Faults injected, by kind. `errors` includes `html_errors`, and each `*_after_commit` is the
/// part of its fault that came after the application had handled the request
/// (`commit_before_fault`): what the application decided, a registration included, stands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FaultCounts {
    pub errors: u64,
    pub html_errors: u64,
    pub throttled: u64,
    pub hangs: u64,
    pub resets: u64,
    pub garbage: u64,
    pub hangs_after_commit: u64,
    pub resets_after_commit: u64,
    pub errors_after_commit: u64,
}

/// A request's place in line, as decided on arrival.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrival {
    /// Its arrival number since start or reset, from 0: the fault decision's input.
    pub n: u64,
    /// Refused by the rate limit: the time until the limit's window frees a slot.
    pub refused_for: Option<Duration>,
}

/// What the registry made of a request that passed the checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Registered(Registration),
    Replay(Registration),
    OrderIdReused,
    /// A repeated order id, refused as a duplicate (with `refuse_repeats`), not replayed.
    Duplicate,
}

#[derive(Debug, Default)]
struct Order {
    requests: u64,
    registrations: u64,
    registration: Option<Registration>,
    /// Its place among all registrations (the value of `stats.registered` when it was made).
    registered_as: u64,
    /// A success for it has been sent.
    answered: bool,
}

#[derive(Debug, Default)]
pub struct State {
    stats: Stats,
    /// The rate limit, if there is one.
    quota: Option<Quota>,
    /// Arrivals in the last second, oldest first, refused ones included (`busiest_second`).
    window: VecDeque<Instant>,
    first_arrival: Option<Instant>,
    last_arrival: Option<Instant>,
    orders: HashMap<Box<str>, Order>,
    /// PAN → distinct `order_id`s that registered it.
    pans: HashMap<Pan, u64>,
}

impl State {
    /// A sandbox's memory on start or reset: nothing registered, nothing counted.
    pub fn new(rate_limit: Option<u32>) -> State {
        let quota = rate_limit.and_then(NonZeroU32::new).map(|limit| Quota::new(limit, ONE_SECOND));
        State { quota, ..State::default() }
    }

    /// Counts a request on arrival (`now` read under the lock, so arrivals are in order) and
    /// decides whether the rate limit refuses it.
    pub fn arrive(&mut self, now: Instant, method: &Method, order_id: Option<&str>) -> Arrival {
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
        while self.window.front().is_some_and(|&t| now.duration_since(t) >= ONE_SECOND) {
            self.window.pop_front();
        }
        self.window.push_back(now);
        self.first_arrival.get_or_insert(now);
        self.last_arrival = Some(now);
        // The window (now - 1 s, now]: a busiest window can always be slid to end on an arrival,
        // so the maximum over arrivals is the maximum over all windows.
        let in_window = self.window.len() as u64;
        self.stats.busiest_second = self.stats.busiest_second.max(in_window);
        let refused_for = self.quota.as_mut().and_then(|quota| quota.admit(now).err());
        if refused_for.is_some() {
            self.stats.rate_limit_violations += 1;
        }
        Arrival { n, refused_for }
    }

    /// Registers `order_id` for `pan`, or finds it was already. `answered`: the success goes out
    /// (false when a fault after the commit takes its place).
    pub fn register(
        &mut self,
        order_id: &str,
        pan: Pan,
        now_unix: i64,
        answered: bool,
        refuse_repeats: bool,
    ) -> Verdict {
        if !self.orders.contains_key(order_id) {
            // Counted on arrival normally; a reset in between forgot it.
            self.orders.insert(order_id.into(), Order { requests: 1, ..Order::default() });
        }
        let Some(order) = self.orders.get_mut(order_id) else { unreachable!("inserted above") };
        match order.registration {
            Some(registration) if registration.pan == pan && refuse_repeats && order.answered => {
                Verdict::Duplicate
            }
            Some(registration) if registration.pan == pan => {
                self.stats.replays += 1;
                order.answered |= answered;
                Verdict::Replay(registration)
            }
            Some(_) => Verdict::OrderIdReused,
            None => {
                let seen = self.pans.entry(pan).or_default();
                let registration = Registration { pan, returning: *seen > 0, registered_at: now_unix };
                *seen += 1;
                order.registration = Some(registration);
                order.registrations += 1;
                order.registered_as = self.stats.registered;
                order.answered = answered;
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
        let mut several: HashMap<Pan, Vec<(u64, &str)>> = HashMap::new();
        for (order_id, order) in &self.orders {
            if order.requests > 1 {
                stats.order_ids_sent_more_than_once.insert(order_id.to_string(), order.requests);
            }
            if order.registrations > 1 {
                stats.order_ids_registered_more_than_once.insert(order_id.to_string(), order.registrations);
            }
            let Some(registration) = order.registration else { continue };
            if !order.answered {
                stats.order_ids_registered_without_answer.insert(order_id.to_string());
            }
            if self.pans.get(&registration.pan).is_some_and(|&n| n > 1) {
                several.entry(registration.pan).or_default().push((order.registered_as, order_id));
            }
        }
        stats.pans_registered_more_than_once =
            self.pans.iter().filter(|(_, n)| **n > 1).map(|(pan, n)| (pan.as_str().to_owned(), *n)).collect();
        stats.pans_with_several_order_ids = several
            .into_iter()
            .map(|(pan, mut orders)| {
                orders.sort_unstable();
                (pan.as_str().to_owned(), orders.into_iter().map(|(_, id)| id.to_owned()).collect())
            })
            .collect();
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
    fn the_rate_limit_counts_accepted_requests_and_the_busiest_second_every_arrival() {
        let mut state = State::new(Some(3));
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut refused = Vec::new();
        for ms in [0, 100, 200, 300, 999, 1000, 1001, 1150] {
            let wait = state.arrive(at(ms), &Method::GET, None).refused_for;
            refused.push(wait.map(|w| w.as_millis()));
        }
        // Accepted: 0, 100, 200, then 1000 (0 has left) and 1150 (100 has left). The refused
        // 300 and 999 take no place in the window, or 1000 and 1150 would be refused too.
        assert_eq!(refused, [None, None, None, Some(700), Some(1), None, Some(99), None]);
        let stats = state.stats();
        // Arrivals in the second ending at 1001 and at 1150: 6, refused ones included.
        assert_eq!((stats.busiest_second, stats.rate_limit_violations, stats.requests), (6, 3, 8));
        assert_eq!(stats.arrivals_span_ms, 1150);
        assert_eq!(stats.by_method["GET"], 8);

        // No limit: nothing refused, the busiest second the same.
        let mut state = State::new(None);
        for ms in [0, 100, 200, 300, 999, 1000, 1001, 1150] {
            assert_eq!(state.arrive(at(ms), &Method::GET, None).refused_for, None);
        }
        assert_eq!((state.stats().busiest_second, state.stats().rate_limit_violations), (6, 0));
    }

    #[test]
    fn arrival_numbers_count_from_zero() {
        let mut state = State::default();
        let now = Instant::now();
        let ns: Vec<u64> = (0..3).map(|_| state.arrive(now, &Method::POST, None).n).collect();
        assert_eq!(ns, [0, 1, 2]);
    }

    #[test]
    fn registrations_replays_and_returning_customers() {
        let mut state = State::default();
        let now = Instant::now();
        for order_id in ["A", "A", "B", "C", "C"] {
            state.arrive(now, &Method::GET, Some(order_id));
        }
        let first = state.register("A", pan("ABCPK1234F"), 100, true, false);
        assert!(matches!(first, Verdict::Registered(Registration { returning: false, .. })));
        assert_eq!(
            state.register("A", pan("ABCPK1234F"), 200, true, false),
            match first {
                Verdict::Registered(r) => Verdict::Replay(r),
                _ => unreachable!(),
            }
        );
        assert!(matches!(
            state.register("B", pan("ABCPK1234F"), 300, true, false),
            Verdict::Registered(Registration { returning: true, .. })
        ));
        assert!(matches!(state.register("C", pan("XYZPK9999Z"), 300, true, false), Verdict::Registered(_)));
        assert_eq!(state.register("C", pan("ABCPK1234F"), 400, true, false), Verdict::OrderIdReused);

        let stats = state.stats();
        assert_eq!((stats.registered, stats.new_customers, stats.returning, stats.replays), (3, 2, 1, 1));
        assert_eq!(stats.order_ids_sent_more_than_once, BTreeMap::from([("A".into(), 2), ("C".into(), 2)]));
        assert!(stats.order_ids_registered_more_than_once.is_empty());
        assert_eq!(stats.pans_registered_more_than_once, BTreeMap::from([("ABCPK1234F".into(), 2)]));
        assert_eq!(
            stats.pans_with_several_order_ids,
            BTreeMap::from([("ABCPK1234F".into(), vec!["A".into(), "B".into()])])
        );
        assert!(stats.order_ids_registered_without_answer.is_empty());
    }

    #[test]
    fn a_registration_whose_answer_was_lost_is_listed_until_it_is_answered() {
        let mut state = State::default();
        // Lost: registered, but a fault took the place of its success.
        assert!(matches!(state.register("Z", pan("ABCPK1234F"), 100, false, false), Verdict::Registered(_)));
        // Lost again: a retry whose replay met another fault after the application.
        assert!(matches!(state.register("Z", pan("ABCPK1234F"), 101, false, false), Verdict::Replay(_)));
        assert!(matches!(state.register("Y", pan("BCDPK2345G"), 102, false, false), Verdict::Registered(_)));
        let stats = state.stats();
        assert_eq!(stats.order_ids_registered_without_answer, BTreeSet::from(["Y".into(), "Z".into()]));

        // The client gives up on Z and sends the customer again under a new order id, which is
        // answered: a double registration, listed with the lost one first.
        assert!(matches!(
            state.register("A", pan("ABCPK1234F"), 103, true, false),
            Verdict::Registered(Registration { returning: true, .. })
        ));
        // Y is retried with its own order id: the replay is answered.
        assert!(matches!(state.register("Y", pan("BCDPK2345G"), 104, true, false), Verdict::Replay(_)));
        let stats = state.stats();
        assert_eq!(stats.order_ids_registered_without_answer, BTreeSet::from(["Z".into()]));
        assert_eq!(
            stats.pans_with_several_order_ids,
            BTreeMap::from([("ABCPK1234F".into(), vec!["Z".into(), "A".into()])])
        );
        assert_eq!((stats.registered, stats.returning, stats.replays), (3, 1, 2));
    }
}
