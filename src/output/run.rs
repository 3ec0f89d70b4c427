//! What `run` (and `export`) write and show: the results file — one line per input row, in input
//! order, regenerated from the state — the errors file with the rows a clerk must look at, and
//! the summary, as text for people and as JSON with stable keys for cron scripts.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use super::advice::Audience;
use super::errors::{ERROR_COLUMN, identifier_columns};
use super::sheet::TableFile;
use super::{ErrorsFile, OutputError};
use crate::engine::StopReason;
use crate::gate::Cleared;
use crate::input::{Locator, header_key};
use crate::store::{ResultRow, RowStatus, RunRecord, StatusCounts, Store, StoreError};

/// Columns the results file puts before the input's own.
pub const RESULT_COLUMNS: [&str; 11] = [
    "line",
    "order_id",
    "status",
    "cibil_id",
    "cibil_status",
    "is_returning_customer",
    "merchant_trans_id",
    "error_code",
    "error",
    "warnings",
    "attempts",
];

/// Writing results failed: the file, or reading the state.
#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    #[error(transparent)]
    Output(#[from] OutputError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The results: every row with its status and what AOPay answered, then the input's columns. CSV,
/// or a workbook for a path ending in `.xlsx`; the same content either way, but that a workbook's
/// `line` and `attempts` are numbers (sorted as numbers: 1, 2, 10).
///
/// An input that has an `error` column of its own — an errors file fixed and run again — does not
/// bring it along: it is the message of the check before, and beside this run's `error` a row
/// registered now would still read "not a valid PAN".
#[derive(Debug)]
pub struct ResultsFile {
    table: TableFile,
    locator: Locator,
    /// The input's columns: rows whose cells were purged get empty ones, so the table stays whole.
    width: usize,
    /// The input's `error` column, left out.
    replaced: Option<usize>,
    /// The line and attempts columns, written into the same strings for every row.
    numbers: [String; 2],
}

/// The results' own columns that hold numbers: `line` and `attempts`.
const NUMBER_COLUMNS: [usize; 2] = [0, 10];

impl ResultsFile {
    /// A results file at `path` for an input with `input_headers`; as CSV, it starts with a
    /// byte-order mark when `bom` (for files opened in Excel).
    pub fn create(
        path: &Cleared,
        input_headers: &[String],
        locator: &Locator,
        bom: bool,
    ) -> Result<ResultsFile, OutputError> {
        let replaced = input_headers.iter().position(|h| header_key(h) == ERROR_COLUMN);
        let kept: Vec<String> = input_headers
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != replaced)
            .map(|(_, h)| h.clone())
            .collect();
        let own = input_columns(&kept);
        let columns: Vec<&str> =
            RESULT_COLUMNS.iter().copied().chain(own.iter().map(String::as_str)).collect();
        // order_id, cibil_id, merchant_trans_id, and the input's identifiers: text in a workbook.
        let text: Vec<usize> = [1, 3, 6]
            .into_iter()
            .chain(identifier_columns(&kept).into_iter().map(|p| p + RESULT_COLUMNS.len()))
            .collect();
        let table = TableFile::create(path, "Results", &columns, (&text, &[8, 9], &NUMBER_COLUMNS), bom)?;
        Ok(ResultsFile {
            table,
            locator: locator.clone(),
            width: input_headers.len(),
            replaced,
            numbers: Default::default(),
        })
    }

    pub fn write(&mut self, row: &ResultRow) -> Result<(), OutputError> {
        use std::fmt::Write as _;
        let [line, attempts] = &mut self.numbers;
        line.clear();
        attempts.clear();
        let _ = write!(line, "{}", row.line);
        let _ = write!(attempts, "{}", row.attempts);
        let returning = match row.is_returning_customer {
            Some(true) => "1",
            Some(false) => "0",
            None => "",
        };
        let warnings = warnings_text(row, &self.locator);
        let error = error_text(row);
        let fixed = [
            line.as_str(),
            row.order_id.as_deref().unwrap_or(""),
            row.status.as_str(),
            row.cibil_id.as_deref().unwrap_or(""),
            row.cibil_status.as_deref().unwrap_or(""),
            returning,
            row.merchant_trans_id.as_deref().unwrap_or(""),
            row.error_code.as_deref().unwrap_or(""),
            &error,
            &warnings,
            attempts.as_str(),
        ];
        let padding = self.width.saturating_sub(row.cells.len());
        let replaced = self.replaced;
        let cells = row
            .cells
            .iter()
            .map(String::as_str)
            .chain(std::iter::repeat_n("", padding))
            .enumerate()
            .filter(move |(i, _)| Some(*i) != replaced)
            .map(|(_, c)| c);
        self.table.write_row(fixed.into_iter().chain(cells), &[])
    }

    pub fn commit(self) -> Result<PathBuf, OutputError> {
        self.table.commit()
    }
}

/// The input's own headers as the results file names them: one that a column of the results
/// already has (`order_id`, `status`, `error`...) is named apart, `order_id (in the file)`, so that
/// no two columns share a name and a script reading `order_id` gets the one the row was sent with.
fn input_columns(headers: &[String]) -> Vec<String> {
    let taken: Vec<String> = RESULT_COLUMNS.iter().map(|c| header_key(c)).collect();
    headers
        .iter()
        .map(|h| if taken.contains(&header_key(h)) { format!("{h} (in the file)") } else { h.clone() })
        .collect()
}

/// A duplicate's warnings say which row it follows.
fn warnings_text<'r>(row: &'r ResultRow, locator: &Locator) -> std::borrow::Cow<'r, str> {
    let own = row.warnings.as_deref().unwrap_or("");
    let Some(first) = row.duplicate_of else { return own.into() };
    let mut text = own.to_owned();
    if !text.is_empty() {
        text.push_str(" | ");
    }
    let status = row.duplicate_of_status.map_or("", RowStatus::as_str);
    text.push_str(&format!("same PAN as {} ({status}): not sent again", locator.row(first)));
    text.into()
}

/// A row's error as the results file says it: a failed row's says that it was given up on, and
/// that the next run tries it again.
fn error_text(row: &ResultRow) -> std::borrow::Cow<'_, str> {
    let error = row.error.as_deref().unwrap_or("");
    if row.error_code.as_deref() == Some("order_id.used") {
        return format!(
            "AOPay says order id {} was used before ({error}): the customer may already be \
             registered under it, by an earlier run that stopped before its answer was recorded \
             or from another copy of the state, so it was not sent under another. Ask AOPay \
             whether they are registered; if they are not, give the row an order id of its own \
             (an order_id column) and run again",
            row.order_id.as_deref().unwrap_or_default()
        )
        .into();
    }
    // States written before the words moved here keep them in the stored message.
    if row.status == RowStatus::Failed && !error.is_empty() && !error.contains("(gave up after") {
        format!("{error} (gave up after {} attempts; running again retries it)", row.attempts).into()
    } else {
        error.into()
    }
}

/// The message in the errors file for a row that needs attention.
fn attention_text(row: &ResultRow, locator: &Locator) -> String {
    let error = error_text(row);
    let detail = match row.status {
        RowStatus::Rejected => match row.error_code.as_deref() {
            Some(code) => format!("AOPay refused the registration (code {code}): {error}"),
            None => format!("AOPay refused the registration: {error}"),
        },
        RowStatus::Failed => format!("not registered, AOPay did not answer: {error}"),
        _ => error.into_owned(),
    };
    format!("{}: {detail}", locator.row(row.line))
}

/// What [`write_results`] wrote.
#[derive(Debug, Clone)]
pub struct ResultsWritten {
    pub results: PathBuf,
    pub errors: Option<PathBuf>,
    pub rows: u64,
    pub needing_attention: u64,
    pub returning_customers: u64,
}

/// Regenerates the results (and errors) file of `run` from the state, atomically.
pub fn write_results(
    store: &Store,
    run: &RunRecord,
    results: &Cleared,
    errors: Option<&Cleared>,
) -> Result<ResultsWritten, ResultsError> {
    let mut written = write_results_to(store, run, &[(results, errors)], Audience::CommandLine)?;
    Ok(written.remove(0))
}

/// [`write_results`] to several places at once (a workbook and its CSV twin), from one read of
/// the state; what was written to each, in the order given. For `Audience::Server` a results CSV
/// starts with a byte-order mark, as the errors CSV always does: whoever uploads opens both in
/// Excel, which reads a CSV without one as another encoding. The command line's results CSV keeps
/// none, for the scripts that read it.
pub fn write_results_to(
    store: &Store,
    run: &RunRecord,
    places: &[(&Cleared, Option<&Cleared>)],
    audience: Audience,
) -> Result<Vec<ResultsWritten>, ResultsError> {
    let mut files = Vec::with_capacity(places.len());
    for (results, errors) in places {
        files.push((
            ResultsFile::create(results, &run.headers, &run.locator, audience == Audience::Server)?,
            errors.map(|p| ErrorsFile::create(p, &run.headers)).transpose()?,
        ));
    }
    let (mut rows, mut returning) = (0u64, 0u64);
    store.for_each_result::<ResultsError>(run.id, |row| {
        rows += 1;
        if row.status == RowStatus::Registered && row.is_returning_customer == Some(true) {
            returning += 1;
        }
        let attention = row.status.needs_attention().then(|| attention_text(row, &run.locator));
        for (results_file, errors_file) in &mut files {
            results_file.write(row)?;
            if let (Some(errors_file), Some(text)) = (errors_file, &attention) {
                errors_file.write(row.cells.iter().map(String::as_str), text, &row.violations)?;
            }
        }
        Ok(())
    })?;
    let mut written = Vec::with_capacity(files.len());
    for (results_file, errors_file) in files {
        written.push(ResultsWritten {
            needing_attention: errors_file.as_ref().map_or(0, ErrorsFile::rows),
            results: results_file.commit()?,
            errors: errors_file.map(ErrorsFile::commit).transpose()?,
            rows,
            returning_customers: returning,
        });
    }
    Ok(written)
}

/// The end of a run, for people (stderr) and scripts (`--summary`). Written on every exit, so
/// what an early exit could not know is `null` (`sha256` before the file was read, `run_id`
/// before the run was recorded or for a dry run).
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub command: &'static str,
    pub file: PathBuf,
    pub sha256: Option<String>,
    pub run_id: Option<i64>,
    pub resumed: bool,
    pub state: PathBuf,
    pub endpoint: String,
    pub dry_run: bool,
    pub rows: u64,
    pub counts: std::collections::BTreeMap<&'static str, u64>,
    pub returning_customers: u64,
    pub requests: u64,
    /// Requests answered 429 (too many requests), among `requests`.
    pub throttled: u64,
    pub duration_seconds: f64,
    pub requests_per_second: f64,
    /// AOPay's quota as the adaptive rate found it (in this run or an earlier one of the state);
    /// `null` when nothing is known, or with `--rate-mode fixed`.
    pub quota: Option<QuotaFound>,
    /// `null`, `"interrupted"`, `"aborted"` or `"error"` (exit 2: nothing was sent).
    pub stopped: Option<&'static str>,
    pub stop_reason: Option<String>,
    /// What stopped the run, as data, for a caller that says it in other words (the server).
    #[serde(skip)]
    pub stop: Option<StopReason>,
    /// The process left at once (a second Ctrl-C): the state holds every outcome committed, but
    /// the results and errors files were not written again and may lag it until the next run.
    pub results_may_lag: bool,
    /// Lines of progress and log that could not be written (stderr closed, a log pipe whose
    /// reader left, a full disk under the log): the run went on without them.
    pub lines_not_shown: u64,
    pub files: std::collections::BTreeMap<&'static str, PathBuf>,
    pub exit_code: u8,
}

impl RunSummary {
    /// The summary of a run of `file` that has not yet read it: no rows, no requests, exit 0
    /// until told otherwise.
    pub fn before_run(file: &Path, state: &Path, endpoint: String) -> RunSummary {
        let none = StatusCounts::default();
        RunSummary {
            command: "run",
            file: file.to_owned(),
            sha256: None,
            run_id: None,
            resumed: false,
            state: state.to_owned(),
            endpoint,
            dry_run: false,
            rows: 0,
            counts: RowStatus::ALL.iter().map(|s| (s.as_str(), none.get(*s))).collect(),
            returning_customers: 0,
            requests: 0,
            throttled: 0,
            quota: None,
            duration_seconds: 0.0,
            requests_per_second: 0.0,
            stopped: None,
            stop_reason: None,
            stop: None,
            results_may_lag: false,
            lines_not_shown: 0,
            files: std::collections::BTreeMap::new(),
            exit_code: 0,
        }
    }

    pub fn set_counts(&mut self, counts: &StatusCounts) {
        self.rows = counts.total();
        self.counts = RowStatus::ALL.iter().map(|s| (s.as_str(), counts.get(*s))).collect();
    }

    /// The time the run took, and the requests per second it made.
    pub fn set_duration(&mut self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        self.duration_seconds = (secs * 1000.0).round() / 1000.0;
        self.requests_per_second =
            if secs > 0.0 { (self.requests as f64 / secs * 10.0).round() / 10.0 } else { 0.0 };
    }

    /// What stopped the run before every row was done, if anything did.
    pub fn set_stop(&mut self, stop: Option<&StopReason>) {
        self.stopped = stop.map(|s| match s {
            StopReason::Interrupted => "interrupted",
            StopReason::Aborted(_) => "aborted",
        });
        self.stop_reason = stop.map(super::notices::stop_reason);
        self.stop = stop.cloned();
    }

    fn count(&self, status: RowStatus) -> u64 {
        self.counts.get(status.as_str()).copied().unwrap_or(0)
    }

    /// The text a clerk reads when the run ends.
    pub fn render(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let verb = if self.resumed { "resumed" } else { "run" };
        let _ = writeln!(
            out,
            "{}: {} rows ({verb}, {} requests in {:.1}s, {:.1}/s)",
            self.file.display(),
            self.rows,
            self.requests,
            self.duration_seconds,
            self.requests_per_second
        );
        let lines: [(RowStatus, &str, &str); 8] = [
            (RowStatus::Registered, "registered", ""),
            (RowStatus::Known, "known", "registered by an earlier run: not sent again"),
            (RowStatus::Duplicate, "duplicate", "same PAN as an earlier row: sent once"),
            (RowStatus::Invalid, "invalid", "fix the cells: see the errors file"),
            (RowStatus::Rejected, "rejected", "refused by AOPay: see the errors file"),
            (RowStatus::Failed, "failed", "no answer after every attempt: run again to retry"),
            (RowStatus::Pending, "pending", "not sent yet: run again to resume"),
            (RowStatus::InFlight, "in flight", "sent, answer unknown: run again to resume"),
        ];
        for (status, name, note) in lines {
            let n = self.count(status);
            if n == 0 && status != RowStatus::Registered {
                continue;
            }
            let _ = write!(out, "  {name:<11}{n:>9}");
            if status == RowStatus::Registered && self.returning_customers > 0 {
                let _ = write!(out, "   {} of them returning customers", self.returning_customers);
            } else if !note.is_empty() {
                let _ = write!(out, "   {note}");
            }
            let _ = writeln!(out);
        }
        if let Some(line) = quota_text(self.throttled, self.quota.as_ref()) {
            let _ = writeln!(out, "\n{line}");
        }
        if let Some(reason) = &self.stop_reason {
            let _ = writeln!(out, "\nStopped: {reason}");
        }
        for (what, path) in &self.files {
            let _ = writeln!(out, "{:<9}{}", format!("{what}:"), path.display());
        }
        out
    }
}

/// What the adaptive rate found of AOPay's quota, for the summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuotaFound {
    /// Requests a second AOPay accepted when it last refused one, rounded to a tenth.
    pub accepted_per_second: f64,
    /// The rate held below it: as `--rate`, it would avoid throttling (`95/s`).
    pub suggested_rate: String,
}

impl QuotaFound {
    pub fn new(accepted_per_second: f64, holding_per_second: f64) -> QuotaFound {
        QuotaFound {
            accepted_per_second: (accepted_per_second * 10.0).round() / 10.0,
            suggested_rate: suggested_rate(holding_per_second),
        }
    }
}

/// A rate a clerk can type as `--rate`, no faster than `per_second`: whole requests a second, or
/// a minute (or an hour) when that is less than one a second.
pub fn suggested_rate(per_second: f64) -> String {
    let per_second = per_second.max(0.0);
    if per_second >= 1.0 {
        format!("{}/s", per_second.floor())
    } else if per_second * 60.0 >= 1.0 {
        format!("{}/m", (per_second * 60.0).floor())
    } else {
        format!("{}/h", (per_second * 3600.0).floor().max(1.0))
    }
}

/// What a run's summary says of throttling and of the quota found, if anything.
pub fn quota_text(throttled: u64, quota: Option<&QuotaFound>) -> Option<String> {
    let refused = match throttled {
        0 => String::new(),
        1 => "AOPay refused 1 request as too many (429), and every request waited as it asked. ".to_owned(),
        n => format!("AOPay refused {n} requests as too many (429), and every request waited as it asked. "),
    };
    match (throttled, quota) {
        (0, None) => None,
        (_, None) => Some(refused.trim_end().to_owned()),
        (0, Some(q)) => Some(format!(
            "Sent at AOPay's quota as learned before: it accepted about {} requests/s, held at {}.",
            q.accepted_per_second.round(),
            q.suggested_rate
        )),
        (_, Some(q)) => Some(format!(
            "{refused}It accepted about {} requests/s: --rate {} would avoid throttling, and the next run \
             of this state starts from it.",
            q.accepted_per_second.round(),
            q.suggested_rate
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_inputs_columns_never_share_a_name_with_the_results() {
        let headers: Vec<String> =
            ["Order ID", "PAN", "status", "Notes"].iter().map(|h| (*h).to_owned()).collect();
        assert_eq!(
            input_columns(&headers),
            ["Order ID (in the file)", "PAN", "status (in the file)", "Notes"]
        );
    }

    #[test]
    fn a_suggested_rate_is_one_a_clerk_can_type_and_never_faster() {
        for (per_second, rate) in
            [(95.06, "95/s"), (97.0, "97/s"), (1.0, "1/s"), (0.5, "30/m"), (0.0101, "36/h"), (0.0001, "1/h")]
        {
            assert_eq!(suggested_rate(per_second), rate, "{per_second}");
        }
    }

    #[test]
    fn the_summary_says_what_was_refused_and_found() {
        let found = QuotaFound::new(98.04, 95.06);
        assert_eq!((found.accepted_per_second, found.suggested_rate.as_str()), (98.0, "95/s"));
        assert_eq!(quota_text(0, None), None);
        assert_eq!(
            quota_text(3, None).unwrap(),
            "AOPay refused 3 requests as too many (429), and every request waited as it asked."
        );
        assert_eq!(
            quota_text(1, Some(&found)).unwrap(),
            "AOPay refused 1 request as too many (429), and every request waited as it asked. It \
             accepted about 98 requests/s: --rate 95/s would avoid throttling, and the next run of \
             this state starts from it."
        );
        assert_eq!(
            quota_text(0, Some(&found)).unwrap(),
            "Sent at AOPay's quota as learned before: it accepted about 98 requests/s, held at 95/s."
        );
    }
}
