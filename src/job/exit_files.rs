//! The summary (`--summary`) and the metrics file (`--metrics-file`) of a run, written on every
//! exit the process lives to make: [`ExitFiles`] keeps what is known of the run up to date as it
//! goes — the file's hash once probed, the run once found or recorded, the counts and requests as
//! the engine tells them while sending, how it ended — and writes both files once, with what is
//! known at that point, whatever ends it. Only paths the gate cleared are ever written: a command
//! whose outputs were refused has none, and writes nothing.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use super::{Exit, exit_code_of};
use crate::engine::Observer;
use crate::gate::Cleared;
use crate::output::{RunSummary, notices, write_json, write_metrics};
use crate::store::{RowStatus, StatusCounts};

/// The summary and metrics file of one run, and what is known of it so far.
#[derive(Debug)]
pub struct ExitFiles {
    summary_file: Option<Cleared>,
    metrics_file: Option<Cleared>,
    started: Instant,
    known: Mutex<Known>,
}

#[derive(Debug)]
struct Known {
    summary: RunSummary,
    /// The rows' counts while sending, as the engine tells them (failed and in-flight rows count
    /// as pending until they are sent again, as the progress display counts them).
    live: Option<StatusCounts>,
    /// The run ended and the summary says how, its duration included.
    finished: bool,
    written: bool,
}

impl ExitFiles {
    /// The exit files of a run of `file` (as the summary names it) on `state`, sending to
    /// `endpoint`; either file may be absent.
    pub fn new(
        summary_file: Option<Cleared>,
        metrics_file: Option<Cleared>,
        file: &std::path::Path,
        state: &std::path::Path,
        endpoint: String,
    ) -> ExitFiles {
        let summary = RunSummary::before_run(file, state, endpoint);
        ExitFiles {
            summary_file,
            metrics_file,
            started: Instant::now(),
            known: Mutex::new(Known { summary, live: None, finished: false, written: false }),
        }
    }

    fn known(&self) -> MutexGuard<'_, Known> {
        self.known.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records something learnt about the run.
    pub fn update(&self, change: impl FnOnce(&mut RunSummary)) {
        change(&mut self.known().summary);
    }

    /// The summary as it stands: live counts while sending, the time so far until the run ends.
    pub fn summary(&self) -> RunSummary {
        let known = self.known();
        let mut summary = known.summary.clone();
        if let Some(live) = &known.live {
            summary.set_counts(live);
        }
        if !known.finished {
            summary.set_duration(self.started.elapsed());
        }
        summary
    }

    /// The engine's observer while sending: `inner` (the progress display, the live page) sees
    /// every row and request, and so do the live counts here, starting from `counts`.
    pub fn counting(self: &Arc<Self>, inner: Box<dyn Observer>, counts: &StatusCounts) -> Counting {
        self.known().live = Some(counts.to_send());
        Counting { inner, exit_files: self.clone() }
    }

    /// Sending is over: the counts are the state's again.
    pub fn stop_counting(&self) {
        self.known().live = None;
    }

    /// The run ended: the summary says how, and how long it took.
    pub fn finished(&self) {
        let mut known = self.known();
        known.summary.set_duration(self.started.elapsed());
        known.finished = true;
    }

    /// Writes the summary, then the metrics file, for an exit with `exit` (after `error`, if an
    /// error ended the run), unless they were written already. The metrics carry the exit status
    /// the process will end with, a failure to write the summary included.
    pub fn write(&self, exit: Exit, error: Option<&anyhow::Error>) -> anyhow::Result<()> {
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
        summary.lines_not_shown = crate::output::lines_not_shown();
        if let Some(error) = error
            && summary.stopped.is_none()
        {
            summary.stopped = Some(match exit {
                Exit::Usage => "error",
                Exit::Interrupted => "interrupted",
                _ => "aborted",
            });
            summary.stop_reason = Some(format!("{error:#}"));
        }
        let mut failure = None;
        if let Some(path) = &self.summary_file {
            summary.files.insert("summary", path.path().to_owned());
            if let Err(e) = write_json(path, summary) {
                let e = anyhow::Error::from(e);
                if error.is_none() {
                    summary.exit_code = exit_code_of(&e).code();
                }
                failure = Some(e);
            }
        }
        if let Some(path) = &self.metrics_file
            && let Err(e) = write_metrics(path, summary)
        {
            failure.get_or_insert(e.into());
        }
        failure.map_or(Ok(()), Err)
    }

    /// The second Ctrl-C: both files with what is known now, saying that the results file may
    /// lag the state. The caller exits at once.
    pub fn write_interrupted_at_once(&self) -> anyhow::Result<()> {
        {
            let mut known = self.known();
            if !known.written {
                known.summary.results_may_lag = true;
                known.summary.stopped = Some("interrupted");
                known.summary.stop_reason = Some(notices::STOPPED_AT_ONCE.to_owned());
            }
        }
        self.write(Exit::Interrupted, None)
    }
}

/// The engine's observer while sending: the caller's, and the live counts for [`ExitFiles`].
pub struct Counting {
    inner: Box<dyn Observer>,
    exit_files: Arc<ExitFiles>,
}

impl std::fmt::Debug for Counting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Counting").finish_non_exhaustive()
    }
}

impl Observer for Counting {
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
