//! A worker: takes one claimed row at a time and sees it through — waiting out any pause the
//! server asked for and the rate limiter before every attempt, retrying what `classify` calls
//! transient with exponential backoff and full jitter, and telling the collector how each attempt
//! and the row ended. Workers share only the limiter, the pause and the stop signal.

use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use governor::DefaultDirectRateLimiter;
use tokio::time::Instant;

use super::producer::Refill;
use super::{Attempt, EngineSettings, Job, Message, Stop, StopReason};
use crate::api::{AbortKind, Client, Outcome};
use crate::store::RowResult;

/// How long every worker waits after a 429 that gives no `Retry-After`.
const DEFAULT_THROTTLE_PAUSE: Duration = Duration::from_secs(1);
/// 429s do not use up a row's attempts (the server is busy, not failing), up to this many.
const MAX_THROTTLED: u32 = 20;

/// What every worker shares.
#[derive(Debug)]
pub(super) struct Shared {
    pub client: Client,
    pub limiter: DefaultDirectRateLimiter,
    pub pause: PauseGate,
    /// Told when a job is taken, so the producer refills the queue in bulk.
    pub refill: Arc<Refill>,
    pub stop: Stop,
    pub settings: EngineSettings,
}

/// A pause all workers observe: a 429 from the server holds every request, not only the one
/// that got it.
#[derive(Debug, Default)]
pub(super) struct PauseGate {
    until: Mutex<Option<Instant>>,
}

impl PauseGate {
    fn pause_for(&self, duration: Duration) {
        let until = Instant::now() + duration;
        let mut current = self.until.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if current.is_none_or(|t| t < until) {
            *current = Some(until);
        }
    }

    async fn wait(&self) {
        loop {
            let until = *self.until.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            match until {
                Some(until) if until > Instant::now() => tokio::time::sleep_until(until).await,
                _ => return,
            }
        }
    }
}

/// The delay before retry number `attempt` (1 after the first failure): a random point below a
/// ceiling that doubles per attempt ("full jitter"), so that workers which failed together do
/// not retry together. A `Retry-After` is a floor.
pub fn backoff_delay(attempt: u32, base: Duration, cap: Duration, retry_after: Option<Duration>) -> Duration {
    let ceiling = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(20)).min(cap);
    let jittered =
        Duration::from_millis(rand::random_range(0..=u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX)));
    retry_after.map_or(jittered, |floor| jittered.max(floor))
}

pub(super) async fn run(
    shared: &Shared,
    jobs: &async_channel::Receiver<Job>,
    collector: &mpsc::Sender<Message>,
) {
    while let Ok(job) = jobs.recv().await {
        shared.refill.taken(jobs);
        let (result, last) = if shared.stop.is_stopping() {
            // Claimed but never sent: straight back to pending.
            (RowResult::Released { line: job.line, attempts: 0 }, None)
        } else {
            see_through(shared, &job, collector).await
        };
        if collector.send(Message::Result(result, last)).is_err() {
            return;
        }
    }
}

/// Attempts one row until it has an outcome, runs out of attempts, or the run stops. Returns the
/// row's result and the request that decided it (none when the run stopped it); the requests
/// before, which did not, are reported as they happen.
async fn see_through(
    shared: &Shared,
    job: &Job,
    collector: &mpsc::Sender<Message>,
) -> (RowResult, Option<Attempt>) {
    let settings = &shared.settings;
    let (mut attempts, mut throttled) = (0u32, 0u32);
    loop {
        tokio::select! {
            biased;
            () = shared.stop.stopped() => return (RowResult::Released { line: job.line, attempts: attempts + throttled }, None),
            () = async { shared.pause.wait().await; shared.limiter.until_ready().await; } => {}
        }
        let outcome = shared.client.send(job.body.clone()).await;
        let transport_failure = matches!(&outcome, Outcome::Transient(t) if !t.throttled);
        let reason = match &outcome {
            Outcome::Transient(t) => t.reason.clone(),
            _ => String::new(),
        };
        let throttled_now = matches!(&outcome, Outcome::Transient(t) if t.throttled);
        let attempt = Attempt { transport_failure, throttled: throttled_now, reason };
        let made = attempts + throttled + 1;
        match outcome {
            Outcome::Registered(registration) => {
                return (
                    RowResult::Registered { line: job.line, attempts: made, registration },
                    Some(attempt),
                );
            }
            Outcome::Rejected(rejection) => {
                return (RowResult::Rejected { line: job.line, attempts: made, rejection }, Some(attempt));
            }
            Outcome::Abort(abort) => {
                let what = match abort.kind {
                    AbortKind::Credentials => {
                        "the credentials were refused: check AOPAY_REGISTRATION_ID and AOPAY_COMPANY_CODE (or [aopay] in the config file), and that this machine's IP is whitelisted"
                    }
                    AbortKind::Endpoint => "the endpoint is not answering as a registration API",
                    AbortKind::Certificate => "the endpoint cannot be trusted",
                };
                shared.stop.request(StopReason::Aborted(format!("{what} ({})", abort.message)));
                return (RowResult::Released { line: job.line, attempts: made }, Some(attempt));
            }
            Outcome::Transient(t) => {
                let retry_after = t.retry_after.map(|wait| {
                    if wait > settings.max_retry_after {
                        tracing::warn!(
                            asked_secs = wait.as_secs(),
                            waiting_secs = settings.max_retry_after.as_secs(),
                            "the server asked to wait longer than --max-retry-after allows; waiting the maximum instead"
                        );
                    }
                    wait.min(settings.max_retry_after)
                });
                if t.throttled && throttled < MAX_THROTTLED {
                    let _ = collector.send(Message::Attempt(attempt));
                    throttled += 1;
                    shared.pause.pause_for(retry_after.unwrap_or(DEFAULT_THROTTLE_PAUSE));
                    continue;
                }
                attempts += 1;
                if attempts >= settings.max_attempts.get() {
                    let result = RowResult::Failed {
                        line: job.line,
                        attempts: made,
                        http_status: t.http_status,
                        message: format!(
                            "{} (gave up after {made} attempts; running again retries it)",
                            t.reason
                        ),
                    };
                    return (result, Some(attempt));
                }
                let _ = collector.send(Message::Attempt(attempt));
                let delay = backoff_delay(attempts, settings.backoff_base, settings.backoff_cap, retry_after);
                tracing::debug!(line = job.line, attempt = made, delay_ms = delay.as_millis() as u64, reason = %t.reason, "retrying");
                tokio::select! {
                    biased;
                    () = shared.stop.stopped() => return (RowResult::Released { line: job.line, attempts: made }, None),
                    () = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let (base, cap) = (Duration::from_millis(100), Duration::from_secs(2));
        for attempt in 1..40 {
            let ceiling = (base * (1 << (attempt - 1).min(20))).min(cap);
            for _ in 0..50 {
                let d = backoff_delay(attempt, base, cap, None);
                assert!(d <= ceiling, "attempt {attempt}: {d:?} > {ceiling:?}");
            }
        }
        // Full jitter: delays spread over the whole range rather than clustering at the ceiling.
        let samples: Vec<Duration> = (0..200).map(|_| backoff_delay(5, base, cap, None)).collect();
        assert!(samples.iter().any(|d| *d < Duration::from_millis(400)));
        assert!(samples.iter().any(|d| *d > Duration::from_millis(1200)));
    }

    #[test]
    fn retry_after_is_a_floor() {
        let d = backoff_delay(
            1,
            Duration::from_millis(10),
            Duration::from_millis(20),
            Some(Duration::from_secs(3)),
        );
        assert_eq!(d, Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_until_its_end_and_can_be_extended() {
        let gate = PauseGate::default();
        let start = Instant::now();
        gate.wait().await;
        assert_eq!(start.elapsed(), Duration::ZERO);
        gate.pause_for(Duration::from_secs(2));
        gate.pause_for(Duration::from_secs(1)); // a shorter pause does not shorten it
        gate.wait().await;
        assert!(start.elapsed() >= Duration::from_secs(2));
    }
}
