//! The concurrency shape of ARCHITECTURE.md ("The data's path"): one producer thread streams the
//! rows still to send out of the state and claims them durably, in batches, before any of their
//! requests leaves; a bounded channel hands them to N worker tasks, each of which awaits the rate
//! limiter before every attempt, sends, and retries transient failures with exponential backoff and
//! full jitter; every outcome goes to one collector thread that owns the state database and the
//! counters, tells an [`Observer`] (the progress display) of every row, and commits outcomes in
//! small groups.
//!
//! One [`Stop`] reaches every part. Credentials refused, too many consecutive failures or a signal
//! stop the claiming; requests in flight finish (within a bounded wait); everything unanswered goes
//! back to `pending`. The engine never reads a status code (the `api` module classifies) and never
//! writes SQL or CSV (the `store` and `output` modules do).

mod collector;
mod inbox;
mod limiter;
mod producer;
mod retry;
mod worker;

use std::num::{NonZeroU32, NonZeroUsize};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock, mpsc};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::api::Client;
use crate::store::{RowStatus, Store, StoreError};

pub use limiter::{DEFAULT_RATE_MODE, Learned, Limiter, RateMode};
pub use retry::{DEFAULT_THROTTLE_PAUSE, RetryPolicy};

/// Requests per period: `10/s`, `600/m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub requests: NonZeroU32,
    pub per: Duration,
}

impl Rate {
    /// Requests per second, for display and arithmetic.
    pub fn per_second(&self) -> f64 {
        f64::from(self.requests.get()) / self.per.as_secs_f64()
    }
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.per.as_secs() {
            1 => write!(f, "{}/s", self.requests),
            60 => write!(f, "{}/m", self.requests),
            3600 => write!(f, "{}/h", self.requests),
            _ => write!(f, "{}/{:?}", self.requests, self.per),
        }
    }
}

/// The rate without `--rate`: conservative, because AOPay publishes no quota.
pub const DEFAULT_RATE: Rate = Rate { requests: NonZeroU32::new(10).unwrap(), per: Duration::from_secs(1) };
/// Requests that may leave at once on top of the rate, without `--burst`.
pub const DEFAULT_BURST: NonZeroU32 = NonZeroU32::MIN;
/// Workers (requests in flight at once) without `--concurrency`.
pub const DEFAULT_CONCURRENCY: NonZeroUsize = NonZeroUsize::new(8).unwrap();
/// Attempts per row without `--max-attempts`, the first included.
pub const DEFAULT_MAX_ATTEMPTS: NonZeroU32 = NonZeroU32::new(5).unwrap();
/// Requests in a row without an answer that abort the run, without `--max-consecutive-failures`.
pub const DEFAULT_MAX_CONSECUTIVE_FAILURES: NonZeroU32 = NonZeroU32::new(20).unwrap();
/// The longest `Retry-After` obeyed without `--max-retry-after`.
pub const DEFAULT_MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// How hard to push, and how patiently.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// Workers, and so the most requests in flight at once.
    pub concurrency: NonZeroUsize,
    /// The rate, or in adaptive mode the ceiling of the rate.
    pub rate: Rate,
    pub rate_mode: RateMode,
    /// Requests that may leave at once on top of the steady rate.
    pub burst: NonZeroU32,
    /// Attempts per row in one invocation, the first included.
    pub max_attempts: NonZeroU32,
    /// This many transport failures in a row (timeouts, resets, 5xx) abort the run.
    pub max_consecutive_failures: NonZeroU32,
    /// First backoff ceiling; doubles per attempt up to `backoff_cap`.
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// The longest `Retry-After` obeyed; longer ones are cut to this, and the run says so.
    pub max_retry_after: Duration,
    /// How long requests in flight may take to finish once the run is stopping.
    pub shutdown_grace: Duration,
}

impl EngineSettings {
    pub fn new(concurrency: NonZeroUsize, rate: Rate) -> EngineSettings {
        EngineSettings {
            concurrency,
            rate,
            rate_mode: DEFAULT_RATE_MODE,
            burst: DEFAULT_BURST,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            max_consecutive_failures: DEFAULT_MAX_CONSECUTIVE_FAILURES,
            backoff_base: retry::DEFAULT_BACKOFF_BASE,
            backoff_cap: retry::DEFAULT_BACKOFF_CAP,
            max_retry_after: DEFAULT_MAX_RETRY_AFTER,
            shutdown_grace: Duration::from_secs(35),
        }
    }
}

/// Why a run stopped before every row was done: data, said in the user's words by `output`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    /// A signal (Ctrl-C, SIGTERM, SIGHUP, SIGQUIT): running again resumes.
    Interrupted,
    /// The run cannot usefully go on.
    Aborted(Abort),
}

/// Why a run cannot usefully go on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Abort {
    /// The vendor refused the merchant's credentials; `detail` is what it said (cleaned).
    Credentials { detail: String },
    /// The endpoint does not answer as a registration API (404, 405, a redirect).
    NotAnEndpoint { detail: String },
    /// The endpoint's certificate cannot be trusted.
    Untrusted { detail: String },
    /// This many requests in a row got no answer; the last one's reason.
    EndpointDown { failures: u32, last: String },
    /// The state database failed while sending.
    StateFailed { error: String },
    /// A reason its caller gives, already in the user's words (the server's, the driver's).
    Said(String),
}

impl Abort {
    /// What `classify` found the vendor's answer to mean, with what it said.
    fn of_answer(kind: crate::api::AbortKind, detail: String) -> Abort {
        match kind {
            crate::api::AbortKind::Credentials => Abort::Credentials { detail },
            crate::api::AbortKind::Endpoint => Abort::NotAnEndpoint { detail },
            crate::api::AbortKind::Certificate => Abort::Untrusted { detail },
        }
    }
}

/// The one stop signal every part of a run watches. The first reason given wins.
#[derive(Debug, Clone, Default)]
pub struct Stop {
    token: CancellationToken,
    reason: Arc<OnceLock<StopReason>>,
}

impl Stop {
    pub fn new() -> Stop {
        Stop::default()
    }

    pub fn request(&self, reason: StopReason) {
        let _ = self.reason.set(reason);
        self.token.cancel();
    }

    pub fn is_stopping(&self) -> bool {
        self.token.is_cancelled()
    }

    pub async fn stopped(&self) {
        self.token.cancelled().await;
    }

    pub fn reason(&self) -> Option<StopReason> {
        self.reason.get().cloned()
    }
}

/// Rows claimed at a time: about 100 ms of sending at the rate, at least one per worker, and
/// between 8 and 512. Bigger claims cost fewer commits; smaller ones leave fewer rows claimed
/// ahead of their requests (sent again, with their order ids, if the process dies).
fn claim_batch(settings: &EngineSettings) -> usize {
    let tenth_of_a_second = (settings.rate.per_second() / 10.0).min(512.0) as usize;
    tenth_of_a_second.max(settings.concurrency.get()).clamp(8, 512)
}

/// Whoever watches a run while it sends (the progress display): told of every row that reaches
/// its status in this invocation, ticked often (a few times a second at least) so it can redraw,
/// and finished once. Called from the collector's thread only, between commits: it must return
/// quickly and never block.
pub trait Observer: Send {
    /// A row left `pending` for `status` (a registration, a rejection, a known customer...), as
    /// the state now records it.
    fn record(&mut self, status: RowStatus);
    /// A request came back (or failed in transport); `throttled` when it was answered 429.
    fn request(&mut self, _throttled: bool) {}
    /// Time passed: a chance to redraw.
    fn tick(&mut self);
    /// The run is over; nothing more will be recorded.
    fn finish(&mut self);
}

/// What an invocation of the engine did.
#[derive(Debug, Clone, Default)]
pub struct EngineReport {
    pub stop: Option<StopReason>,
    /// Requests sent (every attempt).
    pub requests: u64,
    /// Requests the vendor refused with a 429 ("too many requests").
    pub throttled: u64,
    /// What the adaptive limiter knows of the vendor's quota at the end: learned in this run, or
    /// by an earlier run of the state and started from.
    pub quota: Option<Learned>,
    pub elapsed: Duration,
}

/// A failure of the machinery itself, not of a row.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("a part of the engine stopped unexpectedly: {0}")]
    Panicked(&'static str),
}

/// A claimed row on its way to a worker: the line and the request body, built once, and what it
/// has used of the retry policy in this invocation.
#[derive(Debug)]
struct Job {
    line: u64,
    body: bytes::Bytes,
    spent: retry::Spent,
}

impl Job {
    /// Every request made for the row in this invocation, 429s included.
    fn made(&self) -> u32 {
        self.spent.requests()
    }
}

/// What the collector answers a claim with: the rows claimed, or nothing when the claim failed
/// (the failure has stopped the run).
type ClaimReply = Result<Vec<crate::store::Claim>, ()>;

/// What the producer and the workers tell the collector.
#[derive(Debug)]
enum Message {
    /// Claim these rows (line, ledger key) durably; answer with what was claimed.
    Claim { rows: Vec<(u64, [u8; 16])>, reply: mpsc::SyncSender<ClaimReply> },
    /// A request whose row goes on: it is tried again.
    Attempt(Attempt),
    /// A row is done for this invocation, with the request that ended it if one did: one
    /// message per row on the common path, not two.
    Result(crate::store::RowResult, Option<Attempt>),
}

/// One request that went out and came back (or failed in transport).
#[derive(Debug)]
struct Attempt {
    transport_failure: bool,
    /// Refused with a 429.
    throttled: bool,
    reason: String,
}

/// The end of an invocation: the store back (for the results) unless the thread that owned it
/// died; what was done, however it ended (the requests a failing run made were made); and the
/// failure of the machinery, if it failed.
#[derive(Debug)]
pub struct EngineOutput {
    pub store: Option<Store>,
    pub report: EngineReport,
    pub error: Option<EngineError>,
}

impl EngineOutput {
    fn failed(store: Option<Store>, error: EngineError) -> EngineOutput {
        EngineOutput { store, report: EngineReport::default(), error: Some(error) }
    }
}

/// Sends every row of `run_id` still to send, at the pace of `limiter` (one per process: the
/// server's jobs share one). An adaptive limiter that has learned nothing yet starts from the
/// quota an earlier run of this state learned, and what this run learns is kept for the next.
pub async fn run(
    store: Store,
    run_id: i64,
    client: Client,
    settings: EngineSettings,
    limiter: Arc<Limiter>,
    observer: impl Observer + 'static,
    stop: Stop,
) -> EngineOutput {
    let started = Instant::now();
    match store.learned_quota() {
        Ok(Some(q)) => limiter.start_from(&Learned {
            accepted_per_second: q.accepted_per_second,
            holding_per_second: q.holding_per_second,
            hold: Duration::try_from_secs_f64(q.hold_seconds).unwrap_or_default(),
        }),
        Ok(None) => {}
        // Not worth stopping for: the quota is found again by the first refusal.
        Err(e) => tracing::warn!("cannot read the quota learned by earlier runs: {e}"),
    }
    let reader = match store.reader() {
        Ok(reader) => reader,
        Err(e) => return EngineOutput::failed(Some(store), e.into()),
    };
    let (to_collector, inbox) = inbox::inbox(collector::DUE);
    let collector = {
        let (stop, settings) = (stop.clone(), settings.clone());
        std::thread::Builder::new()
            .name("collector".into())
            .spawn(move || collector::run(store, run_id, &inbox, observer, &stop, &settings))
    };
    let Ok(collector) = collector else {
        return EngineOutput::failed(None, EngineError::Panicked("the collector thread could not start"));
    };

    let capacity = settings.concurrency.get().clamp(8, 1024);
    let (jobs_tx, jobs_rx) = async_channel::bounded::<Job>(capacity);
    let refill = Arc::new(producer::Refill::new(capacity));
    let retries = Arc::new(worker::Retries::new());
    let producer = {
        let (stop, client, to_collector) = (stop.clone(), client.clone(), to_collector.clone());
        let queue = producer::Queue { jobs: jobs_tx, refill: refill.clone(), retries: retries.clone() };
        let batch = claim_batch(&settings);
        std::thread::Builder::new()
            .name("producer".into())
            .spawn(move || producer::run(&reader, run_id, &to_collector, &queue, &client, &stop, batch))
    };

    let shared = Arc::new(worker::Shared {
        client,
        limiter: limiter.clone(),
        refill,
        retries,
        stop: stop.clone(),
        retry: RetryPolicy::new(&settings),
        long_wait_said: AtomicBool::new(false),
    });
    let mut workers = tokio::task::JoinSet::new();
    if producer.is_ok() {
        for _ in 0..settings.concurrency.get() {
            let (shared, jobs, to_collector) = (shared.clone(), jobs_rx.clone(), to_collector.clone());
            workers.spawn(async move { worker::run(&shared, &jobs, &to_collector).await });
        }
    }
    drop((jobs_rx, to_collector));

    // Workers end when the producer is done and the queue is empty. Once the run is stopping,
    // requests in flight get a bounded time to finish; after it their rows stay `in_flight` and
    // the next start sends them again with the same order id.
    let grace = settings.shutdown_grace;
    // A worker that panicked left its rows unsent: the run must not pass for finished.
    let mut worker_panicked = false;
    tokio::select! {
        () = async {
            while let Some(joined) = workers.join_next().await {
                worker_panicked |= joined.is_err_and(|e| e.is_panic());
            }
        } => {}
        () = async { stop.stopped().await; tokio::time::sleep(grace).await } => {
            tracing::warn!("requests still in flight after {}s; leaving them for the next run", grace.as_secs());
            workers.abort_all();
            while workers.join_next().await.is_some() {}
        }
    }
    drop(shared);

    let produced = match producer {
        Ok(handle) => tokio::task::spawn_blocking(move || handle.join()).await.ok().and_then(Result::ok),
        Err(_) => None,
    };
    let collected = tokio::task::spawn_blocking(move || collector.join()).await.ok().and_then(Result::ok);
    let Some((store, counters, failure)) = collected else {
        return EngineOutput::failed(None, EngineError::Panicked("the collector thread"));
    };
    let error = match (failure, produced) {
        (Some(e), _) | (None, Some(Err(e))) => Some(EngineError::from(e)),
        (None, None) => Some(EngineError::Panicked("the producer thread")),
        (None, Some(Ok(()))) if worker_panicked => Some(EngineError::Panicked("a worker")),
        (None, Some(Ok(()))) => None,
    };
    let quota = limiter.learned();
    if let (Some(learned), true, None) = (quota, counters.throttled > 0, &error) {
        let kept = store.remember_quota(
            learned.accepted_per_second,
            learned.holding_per_second,
            learned.hold.as_secs_f64(),
        );
        if let Err(e) = kept {
            tracing::warn!("cannot keep the quota learned for the next run: {e}");
        }
    } else if quota.is_none() && limiter.forgot_inherited() {
        // What an earlier run kept was the vendor's random refusals, not its quota: the next run
        // must not start from it either.
        if let Err(e) = store.forget_quota() {
            tracing::warn!("cannot forget the quota an earlier run learned: {e}");
        }
    }
    let report = EngineReport {
        stop: stop.reason(),
        requests: counters.requests,
        throttled: counters.throttled,
        quota,
        elapsed: started.elapsed(),
    };
    EngineOutput { store: Some(store), report, error }
}

#[cfg(test)]
mod tests;
