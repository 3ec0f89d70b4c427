//! The collector's inbox: what the producer and the workers tell it, queued without waking it
//! for every message. A wake-up costs a futex call on each side and a context switch, and at a
//! slow pace (100 requests a second) one per answer was most of the tool's CPU. So the collector
//! is woken only when it has something to do: a claim (the producer waits for its commit), a
//! group's worth of outcomes, the first outcome of a group when the collector sleeps past the
//! moment it is due, or the last sender gone. Otherwise it sleeps until its own deadline (the
//! progress display's tick, the heartbeat) and takes everything waiting at once.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::Message;

/// What the collector is told to wait for, and what a sender wakes it for.
#[derive(Debug, Clone, Copy)]
pub(super) struct Due {
    /// Outcomes waiting that make a group: the collector is woken for them.
    pub group_size: usize,
    /// How long the first outcome of a group may wait for its commit.
    pub group_wait: Duration,
}

#[derive(Debug)]
struct Inbox {
    queue: Mutex<Queue>,
    wake: Condvar,
    due: Due,
}

#[derive(Debug, Default)]
struct Queue {
    messages: Vec<Message>,
    /// A claim is waiting: the producer is blocked on its commit.
    claim: bool,
    /// When the first message not a claim arrived since the collector last took them.
    first: Option<Instant>,
    /// When the collector, asleep, will wake by itself; `None` while it is awake.
    sleeping_until: Option<Instant>,
    senders: usize,
    /// The collector is gone: messages are refused (and those waiting were dropped).
    closed: bool,
}

/// The collector is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Closed;

/// Sends to the collector. Cloned for each sender; the collector learns that every sender is
/// gone when the last one is dropped.
#[derive(Debug)]
pub(super) struct Sender(Arc<Inbox>);

/// The collector's end.
#[derive(Debug)]
pub(super) struct Receiver(Arc<Inbox>);

pub(super) fn inbox(due: Due) -> (Sender, Receiver) {
    let inbox = Arc::new(Inbox {
        queue: Mutex::new(Queue { senders: 1, ..Queue::default() }),
        wake: Condvar::new(),
        due,
    });
    (Sender(inbox.clone()), Receiver(inbox))
}

impl Inbox {
    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Sender {
    /// Leaves `message` in the collector's inbox, waking the collector only when a commit is due;
    /// refused (and dropped) when the collector is gone.
    pub fn post(&self, message: Message) -> Result<(), Closed> {
        let Sender(inbox) = self;
        let mut queue = inbox.queue();
        if queue.closed {
            return Err(Closed);
        }
        let claim = matches!(message, Message::Claim { .. });
        queue.messages.push(message);
        let mut wake = claim || queue.messages.len() >= inbox.due.group_size;
        if claim {
            queue.claim = true;
        } else if queue.first.is_none() {
            let now = Instant::now();
            queue.first = Some(now);
            // Asleep past the moment this one is due: wake it to set its alarm earlier.
            wake |= queue.sleeping_until.is_some_and(|t| t > now + inbox.due.group_wait);
        }
        if wake && queue.sleeping_until.take().is_some() {
            inbox.wake.notify_one();
        }
        Ok(())
    }
}

impl Clone for Sender {
    fn clone(&self) -> Sender {
        self.0.queue().senders += 1;
        Sender(self.0.clone())
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        let mut queue = self.0.queue();
        queue.senders -= 1;
        if queue.senders == 0 && queue.sleeping_until.take().is_some() {
            self.0.wake.notify_one();
        }
    }
}

/// What [`Receiver::take`] found.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Taken {
    /// Messages were moved into the buffer (perhaps none, at the deadline); the first of them
    /// that is not a claim arrived then.
    Messages { first: Option<Instant> },
    /// Every sender is gone and nothing is left.
    Disconnected,
}

impl Receiver {
    /// Waits until there is something to do — a claim, a group's worth of messages, the first
    /// message due for its commit, `deadline`, or every sender gone — and moves every message
    /// waiting into `into`.
    pub fn take(&self, deadline: Instant, into: &mut Vec<Message>) -> Taken {
        let Receiver(inbox) = self;
        let mut queue = inbox.queue();
        loop {
            let now = Instant::now();
            let first_due = queue.first.map(|t| t + inbox.due.group_wait);
            let ready = queue.claim
                || queue.messages.len() >= inbox.due.group_size
                || first_due.is_some_and(|t| t <= now)
                || now >= deadline
                || queue.senders == 0;
            if ready {
                break;
            }
            let until = first_due.map_or(deadline, |t| t.min(deadline));
            queue.sleeping_until = Some(until);
            queue = inbox.wake.wait_timeout(queue, until - now).unwrap_or_else(PoisonError::into_inner).0;
            queue.sleeping_until = None;
        }
        if queue.messages.is_empty() && queue.senders == 0 {
            return Taken::Disconnected;
        }
        into.append(&mut queue.messages);
        queue.claim = false;
        Taken::Messages { first: queue.first.take() }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        // Whatever waits is dropped with the collector: a claim's reply channel closes, and the
        // producer stops instead of waiting for an answer that will never come.
        let messages = {
            let mut queue = self.0.queue();
            queue.closed = true;
            std::mem::take(&mut queue.messages)
        };
        drop(messages);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;
    use crate::store::RowResult;

    fn due() -> Due {
        Due { group_size: 3, group_wait: Duration::from_millis(200) }
    }

    fn outcome(line: u64) -> Message {
        Message::Result(RowResult::Released { line, attempts: 0 }, None)
    }

    #[test]
    fn outcomes_wait_for_a_group_a_claim_goes_at_once() {
        let (tx, rx) = inbox(due());
        let far = Instant::now() + Duration::from_secs(60);
        let mut got = Vec::new();
        let collector = std::thread::spawn(move || {
            let mut rounds = Vec::new();
            for _ in 0..2 {
                let started = Instant::now();
                let taken = rx.take(far, &mut got);
                rounds.push((started.elapsed(), got.len(), taken));
            }
            rounds
        });
        // Two outcomes are not a group: the collector sleeps on. The third makes one.
        tx.post(outcome(2)).unwrap();
        tx.post(outcome(3)).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        tx.post(outcome(4)).unwrap();
        // A claim goes at once.
        std::thread::sleep(Duration::from_millis(50));
        let (reply, _claimed) = mpsc::sync_channel(1);
        tx.post(Message::Claim { rows: vec![(5, [0; 16])], reply }).unwrap();
        let rounds = collector.join().unwrap();
        assert_eq!(rounds[0].1, 3, "{rounds:?}");
        assert!(matches!(rounds[0].2, Taken::Messages { first: Some(_) }));
        assert_eq!((rounds[1].1, &rounds[1].2), (4, &Taken::Messages { first: None }));
        assert!(rounds[1].0 < Duration::from_secs(10), "{rounds:?}");
    }

    #[test]
    fn the_first_outcome_is_taken_when_it_is_due_not_at_the_collectors_deadline() {
        let (tx, rx) = inbox(due());
        let far = Instant::now() + Duration::from_secs(60);
        let collector = std::thread::spawn(move || {
            let mut got = Vec::new();
            let started = Instant::now();
            let taken = rx.take(far, &mut got);
            (started.elapsed(), got.len(), taken)
        });
        std::thread::sleep(Duration::from_millis(20));
        tx.post(outcome(2)).unwrap();
        let (waited, n, taken) = collector.join().unwrap();
        assert_eq!(n, 1);
        assert!(matches!(taken, Taken::Messages { first: Some(_) }));
        assert!(waited >= Duration::from_millis(200) && waited < Duration::from_secs(10), "{waited:?}");
    }

    #[test]
    fn the_last_sender_gone_ends_it_and_a_collector_gone_refuses_messages() {
        let (tx, rx) = inbox(due());
        let other = tx.clone();
        other.post(outcome(2)).unwrap();
        drop((tx, other));
        let mut got = Vec::new();
        let far = Instant::now() + Duration::from_secs(60);
        assert!(matches!(rx.take(far, &mut got), Taken::Messages { first: Some(_) }));
        assert_eq!(got.len(), 1);
        assert_eq!(rx.take(far, &mut got), Taken::Disconnected);

        let (tx, rx) = inbox(due());
        let (reply, claimed) = mpsc::sync_channel(1);
        tx.post(Message::Claim { rows: vec![(2, [0; 16])], reply }).unwrap();
        drop(rx);
        assert!(claimed.recv().is_err(), "the waiting claim was dropped: its reply never comes");
        assert!(tx.post(outcome(3)).is_err());
    }
}
