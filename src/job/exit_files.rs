//! The summary (`--summary`) and the metrics file (`--metrics-file`) of a run, written on every
//! exit the process lives to make: [`ExitFiles`] keeps what is known of the run up to date as it
//! goes — the file's hash once probed, the run once found or recorded, the counts and requests as
//! the state records them while sending, how it ended — and writes both files once, with what is
//! known at that point, whatever ends it. Only paths the gate cleared are ever written: a command
//! whose outputs were refused has none, and writes nothing.
//!
//! Three promises live here. The files agree with the exit status the process ends with, a
//! failure to write one of them included ([`ExitFiles::write`]). A change to the state that the
//! summary must tell — a file recorded as a new run — is made and learnt in one step
//! ([`ExitFiles::record`]), which the second signal's immediate writing waits for, briefly: the
//! summary written at once names every run the state kept, with the counts the state committed
//! (rows sent and not answered `in_flight`, as the next run finds them). And that immediate
//! writing reaches every run the process is driving ([`ExitFiles::write_all_at_once`]), whichever
//! command it is.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use super::{Exit, ExitFileNotWritten, Interrupted};
use crate::engine::Observer;
use crate::gate::Cleared;
use crate::output::{OutputError, RunSummary, notices, write_json, write_metrics};
use crate::store::{RowStatus, StatusCounts};

/// How long the second signal's writing waits for a change to the state under way (an import's
/// commit) to be learnt, before it writes what it knows and says the run may have been kept.
const AT_ONCE_WAIT: Duration = Duration::from_secs(3);

/// The exit files of every run this process may still end: what the second signal writes before
/// the process leaves at once, for `run` and the server's job alike.
static OPEN: Mutex<Vec<Weak<ExitFiles>>> = Mutex::new(Vec::new());

/// The summary and metrics file of one run, and what is known of it so far.
#[derive(Debug)]
pub struct ExitFiles {
    summary_file: Option<Cleared>,
    metrics_file: Option<Cleared>,
    started: Instant,
    known: Mutex<Known>,
    /// Told when a change to the state under way has been learnt.
    recorded: Condvar,
}

#[derive(Debug)]
struct Known {
    summary: RunSummary,
    /// The rows' counts while sending, as the state records them (failed and in-flight rows
    /// count as pending until they are sent again, as the progress display counts them).
    live: Option<StatusCounts>,
    /// The run ended and the summary says how, its duration included.
    finished: bool,
    written: bool,
    /// A change to the state that the summary must tell is being made ([`ExitFiles::record`]).
    recording: bool,
}

/// One of the two files.
#[derive(Debug, Clone, Copy)]
enum ExitFile {
    Summary,
    Metrics,
}

impl ExitFile {
    fn flag(self) -> &'static str {
        match self {
            ExitFile::Summary => "--summary",
            ExitFile::Metrics => "--metrics-file",
        }
    }

    fn write(self, path: &Cleared, summary: &RunSummary) -> Result<(), OutputError> {
        match self {
            ExitFile::Summary => write_json(path, summary),
            ExitFile::Metrics => write_metrics(path, summary),
        }
    }
}

impl ExitFiles {
    /// The exit files of a run of `file` (as the summary names it) on `state`, sending to
    /// `endpoint`; either file may be absent. The second signal writes them at once as long as
    /// they live.
    pub fn new(
        summary_file: Option<Cleared>,
        metrics_file: Option<Cleared>,
        file: &std::path::Path,
        state: &std::path::Path,
        endpoint: String,
    ) -> Arc<ExitFiles> {
        let summary = RunSummary::before_run(file, state, endpoint);
        let files = Arc::new(ExitFiles {
            summary_file,
            metrics_file,
            started: Instant::now(),
            known: Mutex::new(Known {
                summary,
                live: None,
                finished: false,
                written: false,
                recording: false,
            }),
            recorded: Condvar::new(),
        });
        let mut open = OPEN.lock().unwrap_or_else(PoisonError::into_inner);
        open.retain(|files| files.strong_count() > 0);
        open.push(Arc::downgrade(&files));
        files
    }

    fn known(&self) -> MutexGuard<'_, Known> {
        self.known.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records something learnt about the run.
    pub fn update(&self, change: impl FnOnce(&mut RunSummary)) {
        change(&mut self.known().summary);
    }

    /// Makes `change` to the state and tells the summary what it did (`learnt`), as one step for
    /// the second signal's immediate writing: it waits (briefly) for a step under way, and once it
    /// has written, no step begins — `change` is not made, and the run is interrupted. So the
    /// summary written at once says every change the state kept, such as a new run.
    pub fn record<T>(
        &self,
        change: impl FnOnce() -> anyhow::Result<T>,
        learnt: impl FnOnce(&T, &mut RunSummary),
    ) -> anyhow::Result<T> {
        {
            let mut known = self.known();
            if known.written {
                return Err(Interrupted.into());
            }
            known.recording = true;
        }
        /// Ends the step however `change` ends, a panic included.
        struct Recording<'a>(&'a ExitFiles);
        impl Drop for Recording<'_> {
            fn drop(&mut self) {
                self.0.known().recording = false;
                self.0.recorded.notify_all();
            }
        }
        let recording = Recording(self);
        let done = change();
        if let Ok(value) = &done {
            learnt(value, &mut self.known().summary);
        }
        drop(recording);
        done
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

    /// Sending is over, and the state could be read: the counts are the state's again.
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
    /// error ended the run), unless they were written already.
    ///
    /// Both carry the exit status the process will end with. When one cannot be written after a
    /// run that went well, the process does not end 0 or 1 (the old file stands, and a script
    /// would read yesterday's run as today's): the failure, returned, says the status it ends
    /// with ([`ExitFileNotWritten`]), and the file already written is written again to say it.
    /// After an error, the exit stays the error's, and a failure is only returned, to be told.
    pub fn write(&self, exit: Exit, error: Option<&anyhow::Error>) -> anyhow::Result<()> {
        let mut known = self.known();
        self.write_known(&mut known, exit, error)
    }

    fn write_known(
        &self,
        known: &mut Known,
        exit: Exit,
        error: Option<&anyhow::Error>,
    ) -> anyhow::Result<()> {
        if known.written {
            return Ok(());
        }
        known.written = true;
        let Known { summary, live, finished, .. } = known;
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
            summary.stopped = Some(stopped(exit));
            summary.stop_reason = Some(format!("{error:#}"));
        }
        if let Some(path) = &self.summary_file {
            summary.files.insert("summary", path.path().to_owned());
        }

        // What the files say: the run's summary, unless a failure to write one changes the exit.
        let mut said = std::borrow::Cow::Borrowed(&*summary);
        let mut written: Vec<(ExitFile, &Cleared)> = Vec::new();
        let mut failure: Option<anyhow::Error> = None;
        let files = [(ExitFile::Summary, &self.summary_file), (ExitFile::Metrics, &self.metrics_file)];
        for (file, path) in files.into_iter().filter_map(|(file, path)| Some((file, path.as_ref()?))) {
            let Err(e) = file.write(path, &said) else {
                written.push((file, path));
                continue;
            };
            if failure.is_some() {
                tracing::warn!("{:#}", anyhow::Error::from(e).context(file.flag()));
                continue;
            }
            let ends = match exit {
                _ if error.is_some() => exit,
                Exit::Success | Exit::NeedsAttention if said.requests > 0 => Exit::Aborted,
                Exit::Success | Exit::NeedsAttention => Exit::Usage,
                _ => exit,
            };
            let e = anyhow::Error::from(e).context(ExitFileNotWritten { flag: file.flag(), exit: ends });
            if ends != exit {
                let changed = said.to_mut();
                changed.exit_code = ends.code();
                changed.stopped = Some(stopped(ends));
                changed.stop_reason = Some(format!("{e:#}"));
                for (file, path) in written.drain(..) {
                    if let Err(again) = file.write(path, &said) {
                        tracing::warn!("{:#}", anyhow::Error::from(again).context(file.flag()));
                    }
                }
            }
            failure = Some(e);
        }
        failure.map_or(Ok(()), Err)
    }

    /// The second signal: both files with what is known now, saying that the results file may
    /// lag the state; a change to the state under way is waited for, briefly, and none begins
    /// after. The caller exits at once.
    pub fn write_at_once(&self) -> anyhow::Result<()> {
        let known = self.known();
        let (mut known, waited) = self
            .recorded
            .wait_timeout_while(known, AT_ONCE_WAIT, |known| known.recording)
            .unwrap_or_else(PoisonError::into_inner);
        if !known.written {
            // The counts as the state holds them, which the next run finds: rows sent and not
            // answered are `in_flight` there (the live counts show them as `pending`, as the
            // progress display does). What cannot be read leaves the live counts.
            if known.live.is_some()
                && let Some(run) = known.summary.run_id
                && let Ok(counts) = crate::store::Store::counts_as_committed(&known.summary.state, run)
            {
                known.live = Some(counts);
            }
            known.summary.results_may_lag = true;
            known.summary.stopped = Some("interrupted");
            known.summary.stop_reason = Some(if waited.timed_out() {
                notices::STOPPED_AT_ONCE_WHILE_RECORDING.to_owned()
            } else {
                notices::STOPPED_AT_ONCE.to_owned()
            });
        }
        self.write_known(&mut known, Exit::Interrupted, None)
    }

    /// The second signal, for every run this process is driving (`run`'s, the server's job):
    /// [`ExitFiles::write_at_once`] for each. Returns what could not be written, to be told.
    pub fn write_all_at_once() -> Vec<anyhow::Error> {
        let open: Vec<Arc<ExitFiles>> =
            OPEN.lock().unwrap_or_else(PoisonError::into_inner).iter().filter_map(Weak::upgrade).collect();
        open.iter().filter_map(|files| files.write_at_once().err()).collect()
    }

    /// The second signal's ending, for `run` and `serve` alike: says `said`, writes every run's
    /// summary and metrics ([`ExitFiles::write_all_at_once`]), removes the outputs still being
    /// written (none is left half-made beside its target), and leaves with exit 130.
    pub fn leave_at_once(printer: &crate::output::Printer, said: &str) -> ! {
        printer.warn(said);
        for failure in ExitFiles::write_all_at_once() {
            printer.warn_error(&failure);
        }
        crate::output::remove_unfinished();
        std::process::exit(i32::from(Exit::Interrupted.code()));
    }
}

/// What `stopped` says of a run that ended with `exit` after an error.
fn stopped(exit: Exit) -> &'static str {
    match exit {
        Exit::Usage => "error",
        Exit::Interrupted => "interrupted",
        _ => "aborted",
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::gate::cleared_for_test;
    use crate::job::exit_code_of;

    /// Exit files at `summary` and `metrics` in `dir`; one under `gone/` cannot be written: its
    /// folder is removed once the gate has cleared it.
    fn files(dir: &Path, summary: &str, metrics: &str) -> Arc<ExitFiles> {
        let gone = dir.join("gone");
        std::fs::create_dir_all(&gone).unwrap();
        let files = ExitFiles::new(
            Some(cleared_for_test(&dir.join(summary)).unwrap()),
            Some(cleared_for_test(&dir.join(metrics)).unwrap()),
            Path::new("in.csv"),
            Path::new("state.db"),
            "sandbox".into(),
        );
        std::fs::remove_dir(&gone).unwrap();
        files.update(|summary| summary.requests = 5);
        files
    }

    fn summary_in(dir: &Path) -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(dir.join("s.json")).unwrap()).unwrap()
    }

    fn exit_in_metrics(dir: &Path) -> String {
        let text = std::fs::read_to_string(dir.join("m.prom")).unwrap();
        let line = text.lines().find(|l| l.starts_with("cibil_bulk_last_run_exit_code ")).unwrap();
        line.rsplit(' ').next().unwrap().to_owned()
    }

    #[test]
    fn a_file_that_cannot_be_written_after_a_run_that_went_well_changes_what_both_say() {
        // The metrics file's directory is missing: the summary, written first, is written again.
        let dir = tempfile::tempdir().unwrap();
        let ending = files(dir.path(), "s.json", "gone/m.prom");
        let failure = ending.write(Exit::Success, None).unwrap_err();
        assert_eq!(exit_code_of(&failure), Exit::Aborted, "requests were sent: {failure:#}");
        let summary = summary_in(dir.path());
        assert_eq!(summary["exit_code"], 3);
        assert_eq!(summary["stopped"], "aborted");
        assert!(summary["stop_reason"].as_str().unwrap().contains("--metrics-file could not be written"));

        // The summary's is missing: the metrics file says the exit the process ends with.
        let dir = tempfile::tempdir().unwrap();
        let ending = files(dir.path(), "gone/s.json", "m.prom");
        let failure = ending.write(Exit::NeedsAttention, None).unwrap_err();
        assert_eq!(exit_code_of(&failure), Exit::Aborted);
        assert_eq!(exit_in_metrics(dir.path()), "3");

        // Nothing sent: "nothing was sent" is true, and said.
        let dir = tempfile::tempdir().unwrap();
        let ending = files(dir.path(), "s.json", "gone/m.prom");
        ending.update(|summary| summary.requests = 0);
        let failure = ending.write(Exit::Success, None).unwrap_err();
        assert_eq!(exit_code_of(&failure), Exit::Usage);
        assert_eq!(summary_in(dir.path())["exit_code"], 2);

        // A run that already ends otherwise keeps its exit; the failure is only told.
        let dir = tempfile::tempdir().unwrap();
        let ending = files(dir.path(), "s.json", "gone/m.prom");
        let failure = ending.write(Exit::Interrupted, None).unwrap_err();
        assert_eq!(exit_code_of(&failure), Exit::Interrupted);
        assert_eq!(summary_in(dir.path())["exit_code"], 130);
    }

    #[test]
    fn the_second_signal_waits_for_a_run_being_recorded_and_then_none_is() {
        let dir = tempfile::tempdir().unwrap();
        let ending = files(dir.path(), "s.json", "m.prom");
        let (committing, commit) = std::sync::mpsc::channel::<()>();
        let (began, wait_began) = std::sync::mpsc::channel::<()>();
        let recorder = {
            let ending = ending.clone();
            std::thread::spawn(move || {
                ending.record(
                    || {
                        began.send(()).unwrap();
                        commit.recv().unwrap();
                        Ok(7i64)
                    },
                    |id, summary| summary.run_id = Some(*id),
                )
            })
        };
        wait_began.recv().unwrap();
        let writer = {
            let ending = ending.clone();
            std::thread::spawn(move || ending.write_at_once())
        };
        // The writer waits for the commit under way, then names the run it kept.
        std::thread::sleep(Duration::from_millis(100));
        assert!(!dir.path().join("s.json").exists(), "written before the commit under way ended");
        committing.send(()).unwrap();
        assert_eq!(recorder.join().unwrap().unwrap(), 7);
        writer.join().unwrap().unwrap();
        let summary = summary_in(dir.path());
        assert_eq!((summary["run_id"].as_i64(), summary["exit_code"].as_i64()), (Some(7), Some(130)));
        assert_eq!(summary["results_may_lag"], true);

        // Once written at once, no change begins: the state keeps nothing the summary does not say.
        let mut changed = false;
        let refused = ending.record(
            || {
                changed = true;
                Ok(())
            },
            |(), _| {},
        );
        assert!(refused.is_err_and(|e| e.downcast_ref::<Interrupted>().is_some()));
        assert!(!changed);
    }

    #[test]
    fn every_run_the_process_drives_is_written_at_once() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let first = files(a.path(), "s.json", "m.prom");
        let second = files(b.path(), "s.json", "m.prom");
        drop(files(b.path(), "gone/s.json", "gone/m.prom"));
        assert!(ExitFiles::write_all_at_once().is_empty(), "a run that ended is not written");
        for dir in [a.path(), b.path()] {
            assert_eq!(exit_in_metrics(dir), "130");
        }
        drop((first, second));
    }
}
