//! The collector: the one owner of the state database and the progress display while a run
//! sends. Claims are committed at once (a request may not leave before its claim is durable);
//! outcomes are committed in groups — every 100, or 200 ms after the first waiting one — so a
//! fast run costs a few fsyncs a second, not one per row. Counts consecutive transport failures
//! and stops the run when they say the endpoint is down, and keeps the run lock's heartbeat.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use super::{EngineSettings, Message, Stop, StopReason};
use crate::output::Progress;
use crate::store::{Claim, HEARTBEAT_EVERY, RowResult, RowStatus, Store, StoreError};

const GROUP_SIZE: usize = 100;
const GROUP_WAIT: Duration = Duration::from_millis(200);
const TICK: Duration = Duration::from_millis(250);

/// What the collector counted.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Counters {
    pub requests: u64,
    pub answered: u64,
}

pub(super) fn run(
    mut store: Store,
    run_id: i64,
    inbox: &mpsc::Receiver<Message>,
    mut progress: Progress,
    stop: &Stop,
    settings: &EngineSettings,
) -> (Store, Result<Counters, StoreError>) {
    let mut counters = Counters::default();
    let mut waiting: Vec<RowResult> = Vec::with_capacity(GROUP_SIZE);
    let mut oldest_waiting: Option<Instant> = None;
    let mut consecutive_failures = 0u32;
    let mut last_heartbeat = Instant::now();
    // The first failure of the state ends the run; later messages are still drained so that no
    // worker blocks, but nothing more is written.
    let mut failure: Option<StoreError> = None;

    loop {
        let timeout = oldest_waiting.map_or(TICK, |t| GROUP_WAIT.saturating_sub(t.elapsed()).min(TICK));
        let message = inbox.recv_timeout(timeout);
        match message {
            Ok(Message::Claim { rows, reply }) => {
                let claimed = match failure {
                    Some(_) => Err(()),
                    None => store.claim(run_id, &rows).map_err(|e| fail(&mut failure, e, stop)),
                };
                if let Ok(claims) = &claimed {
                    for claim in claims {
                        if matches!(claim, Claim::Known { .. }) {
                            progress.record(RowStatus::Known);
                        }
                    }
                }
                let _ = reply.send(claimed);
            }
            Ok(Message::Attempt { transport_failure, reason }) => {
                counters.requests += 1;
                if transport_failure {
                    consecutive_failures += 1;
                    if consecutive_failures == settings.max_consecutive_failures.get() {
                        stop.request(StopReason::Aborted(format!(
                            "{consecutive_failures} requests in a row failed (the last: {reason}): the \
                             endpoint looks down. Nothing was marked failed; run again when it is back"
                        )));
                    }
                } else {
                    consecutive_failures = 0;
                    counters.answered += 1;
                }
            }
            Ok(Message::Result(result)) => {
                if !matches!(result, RowResult::Released { .. }) {
                    progress.record(result.status());
                }
                oldest_waiting.get_or_insert_with(Instant::now);
                waiting.push(result);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        let due = oldest_waiting.is_some_and(|t| t.elapsed() >= GROUP_WAIT);
        if waiting.len() >= GROUP_SIZE || due {
            flush(&mut store, run_id, &mut waiting, &mut failure, stop);
            oldest_waiting = None;
        }
        if last_heartbeat.elapsed() >= HEARTBEAT_EVERY && failure.is_none() {
            last_heartbeat = Instant::now();
            if let Err(e) = store.heartbeat() {
                fail(&mut failure, e, stop);
            }
        }
        progress.tick();
    }
    flush(&mut store, run_id, &mut waiting, &mut failure, stop);
    progress.finish();
    match failure {
        Some(e) => (store, Err(e)),
        None => (store, Ok(counters)),
    }
}

fn flush(
    store: &mut Store,
    run_id: i64,
    waiting: &mut Vec<RowResult>,
    failure: &mut Option<StoreError>,
    stop: &Stop,
) {
    if failure.is_none()
        && let Err(e) = store.record(run_id, waiting)
    {
        fail(failure, e, stop);
    }
    waiting.clear();
}

fn fail(failure: &mut Option<StoreError>, error: StoreError, stop: &Stop) {
    stop.request(StopReason::Aborted(format!("the state database failed: {error}")));
    failure.get_or_insert(error);
}
