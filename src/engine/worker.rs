//! A worker: takes one claimed row at a time — a row whose wait is over first, else a new one —
//! and tries it: waits for the limiter (the pace, and any pause the server asked for), sends,
//! and tells the collector how the attempt and the row ended. A row that `classify` calls
//! transient (a 429 included) waits for its next attempt — as long as the retry policy
//! (`retry.rs`) decides — outside the worker, which takes the next row meanwhile. Workers share
//! only the limiter, the rows waiting and the stop signal.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use super::limiter::Limiter;
use super::producer::Refill;
use super::retry::{Next, RetryPolicy, Unsettled};
use super::{Abort, Attempt, Job, Message, Stop, StopReason, inbox};
use crate::api::{Client, Outcome};
use crate::store::RowResult;

/// What every worker shares.
#[derive(Debug)]
pub(super) struct Shared {
    pub client: Client,
    /// The pace, the pause after a 429, and the vendor's quota: shared by every worker (and, in
    /// the server, by every job).
    pub limiter: Arc<Limiter>,
    /// Told when a job is taken, so the producer refills the queue in bulk.
    pub refill: Arc<Refill>,
    pub retries: Arc<Retries>,
    pub stop: Stop,
    /// When a row that did not settle is sent again, or given up.
    pub retry: RetryPolicy,
    /// Set once a `Retry-After` longer than `--max-retry-after` has been said: once a run.
    pub long_wait_said: AtomicBool,
}

pub(super) async fn run(
    shared: &Arc<Shared>,
    jobs: &async_channel::Receiver<Job>,
    collector: &inbox::Sender,
) {
    let retries = &shared.retries;
    let mut jobs_done = false;
    loop {
        // A row whose backoff is over comes before a new one: it has waited already.
        let job = tokio::select! {
            biased;
            retry = retries.ready.recv() => match retry {
                Ok(job) => job,
                Err(_) => return, // Every row is done.
            },
            next = jobs.recv(), if !jobs_done => match next {
                Ok(job) => {
                    shared.refill.taken(jobs);
                    job
                }
                Err(_) => {
                    // No new rows; those waiting for a retry may still come.
                    jobs_done = true;
                    continue;
                }
            },
        };
        if shared.stop.is_stopping() {
            // Claimed (perhaps tried) and not sent again: straight back to pending.
            let attempts = job.made();
            if !finish(shared, collector, RowResult::Released { line: job.line, attempts }, None) {
                return;
            }
            continue;
        }
        match attempt(shared, job, collector).await {
            Step::Done(result, last) => {
                if !finish(shared, collector, result, last) {
                    return;
                }
            }
            Step::Retry(job, delay) => retries.schedule(shared.clone(), job, delay, collector.clone()),
        }
    }
}

/// Tells the collector how a row ended; false when the collector is gone.
fn finish(shared: &Shared, collector: &inbox::Sender, result: RowResult, last: Option<Attempt>) -> bool {
    let sent = collector.post(Message::Result(result, last)).is_ok();
    shared.retries.row_ended();
    sent
}

/// Rows between two attempts, and how many rows are still in play — queued for a worker, being
/// tried, or waiting for a retry — so that workers end when the last one is done.
///
/// A row that must wait before its next attempt (backoff, `Retry-After`) waits in a task of its
/// own, not in a worker: the worker takes the next row meanwhile, so a wait never holds one of
/// the `--concurrency` slots idle. Waiting rows and 5xx answers cost only their own delay.
#[derive(Debug)]
pub(super) struct Retries {
    /// Rows whose wait is over.
    ready: async_channel::Receiver<Job>,
    sender: async_channel::Sender<Job>,
    /// Rows queued by the producer (counted before they are queued), being tried, or waiting.
    in_play: AtomicUsize,
    /// The producer will queue no more rows.
    producer_done: AtomicBool,
}

impl Retries {
    pub fn new() -> Retries {
        let (sender, ready) = async_channel::unbounded();
        Retries { ready, sender, in_play: AtomicUsize::new(0), producer_done: AtomicBool::new(false) }
    }

    /// The producer is about to queue a row.
    pub fn queuing(&self) {
        self.in_play.fetch_add(1, Ordering::SeqCst);
    }

    /// The producer could not queue the row it counted: it is not in play.
    pub fn not_queued(&self) {
        self.row_ended();
    }

    /// The producer has queued its last row.
    pub fn producer_done(&self) {
        self.producer_done.store(true, Ordering::SeqCst);
        self.close_if_done();
    }

    /// `job` is tried again after `delay`, unless the run stops first (then it goes back to
    /// pending).
    fn schedule(&self, shared: Arc<Shared>, job: Job, delay: Duration, collector: inbox::Sender) {
        let sender = self.sender.clone();
        tokio::spawn(async move {
            tokio::select! {
                biased;
                () = shared.stop.stopped() => {
                    let attempts = job.made();
                    let _ = collector.post(Message::Result(RowResult::Released { line: job.line, attempts }, None));
                    shared.retries.row_ended();
                }
                () = tokio::time::sleep(delay) => {
                    // The channel closes only once no row is in play, and this one is.
                    let _ = sender.send(job).await;
                }
            }
        });
    }

    /// A row ended (an outcome, or back to pending).
    fn row_ended(&self) {
        self.in_play.fetch_sub(1, Ordering::SeqCst);
        self.close_if_done();
    }

    /// Ends the workers once the producer is done and no row is in play: nothing can come any
    /// more. The producer counts a row in before queuing it, so no row is ever queued uncounted;
    /// each side changes its count before it looks at the other's, so one of them sees both.
    fn close_if_done(&self) {
        if self.producer_done.load(Ordering::SeqCst) && self.in_play.load(Ordering::SeqCst) == 0 {
            self.ready.close();
        }
    }
}

/// What one attempt (and the 429s it met) left to do.
enum Step {
    /// The row ended: its result, and the request that decided it (none when the run stopped it).
    Done(RowResult, Option<Attempt>),
    /// Try again after this long.
    Retry(Job, Duration),
}

/// Sends `job` once and says whether the row ended or must wait for another attempt, as the
/// retry policy decides. A request that did not end the row is reported at once.
async fn attempt(shared: &Shared, mut job: Job, collector: &inbox::Sender) -> Step {
    let sent = tokio::select! {
        biased;
        () = shared.stop.stopped() => {
            let attempts = job.made();
            return Step::Done(RowResult::Released { line: job.line, attempts }, None);
        }
        sent = shared.limiter.ready() => sent,
    };
    let outcome = shared.client.send(job.body.clone()).await;
    let refused = matches!(&outcome, Outcome::Transient(t) if t.throttled);
    let answered = match &outcome {
        Outcome::Registered(_) | Outcome::Rejected(_) => true,
        Outcome::Transient(t) => t.http_status.is_some(),
        Outcome::Abort(a) => a.http_status.is_some(),
    };
    if answered && !refused {
        shared.limiter.accepted(sent);
    }
    let transport_failure = matches!(&outcome, Outcome::Transient(t) if !t.throttled);
    let reason = match &outcome {
        Outcome::Transient(t) => t.reason.clone(),
        _ => String::new(),
    };
    let attempt = Attempt { transport_failure, throttled: refused, reason };
    let made = job.made() + 1;
    let line = job.line;
    match outcome {
        Outcome::Registered(registration) => {
            Step::Done(RowResult::Registered { line, attempts: made, registration }, Some(attempt))
        }
        Outcome::Rejected(rejection) => {
            Step::Done(RowResult::Rejected { line, attempts: made, rejection }, Some(attempt))
        }
        Outcome::Abort(abort) => {
            shared.stop.request(StopReason::Aborted(Abort::of_answer(abort.kind, abort.message)));
            Step::Done(RowResult::Released { line, attempts: made }, Some(attempt))
        }
        Outcome::Transient(t) => {
            let policy = &shared.retry;
            let unsettled = if t.throttled {
                Unsettled::Throttled { retry_after: t.retry_after }
            } else {
                Unsettled::Transient { retry_after: t.retry_after }
            };
            let decision = policy.decide(job.spent, unsettled, rand::random());
            if let Some(asked) = decision.cut_retry_after
                && !shared.long_wait_said.swap(true, Ordering::Relaxed)
            {
                tracing::warn!(
                    asked_secs = asked.as_secs(),
                    waiting_secs = policy.max_retry_after.as_secs(),
                    "the server asked to wait longer than --max-retry-after allows; this run waits the maximum instead, whenever it asks"
                );
            }
            if t.throttled {
                // Whether everyone waits too is the limiter's call (a quota, or noise?).
                shared.limiter.throttled(sent, policy.throttle_wait(t.retry_after));
            }
            job.spent = decision.spent;
            match decision.next {
                Next::GiveUp => {
                    let message = t.reason;
                    let result =
                        RowResult::Failed { line, attempts: made, http_status: t.http_status, message };
                    Step::Done(result, Some(attempt))
                }
                Next::Retry { wait } => {
                    let _ = collector.post(Message::Attempt(attempt));
                    tracing::debug!(line, attempt = made, delay_ms = wait.as_millis() as u64, reason = %t.reason, "retrying");
                    Step::Retry(job, wait)
                }
            }
        }
    }
}
