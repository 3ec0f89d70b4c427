//! `cibil-bulk run FILE`, in four phases: open the state (locked, bound to its endpoint), resume
//! the run of this very content or import the file as a new run, send what is left through the
//! engine, then finish — record how the run ended, write the results and errors files from the
//! state, and say how it went. `--dry-run` stops after the checks, sending and keeping nothing.
//!
//! Whatever ends the invocation — its own exit status, an error, the second Ctrl-C's immediate
//! exit — the summary (`--summary`) and the metrics file (`--metrics-file`) are written with what
//! is known at that point ([`ExitFiles`]), so that yesterday's never stands in for today's.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::Context as _;

use super::guard::{Kept, guard_outputs, state_files};
use super::intake::warn_about_encoding;
use super::lifecycle::{self, Ended, Imported};
use super::{Exit, ResultsNotWritten};
use crate::api::{ApiSettings, Client};
use crate::engine::{EngineError, EngineReport, Limiter, Stop, StopReason};
use crate::input::{self, Probe};
use crate::output::{
    DryRunReport, Printer, Progress, RunSummary, notices, recorded_registrations, write_results,
};
use crate::settings::{RunExitPaths, RunSettings};
use crate::store::{Check, HeldLock, RowStatus, RunRecord, StatusCounts, Store};

mod exit_files;

pub use exit_files::settings_failed;
use exit_files::{ExitFiles, Tally};

pub fn run(settings: &RunSettings, printer: &Printer) -> anyhow::Result<Exit> {
    let exit_files = Arc::new(ExitFiles::new(
        RunExitPaths {
            input: settings.input.path.clone(),
            state: settings.state.clone(),
            summary: settings.summary.clone(),
            metrics_file: settings.metrics_file.clone(),
        },
        if settings.sandbox { "sandbox".to_owned() } else { settings.api.endpoint.to_string() },
    ));
    exit_files.update(|summary| summary.dry_run = settings.dry_run);
    let result = super::block_on("cibil-bulk-worker", run_file(settings, printer, &exit_files));
    exit_files.write(result, printer)
}

/// The files of this run, checked before anything is read or sent.
struct Files {
    probe: Probe,
    results: PathBuf,
    errors: PathBuf,
}

/// One invocation of `run` on a file, once its files are checked and its target known.
struct Invocation<'a> {
    settings: &'a RunSettings,
    printer: &'a Printer,
    files: &'a Files,
    /// What the state is bound to (see [`Target::scope`]).
    scope: &'a str,
    started: Instant,
    exit_files: &'a Arc<ExitFiles>,
    /// Set when sending begins: from then on the first Ctrl-C stops the engine (see
    /// [`watch_signals`]).
    sending: &'a Arc<OnceLock<Stop>>,
}

async fn run_file(
    settings: &RunSettings,
    printer: &Printer,
    exit_files: &Arc<ExitFiles>,
) -> anyhow::Result<Exit> {
    let started = Instant::now();
    let sending = Arc::new(OnceLock::new());
    watch_signals(exit_files.clone(), sending.clone(), printer.clone(), settings.engine.shutdown_grace)?;
    let files = check_files(settings)?;
    exit_files.update(|summary| summary.sha256 = Some(files.probe.sha256_hex()));
    warn_about_encoding(&settings.input.path, &files.probe, printer);
    if settings.dry_run {
        return dry_run(settings, &files, printer, exit_files);
    }
    let target = lifecycle::target(&settings.api, settings.sandbox).await?;
    if let Some(sandbox) = &target.sandbox {
        printer.note(notices::sending_to_sandbox(&sandbox.endpoint()));
    }

    let this = Invocation {
        settings,
        printer,
        files: &files,
        scope: &target.scope,
        started,
        exit_files,
        sending: &sending,
    };
    let (store, mut check, lock) = open_state(settings, &target.scope, printer)?;
    let outcome = async {
        let _lock = lock;
        let (store, run, resumed, counts) = this.resume_or_import(store)?;
        let (store, report, engine_error) = this.send(store, &mut check, &run, &counts, &target.api).await?;
        let finished = this.finish(&store, &mut check, run, resumed, &report, engine_error.is_some());
        // The engine's failure is the one to fix: finishing on the same state (a full disk, say)
        // may fail for the same reason, and is told after it.
        match (engine_error, finished) {
            (Some(error), finished) => {
                if let Err(also) = finished {
                    printer.warn(format_args!("{also:#}"));
                }
                Err(anyhow::Error::from(error))
                    .context("the run stopped: the results file shows where each row is; run again to resume")
            }
            (None, finished) => finished,
        }
    }
    .await;
    if let Some(sandbox) = target.sandbox {
        sandbox.shutdown().await;
    }
    // A damaged state explains whatever went wrong after it was opened.
    check.wait()?;
    outcome
}

/// Probes the customer file and refuses outputs that would overwrite it or each other, or could
/// not be written: better said before a single row is read or sent than after.
fn check_files(settings: &RunSettings) -> anyhow::Result<Files> {
    let path = settings.input.path.as_path();
    let probe = input::probe(path, settings.input.probe)?;
    let (results, errors) = settings.outputs(probe.workbook.is_some());
    let mut outputs: Vec<(&str, &Path)> = vec![("--output", &results), ("--errors", &errors)];
    if let Some(summary) = &settings.summary {
        outputs.push(("--summary", summary));
    }
    if let Some(metrics) = &settings.metrics_file {
        outputs.push(("--metrics-file", metrics));
    }
    let state = state_files(&settings.state);
    let mut kept: Vec<Kept<'_>> = state.iter().map(|(what, p)| (*what, p.as_path())).collect();
    kept.push(("the customer file", path));
    guard_outputs(&kept, &outputs)?;
    Ok(Files { probe, results, errors })
}

/// Opens the state (its structure checked alongside), takes the run lock and binds the state to
/// the endpoint: a ledger says who is registered *there*.
fn open_state(
    settings: &RunSettings,
    scope: &str,
    printer: &Printer,
) -> anyhow::Result<(Store, Check, HeldLock)> {
    let (mut store, check) = Store::open_checking(&settings.state)?;
    let lock = take_lock(&mut store, settings, printer)?;
    store.bind_endpoint(scope)?;
    Ok((store, check, lock))
}

/// The run lock, waited for when another run holds it (saying so); and a state found readable by
/// others, made private (saying so).
fn take_lock(store: &mut Store, settings: &RunSettings, printer: &Printer) -> anyhow::Result<HeldLock> {
    if let Some(was) = store.tightened_from() {
        printer.warn(notices::state_tightened(store.path(), was));
    }
    let lock = store.acquire_lock(settings.lock_wait, |holder| {
        printer.note(notices::waiting_for_lock(&settings.state, holder, settings.lock_wait));
    })?;
    Ok(lock)
}

impl Invocation<'_> {
    /// The run of this very content, resumed; or the file imported as a new run: whether it was
    /// resumed, and its rows' counts.
    fn resume_or_import(&self, store: Store) -> anyhow::Result<(Store, RunRecord, bool, StatusCounts)> {
        let (store, run, resumed) = self.find_or_import(store)?;
        let counts = store.counts(run.id)?;
        self.exit_files.update(|summary| {
            summary.run_id = Some(run.id);
            summary.resumed = resumed;
            summary.set_counts(&counts);
        });
        Ok((store, run, resumed, counts))
    }

    fn find_or_import(&self, mut store: Store) -> anyhow::Result<(Store, RunRecord, bool)> {
        let Invocation { settings, printer, files, scope, .. } = *self;
        let path = settings.input.path.as_path();
        if let Some(run) = store.find_run(&files.probe.sha256_hex())? {
            if let Some(purged) = run.purged_at {
                printer.note(notices::purged_run(&run, purged));
            }
            let requeued = lifecycle::resume(&mut store, &run, &path.display().to_string())?;
            if requeued > 0 {
                printer.note(notices::sent_again(requeued));
            }
            return Ok((store, run, true));
        }
        for other in store.runs()?.iter().filter(|r| r.input_path == path.display().to_string()) {
            let left = store.counts(other.id)?.left();
            if left > 0 {
                printer.warn(notices::file_changed(path, other, left));
            }
        }
        let recorded = recorded_registrations(&files.results);
        let recorded_settings =
            lifecycle::recorded_settings(scope, &settings.api, &settings.engine, &settings.input);
        let described = path.display().to_string();
        let imported = lifecycle::import(
            &mut store,
            &settings.input,
            &files.probe,
            &described,
            &recorded_settings,
            Some((&recorded, &files.results)),
        )?;
        let Imported { run, sent_before } = imported;
        if sent_before > 0 {
            printer.note(notices::sent_again_by_customer(sent_before));
        }
        Ok((store, run, false))
    }

    /// Sends every row left through the engine, with the progress display and the signals watched.
    /// Returns the store (reopened if the engine lost it), what the engine did, and the failure of
    /// the machinery itself, if any.
    async fn send(
        &self,
        store: Store,
        check: &mut Check,
        run: &RunRecord,
        counts: &StatusCounts,
        api: &ApiSettings,
    ) -> anyhow::Result<(Store, EngineReport, Option<EngineError>)> {
        let Invocation { settings, printer, exit_files, .. } = *self;
        if counts.left() == 0 {
            return Ok((store, EngineReport::default(), None));
        }
        // Not a row is claimed from a state that is not known to be sound.
        check.wait()?;
        let client = Client::new(api)?;
        let stop = Stop::new();
        let _ = self.sending.set(stop.clone());
        let progress = Progress::new(printer, run.rows_total, counts);
        let limiter = Arc::new(Limiter::new(&settings.engine));
        exit_files.known().live = Some(counts.to_send());
        let observer = Tally { inner: progress, exit_files: exit_files.clone() };
        Ok(lifecycle::send(store, run, client, &settings.engine, limiter, observer, stop, &settings.state)
            .await?)
    }

    /// Records how the run ended, writes the results and errors files from the state, writes the
    /// summary and says how it went.
    fn finish(
        &self,
        store: &Store,
        check: &mut Check,
        run: RunRecord,
        resumed: bool,
        report: &EngineReport,
        engine_failed: bool,
    ) -> anyhow::Result<Exit> {
        let Invocation { settings, printer, files, scope, started, exit_files, .. } = *self;
        let Ended { exit, counts, run, .. } =
            lifecycle::end(store, run, engine_failed, report.stop.as_ref())?;
        exit_files.known().live = None;
        exit_files.update(|summary| {
            summary.set_counts(&counts);
            summary.requests = report.requests;
            summary.throttled = report.throttled;
            summary.set_stop(report.stop.as_ref());
        });

        let written = write_results(store, &run, &files.results, Some(&files.errors))
            .context(ResultsNotWritten { run_id: run.id, state: settings.state.clone() })?;
        // The results were read from the state while it was being checked.
        check.wait()?;
        let mut summary = RunSummary::new(
            &settings.input.path,
            &run,
            resumed,
            &settings.state,
            scope.to_owned(),
            &counts,
            report,
            started.elapsed(),
        );
        summary.returning_customers = written.returning_customers;
        summary.exit_code = exit.code();
        summary.files.insert("results", written.results.clone());
        if let Some(errors) = &written.errors {
            summary.files.insert("errors", errors.clone());
        }
        if let Some(path) = &settings.summary {
            summary.files.insert("summary", path.clone());
        }
        printer.note(summary.render());
        // Written by `run` on the way out, with the exit status the process ends with.
        let mut known = exit_files.known();
        (known.summary, known.finished) = (summary, true);
        Ok(exit)
    }
}

/// `--dry-run`: the same checks and the same ledger look-ups, inside a transaction that is
/// rolled back, so nothing is sent and nothing is kept.
fn dry_run(
    settings: &RunSettings,
    files: &Files,
    printer: &Printer,
    exit_files: &ExitFiles,
) -> anyhow::Result<Exit> {
    let path = settings.input.path.as_path();
    let scratch;
    let state = if settings.state.exists() {
        settings.state.as_path()
    } else {
        scratch = tempfile::tempdir().context("cannot create a temporary directory")?;
        &scratch.path().join("dry-run.db")
    };
    let mut store = Store::open(state)?;
    let _lock = take_lock(&mut store, settings, printer)?;
    if let Some(run) = store.find_run(&files.probe.sha256_hex())? {
        let counts = store.counts(run.id)?;
        exit_files.update(|summary| {
            summary.run_id = Some(run.id);
            summary.set_counts(&counts);
        });
        printer.report(&notices::dry_run_of_known_content(path, &run, &settings.state, &counts));
        return Ok(if counts.needing_attention() > 0 { Exit::NeedsAttention } else { Exit::Success });
    }

    let mut report = DryRunReport::default();
    lifecycle::look(
        &mut store,
        &settings.input,
        &files.probe,
        &path.display().to_string(),
        // Nothing is kept: no settings to record.
        &serde_json::Value::Null,
        Some((&recorded_registrations(&files.results), &files.results)),
        |line, status, applicant| report.add(line, status, applicant),
    )?;
    exit_files.update(|summary| summary.set_counts(&report.counts));

    let target = if settings.sandbox { "the sandbox".to_owned() } else { settings.api.endpoint.to_string() };
    printer.report(&report.render(path, &target, settings.engine.rate, settings.engine.concurrency.get()));
    Ok(if report.counts.get(RowStatus::Invalid) > 0 { Exit::NeedsAttention } else { Exit::Success })
}

/// Once sending has begun (`sending` holds its stop), the first Ctrl-C or SIGTERM stops claiming
/// and lets requests in flight finish; a second leaves at once (every change to the state is a
/// transaction, so the state stays consistent). Before sending, there is nothing to finish: the
/// first leaves at once, as the signal's default would, an import halfway leaving no trace. Who
/// leaves at once writes the summary and metrics file first.
fn watch_signals(
    exit_files: Arc<ExitFiles>,
    sending: Arc<OnceLock<Stop>>,
    printer: Printer,
    grace: Duration,
) -> anyhow::Result<()> {
    let mut signals = super::Signals::listen()?;
    tokio::spawn(async move {
        let mut stopping = false;
        loop {
            signals.received().await;
            match sending.get() {
                Some(stop) if !stopping => {
                    stopping = true;
                    printer.warn(notices::stopping(grace));
                    stop.request(StopReason::Interrupted);
                }
                Some(_) => {
                    printer.warn(notices::STOPPED_AT_ONCE);
                    exit_files.write_interrupted_at_once(&printer);
                    std::process::exit(i32::from(Exit::Interrupted.code()));
                }
                None => {
                    printer.warn(notices::STOPPED_BEFORE_SENDING);
                    exit_files.update(|summary| {
                        summary.stopped = Some("interrupted");
                        summary.stop_reason = Some(notices::STOPPED_BEFORE_SENDING.to_owned());
                    });
                    let _ = exit_files.write(Ok(Exit::Interrupted), &printer);
                    std::process::exit(i32::from(Exit::Interrupted.code()));
                }
            }
        }
    });
    Ok(())
}
