//! The producer: streams the rows still to send out of the state (a page at a time, never the
//! whole run in memory), has the collector claim each page durably, builds each request body once,
//! and queues the rows for the workers. Stops claiming as soon as the run is stopping.

use std::sync::mpsc;

use super::{Job, Message, Stop};
use crate::api::Client;
use crate::store::{Claim, Reader, RowResult, StoreError};

pub(super) fn run(
    reader: &Reader,
    run_id: i64,
    collector: &mpsc::Sender<Message>,
    jobs: &async_channel::Sender<Job>,
    client: &Client,
    stop: &Stop,
    batch: usize,
) -> Result<(), StoreError> {
    let mut after = 0;
    while !stop.is_stopping() {
        let page = reader.pending(run_id, after, batch)?;
        let Some(last) = page.last() else { break };
        after = last.line;
        let (reply, claimed) = mpsc::sync_channel(1);
        let rows = page.iter().map(|row| (row.line, row.pan_key)).collect();
        if collector.send(Message::Claim { rows, reply }).is_err() {
            break;
        }
        // The collector answers every claim; an error there has already stopped the run.
        let Ok(Ok(claims)) = claimed.recv() else { break };
        for (row, claim) in page.iter().zip(claims) {
            if claim != (Claim::Send { line: row.line }) {
                continue;
            }
            let job = Job { line: row.line, body: client.body(&row.applicant) };
            if stop.is_stopping() || jobs.send_blocking(job).is_err() {
                // Claimed, never queued: hand it straight back.
                let _ = collector.send(Message::Result(RowResult::Released { line: row.line, attempts: 0 }));
            }
        }
    }
    Ok(())
}
