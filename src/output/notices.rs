//! What `run` tells the user about the state of things as it starts — a resumed run, requests to
//! send again, a file changed since its last run, a lock taken over — and the `--dry-run` report.
//! Text only: the command decides when each is said.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use crate::engine::Rate;
use crate::mask::mask;
use crate::store::{LockOwner, RowStatus, RunRecord, StatusCounts};
use crate::validate::Applicant;

/// Where a real run sends the customers and the merchant's credentials.
pub fn sending_to(endpoint: &reqwest::Url) -> String {
    format!(
        "Registering with {} ({}).",
        endpoint.host_str().unwrap_or("the endpoint"),
        crate::api::endpoint_identity(endpoint)
    )
}

/// The built-in sandbox is where the run sends.
pub fn sending_to_sandbox(endpoint: &str) -> String {
    format!("Sending to the built-in sandbox at {endpoint} (nothing reaches AOPay).")
}

/// Another run holds the state: this one waits for it.
pub fn waiting_for_lock(state: &Path, holder: &LockOwner, wait: Duration) -> String {
    format!(
        "waiting for another run to finish with {} ({holder}); giving up after {}",
        state.display(),
        show_duration(wait)
    )
}

/// The state was readable by other users: it is private now.
pub fn state_tightened(state: &Path, was: u32) -> String {
    format!(
        "{} was readable by other users (mode {was:03o}): it holds customers' personal data, so it \
         is now mode 600",
        state.display()
    )
}

/// The file is a finished run whose personal data was purged.
pub fn purged_run(run: &RunRecord, purged_ms: i64) -> String {
    format!(
        "This file is run {}, finished, whose personal data was purged ({}): nothing is sent, and the \
         results carry statuses and cibil_ids without the file's own columns.",
        run.id,
        chrono::DateTime::from_timestamp_millis(purged_ms)
            .map(|t| t.format("%Y-%m-%d").to_string())
            .unwrap_or_default()
    )
}

/// Rows whose requests were in flight when the last run stopped go out again.
pub fn sent_again(rows: usize) -> String {
    format!(
        "{rows} rows were being sent when the last run stopped: they are sent again with the same order ids."
    )
}

/// Customers of this new run that an earlier run sent without an answer (the vendor may have
/// registered them): they go out again under the order ids they went out with.
pub fn sent_again_by_customer(rows: u64) -> String {
    format!(
        "{rows} customers of this file were sent by an earlier run that got no answer: they are sent \
         again with the order ids they went out with, never new ones, so none is registered twice."
    )
}

/// The file at `path` changed since an earlier run of it that has rows left.
pub fn file_changed(path: &Path, other: &RunRecord, left: u64) -> String {
    format!(
        "{} has changed since run {} ({}, {left} rows not sent): this is a new run of the new content. \
         Customers registered by run {} are recognised and not sent again; its unsent rows stay in it.",
        path.display(),
        other.id,
        other.status.as_str(),
        other.id
    )
}

/// `run --dry-run` on content the state already has a run of.
pub fn dry_run_of_known_content(path: &Path, run: &RunRecord, state: &Path, counts: &StatusCounts) -> String {
    format!(
        "{}: this content is run {} of {} ({}): {} of {} rows registered or known, {} left to send. \
         `run` without --dry-run resumes it.\n",
        path.display(),
        run.id,
        state.display(),
        run.status.as_str(),
        counts.get(RowStatus::Registered) + counts.get(RowStatus::Known),
        counts.total(),
        counts.left()
    )
}

/// What `run --dry-run` found: what would be sent, where, how fast, and the first rows (masked).
#[derive(Debug, Default)]
pub struct DryRunReport {
    pub counts: StatusCounts,
    /// The first rows that would be sent: their line and values.
    pub first: Vec<(u64, Applicant)>,
}

impl DryRunReport {
    /// Rows shown as examples of what would be sent.
    pub const SHOWN: usize = 5;

    /// Counts a row, and keeps it as an example while there are fewer than [`Self::SHOWN`].
    pub fn add(&mut self, line: u64, status: RowStatus, applicant: Option<&Applicant>) {
        self.counts.add(status, 1);
        if let (RowStatus::Pending, Some(a), true) = (status, applicant, self.first.len() < Self::SHOWN) {
            self.first.push((line, a.clone()));
        }
    }

    pub fn render(&self, path: &Path, target: &str, rate: Rate, concurrency: usize) -> String {
        let count = |s: RowStatus| self.counts.get(s);
        let mut text = format!(
            "{}: {} rows. Dry run: nothing was sent and no state was kept.\n  would send {:>8}   to {target} at {rate} ({concurrency} at once)\n",
            path.display(),
            self.counts.total(),
            count(RowStatus::Pending),
        );
        for (status, note) in [
            (RowStatus::Known, "registered by an earlier run: not sent again"),
            (RowStatus::Duplicate, "same PAN as an earlier row: not sent"),
            (RowStatus::Invalid, "need fixing: `cibil-bulk validate` lists why"),
        ] {
            if count(status) > 0 {
                let _ = writeln!(text, "  {:<10} {:>8}   {note}", status.as_str(), count(status));
            }
        }
        if !self.first.is_empty() {
            text.push_str("First rows to send (values masked):\n");
            for (line, a) in &self.first {
                let _ = writeln!(
                    text,
                    "  line {line:>6}  order_id {}  {} {}  PAN {}  born {}  mobile {}",
                    a.order_id,
                    mask(&a.first_name),
                    mask(&a.last_name),
                    mask(&a.pancard),
                    mask(&a.date_of_birth),
                    mask(&a.mobile_number)
                );
            }
        }
        if count(RowStatus::Pending) > 0 {
            let seconds = count(RowStatus::Pending) as f64 / rate.per_second();
            let _ = writeln!(
                text,
                "At {rate} this takes at least {}.",
                humantime::format_duration(Duration::from_secs(seconds.ceil() as u64))
            );
        }
        text
    }
}

/// The first Ctrl-C or SIGTERM.
pub fn stopping(grace: Duration) -> String {
    format!(
        "stopping: no new requests; waiting up to {} for those in flight. Press Ctrl-C again to quit at once.",
        show_duration(grace)
    )
}

/// The second: the process leaves at once.
pub const STOPPED_AT_ONCE: &str = "stopped at once; the state is consistent, but the results file \
     was not written again and may lag it: run the same command again to resume and bring it in line";

/// A signal before sending began: nothing was sent, so the process leaves at once.
pub const STOPPED_BEFORE_SENDING: &str =
    "stopped before anything was sent: run the same command again to start";

/// A duration as `--help` and messages show it, and as `settings::parse_duration` reads it back:
/// `30s`, `5m`, `1h 30m` → `1h30m`.
pub fn show_duration(duration: Duration) -> String {
    humantime::format_duration(duration).to_string().replace(' ', "")
}

/// `serve`: uploads whose jobs were running when the server last stopped, taken up again.
pub fn resuming_uploads(ids: &[i64]) -> String {
    let list: Vec<String> = ids.iter().map(i64::to_string).collect();
    format!(
        "Resuming upload{} {}: {} being registered when the server stopped. Nobody is sent twice.",
        if ids.len() == 1 { "" } else { "s" },
        list.join(", "),
        if ids.len() == 1 { "it was" } else { "they were" },
    )
}

/// `serve --sandbox`.
pub fn serving_rehearsal(sandbox: &str, state: &Path) -> String {
    format!(
        "Rehearsal: uploads are sent to the built-in sandbox at {sandbox} (nothing reaches AOPay); state {}.",
        state.display()
    )
}

/// `serve` on an address other machines can reach.
pub fn listening_beyond_this_machine(addr: std::net::SocketAddr) -> String {
    format!(
        "listening on {addr}, reachable from other machines over plain http: passwords and \
         customers' data cross the network unencrypted unless a reverse proxy with TLS is in front"
    )
}

pub fn listening(addr: std::net::SocketAddr, state: &Path) -> String {
    format!("Listening on http://{addr} (state {}). Stop with Ctrl-C.", state.display())
}

/// `serve`'s second signal.
pub const SERVER_STOPPED_AT_ONCE: &str = "stopped at once; the state is consistent: the next start resumes";

pub const SERVER_STOPPED: &str = "Stopped. Uploads being registered resume at the next start.";

/// A new run would send customers that an existing results file records as registered: the
/// state that recorded them is not this one, and sending would register them again.
pub fn recorded_elsewhere(results: &Path, state: &Path, place: &str, rows: u64) -> String {
    format!(
        "{} records {rows} rows of this file as registered ({place} among them), but the state \
         database {} has no run of it: it was moved or deleted, or this is another working \
         directory. Running now would register those customers again. Use --state with the \
         database of the earlier run; to start afresh knowingly, move {} away first. Nothing was \
         sent.",
        results.display(),
        state.display(),
        results.display()
    )
}
