//! The collector: the one owner of the state database and the [`Observer`] while a run
//! sends. Claims are committed at once (a request may not leave before its claim is durable);
//! outcomes are committed in groups — every 100, or 200 ms after the first waiting one — so a
//! fast run costs a few fsyncs a second, not one per row. Whatever is waiting when a commit is
//! due goes into that one transaction: a claim carries the outcomes that arrived before it, and
//! every message in the inbox is taken before committing, so under load one fsync covers many
//! messages instead of each paying its own. The inbox wakes the collector only when a commit is
//! due (see `inbox`), so at a slow pace it sleeps between groups instead of waking for every
//! answer. Counts consecutive transport failures and stops the run when they say the endpoint is
//! down. The [`Observer`] hears of a row's outcome once its commit holds it, not before.

use std::sync::mpsc::SyncSender;
use std::time::{Duration, Instant};

use super::inbox::{self, Due, Taken};
use super::{Abort, Attempt, ClaimReply, EngineSettings, Message, Observer, Stop, StopReason};
use crate::store::{Claim, RowResult, RowStatus, Store, StoreError};

const GROUP_SIZE: usize = 100;
const GROUP_WAIT: Duration = Duration::from_millis(200);
/// The progress display is given a chance to redraw at least this often.
const TICK: Duration = Duration::from_millis(250);
/// The write-ahead log is moved into the database file at least this often while sending, so
/// that a plain copy of the `.db` lags the state by seconds, not by a whole run.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(2);

/// When the inbox wakes the collector.
pub(super) const DUE: Due = Due { group_size: GROUP_SIZE, group_wait: GROUP_WAIT };

/// What the collector counted.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Counters {
    pub requests: u64,
    pub throttled: u64,
}

/// What waits for the next commit.
#[derive(Default)]
struct Group {
    results: Vec<RowResult>,
    oldest_result: Option<Instant>,
    /// Rows to claim, in the order asked, and who asked for how many of them.
    claims: Vec<(u64, [u8; 16])>,
    replies: Vec<(SyncSender<ClaimReply>, usize)>,
}

impl Group {
    fn due(&self) -> bool {
        !self.claims.is_empty()
            || self.results.len() >= GROUP_SIZE
            || self.oldest_result.is_some_and(|t| t.elapsed() >= GROUP_WAIT)
    }
}

pub(super) fn run(
    mut store: Store,
    run_id: i64,
    inbox: &inbox::Receiver,
    mut observer: impl Observer,
    stop: &Stop,
    settings: &EngineSettings,
) -> (Store, Counters, Option<StoreError>) {
    let mut counters = Counters::default();
    let mut group = Group { results: Vec::with_capacity(GROUP_SIZE), ..Group::default() };
    let mut consecutive_failures = 0u32;
    // The first failure of the state ends the run; later messages are still drained so that no
    // worker blocks, but nothing more is written.
    let mut failure: Option<StoreError> = None;

    let mut messages = Vec::new();
    let mut next_tick = Instant::now() + TICK;
    let mut last_checkpoint = Instant::now();
    let mut moved_away = false;
    loop {
        let deadline = group.oldest_result.map_or(next_tick, |t| (t + GROUP_WAIT).min(next_tick));
        let first = match inbox.take(deadline, &mut messages) {
            Taken::Messages { first } => first,
            Taken::Disconnected => break,
        };
        for message in messages.drain(..) {
            match message {
                Message::Claim { rows, reply } => {
                    group.replies.push((reply, rows.len()));
                    group.claims.extend_from_slice(&rows);
                }
                Message::Attempt(attempt) => {
                    observer.request(attempt.throttled);
                    count(&mut counters, &mut consecutive_failures, attempt, settings, stop);
                }
                Message::Result(result, attempt) => {
                    if let Some(attempt) = attempt {
                        observer.request(attempt.throttled);
                        count(&mut counters, &mut consecutive_failures, attempt, settings, stop);
                    }
                    group.oldest_result.get_or_insert_with(|| first.unwrap_or_else(Instant::now));
                    group.results.push(result);
                }
            }
        }
        if group.due() {
            commit(&mut store, run_id, &mut group, &mut failure, &mut observer, stop);
        }
        if failure.is_none() && last_checkpoint.elapsed() >= CHECKPOINT_EVERY {
            last_checkpoint = Instant::now();
            // Not worth stopping for: the log is checkpointed when it grows, and at the end.
            if let Err(e) = store.checkpoint() {
                tracing::debug!("cannot checkpoint the state's log: {e}");
            }
            // A state removed or replaced under the run: nothing more is claimed, and what is in
            // flight is still recorded, for the results file the run writes from this one.
            if !moved_away && let Some(moved) = store.moved_away() {
                moved_away = true;
                stop.request(StopReason::Aborted(Abort::StateFailed { error: moved.to_string() }));
            }
        }
        observer.tick();
        next_tick = Instant::now() + TICK;
    }
    commit(&mut store, run_id, &mut group, &mut failure, &mut observer, stop);
    observer.finish();
    // Moved away since the last look, in the run's last seconds: the run still says so.
    if !moved_away && failure.is_none() {
        failure = store.moved_away();
    }
    (store, counters, failure)
}

/// Counts a request, and stops the run when too many in a row got no answer.
fn count(
    counters: &mut Counters,
    consecutive_failures: &mut u32,
    Attempt { transport_failure, throttled, reason }: Attempt,
    settings: &EngineSettings,
    stop: &Stop,
) {
    counters.requests += 1;
    counters.throttled += u64::from(throttled);
    if transport_failure {
        *consecutive_failures += 1;
        if *consecutive_failures == settings.max_consecutive_failures.get() {
            stop.request(StopReason::Aborted(Abort::EndpointDown {
                failures: *consecutive_failures,
                last: reason,
            }));
        }
    } else {
        *consecutive_failures = 0;
    }
}

/// Writes the group in one transaction and answers the claims in it. After a failure nothing is
/// written and every claim is refused, so no request leaves without its claim.
fn commit(
    store: &mut Store,
    run_id: i64,
    group: &mut Group,
    failure: &mut Option<StoreError>,
    observer: &mut impl Observer,
    stop: &Stop,
) {
    let claimed = match failure {
        Some(_) => Err(()),
        None => store.commit_group(run_id, &group.results, &group.claims).map_err(|e| fail(failure, e, stop)),
    };
    match claimed {
        Ok(claimed) => {
            // Told once recorded: whoever counts the rows (the summary among them) counts what
            // the state holds, never an outcome a failed commit lost.
            for result in &group.results {
                if !matches!(result, RowResult::Released { .. }) {
                    observer.record(result.status());
                }
            }
            for claim in &claimed {
                match claim {
                    Claim::Known { .. } => observer.record(RowStatus::Known),
                    Claim::Taken { .. } => observer.record(RowStatus::Invalid),
                    Claim::Send { .. } => {}
                }
            }
            let mut claimed = claimed.into_iter();
            for (reply, n) in group.replies.drain(..) {
                let _ = reply.send(Ok(claimed.by_ref().take(n).collect()));
            }
        }
        Err(()) => {
            for (reply, _) in group.replies.drain(..) {
                let _ = reply.send(Err(()));
            }
        }
    }
    group.results.clear();
    group.oldest_result = None;
    group.claims.clear();
}

fn fail(failure: &mut Option<StoreError>, error: StoreError, stop: &Stop) {
    stop.request(StopReason::Aborted(Abort::StateFailed { error: error.to_string() }));
    failure.get_or_insert(error);
}
