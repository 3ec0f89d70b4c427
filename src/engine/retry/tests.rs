//! The retry policy case by case, and a row's whole life under it on tokio's paused clock.

use std::num::NonZeroU32;
use std::time::Duration;

use super::*;

fn policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: NonZeroU32::new(5).unwrap(),
        max_throttled: 3,
        backoff_base: Duration::from_millis(100),
        backoff_cap: Duration::from_secs(2),
        max_retry_after: Duration::from_secs(60),
        throttle_pause: DEFAULT_THROTTLE_PAUSE,
    }
}

const SECOND: Duration = Duration::from_secs(1);

fn transient(retry_after: Option<Duration>) -> Unsettled {
    Unsettled::Transient { retry_after }
}

fn throttled(retry_after: Option<Duration>) -> Unsettled {
    Unsettled::Throttled { retry_after }
}

#[test]
fn backoff_doubles_to_its_cap_and_is_jittered_over_the_whole_range() {
    let policy = policy();
    for attempt in 1..40 {
        let ceiling = (Duration::from_millis(100) * (1 << (attempt - 1).min(20))).min(Duration::from_secs(2));
        assert_eq!(policy.backoff(attempt, None, 1.0), ceiling, "attempt {attempt}");
        assert_eq!(policy.backoff(attempt, None, 0.0), Duration::ZERO);
        assert_eq!(policy.backoff(attempt, None, 0.5), ceiling / 2);
    }
}

#[test]
fn a_retry_after_is_a_floor_and_is_cut_to_the_longest_obeyed() {
    let policy = policy();
    assert_eq!(policy.backoff(1, Some(3 * SECOND), 0.0), 3 * SECOND);
    assert_eq!(policy.backoff(1, Some(3 * SECOND), 1.0), 3 * SECOND, "the ceiling is 100 ms");
    let year = Duration::from_secs(365 * 86_400);
    let decision = policy.decide(Spent::default(), transient(Some(year)), 0.5);
    assert_eq!(decision.next, Next::Retry { wait: 60 * SECOND });
    assert_eq!(decision.cut_retry_after, Some(year), "said, so the run can tell the user");
    let decision = policy.decide(Spent::default(), throttled(Some(year)), 0.5);
    assert_eq!(decision.next, Next::Retry { wait: 60 * SECOND });
    assert_eq!(decision.cut_retry_after, Some(year));
    assert_eq!(policy.decide(Spent::default(), throttled(Some(SECOND)), 0.5).cut_retry_after, None);
}

#[test]
fn a_429_waits_its_retry_after_and_costs_no_attempt_within_its_budget() {
    let policy = policy();
    let mut spent = Spent::default();
    for n in 1..=3 {
        let decision = policy.decide(spent, throttled(Some(2 * SECOND)), 0.9);
        assert_eq!(decision.next, Next::Retry { wait: 2 * SECOND });
        assert_eq!(decision.spent, Spent { attempts: 0, throttled: n });
        spent = decision.spent;
    }
    // Without Retry-After: the default pause.
    assert_eq!(policy.decide(Spent::default(), throttled(None), 0.9).next, Next::Retry { wait: SECOND });
    // Beyond the budget a 429 is an attempt like any other: backed off, Retry-After a floor.
    let decision = policy.decide(spent, throttled(None), 1.0);
    assert_eq!(decision.spent, Spent { attempts: 1, throttled: 3 });
    assert_eq!(decision.next, Next::Retry { wait: Duration::from_millis(100) });
    assert_eq!(decision.spent.requests(), 4);
}

#[test]
fn the_last_attempt_gives_the_row_up() {
    let policy = policy();
    let mut spent = Spent { attempts: 0, throttled: 2 };
    for attempt in 1..5 {
        let decision = policy.decide(spent, transient(None), 1.0);
        assert!(matches!(decision.next, Next::Retry { .. }), "attempt {attempt}");
        spent = decision.spent;
    }
    let decision = policy.decide(spent, transient(None), 1.0);
    assert_eq!(decision.next, Next::GiveUp);
    assert_eq!(decision.spent, Spent { attempts: 5, throttled: 2 });
    // One attempt allowed: the first failure gives up.
    let once = RetryPolicy { max_attempts: NonZeroU32::MIN, ..policy };
    assert_eq!(once.decide(Spent::default(), transient(None), 1.0).next, Next::GiveUp);
}

#[test]
fn the_policy_is_built_from_the_engine_settings() {
    let rate = super::super::Rate { requests: NonZeroU32::new(10).unwrap(), per: SECOND };
    let mut settings = EngineSettings::new(std::num::NonZeroUsize::new(4).unwrap(), rate);
    settings.max_attempts = NonZeroU32::new(7).unwrap();
    settings.max_retry_after = 5 * SECOND;
    let policy = RetryPolicy::new(&settings);
    assert_eq!(policy.max_attempts.get(), 7);
    assert_eq!((policy.backoff_base, policy.backoff_cap), (DEFAULT_BACKOFF_BASE, DEFAULT_BACKOFF_CAP));
    assert_eq!(policy.throttle_wait(Some(Duration::from_secs(9))), 5 * SECOND);
    assert_eq!(policy.max_throttled, MAX_THROTTLED);
}

/// A row answered 429 twice, then 503 until its attempts run out, waits on the paused clock
/// exactly what the policy decided: two Retry-Afters, then backoffs under their ceilings.
#[tokio::test(start_paused = true)]
async fn a_rows_life_on_fake_time() {
    let policy = policy();
    let start = tokio::time::Instant::now();
    let answers =
        [throttled(Some(2 * SECOND)), throttled(None)].into_iter().chain(std::iter::repeat(transient(None)));
    let mut spent = Spent::default();
    let mut ceilings = Duration::ZERO;
    let mut requests = 0;
    for answer in answers {
        requests += 1;
        let decision = policy.decide(spent, answer, rand::random());
        spent = decision.spent;
        match decision.next {
            Next::Retry { wait } => {
                if let Unsettled::Transient { .. } = answer {
                    ceilings += policy.backoff(spent.attempts, None, 1.0);
                }
                tokio::time::sleep(wait).await;
            }
            Next::GiveUp => break,
        }
    }
    assert_eq!(requests, 7, "two 429s, then five attempts");
    let waited = start.elapsed();
    assert!(waited >= 3 * SECOND && waited <= 3 * SECOND + ceilings, "{waited:?}");
}
