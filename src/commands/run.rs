//! `cibil-bulk run FILE`: every file it will write cleared by the gate before anything is read,
//! the target started (AOPay, or a sandbox of its own), the state opened — locked, bound to its
//! endpoint — and the run driven to its end by the one run driver (`job::drive`), with the
//! progress on this terminal; then how it went, said. `--dry-run` stops after the checks, sending
//! and keeping nothing.
//!
//! Whatever ends the invocation — its own exit status, an error, the second signal's immediate
//! exit — the summary (`--summary`) and the metrics file (`--metrics-file`) are written with what
//! is known at that point ([`ExitFiles`]), unless the gate refused the command: then nothing is.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use super::signals::Signals;
use crate::api::OrderIds;
use crate::engine::{Limiter, Observer, Stop, StopReason};
use crate::gate::{Cleared, Gate, Refused};
use crate::input::{self, Probe};
use crate::job::{self, Exit, ExitFiles, Job, Reporter, exit_code_of, lifecycle};
use crate::output::{DryRunReport, LogFormat, LogSettings, Notice, Printer, Progress, notices};
use crate::settings::{RunExitPaths, RunSettings};
use crate::store::{Check, HeldLock, RowStatus, RunRecord, StatusCounts, Store};

pub fn run(settings: &RunSettings, printer: &Printer) -> anyhow::Result<Exit> {
    // Refused: nothing at all is written, not even the summary asked for.
    let files = clear_files(settings)?;
    let exit_files = ExitFiles::new(
        files.summary.clone(),
        files.metrics.clone(),
        &settings.input.path,
        &settings.state,
        if settings.sandbox { "sandbox".to_owned() } else { settings.api.endpoint.to_string() },
    );
    exit_files.update(|summary| summary.dry_run = settings.dry_run);
    let result = super::block_on("cibil-bulk-worker", run_file(settings, printer, &files, &exit_files));
    write_exit_files(&exit_files, result, printer)
}

/// Writes the summary and metrics file for an invocation that ends with `result`; returns
/// `result`, or the failure to write them when the run itself went well (a script reading the
/// summary would find yesterday's). After a failure, a failure to write them is only told: the
/// first error is the one to fix.
fn write_exit_files(
    exit_files: &ExitFiles,
    result: anyhow::Result<Exit>,
    printer: &Printer,
) -> anyhow::Result<Exit> {
    let exit = match &result {
        Ok(exit) => *exit,
        Err(error) => exit_code_of(error),
    };
    let written = exit_files.write(exit, result.as_ref().err());
    printer.say_what_was_not_shown();
    match (written, result) {
        (Ok(()), result) => result,
        (Err(failure), Ok(_)) => Err(failure),
        (Err(failure), Err(first)) => {
            printer.warn_error(&failure);
            Err(first)
        }
    }
}

/// A `run` whose settings could not be resolved (exit 2): its summary and metrics file, where
/// the command line names them and the gate clears them, say so, so that an old summary is not
/// taken for this run's.
pub fn settings_failed(paths: RunExitPaths, error: anyhow::Error) -> anyhow::Error {
    // Logging is not set up yet: told as the default level would.
    let printer = Printer::new(&LogSettings { verbosity: 0, format: LogFormat::Text });
    let gate = Gate::new()
        .keep("the customer file", &paths.input)
        .keep_config(Some(&paths.config))
        .keep_state(&paths.state);
    let cleared = gate
        .clear([("--summary", paths.summary.as_deref()), ("--metrics-file", paths.metrics_file.as_deref())]);
    match cleared {
        Ok([summary, metrics]) => {
            let exit_files = ExitFiles::new(summary, metrics, &paths.input, &paths.state, String::new());
            if let Err(failure) = exit_files.write(Exit::Usage, Some(&error)) {
                printer.warn_error(&failure);
            }
        }
        Err(refused) => printer.warn(refused),
    }
    error
}

/// The files this invocation writes, cleared by the gate before anything is read or sent.
#[derive(Debug)]
struct Files {
    results: Cleared,
    errors: Cleared,
    summary: Option<Cleared>,
    metrics: Option<Cleared>,
}

/// Every file `run` writes, checked at once against the customer file, the state and its
/// companions, the config file and each other: all are cleared, or the command is refused.
fn clear_files(settings: &RunSettings) -> Result<Files, Refused> {
    let (results, errors) = settings.outputs(input::is_workbook(&settings.input.path));
    let gate = Gate::new()
        .keep("the customer file", &settings.input.path)
        .keep_config(Some(&settings.config))
        .keep_state(&settings.state);
    let named = |flag: &'static str, given: bool| if given { flag } else { "the default" };
    let [results, errors, summary, metrics] = gate.clear([
        (named("--output", settings.results.is_some()), Some(&results)),
        (named("--errors", settings.errors.is_some()), Some(&errors)),
        ("--summary", settings.summary.as_deref()),
        ("--metrics-file", settings.metrics_file.as_deref()),
    ])?;
    let given = |c: Option<Cleared>| c.unwrap_or_else(|| unreachable!("a path given is cleared or refused"));
    Ok(Files { results: given(results), errors: given(errors), summary, metrics })
}

async fn run_file(
    settings: &RunSettings,
    printer: &Printer,
    files: &Files,
    exit_files: &Arc<ExitFiles>,
) -> anyhow::Result<Exit> {
    let stop = Stop::new();
    watch_signals(stop.clone(), printer.clone(), settings.engine.shutdown_grace)?;
    let path = settings.input.path.as_path();
    let probe = input::probe(path, settings.input.probe)?;
    exit_files.update(|summary| summary.sha256 = Some(probe.sha256_hex()));
    for warning in notices::encoding_warnings(path, &probe) {
        printer.warn(warning);
    }
    if settings.dry_run {
        return dry_run(settings, files, &probe, &stop, printer, exit_files);
    }
    let target = lifecycle::target(&settings.api, settings.sandbox).await?;
    if let Some(sandbox) = &target.sandbox {
        printer.note(notices::sending_to_sandbox(&sandbox.endpoint()));
    }

    let (store, check, lock) = open_state(settings, &target.scope, printer)?;
    let recorded = job::evidence(files.results.path(), &settings.state, path, store.is_empty()?);
    let job = Arc::new(Job {
        input: settings.input.clone(),
        probe,
        described: path.display().to_string(),
        settings: lifecycle::recorded_settings(&target.scope, &target.api, &settings.engine, &settings.input),
        recorded,
        api: target.api.clone(),
        engine: settings.engine.clone(),
        state: settings.state.clone(),
        outputs: vec![(files.results.clone(), Some(files.errors.clone()))],
    });
    let reporter = Arc::new(Terminal { printer: printer.clone() });
    let limiter = Arc::new(Limiter::new(&settings.engine));
    let driven = job::drive(job, store, Some(check), limiter, stop, reporter, exit_files.clone()).await;
    drop(lock);
    if let Some(sandbox) = target.sandbox {
        sandbox.shutdown().await;
    }
    let exit = driven.outcome?;
    let mut summary = exit_files.summary();
    if let Some(path) = &settings.summary {
        summary.files.insert("summary", path.clone());
    }
    printer.note(summary.render());
    Ok(exit)
}

/// What `run` says on this terminal as the driver goes: notices on stderr, and the progress bar
/// (or log lines off a terminal).
struct Terminal {
    printer: Printer,
}

impl Reporter for Terminal {
    fn tell(&self, notice: Notice) {
        if notice.is_warning() { self.printer.warn(notice) } else { self.printer.note(notice) }
    }

    fn watch(&self, run: &RunRecord, counts: &StatusCounts) -> Box<dyn Observer> {
        Box::new(Progress::new(&self.printer, run.rows_total, counts))
    }
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

/// `--dry-run`: the same checks and the same ledger look-ups, inside a transaction that is
/// rolled back, so nothing is sent and nothing is kept.
fn dry_run(
    settings: &RunSettings,
    files: &Files,
    probe: &Probe,
    stop: &Stop,
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
    if let Some(run) = store.find_run(&probe.sha256_hex())? {
        let counts = store.counts(run.id)?;
        exit_files.update(|summary| {
            summary.run_id = Some(run.id);
            summary.set_counts(&counts);
        });
        printer.report(&notices::dry_run_of_known_content(path, &run, &settings.state, &counts));
        return Ok(if counts.needing_attention() > 0 { Exit::NeedsAttention } else { Exit::Success });
    }

    let mut report = DryRunReport::default();
    let results: &Path = files.results.path();
    // A dry run needs no credentials; with them, it shows the ids a run would send.
    let order_ids = (!settings.api.credentials.registration_id.is_empty())
        .then(|| OrderIds::of(&settings.api.credentials));
    let reading = lifecycle::Reading {
        input: &settings.input,
        probe,
        described: &path.display().to_string(),
        // Nothing is kept: no settings to record.
        settings: &serde_json::Value::Null,
        recorded: &job::evidence(results, &settings.state, path, store.is_empty()?),
        stop,
        order_ids: order_ids.as_ref(),
    };
    lifecycle::look(&mut store, reading, |line, status, applicant| report.add(line, status, applicant))?;
    exit_files.update(|summary| summary.set_counts(&report.counts));

    let target = if settings.sandbox { "the sandbox".to_owned() } else { settings.api.endpoint.to_string() };
    printer.report(&report.render(path, &target, settings.engine.rate, settings.engine.concurrency.get()));
    Ok(if report.counts.get(RowStatus::Invalid) > 0 { Exit::NeedsAttention } else { Exit::Success })
}

/// The first signal — Ctrl-C, SIGTERM, SIGHUP (a closed terminal), SIGQUIT — asks the run to
/// stop: reading the file stops (nothing of it is kept), no row is claimed any more, requests in
/// flight finish, and the run ends as one interrupted, its summary, metrics and results written.
/// A second leaves at once (every change to the state is a transaction, so the state stays
/// consistent), writing the summary and metrics file first ([`ExitFiles::write_all_at_once`]).
fn watch_signals(stop: Stop, printer: Printer, grace: Duration) -> anyhow::Result<()> {
    let mut signals = Signals::listen()?;
    tokio::spawn(async move {
        let signal = signals.received().await;
        printer.warn(notices::stopping(signal, grace));
        stop.request(StopReason::Interrupted);
        signals.received().await;
        ExitFiles::leave_at_once(&printer, notices::STOPPED_AT_ONCE);
    });
    Ok(())
}
