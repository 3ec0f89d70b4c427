//! The producer: streams the rows still to send out of the state (a page at a time, never the
//! whole run in memory), has the collector claim each page durably, builds each request body once,
//! and queues the rows for the workers. Stops claiming as soon as the run is stopping.
//!
//! The claim of the next page is asked for before this page's rows are queued, so its commit
//! (an fsync) happens while the workers are busy with this page, not while they wait for work.
//! At most two pages are claimed and not yet queued; rows claimed and never queued are handed
//! back to `pending`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError, mpsc};
use std::time::Duration;

use super::worker::Retries;
use super::{ClaimReply, Job, Message, Stop, inbox};
use crate::api::Client;
use crate::store::{Claim, PendingRow, Reader, RowResult, StoreError};

/// Wakes the producer when a full queue of jobs has drained to half, rather than at every job a
/// worker takes: one wake-up (a futex call and a context switch on each side) per half a queue
/// instead of one per row.
#[derive(Debug)]
pub(super) struct Refill {
    low_water: usize,
    waiting: AtomicBool,
    lock: Mutex<()>,
    more: Condvar,
}

/// How often a producer waiting for room looks whether the run stopped or every worker is gone
/// (neither wakes it). Room itself always wakes it: a worker that takes a job below the low
/// water mark while the producer waits notifies it under the lock the producer waits with. A
/// shorter period woke the producer a hundred times a second for nothing at a slow pace.
const RECHECK: Duration = Duration::from_millis(250);

impl Refill {
    pub fn new(capacity: usize) -> Refill {
        Refill {
            low_water: capacity / 2,
            waiting: AtomicBool::new(false),
            lock: Mutex::new(()),
            more: Condvar::new(),
        }
    }

    /// Called by a worker that took a job from `jobs`.
    pub fn taken(&self, jobs: &async_channel::Receiver<Job>) {
        if jobs.len() <= self.low_water && self.waiting.load(Ordering::SeqCst) {
            let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
            self.more.notify_one();
        }
    }
}

/// The producer's end of the queue of jobs: waits for room in bulk, with [`Refill`].
#[derive(Debug)]
pub(super) struct Queue {
    pub jobs: async_channel::Sender<Job>,
    pub refill: Arc<Refill>,
    /// Counts the rows in play, so that workers know when the last one is done.
    pub retries: Arc<Retries>,
}

impl Queue {
    /// Puts `job` on the queue, waiting for room; gives it back when the queue is closed (no
    /// worker left) or the run is stopping.
    fn push(&self, mut job: Job, stop: &Stop) -> Result<(), Job> {
        let Queue { jobs, refill, retries } = self;
        retries.queuing();
        loop {
            match jobs.try_send(job) {
                Ok(()) => return Ok(()),
                Err(async_channel::TrySendError::Closed(back)) => {
                    retries.not_queued();
                    return Err(back);
                }
                Err(async_channel::TrySendError::Full(back)) if stop.is_stopping() => {
                    retries.not_queued();
                    return Err(back);
                }
                Err(async_channel::TrySendError::Full(back)) => job = back,
            }
            let mut guard = refill.lock.lock().unwrap_or_else(PoisonError::into_inner);
            refill.waiting.store(true, Ordering::SeqCst);
            while jobs.len() > refill.low_water && !jobs.is_closed() && !stop.is_stopping() {
                guard = refill.more.wait_timeout(guard, RECHECK).unwrap_or_else(PoisonError::into_inner).0;
            }
            refill.waiting.store(false, Ordering::SeqCst);
        }
    }
}

/// A page whose claim was asked for, and where its answer will come.
struct Asked {
    page: Vec<PendingRow>,
    claimed: mpsc::Receiver<ClaimReply>,
}

pub(super) fn run(
    reader: &Reader,
    run_id: i64,
    collector: &inbox::Sender,
    queue: &Queue,
    client: &Client,
    stop: &Stop,
    batch: usize,
) -> Result<(), StoreError> {
    // However this ends, the workers learn that no row will come from here any more.
    struct Done<'a>(&'a Retries);
    impl Drop for Done<'_> {
        fn drop(&mut self) {
            self.0.producer_done();
        }
    }
    let _done = Done(&queue.retries);
    let mut after = 0;
    let mut next = ask(reader, run_id, &mut after, collector, stop, batch)?;
    while let Some(Asked { mut page, claimed }) = next.take() {
        // The collector answers every claim; an error there has already stopped the run.
        let Ok(Ok(claims)) = claimed.recv() else { break };
        // A claimed row goes out under the order id its claim settled on: the customer's, when
        // another run sent them without an answer.
        let mut to_send = page.iter_mut().zip(claims).filter_map(|(row, claim)| match claim {
            Claim::Send { line, order_id } if line == row.line => {
                row.applicant.order_id = order_id;
                Some(&*row)
            }
            _ => None,
        });
        next = match ask(reader, run_id, &mut after, collector, stop, batch) {
            Ok(next) => next,
            Err(e) => {
                release(to_send, collector);
                return Err(e);
            }
        };
        for row in to_send.by_ref() {
            let job = Job { line: row.line, body: client.body(&row.applicant), spent: Default::default() };
            if stop.is_stopping() || queue.push(job, stop).is_err() {
                release(std::iter::once(row), collector);
                break;
            }
        }
        // Claimed, never queued: straight back to pending.
        release(to_send, collector);
    }
    // Every page asked for went through the loop: once the run stops, `ask` asks for no more,
    // and the last page's claimed rows were released in it.
    Ok(())
}

/// Hands rows claimed but never queued back to `pending`.
fn release<'a>(rows: impl Iterator<Item = &'a PendingRow>, collector: &inbox::Sender) {
    for row in rows {
        let _ = collector.post(Message::Result(RowResult::Released { line: row.line, attempts: 0 }, None));
    }
}

/// Reads the next page of rows to send and asks the collector to claim it; `None` when there is
/// none, or the run is stopping.
fn ask(
    reader: &Reader,
    run_id: i64,
    after: &mut u64,
    collector: &inbox::Sender,
    stop: &Stop,
    batch: usize,
) -> Result<Option<Asked>, StoreError> {
    if stop.is_stopping() {
        return Ok(None);
    }
    let page = reader.pending(run_id, *after, batch)?;
    let Some(last) = page.last() else { return Ok(None) };
    *after = last.line;
    let (reply, claimed) = mpsc::sync_channel(1);
    let rows = page.iter().map(|row| (row.line, row.pan_key)).collect();
    if collector.post(Message::Claim { rows, reply }).is_err() {
        return Ok(None);
    }
    Ok(Some(Asked { page, claimed }))
}
