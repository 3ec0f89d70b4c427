//! Every byte the user sees: the files written about rows (atomic, formula-safe, private), the
//! summaries, warnings and errors on the terminal, and the log subscriber. Nothing else in the
//! program prints; other modules return data or emit `tracing` events, which land here.

pub mod access;
pub mod advice;
mod atomic;
mod errors;
mod metrics;
pub mod notices;
mod progress;
mod run;
pub mod sandbox_text;
mod sheet;
mod status;
mod validation;

use std::fmt::Display;
use std::io::{self, IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};

pub use access::{AuditCsv, tokens_text, users_text};
pub use advice::Audience;
pub use atomic::{
    AtomicFile, CsvFile, OutputError, move_into_place, remove_unfinished, safe_cell, write_file_with,
};
pub use errors::ErrorsFile;
pub use metrics::{metrics_text, write_metrics};
pub use notices::{DryRunReport, Notice, show_duration};
pub use progress::Progress;
pub use run::{
    QuotaFound, ResultsFile, ResultsWritten, RunSummary, quota_text, suggested_rate, write_results,
    write_results_to,
};
pub use sheet::{SheetFile, is_workbook_path};
pub use status::{learned_quota_text, local_time, order_ids_text, status_report};
pub use validation::{
    ProblemTally, ReportFile, ValidationSummary, cell_flags, codes_text, error_text, format_of, warnings_text,
};

/// How loud the terminal is, and in what shape log lines are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogSettings {
    /// -1 quiet, 0 normal, 1+ verbose.
    pub verbosity: i8,
    pub format: LogFormat,
}

/// Log lines for people (`text`) or for log collectors (`json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// The terminal: reports on stdout, warnings and notes on stderr, as loud as the user asked.
#[derive(Debug, Clone)]
pub struct Printer {
    verbosity: i8,
}

impl Printer {
    pub fn new(log: &LogSettings) -> Printer {
        Printer { verbosity: log.verbosity }
    }

    /// A printer for tests and embedding: says nothing.
    pub fn quiet() -> Printer {
        Printer { verbosity: -1 }
    }

    pub fn is_quiet(&self) -> bool {
        self.verbosity < 0
    }

    /// Something the user should know and may need to act on.
    pub fn warn(&self, message: impl Display) {
        if !self.is_quiet() {
            Self::stderr(&format!("warning: {message}\n"));
        }
    }

    /// An error the user should know of that does not end the command (a second failure met
    /// while handling a first), with its chain of causes.
    pub fn warn_error(&self, error: &anyhow::Error) {
        self.warn(format_args!("{error:#}"));
    }

    /// A line of progress or context on stderr.
    pub fn note(&self, message: impl Display) {
        if !self.is_quiet() {
            Self::stderr(&format!("{message}\n"));
        }
    }

    /// The command's report, on stdout. A closed pipe (`| head`) is not an error.
    pub fn report(&self, text: &str) {
        if self.is_quiet() {
            return;
        }
        let mut out = io::stdout().lock();
        let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    }

    /// Whether stderr is a terminal a person watches (progress bar) rather than a log.
    pub fn stderr_is_terminal(&self) -> bool {
        io::stderr().is_terminal()
    }

    fn stderr(text: &str) {
        if io::stderr().lock().write_all(text.as_bytes()).is_err() {
            NOT_SHOWN.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Says, once, how many lines could not be written (a closed pipe, a full disk under the
    /// log), if the terminal takes this one.
    pub fn say_what_was_not_shown(&self) {
        let lost = lines_not_shown();
        if lost > 0 && !self.is_quiet() {
            let _ = io::stderr().lock().write_all(notices::lines_not_shown(lost).as_bytes());
        }
    }
}

/// Lines of log, progress or notice that could not be written since the process started: the
/// work goes on without them (a log pipe whose reader left, a full disk under the log file).
static NOT_SHOWN: AtomicU64 = AtomicU64::new(0);

/// How many lines could not be written so far; the summary says it.
pub fn lines_not_shown() -> u64 {
    NOT_SHOWN.load(Ordering::Relaxed)
}

/// Where log lines go: stderr, and a line that cannot be written is counted, never an error.
/// (`tracing-subscriber` would otherwise report the failure with `eprintln!`, which panics when
/// stderr is the very thing that failed — killing whichever thread logged.)
#[derive(Debug, Clone, Copy)]
struct LogSink;

impl Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if io::stderr().lock().write_all(buf).is_err() {
            NOT_SHOWN.fetch_add(1, Ordering::Relaxed);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        let _ = io::stderr().flush();
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogSink {
    type Writer = LogSink;
    fn make_writer(&'a self) -> LogSink {
        LogSink
    }
}

/// An error and its causes on one line, as `{:#}` shows an `anyhow` error: `a: b: c`.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// Prints an error that ends the program, with its chain of causes.
pub fn print_fatal(error: &anyhow::Error) {
    Printer::stderr(&format!("error: {error:#}\n"));
}

/// Sends `tracing` events to stderr: `text` lines for people, `json` lines for log collectors.
/// Other crates are held at warnings, so nothing of a request's content can reach a log.
pub fn init_logging(log: &LogSettings) {
    use tracing_subscriber::EnvFilter;
    let level = match log.verbosity {
        i8::MIN..=-1 => "error",
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::new(format!("warn,cibil_bulk={level}"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(LogSink)
        .log_internal_errors(false)
        .with_target(false);
    let _ = match log.format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.with_ansi(io::stderr().is_terminal()).try_init(),
    };
}

/// Writes `value` as pretty JSON, atomically.
pub fn write_json(cleared: &crate::gate::Cleared, value: &impl serde::Serialize) -> Result<(), OutputError> {
    let path = cleared.path();
    let mut file = AtomicFile::create(cleared)?;
    let err = |source| OutputError { path: path.to_owned(), source };
    serde_json::to_writer_pretty(&mut file, value).map_err(|e| err(io::Error::other(e)))?;
    file.write_all(b"\n").map_err(err)?;
    file.commit()
}
