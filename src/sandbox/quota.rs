//! The server-side rate limit (`rate_limit`), kept as an API gateway keeps a per-client quota: a
//! sliding one-second log of the requests it *accepted*. A request is refused when the second
//! ending at it already holds N accepted ones, and the refusal says how long until the oldest of
//! them leaves the window, which is when a slot frees.
//!
//! Refused requests are not logged. Gateways do not charge a refusal to the quota: nginx's
//! `limit_req` leaves a key's state untouched when it rejects, and a token bucket (AWS API
//! Gateway, Envoy) takes no token for a request it refuses. Charging them would keep a client
//! that overshoots once refused for as long as it keeps asking, however slowly, which is not what
//! the tool will meet, and would make "honour `Retry-After`" impossible to tell apart from "give
//! up".
//!
//! Time is whatever the caller says it is: [`Quota::admit`] takes the arrival's instant, so a test
//! drives arrivals at chosen instants without sleeping. The sandbox reads `tokio::time::Instant`,
//! which a test's paused clock moves by hand.

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::time::Duration;

use tokio::time::Instant;

/// The length of the window the limit counts in.
pub const ONE_SECOND: Duration = Duration::from_secs(1);

/// At most `limit` accepted requests in any `window` (half-open: a request exactly one window
/// after another no longer shares its window).
#[derive(Debug, Clone)]
pub struct Quota {
    limit: usize,
    window: Duration,
    /// Arrival instants of the accepted requests still in the window, oldest first; never more
    /// than `limit` of them.
    accepted: VecDeque<Instant>,
}

impl Quota {
    pub fn new(limit: NonZeroU32, window: Duration) -> Quota {
        let limit = usize::try_from(limit.get()).unwrap_or(usize::MAX);
        // The log never holds more than `limit` entries; no need to reserve a huge limit up front.
        Quota { limit, window, accepted: VecDeque::with_capacity(limit.min(1024)) }
    }

    /// Accepts the request arriving at `now` (arrivals in time order), or refuses it with the
    /// time until a slot frees, which is more than zero and at most one window.
    pub fn admit(&mut self, now: Instant) -> Result<(), Duration> {
        while self.accepted.front().is_some_and(|&t| now.duration_since(t) >= self.window) {
            self.accepted.pop_front();
        }
        match self.accepted.front() {
            Some(&oldest) if self.accepted.len() >= self.limit => {
                Err((oldest + self.window).saturating_duration_since(now))
            }
            _ => {
                self.accepted.push_back(now);
                Ok(())
            }
        }
    }
}

/// `Retry-After` for a wait: whole seconds, rounded up so that a client that waits that long finds
/// the slot free, and at least 1 (0 would invite an immediate retry into the same full window).
pub fn retry_after_secs(wait: Duration) -> u64 {
    let whole = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    whole.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quota(limit: u32) -> Quota {
        Quota::new(NonZeroU32::new(limit).unwrap(), ONE_SECOND)
    }

    /// Admits arrivals at these milliseconds; the wait of each refused one, `None` if accepted.
    fn drive(quota: &mut Quota, arrivals_ms: &[u64]) -> Vec<Option<u64>> {
        let t0 = Instant::now();
        arrivals_ms
            .iter()
            .map(|&ms| {
                let wait = quota.admit(t0 + Duration::from_millis(ms)).err();
                wait.map(|w| u64::try_from(w.as_millis()).unwrap())
            })
            .collect()
    }

    #[test]
    fn refusals_are_exactly_those_that_find_n_accepted_in_the_second_before() {
        let mut q = quota(3);
        let waits = drive(&mut q, &[0, 100, 200, 300, 999, 1000, 1001, 1150, 1150, 1200]);
        // 0, 100, 200 accepted. 300 and 999 find all three: a slot frees at 1000.
        // 1000: 0 has left (the window is (0, 1000]), accepted. 1001 finds 100, 200, 1000: the
        // next slot frees at 1100. 1150: 100 has left, accepted; a second 1150 finds 200, 1000,
        // 1150 and waits for 200 to leave at 1200, where the next one is accepted.
        // Counting refusals too, 1000, 1150 and 1200 would all be refused: 300 and 999 would
        // still be in the window.
        assert_eq!(waits, [None, None, None, Some(700), Some(1), None, Some(99), None, Some(50), None]);
    }

    #[test]
    fn a_client_that_keeps_overshooting_gets_its_share_every_second() {
        // Ten requests every 100 ms against a limit of 5: every second, the first 5 go through.
        let mut q = quota(5);
        let arrivals: Vec<u64> = (0..30).map(|i| i * 100).collect();
        let accepted: Vec<u64> = arrivals
            .iter()
            .zip(drive(&mut q, &arrivals))
            .filter(|(_, w)| w.is_none())
            .map(|(t, _)| *t)
            .collect();
        assert_eq!(
            accepted,
            [0, 100, 200, 300, 400, 1000, 1100, 1200, 1300, 1400, 2000, 2100, 2200, 2300, 2400]
        );
    }

    #[test]
    fn arrivals_at_the_same_instant_share_the_window() {
        let mut q = quota(2);
        assert_eq!(
            drive(&mut q, &[0, 0, 0, 1000, 1000, 1000]),
            [None, None, Some(1000), None, None, Some(1000)]
        );
    }

    #[test]
    fn retry_after_is_whole_seconds_rounded_up_and_at_least_one() {
        let ms = Duration::from_millis;
        for (wait, secs) in
            [(ms(0), 1), (ms(1), 1), (ms(700), 1), (ms(1000), 1), (ms(1001), 2), (ms(2500), 3), (ms(3000), 3)]
        {
            assert_eq!(retry_after_secs(wait), secs, "{wait:?}");
        }
    }

    #[test]
    fn a_longer_window_asks_for_a_longer_wait() {
        // The header follows the window: a slot two and a half seconds away is a Retry-After of 3.
        let mut q = Quota::new(NonZeroU32::new(1).unwrap(), Duration::from_secs(5));
        let waits = drive(&mut q, &[0, 2500]);
        assert_eq!(waits, [None, Some(2500)]);
        assert_eq!(retry_after_secs(Duration::from_millis(waits[1].unwrap())), 3);
    }

    proptest::proptest! {
        /// Whatever the arrivals: no one-second window ever holds more than N accepted requests,
        /// and a request is refused only when its own second already holds N.
        #[test]
        fn never_more_than_n_and_never_refused_needlessly(
            limit in 1u32..6,
            mut gaps in proptest::collection::vec(0u64..400, 1..80),
        ) {
            gaps[0] = 0;
            let mut q = quota(limit);
            let mut at = 0;
            let arrivals: Vec<u64> = gaps.iter().map(|g| { at += g; at }).collect();
            let waits = drive(&mut q, &arrivals);
            let accepted: Vec<u64> =
                arrivals.iter().zip(&waits).filter(|(_, w)| w.is_none()).map(|(t, _)| *t).collect();
            // Accepted requests in the second ending at `t`, those at `t` itself included.
            let in_second_ending_at =
                |t: u64| accepted.iter().filter(|&&a| a + 1000 > t && a <= t).count();
            // The busiest window can always be slid to end on an accepted arrival.
            for &t in &accepted {
                proptest::prop_assert!(in_second_ending_at(t) <= limit as usize);
            }
            for (&t, wait) in arrivals.iter().zip(&waits) {
                if let Some(wait) = wait {
                    // Accepted arrivals at the same instant came before it.
                    proptest::prop_assert_eq!(in_second_ending_at(t), limit as usize);
                    let oldest = accepted.iter().copied().find(|&a| a + 1000 > t).unwrap();
                    proptest::prop_assert_eq!(*wait, oldest + 1000 - t);
                }
            }
        }
    }
}
