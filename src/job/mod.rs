//! The one run driver: a customer file's run from its state to its results, for every caller —
//! `cibil-bulk run` and the server's jobs alike. [`drive`] resumes the run of this very content
//! or imports the file as a new run, sends the rows left through the engine, ends the run (its
//! exit status and status in the state from one pure rule, [`lifecycle::conclude`]), writes the
//! results and errors files from the state, and keeps the summary and metrics ([`ExitFiles`]) up
//! to date as it goes. What differs between callers — where notices go, who watches the rows go
//! out — is a [`Reporter`]; how the end is said (a terminal, a page, an API) stays with them.
//!
//! | module | owns |
//! |---|---|
//! | `exit` | the exit status contract, and the status an error ends with |
//! | `intake` | the one pass over a customer file that `validate`, `run`, the dry run and the server's upload check share |
//! | `lifecycle` | a run's steps: its target, resume, import (and the dry run's look), send, end |
//! | `exit_files` | the summary and the metrics file, written on every exit the process lives to make |
//! | `recorded` | the lost-state guard's evidence: what a results file already there records as registered |
//!
//! Below `commands` and `server`, which both call it; it never reaches up to either.

mod exit;
mod exit_files;
pub mod intake;
pub mod lifecycle;
mod recorded;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;

pub use exit::{Exit, ExitFileNotWritten, Interrupted, ResultsNotWritten, exit_code_of};
pub use exit_files::ExitFiles;
pub use recorded::{Recorded, evidence, recorded_registrations};

use crate::api::{ApiSettings, Client};
use crate::engine::{Abort, EngineError, EngineReport, EngineSettings, Limiter, Observer, Stop, StopReason};
use crate::gate::Cleared;
use crate::input::Probe;
use crate::output::{Notice, QuotaFound, notices, write_results_to};
use crate::settings::InputSettings;
use crate::store::{Check, RunRecord, StatusCounts, Store};

/// One run of a customer file, as its caller set it up: what to read, how to send, where the
/// results go.
#[derive(Debug)]
pub struct Job {
    /// How the file is read and judged; `input.path` is the file to read.
    pub input: InputSettings,
    pub probe: Probe,
    /// The file as the state records it: its path, or an upload's name and id.
    pub described: String,
    /// What a new run records of its settings (never a secret).
    pub settings: serde_json::Value,
    /// What results files already there say was registered, and where they are: if the run would
    /// send any of those customers, the state that registered them is not this one, and the
    /// import is refused. The server writes its own results files, and has none.
    pub recorded: Vec<(Recorded, PathBuf)>,
    pub api: ApiSettings,
    pub engine: EngineSettings,
    pub state: PathBuf,
    /// The results file and the errors file, cleared by the gate; several pairs are written from
    /// one read of the state (a workbook upload's files, and their CSV twins).
    pub outputs: Vec<(Cleared, Option<Cleared>)>,
}

/// What differs between the callers of [`drive`]: where notices go, and who watches the rows.
pub trait Reporter: Send + Sync {
    /// Something the user should know about the run, as it is learnt.
    fn tell(&self, notice: Notice);
    /// The run is known (found, or just recorded): whoever keeps a record of it (an upload) ties
    /// it now, on the state the driver holds.
    fn recorded(&self, _store: &Store, _run: &RunRecord) -> Result<(), crate::store::StoreError> {
        Ok(())
    }
    /// Who watches this invocation's rows go out (a progress bar, a live page).
    fn watch(&self, run: &RunRecord, counts: &StatusCounts) -> Box<dyn Observer>;
}

/// How a drive ended: the store, unless the thread that held it died (the caller opens it again),
/// and the exit status — or the error that ended the run, its outcomes recorded as far as they
/// went.
#[derive(Debug)]
pub struct Driven {
    pub store: Option<Store>,
    pub outcome: anyhow::Result<Exit>,
}

/// Drives the run of `job` on `store` to its end. `check` is the state's structural check, still
/// running: no row is claimed, and no result is reported, before it has cleared the state.
/// `ending` learns everything the summary and the metrics file say, whatever ends the run; the
/// caller writes them.
pub async fn drive(
    job: Arc<Job>,
    store: Store,
    mut check: Option<Check>,
    limiter: Arc<Limiter>,
    stop: Stop,
    reporter: Arc<dyn Reporter>,
    ending: Arc<ExitFiles>,
) -> Driven {
    let prepared = {
        let (job, reporter, stop, ending) = (job.clone(), reporter.clone(), stop.clone(), ending.clone());
        blocking(store, move |store| lifecycle::resume_or_import(store, &job, &stop, &*reporter, &ending))
            .await
    };
    let (mut store, (run, resumed, counts)) = match prepared {
        (Some(store), Ok(prepared)) => (store, prepared),
        (store, Err(error)) => return Driven { store, outcome: Err(error) },
        (None, Ok(_)) => unreachable!("a step that returned kept its store"),
    };
    ending.update(|summary| {
        summary.run_id = Some(run.id);
        summary.resumed = resumed;
        summary.set_counts(&counts);
    });

    let mut report = EngineReport::default();
    let mut engine_error = None;
    if counts.left() > 0 && !stop.is_stopping() {
        // Not a row is claimed from a state that is not known to be sound.
        if let Some(Err(e)) = check.as_mut().map(Check::wait) {
            return Driven { store: Some(store), outcome: Err(e.into()) };
        }
        let client = match Client::new(&job.api) {
            Ok(client) => client,
            Err(e) => return Driven { store: Some(store), outcome: Err(e.into()) },
        };
        let observer = ending.counting(reporter.watch(&run, &counts), &counts);
        let sent = lifecycle::send_rows(
            store,
            &run,
            client,
            &job.engine,
            limiter,
            observer,
            stop.clone(),
            &job.state,
        )
        .await;
        (report, engine_error) = (sent.report, sent.error);
        store = match sent.store {
            Ok(store) => store,
            Err(lost) => return Driven { store: None, outcome: Err(state_lost(&ending, &report, lost)) },
        };
    }
    if report.stop.is_none() && engine_error.is_none() {
        // Stopped before a row was sent.
        report.stop = stop.reason();
    }

    let finished = {
        let (job, ending, reporter) = (job.clone(), ending.clone(), reporter.clone());
        blocking(store, move |store| {
            let outcome = finish(store, &job, run, &report, engine_error, &ending, &*reporter);
            // The run's end into the database file: a plain copy of it taken now holds the whole
            // run, even while the server keeps the state open for the next one.
            if let Err(e) = store.checkpoint() {
                tracing::warn!("cannot move the state's log into its database file: {e}");
            }
            outcome
        })
        .await
    };
    let (store, outcome) = finished;
    // A damaged state explains whatever went wrong after it was opened; the results were read
    // from it while it was being checked.
    if let Some(Err(e)) = check.as_mut().map(Check::wait) {
        return Driven { store, outcome: Err(e.into()) };
    }
    Driven { store, outcome }
}

/// Ends the run, writes its results and errors files from the state, and records the end in
/// the summary. Returns the exit status — or the engine's failure, once the results show where
/// each row is.
fn finish(
    store: &mut Store,
    job: &Job,
    run: RunRecord,
    report: &EngineReport,
    engine_error: Option<EngineError>,
    ending: &ExitFiles,
    reporter: &dyn Reporter,
) -> anyhow::Result<Exit> {
    let ended = lifecycle::end(store, run, engine_error.is_some(), report.stop.as_ref());
    let lifecycle::Ended { exit, counts, run, stop, .. } = match ended {
        Ok(ended) => ended,
        Err(lost) => return Err(state_lost(ending, report, lost)),
    };
    ending.stop_counting();
    ending.update(|summary| {
        summary.set_counts(&counts);
        summary.requests = report.requests;
        summary.throttled = report.throttled;
        summary.quota = report.quota.map(|q| QuotaFound::new(q.accepted_per_second, q.holding_per_second));
        summary.set_stop(stop.as_ref());
        summary.exit_code = exit.code();
    });

    let places: Vec<_> = job.outputs.iter().map(|(r, e)| (r, e.as_ref())).collect();
    let written = write_results_to(store, &run, &places, job.input.audience)
        .context(ResultsNotWritten { run_id: run.id, state: job.state.clone() });
    match written.as_ref().map(|w| w.first()) {
        Ok(Some(first)) => ending.update(|summary| {
            summary.returning_customers = first.returning_customers;
            summary.files.insert("results", first.results.clone());
            if let Some(errors) = &first.errors {
                summary.files.insert("errors", errors.clone());
            }
        }),
        Ok(None) => {}
        // The results file there, if any, is an earlier one: it lags the state.
        Err(_) => ending.update(|summary| summary.results_may_lag = true),
    }
    ending.finished();
    match (engine_error, written) {
        // The engine's failure is the one to fix: writing the results on the same state (a full
        // disk, say) may fail for the same reason, and is told after it.
        (Some(error), written) => {
            if let Err(also) = written {
                reporter.tell(Notice::Also(format!("{also:#}")));
            }
            Err(anyhow::Error::from(error).context(notices::ENGINE_STOPPED))
        }
        (None, written) => written.map(|_| exit),
    }
}

/// The run stopped, and its state can no longer be read (nor, so, its end recorded): the summary
/// says that it aborted because the state failed — the engine's own word for it if its commits
/// failed first — that the results file was not written and may lag, and counts what this run
/// saw recorded (the live counts, never outcomes a failed commit lost). Returns the error that
/// ends the run (exit 3: requests may have been sent).
fn state_lost(ending: &ExitFiles, report: &EngineReport, lost: crate::store::StoreError) -> anyhow::Error {
    let stop = match &report.stop {
        Some(stop @ StopReason::Aborted(Abort::StateFailed { .. })) => stop.clone(),
        _ => StopReason::Aborted(Abort::StateFailed { error: lost.to_string() }),
    };
    ending.update(|summary| {
        summary.requests = summary.requests.max(report.requests);
        summary.throttled = summary.throttled.max(report.throttled);
        summary.set_stop(Some(&stop));
        if let Some(reason) = &mut summary.stop_reason {
            reason.push_str("; ");
            reason.push_str(notices::STATE_LOST);
        }
        summary.results_may_lag = true;
    });
    ending.finished();
    anyhow::Error::from(EngineError::Store(lost)).context(notices::STATE_LOST)
}

/// Runs `step` on `store` on a thread that may block (reading a file, writing results), so that
/// the async runtime — the server's pages among its tasks — goes on meanwhile. The store comes
/// back unless the step panicked.
async fn blocking<T: Send + 'static>(
    mut store: Store,
    step: impl FnOnce(&mut Store) -> anyhow::Result<T> + Send + 'static,
) -> (Option<Store>, anyhow::Result<T>) {
    match tokio::task::spawn_blocking(move || {
        let result = step(&mut store);
        (store, result)
    })
    .await
    {
        Ok((store, result)) => (Some(store), result),
        Err(e) => (None, Err(EngineError::Panicked(notices::A_STEP_PANICKED)).context(e.to_string())),
    }
}
