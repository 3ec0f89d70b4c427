//! What `run` tells the user about the state of things as it starts — a resumed run, requests to
//! send again, a file changed since its last run, a lock taken over — and the `--dry-run` report.
//! Text only: the command decides when each is said.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use crate::engine::Rate;
use crate::mask::{mask, mask_identifiers_in};
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

/// How a file that is not plain UTF-8 is read, and what to do if that is wrong: said once, as a
/// warning, by whoever reads it on a terminal.
pub fn encoding_warnings(path: &Path, probe: &crate::input::Probe) -> Vec<String> {
    let mut said = Vec::new();
    if let Some(line) = probe.fallback_from_line {
        said.push(format!(
            "{} is not UTF-8 (line {line} is the first line that is not), so it is read as \
             Windows-1252, which Excel's plain \"CSV\" format writes. If names look wrong, save \
             the sheet as \"CSV UTF-8\" or choose with --encoding.",
            path.display()
        ));
    }
    if let Some(line) = probe.invalid_utf8_from_line {
        said.push(format!(
            "{} is read as UTF-8, but line {line} is the first of its lines that is not: what \
             cannot be read shows as '\u{FFFD}' and such rows need fixing. If the sheet was \
             saved as plain \"CSV\", run with --encoding windows-1252.",
            path.display()
        ));
    }
    said
}

/// After a message about a file uploaded to the server whose advice names one of the server's
/// settings.
pub const SETTINGS_ARE_THE_SERVERS: &str = "\n\nThe options named above are the server's settings: \
    rename the column in the spreadsheet, or ask whoever runs the server to set them.";

/// `/healthz` once the server's job runner has died.
pub const RUNNER_DIED: &str =
    "the job runner stopped: uploads are not being registered; restart the server (its log says why)";

/// A server's job that could not go on.
pub fn job_stopped(error: &anyhow::Error) -> String {
    format!("the server could not go on: {error:#}. Rows registered are recorded; register again to resume")
}

/// An upload's file changed on the server's disk after it was checked.
pub fn upload_changed(id: i64, path: &Path) -> String {
    format!(
        "upload {id} changed on the server's disk since it was checked ({}): upload the file again",
        path.display()
    )
}

/// `status`, `export` or `purge` on a state that does not exist.
pub fn no_state(state: &Path) -> String {
    format!(
        "there is no state database at {}: nothing has been run with it (choose one with --state)",
        state.display()
    )
}

/// A state on a disk that cannot be written, shown as it was last written.
pub fn read_only_state(state: &Path) -> String {
    format!(
        "{} is on a disk that cannot be written: it is read as it was last written, and nothing \
         can be recorded in it from here",
        state.display()
    )
}

/// A run named that the state does not have.
pub fn no_such_run(state: &Path, name: &str) -> String {
    format!(
        "{} has no run {name}: `cibil-bulk status --state {}` lists them",
        state.display(),
        state.display()
    )
}

/// What `export` wrote.
pub fn exported(written: &super::run::ResultsWritten, run: i64) -> String {
    let mut text = format!("Wrote {} rows of run {run}: {}", written.rows, written.results.display());
    if let Some(errors) = &written.errors {
        let _ = write!(
            text,
            "\nWrote the {} rows that need attention: {}",
            written.needing_attention,
            errors.display()
        );
    }
    text
}

/// What `backup` wrote.
pub fn backed_up(state: &Path, dest: &Path, bytes: u64) -> String {
    format!(
        "Copied {} to {} ({} KiB): every run, row and registration committed when the copy began. \
         Use it as --state to restore.",
        state.display(),
        dest.display(),
        bytes.div_ceil(1024)
    )
}

/// What `purge` removed.
pub fn purged(purged: &crate::store::Purged, state: &Path) -> String {
    let mut said = format!(
        "Purged the personal data of {} rows in {} finished runs and of {} uploads of {} ({} KiB \
         freed). Their counts, statuses and cibil_ids stay, and their customers are still recognised.",
        purged.rows,
        purged.runs,
        purged.uploads.len(),
        state.display(),
        purged.bytes_freed / 1024
    );
    if !purged.files_left.is_empty() {
        said.push_str("\nThese files of purged uploads could not be removed, and still hold their customers' data: remove them by hand.");
        for (path, why) in &purged.files_left {
            said.push_str(&format!("\n  {}: {why}", path.display()));
        }
    }
    said
}

/// A file with a header line and nothing below it.
pub fn no_rows(path: &Path) -> String {
    format!("{} has a header line but no rows below it: there is nothing to check", path.display())
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

/// What a run tells its user as it learns it: said on a terminal by `run`, logged by the server.
#[derive(Debug, Clone)]
pub enum Notice {
    /// The file is a finished run whose personal data was purged.
    PurgedRun { run: RunRecord, purged_at: i64 },
    /// Rows whose requests were in flight when the run last stopped go out again.
    SentAgain(usize),
    /// Customers of a new run that an earlier run sent without an answer.
    SentAgainByCustomer(u64),
    /// The file named `file` changed since an earlier run of it that has rows left.
    FileChanged { file: String, run: RunRecord, left: u64 },
    /// A second failure met while ending a run that had failed already.
    Also(String),
}

impl Notice {
    /// Whether the user may need to act on it.
    pub fn is_warning(&self) -> bool {
        matches!(self, Notice::FileChanged { .. } | Notice::Also(_))
    }
}

impl std::fmt::Display for Notice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Notice::PurgedRun { run, purged_at } => f.write_str(&purged_run(run, *purged_at)),
            Notice::SentAgain(rows) => f.write_str(&sent_again(*rows)),
            Notice::SentAgainByCustomer(rows) => f.write_str(&sent_again_by_customer(*rows)),
            Notice::FileChanged { file, run, left } => f.write_str(&file_changed(file, run, *left)),
            Notice::Also(what) => write!(f, "also: {what}"),
        }
    }
}

/// The file is a finished run whose personal data was purged.
fn purged_run(run: &RunRecord, purged_ms: i64) -> String {
    format!(
        "This file is run {}, finished, whose personal data was purged ({}): nothing is sent, and the \
         results carry statuses and cibil_ids without the file's own columns.",
        run.id,
        chrono::DateTime::from_timestamp_millis(purged_ms)
            .map(|t| t.format("%Y-%m-%d").to_string())
            .unwrap_or_default()
    )
}

/// Rows claimed for sending when the last run stopped (their requests may have left: a run
/// claims a few ahead of sending them) go out again.
fn sent_again(rows: usize) -> String {
    format!(
        "{rows} rows may have been sent when the last run stopped, without an answer: they are sent again \
         with the same order ids, never new ones, so none is registered twice."
    )
}

/// Customers of this new run that an earlier run claimed and may have sent, without an answer
/// (the vendor may have registered them): they go out again under the order ids they were given.
fn sent_again_by_customer(rows: u64) -> String {
    format!(
        "{rows} customers of this file may have been sent by an earlier run that stopped before their \
         answers: they are sent again with the order ids they were given there, never new ones, so none \
         is registered twice."
    )
}

/// The file named `file` changed since an earlier run of it that has rows left.
fn file_changed(file: &str, other: &RunRecord, left: u64) -> String {
    format!(
        "{file} has changed since run {} ({}, {left} rows not sent): this is a new run of the new content. \
         Customers registered by run {} are recognised and not sent again; its unsent rows stay in it.",
        other.id,
        other.status.as_str(),
        other.id
    )
}

/// What stopped a run, in the user's words.
pub fn stop_reason(stop: &crate::engine::StopReason) -> String {
    use crate::engine::{Abort, StopReason};
    match stop {
        StopReason::Interrupted => "interrupted by a signal: run the same command again to resume".to_owned(),
        StopReason::Aborted(Abort::Credentials { detail }) => format!(
            "the credentials were refused: check AOPAY_REGISTRATION_ID and AOPAY_COMPANY_CODE (or \
             [aopay] in the config file), and that this machine's IP is whitelisted ({detail})"
        ),
        StopReason::Aborted(Abort::NotAnEndpoint { detail }) => {
            format!("the endpoint is not answering as a registration API ({detail})")
        }
        StopReason::Aborted(Abort::Untrusted { detail }) => {
            format!("the endpoint cannot be trusted ({detail})")
        }
        // Rows that used up their attempts before the abort are `failed` already: only the rows
        // it stopped with are spared that.
        StopReason::Aborted(Abort::EndpointDown { failures, last }) => format!(
            "{failures} requests in a row failed (the last: {last}): the endpoint looks down. The rows \
             it stopped with stay pending; run again when it is back: every pending or failed row is \
             sent again"
        ),
        StopReason::Aborted(Abort::StateFailed { error }) => format!("the state database failed: {error}"),
        StopReason::Aborted(Abort::Said(reason)) => reason.clone(),
    }
}

/// Why a run stopped with rows it could still send, when nothing else said why.
pub fn left_unsent(rows: u64) -> String {
    format!(
        "the run stopped with {rows} rows it could still send, and nothing said why: they stay \
         pending, and the next run sends them"
    )
}

/// Lines the terminal or the log did not take.
pub fn lines_not_shown(lines: u64) -> String {
    format!(
        "warning: {lines} lines of progress and log could not be written (the terminal or the log \
         was closed or full); the work went on without them, and the summary counts them\n"
    )
}

/// What the driver says when the engine's machinery failed.
pub const ENGINE_STOPPED: &str =
    "the run stopped: the results file shows where each row is; run again to resume";

/// A step of the run (reading the file, writing the results) died on its thread.
pub const A_STEP_PANICKED: &str = "a step of the run (on its own thread)";

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
    /// Rows valid by the file's own rules that the state refuses (their order id already belongs
    /// to another customer: the only rows `add` sees invalid with the values to send), and the
    /// first of their lines.
    pub taken: (u64, Vec<u64>),
}

impl DryRunReport {
    /// Rows shown as examples of what would be sent.
    pub const SHOWN: usize = 5;

    /// Counts a row, and keeps it as an example while there are fewer than [`Self::SHOWN`].
    pub fn add(&mut self, line: u64, status: RowStatus, applicant: Option<&Applicant>) {
        self.counts.add(status, 1);
        if status == RowStatus::Invalid && applicant.is_some() {
            self.taken.0 += 1;
            if self.taken.1.len() < Self::SHOWN {
                self.taken.1.push(line);
            }
        }
        if let (RowStatus::Pending, Some(a), true) = (status, applicant, self.first.len() < Self::SHOWN) {
            self.first.push((line, a.clone()));
        }
    }

    pub fn render(&self, path: &Path, target: &str, rate: Rate, concurrency: usize) -> String {
        // Rows invalid by the file's own rules; those the state refuses are said apart.
        let count =
            |s: RowStatus| self.counts.get(s) - if s == RowStatus::Invalid { self.taken.0 } else { 0 };
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
        if self.taken.0 > 0 {
            let lines: Vec<String> = self.taken.1.iter().map(u64::to_string).collect();
            let _ = writeln!(
                text,
                "  {:<10} {:>8}   their order id already belongs to another customer: give each its own \
                 (line {}{})",
                RowStatus::Invalid.as_str(),
                self.taken.0,
                lines.join(", "),
                if self.taken.0 > lines.len() as u64 { ", ..." } else { "" }
            );
        }
        if !self.first.is_empty() {
            text.push_str("First rows to send (values masked):\n");
            for (line, a) in &self.first {
                let _ = writeln!(
                    text,
                    "  line {line:>6}  order_id {}  {} {}  PAN {}  born {}  mobile {}",
                    mask_identifiers_in(&a.order_id),
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
pub fn stopping(signal: &str, grace: Duration) -> String {
    format!(
        "{signal}: stopping: no new requests; waiting up to {} for those in flight. Press Ctrl-C \
         again to quit at once.",
        show_duration(grace)
    )
}

/// The second: the process leaves at once.
pub const STOPPED_AT_ONCE: &str = "stopped at once; the state is consistent, but the results file \
     was not written again and may lag it: run the same command again to resume and bring it in line";

/// The second, while the file was being recorded as a new run and it could not wait for the end
/// of it: the summary cannot say whether the state kept the run.
pub const STOPPED_AT_ONCE_WHILE_RECORDING: &str = "stopped at once while the file was being \
     recorded as a new run: `cibil-bulk status` says whether the state kept it; the results file was \
     not written and may lag it: run the same command again to resume and bring it in line";

/// The run's end could be neither recorded in its state nor read back from it: what the summary
/// counts instead.
pub const STATE_LOST: &str = "the run stopped and its state database can no longer be read: the \
     results file was not written, and the summary counts the outcomes this run saw recorded before";

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
        "{} records {rows} customers of this file as registered ({place} among them), but the \
         state database {} has no record of them: it was moved or deleted, copied without its \
         write-ahead log (the -wal file beside it), or this is another working directory. Running \
         now could register those customers again. Use --state with the database of the earlier \
         run (`cibil-bulk backup` copies a live one whole); to start afresh knowingly, move {} \
         away first. Nothing was sent.",
        results.display(),
        state.display(),
        results.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::Applicant;

    #[test]
    fn a_dry_run_shows_an_order_id_as_it_is_unless_it_holds_a_customers_identifier() {
        let mut report = DryRunReport::default();
        report.add(2, RowStatus::Pending, Some(&Applicant::sample("ORD-2024-7", "ABCPK1234F")));
        report.add(3, RowStatus::Pending, Some(&Applicant::sample("BCDPK2345G", "BCDPK2345G")));
        report.add(4, RowStatus::Pending, Some(&Applicant::sample("M-9876543211", "CDEPK3456H")));
        let text = report.render(Path::new("in.csv"), "AOPay", crate::engine::DEFAULT_RATE, 8);
        assert!(text.contains("order_id ORD-2024-7 "), "{text}");
        for identifier in ["ABCPK1234F", "BCDPK2345G", "9876543211", "Ravi", "Kumar"] {
            assert!(!text.contains(identifier), "{identifier}: {text}");
        }
    }
}
