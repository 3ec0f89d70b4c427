//! The summary (`--summary`) and the metrics file (`--metrics-file`) of `run`, written on every
//! exit the process lives to make: [`ExitFiles`] keeps what is known of the invocation up to date
//! as it goes, and writes both files once, with what is known at that point, whatever ends it.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use super::super::{Exit, exit_code_of};
use crate::engine::Observer;
use crate::output::{LogFormat, LogSettings, Printer, RunSummary, notices, write_json, write_metrics};
use crate::settings::RunExitPaths;
use crate::store::{RowStatus, StatusCounts};

/// A `run` whose settings could not be resolved (exit 2): its summary and metrics file, where
/// the command line names them, say so, so that an old summary is not taken for this run's.
pub fn settings_failed(paths: RunExitPaths, error: anyhow::Error) -> anyhow::Error {
    let exit_files = ExitFiles::new(paths, String::new());
    if let Err(failure) = exit_files.write_files(Exit::Usage, Some(&error)) {
        // Logging is not set up yet: told as the default level would.
        Printer::new(&LogSettings { verbosity: 0, format: LogFormat::Text })
            .warn(format_args!("{failure:#}"));
    }
    error
}

/// The summary (`--summary`) and the metrics file (`--metrics-file`) of this invocation: what is
/// known is kept up to date as the run goes — the file's hash once probed, the run once found or
/// recorded, the counts and requests as the engine tells them while sending — and both files are
/// written exactly once, by whichever comes first: the end of [`super::run`] (with its exit status, or
/// the error's, from [`exit_code_of`]), or the second Ctrl-C's immediate exit
/// ([`super::watch_signals`]), which notes that the results file may lag the state.
pub(super) struct ExitFiles {
    paths: RunExitPaths,
    started: Instant,
    known: Mutex<Known>,
}

pub(super) struct Known {
    pub(super) summary: RunSummary,
    /// The rows' counts while sending, as the engine tells them (failed and in-flight rows count
    /// as pending until they are sent again, as the progress display counts them).
    pub(super) live: Option<StatusCounts>,
    /// The summary is the one `finish` printed, its duration included.
    pub(super) finished: bool,
    written: bool,
}

impl ExitFiles {
    pub(super) fn new(paths: RunExitPaths, endpoint: String) -> ExitFiles {
        let summary = RunSummary::before_run(&paths.input, &paths.state, endpoint);
        ExitFiles {
            paths,
            started: Instant::now(),
            known: Mutex::new(Known { summary, live: None, finished: false, written: false }),
        }
    }

    pub(super) fn known(&self) -> std::sync::MutexGuard<'_, Known> {
        self.known.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records something learnt about the run.
    pub(super) fn update(&self, change: impl FnOnce(&mut RunSummary)) {
        change(&mut self.known().summary);
    }

    /// Writes both files for an invocation that ends with `result`, unless they were written
    /// already; returns `result`, or the failure to write them when the run itself went well (a
    /// script reading the summary would find yesterday's). After a failure, a failure to write
    /// them is only told: the first error is the one to fix.
    pub(super) fn write(&self, result: anyhow::Result<Exit>, printer: &Printer) -> anyhow::Result<Exit> {
        let exit = match &result {
            Ok(exit) => *exit,
            Err(error) => exit_code_of(error),
        };
        match (self.write_files(exit, result.as_ref().err()), result) {
            (Ok(()), result) => result,
            (Err(failure), Ok(_)) => Err(failure),
            (Err(failure), Err(first)) => {
                printer.warn(format_args!("{failure:#}"));
                Err(first)
            }
        }
    }

    /// Writes the summary, then the metrics file, for an exit with `exit` (after `error`, if an
    /// error ended the run). The metrics carry the exit status the process will end with, the
    /// summary's own failure included.
    fn write_files(&self, exit: Exit, error: Option<&anyhow::Error>) -> anyhow::Result<()> {
        let mut known = self.known();
        if known.written {
            return Ok(());
        }
        known.written = true;
        let Known { summary, live, finished, .. } = &mut *known;
        if let Some(live) = live.take() {
            summary.set_counts(&live);
        }
        if !*finished {
            summary.set_duration(self.started.elapsed());
        }
        summary.exit_code = exit.code();
        if let Some(error) = error
            && summary.stopped.is_none()
        {
            summary.stopped = Some(if exit == Exit::Usage { "error" } else { "aborted" });
            summary.stop_reason = Some(format!("{error:#}"));
        }
        let mut failure = None;
        if let Some(path) = &self.paths.summary {
            summary.files.insert("summary", path.clone());
            if let Err(e) = write_json(path, summary) {
                let e = anyhow::Error::from(e);
                if error.is_none() {
                    summary.exit_code = exit_code_of(&e).code();
                }
                failure = Some(e);
            }
        }
        if let Some(path) = &self.paths.metrics_file
            && let Err(e) = write_metrics(path, summary)
        {
            failure.get_or_insert(e.into());
        }
        failure.map_or(Ok(()), Err)
    }

    /// The second Ctrl-C: both files with what is known now, saying that the results file may
    /// lag the state. The caller exits at once.
    pub(super) fn write_interrupted_at_once(&self, printer: &Printer) {
        let mut known = self.known();
        if !known.written {
            known.summary.results_may_lag = true;
            known.summary.stopped = Some("interrupted");
            known.summary.stop_reason = Some(notices::STOPPED_AT_ONCE.to_owned());
        }
        drop(known);
        let _ = self.write(Ok(Exit::Interrupted), printer);
    }
}

/// The engine's observer while sending: the progress display, and the live counts for
/// [`ExitFiles`].
pub(super) struct Tally<O> {
    pub(super) inner: O,
    pub(super) exit_files: Arc<ExitFiles>,
}

impl<O: Observer> Observer for Tally<O> {
    fn record(&mut self, status: RowStatus) {
        self.inner.record(status);
        if let Some(live) = &mut self.exit_files.known().live {
            live.shift(RowStatus::Pending, status, 1);
        }
    }

    fn request(&mut self, throttled: bool) {
        self.inner.request(throttled);
        let mut known = self.exit_files.known();
        known.summary.requests += 1;
        known.summary.throttled += u64::from(throttled);
    }

    fn tick(&mut self) {
        self.inner.tick();
    }

    fn finish(&mut self) {
        self.inner.finish();
    }
}
