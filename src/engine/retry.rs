//! The retry policy, as one value: after a request that did not settle its row (a timeout, a
//! reset, a 5xx, a 429), whether the row is sent again and after how long, or given up for this
//! invocation. It holds every number of that decision — the attempts (`--max-attempts`), the
//! budget of 429s that cost no attempt, the backoff's base and cap, the longest `Retry-After`
//! obeyed (`--max-retry-after`) and the wait after a 429 that names none — and [`RetryPolicy::decide`]
//! is pure: the caller draws the jitter and keeps the clock, so every case is a unit test.
//!
//! What `classify` calls transient is retried; what it calls registered, rejected or abort ends
//! the row and never comes here. Whether a 429 also holds *other* requests is the limiter's
//! business (`limiter.rs`), not this policy's: the refused row itself always waits here, in a
//! task of its own, never in a worker.

use std::num::NonZeroU32;
use std::time::Duration;

use super::EngineSettings;

/// How long a 429 that gives no `Retry-After` is waited out.
pub const DEFAULT_THROTTLE_PAUSE: Duration = Duration::from_secs(1);
/// The first backoff ceiling; it doubles per attempt up to [`DEFAULT_BACKOFF_CAP`].
pub const DEFAULT_BACKOFF_BASE: Duration = Duration::from_millis(500);
pub const DEFAULT_BACKOFF_CAP: Duration = Duration::from_secs(30);
/// 429s do not use up a row's attempts (the vendor is busy, not failing), up to this many a row
/// in one invocation; beyond it a 429 counts as an attempt, so a vendor that refuses a row
/// forever cannot hold it forever.
pub const MAX_THROTTLED: u32 = 20;

/// What a row has used in this invocation: attempts that count against `--max-attempts`, and
/// 429s within [`MAX_THROTTLED`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Spent {
    pub attempts: u32,
    pub throttled: u32,
}

impl Spent {
    /// Every request made for the row in this invocation, 429s included.
    pub fn requests(self) -> u32 {
        self.attempts + self.throttled
    }
}

/// A request that did not settle its row, as the policy needs to know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsettled {
    /// 429: too many requests.
    Throttled { retry_after: Option<Duration> },
    /// A timeout, a reset, a 5xx, a body that is not JSON.
    Transient { retry_after: Option<Duration> },
}

/// What to do with the row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Send it again once `wait` is over (and its turn at the limiter has come).
    Retry { wait: Duration },
    /// Its attempts are used up: `failed` for this invocation; the next run retries it.
    GiveUp,
}

/// The policy's answer: the next step, what the row has used with this request counted, and the
/// `Retry-After` asked for when it was longer than the policy obeys (for the run to say so).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub next: Next,
    pub spent: Spent,
    pub cut_retry_after: Option<Duration>,
}

/// See the module's documentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_attempts: NonZeroU32,
    pub max_throttled: u32,
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    pub max_retry_after: Duration,
    pub throttle_pause: Duration,
}

impl RetryPolicy {
    pub fn new(settings: &EngineSettings) -> RetryPolicy {
        RetryPolicy {
            max_attempts: settings.max_attempts,
            max_throttled: MAX_THROTTLED,
            backoff_base: settings.backoff_base,
            backoff_cap: settings.backoff_cap,
            max_retry_after: settings.max_retry_after,
            throttle_pause: DEFAULT_THROTTLE_PAUSE,
        }
    }

    /// The `Retry-After` obeyed: what was asked, cut to `--max-retry-after`.
    fn obeyed(&self, asked: Option<Duration>) -> Option<Duration> {
        asked.map(|wait| wait.min(self.max_retry_after))
    }

    /// How long a 429 asks everyone to wait, when the limiter holds everyone: its `Retry-After`
    /// (cut to `--max-retry-after`), or [`DEFAULT_THROTTLE_PAUSE`] without one.
    pub fn throttle_wait(&self, retry_after: Option<Duration>) -> Duration {
        self.obeyed(retry_after).unwrap_or(self.throttle_pause)
    }

    /// The wait before retry number `attempt` (1 after the first failure), with `jitter` drawn
    /// uniformly from [0, 1]: a point below a ceiling that doubles per attempt ("full jitter"),
    /// so that rows which failed together are not retried together. A `Retry-After` is a floor.
    pub fn backoff(&self, attempt: u32, retry_after: Option<Duration>, jitter: f64) -> Duration {
        let ceiling =
            self.backoff_base.saturating_mul(1u32 << attempt.saturating_sub(1).min(20)).min(self.backoff_cap);
        let jittered = ceiling.mul_f64(jitter.clamp(0.0, 1.0));
        self.obeyed(retry_after).map_or(jittered, |floor| jittered.max(floor))
    }

    /// What follows a request that left its row unsettled, the row having used `spent` before
    /// it; `jitter` is a uniform draw from [0, 1].
    ///
    /// A 429 within the budget waits its `Retry-After` (or [`DEFAULT_THROTTLE_PAUSE`]) and
    /// costs no attempt. Anything else — a 429 beyond the budget included — costs an attempt,
    /// gives the row up when the attempts are used, and otherwise backs off.
    pub fn decide(&self, spent: Spent, unsettled: Unsettled, jitter: f64) -> Decision {
        let asked = match unsettled {
            Unsettled::Throttled { retry_after } | Unsettled::Transient { retry_after } => retry_after,
        };
        let cut_retry_after = asked.filter(|wait| *wait > self.max_retry_after);
        if let Unsettled::Throttled { retry_after } = unsettled
            && spent.throttled < self.max_throttled
        {
            let spent = Spent { throttled: spent.throttled + 1, ..spent };
            return Decision {
                next: Next::Retry { wait: self.throttle_wait(retry_after) },
                spent,
                cut_retry_after,
            };
        }
        let spent = Spent { attempts: spent.attempts + 1, ..spent };
        let next = if spent.attempts >= self.max_attempts.get() {
            Next::GiveUp
        } else {
            Next::Retry { wait: self.backoff(spent.attempts, asked, jitter) }
        };
        Decision { next, spent, cut_retry_after }
    }
}

#[cfg(test)]
mod tests;
