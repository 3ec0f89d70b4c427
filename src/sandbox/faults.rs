//! Which fault, if any, a request meets, and how long its answer is delayed. Each decision comes
//! from a generator seeded with the sandbox's seed and the request's arrival number, not from a
//! shared generator: requests handled on different threads draw nothing from each other, so with
//! a fixed seed the n-th request meets the same fate whatever the scheduling. (Which request is
//! the n-th is up to the client: one sent at a time is reproducible, concurrent ones as far as
//! their arrival order is.)
//!
//! A hang, reset or error may come after the application (`commit_before_fault`): the request is
//! handled, its registration recorded, and only then is the answer lost or replaced. That too is
//! drawn per request, with a draw of its own, so turning it on changes which faults come after a
//! commit and nothing else.

use std::time::Duration;

use hyper::StatusCode;
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt as _, SeedableRng as _};

use super::SandboxConfig;

/// What the sandbox does instead of answering normally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Hold the request, never answer.
    Hang,
    /// Drop the connection without an answer.
    Reset,
    /// A server error; `html`: the body is a reverse proxy's HTML page.
    Error { status: StatusCode, html: bool },
    /// 429 with `Retry-After`.
    Throttle,
    /// 200 with a body that is not JSON; `variant` picks which.
    Garbage { variant: u8 },
}

/// The fate of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub delay: Duration,
    pub fault: Option<Fault>,
    /// The application handles the request before the fault (a hang, reset or error only).
    pub after_commit: bool,
}

/// The fault settings, ready for drawing.
#[derive(Debug, Clone)]
pub struct Faults {
    seed: u64,
    latency: Duration,
    jitter: Duration,
    /// Upper bounds of each fault's band in [0, 1): hang, reset, error, throttle, garbage.
    bands: [f64; 5],
    commit_before_fault: f64,
}

const ERROR_STATUSES: [StatusCode; 3] =
    [StatusCode::INTERNAL_SERVER_ERROR, StatusCode::BAD_GATEWAY, StatusCode::SERVICE_UNAVAILABLE];

impl Faults {
    pub fn new(config: &SandboxConfig, seed: u64) -> Faults {
        let mut bands = [0.0; 5];
        let mut upper = 0.0;
        for (band, (_, rate)) in bands.iter_mut().zip(config.fault_rates()) {
            upper += rate;
            *band = upper;
        }
        Faults {
            seed,
            latency: config.latency,
            jitter: config.jitter,
            bands,
            commit_before_fault: config.commit_before_fault,
        }
    }

    /// The fate of the request that arrived `n`-th (from 0).
    pub fn plan(&self, n: u64) -> Plan {
        if self.bands[4] == 0.0 && self.jitter.is_zero() {
            // Nothing to draw: the benchmark's path stays free of generator set-up.
            return Plan { delay: self.latency, fault: None, after_commit: false };
        }
        // A distinct, well-mixed seed per request (seed_from_u64 expands it with a PCG).
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(self.seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        // Always the same draws in the same order, so that one setting does not shift another.
        let band: f64 = rng.random();
        let spread: f64 = rng.random();
        let detail: u32 = rng.random_range(0..9);
        // Drawn last, so that the draws above are the same as before it existed: a seed recorded
        // before meets the same faults, now some of them after a commit.
        let commit: f64 = rng.random();

        let jitter = self.jitter.as_secs_f64() * (2.0 * spread - 1.0);
        let delay = Duration::from_secs_f64((self.latency.as_secs_f64() + jitter).max(0.0));
        let fault = match self.bands.iter().position(|&upper| band < upper) {
            Some(0) => Some(Fault::Hang),
            Some(1) => Some(Fault::Reset),
            // detail in 0..9: the status from detail % 3, HTML for a third of the draws
            // (detail / 3 == 0) evenly across the three statuses.
            Some(2) => Some(Fault::Error { status: ERROR_STATUSES[(detail % 3) as usize], html: detail < 3 }),
            Some(3) => Some(Fault::Throttle),
            Some(4) => Some(Fault::Garbage { variant: (detail % 2) as u8 }),
            _ => None,
        };
        // Throttling is refused before the application by nature; garbage is left as a body the
        // proxy mangled, not an answer lost after the work was done.
        let losable = matches!(fault, Some(Fault::Hang | Fault::Reset | Fault::Error { .. }));
        Plan { delay, fault, after_commit: losable && commit < self.commit_before_fault }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn faults(config: SandboxConfig, seed: u64) -> Faults {
        Faults::new(&config, seed)
    }

    #[test]
    fn no_faults_means_the_latency_alone() {
        let f = faults(SandboxConfig { latency: Duration::from_millis(5), ..SandboxConfig::default() }, 1);
        for n in 0..100 {
            assert_eq!(f.plan(n), Plan { delay: Duration::from_millis(5), fault: None, after_commit: false });
        }
    }

    #[test]
    fn the_same_seed_and_number_give_the_same_plan() {
        let config = SandboxConfig {
            error_rate: 0.3,
            hang_rate: 0.1,
            jitter: Duration::from_millis(10),
            ..SandboxConfig::default()
        };
        let (a, b, c) = (faults(config.clone(), 7), faults(config.clone(), 7), faults(config, 8));
        let plans = |f: &Faults| (0..200).map(|n| f.plan(n)).collect::<Vec<_>>();
        assert_eq!(plans(&a), plans(&b));
        assert_ne!(plans(&a), plans(&c));
        // Not in order: plan n does not depend on plans before it.
        assert_eq!(a.plan(150), plans(&b)[150]);
    }

    #[test]
    fn rates_are_honoured_in_proportion() {
        let config = SandboxConfig {
            hang_rate: 0.1,
            reset_rate: 0.1,
            error_rate: 0.3,
            throttle_rate: 0.2,
            garbage_rate: 0.1,
            ..SandboxConfig::default()
        };
        let f = faults(config, 42);
        let n = 20_000;
        let (mut hang, mut reset, mut error, mut html, mut throttle, mut garbage, mut none) =
            (0, 0, 0, 0, 0, 0, 0);
        let mut statuses = std::collections::BTreeSet::new();
        for i in 0..n {
            match f.plan(i).fault {
                Some(Fault::Hang) => hang += 1,
                Some(Fault::Reset) => reset += 1,
                Some(Fault::Error { status, html: h }) => {
                    error += 1;
                    html += u32::from(h);
                    statuses.insert(status.as_u16());
                }
                Some(Fault::Throttle) => throttle += 1,
                Some(Fault::Garbage { .. }) => garbage += 1,
                None => none += 1,
            }
        }
        let share = |count: u32| f64::from(count) / n as f64;
        for (count, expected) in
            [(hang, 0.1), (reset, 0.1), (error, 0.3), (throttle, 0.2), (garbage, 0.1), (none, 0.2)]
        {
            assert!((share(count) - expected).abs() < 0.02, "{count} of {n}, expected {expected}");
        }
        assert!((f64::from(html) / f64::from(error) - 1.0 / 3.0).abs() < 0.03, "{html} of {error}");
        assert_eq!(statuses.into_iter().collect::<Vec<_>>(), [500, 502, 503]);
    }

    #[test]
    fn jitter_spreads_around_the_latency_and_never_below_zero() {
        let config = SandboxConfig {
            latency: Duration::from_millis(50),
            jitter: Duration::from_millis(10),
            ..SandboxConfig::default()
        };
        let f = faults(config, 3);
        let delays: Vec<Duration> = (0..2_000).map(|n| f.plan(n).delay).collect();
        assert!(delays.iter().all(|d| (Duration::from_millis(40)..=Duration::from_millis(60)).contains(d)));
        let mean = delays.iter().sum::<Duration>() / 2_000;
        assert!((mean.as_secs_f64() - 0.05).abs() < 0.001, "{mean:?}");

        let f = faults(SandboxConfig { jitter: Duration::from_millis(10), ..SandboxConfig::default() }, 3);
        assert!((0..100).all(|n| f.plan(n).delay <= Duration::from_millis(10)));
    }

    #[test]
    fn a_rate_of_one_always_faults() {
        let f = faults(SandboxConfig { garbage_rate: 1.0, ..SandboxConfig::default() }, 9);
        assert!((0..500).all(|n| matches!(f.plan(n).fault, Some(Fault::Garbage { .. }))));
    }

    #[test]
    fn a_share_of_hangs_resets_and_errors_comes_after_the_commit() {
        let rates = SandboxConfig {
            hang_rate: 0.1,
            reset_rate: 0.1,
            error_rate: 0.2,
            throttle_rate: 0.1,
            garbage_rate: 0.1,
            ..SandboxConfig::default()
        };
        let committing = SandboxConfig { commit_before_fault: 0.5, ..rates.clone() };
        let (before, after, again) =
            (faults(rates, 11), faults(committing.clone(), 11), faults(committing, 11));
        let (mut losable, mut committed) = (0, 0);
        for n in 0..20_000 {
            let (plain, plan) = (before.plan(n), after.plan(n));
            // The same faults and delays, with or without the setting.
            assert_eq!((plain.fault, plain.delay, plain.after_commit), (plan.fault, plan.delay, false));
            // Decided by the seed, like the rest.
            assert_eq!(plan, again.plan(n));
            match plan.fault {
                Some(Fault::Hang | Fault::Reset | Fault::Error { .. }) => {
                    losable += 1;
                    committed += u32::from(plan.after_commit);
                }
                _ => assert!(!plan.after_commit, "{plan:?}"),
            }
        }
        let share = f64::from(committed) / f64::from(losable);
        assert!((share - 0.5).abs() < 0.03, "{committed} of {losable}");
    }
}
