//! A run's steps, as the driver ([`super::drive`]) takes them for `run` and the server's jobs
//! alike: where its requests go (AOPay, or a sandbox of its own); the run of this very content
//! resumed, or the file recorded as a new run in one transaction (and the dry run's look at the
//! same import, rolled back); the rows left sent through the engine, with the state opened again if
//! the engine lost it; and how the run ended — its exit status and its status in the state, from
//! one pure rule ([`conclude`]) — recorded on the run. The one place a run ends: it never ends
//! `finished`, nor exits 0 or 1, while it holds rows it could still send.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, bail};

use super::Recorded;
use super::intake::{Intake, RowRecord};
use super::{Exit, ExitFiles, Job, Reporter};
use crate::api::{ApiSettings, Client, Credentials, OrderIds};
use crate::engine::{
    self, Abort, EngineError, EngineReport, EngineSettings, Limiter, Observer, Stop, StopReason,
};
use crate::input::Probe;
use crate::output::{Notice, notices};
use crate::sandbox::{SANDBOX_COMPANY_CODE, SANDBOX_REGISTRATION_ID, Sandbox, SandboxConfig};
use crate::settings::InputSettings;
use crate::store::{Import, RowStatus, RunRecord, RunStatus, StatusCounts, Store, StoreError};
use crate::validate::Applicant;

/// Where the requests go: AOPay, or a sandbox started inside this process.
#[derive(Debug)]
pub struct Target {
    /// The endpoint and credentials: the settings', or the sandbox's own.
    pub api: ApiSettings,
    /// What the state is bound to: the endpoint's identity, or `sandbox` for any simulator.
    pub scope: String,
    pub sandbox: Option<Sandbox>,
}

/// AOPay as `api` says, or with `sandbox` a sandbox started on a free port of this machine only,
/// with its own credentials.
pub async fn target(api: &ApiSettings, sandbox: bool) -> anyhow::Result<Target> {
    let mut api = api.clone();
    if !sandbox {
        let scope = crate::api::endpoint_identity(&api.endpoint);
        return Ok(Target { api, scope, sandbox: None });
    }
    let sandbox = Sandbox::start(([127, 0, 0, 1], 0).into(), SandboxConfig::default())
        .await
        .context("cannot start the built-in sandbox")?;
    api.endpoint = sandbox.endpoint().parse().context("the sandbox's address")?;
    api.credentials = Credentials {
        registration_id: SANDBOX_REGISTRATION_ID.into(),
        company_code: SANDBOX_COMPANY_CODE.into(),
    };
    Ok(Target { api, scope: "sandbox".to_owned(), sandbox: Some(sandbox) })
}

/// What a run records of the settings it was made with, for `status --run` and whoever reads
/// the state later: never a secret.
pub fn recorded_settings(
    endpoint: &str,
    api: &ApiSettings,
    engine: &EngineSettings,
    input: &InputSettings,
) -> serde_json::Value {
    serde_json::json!({
        "endpoint": endpoint,
        "method": api.method.as_str(),
        "rate": engine.rate.to_string(),
        "concurrency": engine.concurrency.get(),
        "date_order": input.date_order.flag(),
        "min_age": input.min_age,
        "version": env!("CARGO_PKG_VERSION"),
    })
}

/// The run of `job`'s content, resumed, or its file recorded as a new run: the run, whether it
/// was resumed, and its rows' counts. What the user should know on the way is told `reporter`;
/// the summary (`ending`) learns the run in the same step as the state takes it up or keeps it.
pub fn resume_or_import(
    store: &mut Store,
    job: &Job,
    stop: &Stop,
    reporter: &dyn Reporter,
    ending: &ExitFiles,
) -> anyhow::Result<(RunRecord, bool, StatusCounts)> {
    if stop.is_stopping() {
        return Err(super::Interrupted.into());
    }
    let (run, resumed) = match store.find_run(&job.probe.sha256_hex())? {
        Some(run) => {
            if let Some(purged_at) = run.purged_at {
                reporter.tell(Notice::PurgedRun { run: run.clone(), purged_at });
            }
            let (requeued, _) = ending.record(
                || {
                    let requeued = resume(store, &run, &job.described)?;
                    Ok((requeued, store.counts(run.id)?))
                },
                |(_, counts), summary| {
                    summary.run_id = Some(run.id);
                    summary.resumed = true;
                    summary.set_counts(counts);
                },
            )?;
            if requeued > 0 {
                reporter.tell(Notice::SentAgain(requeued));
            }
            (run, true)
        }
        None => {
            for other in store.runs()?.iter().filter(|r| r.input_path == job.described) {
                let left = store.counts(other.id)?.left();
                if left > 0 {
                    reporter.tell(Notice::FileChanged {
                        file: job.described.clone(),
                        run: other.clone(),
                        left,
                    });
                }
            }
            let reading = Reading {
                input: &job.input,
                probe: &job.probe,
                described: &job.described,
                settings: &job.settings,
                recorded: &job.recorded,
                stop,
                order_ids: Some(&OrderIds::of(&job.api.credentials)),
            };
            let Imported { run, sent_before } = import(store, reading, ending)?;
            if sent_before > 0 {
                reporter.tell(Notice::SentAgainByCustomer(sent_before));
            }
            (run, false)
        }
    };
    // Where the file is, whatever it was called: `export` keeps it from being overwritten.
    store.set_input_place(run.id, &job.input.path)?;
    reporter.recorded(store, &run)?;
    let counts = store.counts(run.id)?;
    Ok((run, resumed, counts))
}

/// Takes up `run` again as `described` (its file as named now): rows whose requests were in
/// flight when it stopped go back to pending, to be sent with the order ids they went out with.
/// Returns how many did.
pub fn resume(store: &mut Store, run: &RunRecord, described: &str) -> Result<usize, StoreError> {
    store.resume_run(run.id, described)?;
    store.requeue_in_flight(run.id)
}

/// A file recorded as a new run: the run, and how many of its customers an earlier run sent
/// without an answer (they go out again with the order ids they went out with).
#[derive(Debug)]
pub struct Imported {
    pub run: RunRecord,
    pub sent_before: u64,
}

/// What an import reads and records: a customer file as the run names it, the settings the run
/// records, the lost-state guard's evidence, and the stop that ends the reading early.
#[derive(Debug, Clone, Copy)]
pub struct Reading<'a> {
    pub input: &'a InputSettings,
    pub probe: &'a Probe,
    /// The file as the state records it.
    pub described: &'a str,
    /// What the run records of its settings.
    pub settings: &'a serde_json::Value,
    /// What results files already there (at the paths given with them) say was registered.
    pub recorded: &'a [(Recorded, PathBuf)],
    /// A signal asks the reading to stop: nothing is kept, and the run is interrupted.
    pub stop: &'a Stop,
    /// The merchant's order ids, for customers the file gives none (none for a dry run without
    /// credentials: the ids shown are then the state's own).
    pub order_ids: Option<&'a OrderIds>,
}

/// Checks every row and records the file as a new run, in one transaction: a file whose date
/// order cannot be trusted, a signal before the commit, or a crash halfway leaves no trace in the
/// state. The commit and the summary learning the run (`ending`) are one step: a summary
/// written at once by a second signal names the run whenever the state kept it.
///
/// `reading.recorded` is what an existing results file says was registered: if the new run would
/// send any of those customers, the state that registered them is not this one (moved, deleted,
/// another working directory), and sending would register them again: the import is refused,
/// and nothing is kept.
pub fn import(store: &mut Store, reading: Reading<'_>, ending: &ExitFiles) -> anyhow::Result<Imported> {
    let (import, counts) = checked(store, reading, |_, _, _| {})?;
    let sent_before = import.resent();
    let id = ending.record(
        || {
            // A signal since the last row was read: nothing is kept, as during the reading.
            if reading.stop.is_stopping() {
                return Err(super::Interrupted.into());
            }
            Ok(import.finish()?)
        },
        |id, summary| {
            summary.run_id = Some(*id);
            summary.resumed = false;
            summary.set_counts(&counts);
        },
    )?;
    // The whole file is in the log: into the database file with it, so that a copy taken now
    // holds the run. Not worth stopping for (the log is checkpointed while sending too): a disk
    // too full for it is met, and said, by the run's first claim.
    if let Err(e) = store.checkpoint() {
        tracing::warn!("cannot move the state's log into its database file: {e}");
    }
    let run = store.run(id)?.context("the run just recorded is missing")?;
    Ok(Imported { run, sent_before })
}

/// `--dry-run`: everything [`import`] does, `each` seeing every row as it would be recorded (its
/// line, status and the values to send), then rolled back: nothing is kept.
pub fn look(
    store: &mut Store,
    reading: Reading<'_>,
    each: impl FnMut(u64, RowStatus, Option<&Applicant>),
) -> anyhow::Result<()> {
    // Dropped unfinished, the import leaves no trace.
    checked(store, reading, each).map(drop)
}

/// The import of every row, checked, not yet committed, and its rows' counts.
fn checked<'s>(
    store: &'s mut Store,
    reading: Reading<'_>,
    mut each: impl FnMut(u64, RowStatus, Option<&Applicant>),
) -> anyhow::Result<(Import<'s>, StatusCounts)> {
    let Reading { input, probe, described, settings, recorded, stop, order_ids } = reading;
    let intake = Intake::open(input, probe)?;
    let locator = intake.locator().clone();
    let state = store.path().to_owned();
    let (mut first_recorded, mut recorded_rows) = (None, 0u64);
    let mut counts = StatusCounts::default();
    let mut import = store.begin_import(
        described,
        &probe.sha256_hex(),
        intake.columns.headers(),
        &locator,
        settings,
        order_ids,
    )?;
    intake.scan(|row, admission, checked| {
        if stop.is_stopping() {
            return Err(super::Interrupted.into());
        }
        let record = RowRecord::new(row.line, admission, checked, input.audience);
        let status = import.add(&record.new_row(), row.cells.iter())?;
        counts.add(status, 1);
        each(row.line, status, record.applicant.as_ref());
        if let (RowStatus::Pending, Some(applicant)) = (status, &record.applicant)
            && let Some((_, results)) =
                recorded.iter().find(|(r, _)| r.contains(&applicant.pancard, checked.order_id.as_deref()))
        {
            first_recorded.get_or_insert((row.line, results));
            recorded_rows += 1;
        }
        Ok(())
    })?;
    if let Some((line, results)) = first_recorded {
        bail!(notices::recorded_elsewhere(results, &state, &locator.row(line), recorded_rows));
    }
    Ok((import, counts))
}

/// What sending did: the store — opened again from the state's path if the engine lost it, or
/// why it could not be — what the engine did, and how its machinery failed, if it did.
#[derive(Debug)]
pub struct Sent {
    pub store: Result<Store, StoreError>,
    pub report: EngineReport,
    pub error: Option<EngineError>,
}

/// Sends `run`'s rows left through the engine.
#[allow(clippy::too_many_arguments)]
pub async fn send_rows(
    store: Store,
    run: &RunRecord,
    client: Client,
    engine: &EngineSettings,
    limiter: Arc<Limiter>,
    observer: impl Observer + 'static,
    stop: Stop,
    state: &Path,
) -> Sent {
    let output = engine::run(store, run.id, client, engine.clone(), limiter, observer, stop).await;
    let store = match output.store {
        Some(store) => Ok(store),
        None => Store::open(state),
    };
    Sent { store, report: output.report, error: output.error }
}

/// How a run ended, as recorded.
#[derive(Debug)]
pub struct Ended {
    pub exit: Exit,
    pub status: RunStatus,
    pub counts: StatusCounts,
    /// The run as the state now has it.
    pub run: RunRecord,
    /// What stopped the run, as its ending tells it: nothing for a run that finished (a signal
    /// after its last row changes nothing), and a reason for every run stopped early — one of
    /// its own when nothing said why it stopped with rows left.
    pub stop: Option<StopReason>,
}

/// Ends `run`: rows whose requests were abandoned at the end of the shutdown grace go back to
/// pending, and the run records how it ended ([`conclude`]), its counts read back from the state.
///
/// A state that cannot record the end (a full disk) ends the run all the same, as one whose
/// state failed: aborted (exit 3), saying so — the engine's own word for it if its commits failed
/// first — with the counts the state holds (rows sent without an answer stay `in_flight`, to be
/// sent again under their order ids). Fails only when the state cannot even be read.
pub fn end(
    store: &Store,
    run: RunRecord,
    engine_failed: bool,
    stop: Option<&StopReason>,
) -> Result<Ended, StoreError> {
    let requeued = store.requeue_in_flight(run.id);
    let counts = store.counts(run.id)?;
    let mut not_recorded = requeued.err();
    let (mut exit, mut status) = conclude(engine_failed || not_recorded.is_some(), stop, &counts);
    if not_recorded.is_none()
        && let Err(e) = store.end_run(run.id, status, exit.code())
    {
        (exit, status) = conclude(true, stop, &counts);
        not_recorded = Some(e);
    }
    let run = store.run(run.id)?.unwrap_or(run);
    let stop = match (not_recorded, status, stop) {
        (Some(_), _, Some(stop @ StopReason::Aborted(Abort::StateFailed { .. }))) => Some(stop.clone()),
        (Some(e), _, _) => Some(StopReason::Aborted(Abort::StateFailed { error: e.to_string() })),
        (None, RunStatus::Finished, _) => None,
        (None, _, Some(stop)) => Some(stop.clone()),
        (None, _, None) if engine_failed => None,
        (None, _, None) => Some(StopReason::Aborted(Abort::Said(notices::left_unsent(counts.unsent())))),
    };
    Ok(Ended { exit, status, counts, run, stop })
}

/// How a run ended, from what stopped it and what is left: the exit status and the run's status
/// in the state. Rows it could still send (pending, or sent without an answer) outweigh everything
/// else: such a run did not finish, whatever else it met; and a run with none left finished,
/// whatever stopped it at the very end.
pub fn conclude(engine_failed: bool, stop: Option<&StopReason>, counts: &StatusCounts) -> (Exit, RunStatus) {
    let exit = match stop {
        _ if engine_failed => Exit::Aborted,
        _ if counts.unsent() > 0 => match stop {
            Some(StopReason::Interrupted) => Exit::Interrupted,
            // Aborted, or nothing said why: the engine gave up on them.
            _ => Exit::Aborted,
        },
        Some(StopReason::Aborted(_)) => Exit::Aborted,
        _ if counts.needing_attention() > 0 => Exit::NeedsAttention,
        _ => Exit::Success,
    };
    let status = match exit {
        Exit::Success | Exit::NeedsAttention => RunStatus::Finished,
        Exit::Interrupted => RunStatus::Interrupted,
        Exit::Usage | Exit::Aborted => RunStatus::Aborted,
    };
    (exit, status)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(pairs: &[(RowStatus, u64)]) -> StatusCounts {
        let mut counts = StatusCounts::default();
        for (status, n) in pairs {
            counts.add(*status, *n);
        }
        counts
    }

    #[test]
    fn how_a_run_ends() {
        let done = counts(&[(RowStatus::Registered, 5), (RowStatus::Known, 1), (RowStatus::Duplicate, 1)]);
        let attention = counts(&[(RowStatus::Registered, 5), (RowStatus::Invalid, 1)]);
        let left = counts(&[(RowStatus::Registered, 5), (RowStatus::Pending, 2)]);
        let left_and_attention =
            counts(&[(RowStatus::Registered, 5), (RowStatus::Failed, 1), (RowStatus::Pending, 2)]);
        let aborted = StopReason::Aborted(Abort::Credentials { detail: "401".into() });
        for (failed, stop, counts, expected) in [
            (false, None, &done, (Exit::Success, RunStatus::Finished)),
            (false, None, &attention, (Exit::NeedsAttention, RunStatus::Finished)),
            // Left to send, yet nothing stopped the run: it did not finish.
            (false, None, &left, (Exit::Aborted, RunStatus::Aborted)),
            // Left to send beside rows that need attention: still not finished (a run that lost
            // its workers once ended 1, "finished", with most rows unsent).
            (false, None, &left_and_attention, (Exit::Aborted, RunStatus::Aborted)),
            (false, Some(&StopReason::Interrupted), &left, (Exit::Interrupted, RunStatus::Interrupted)),
            (
                false,
                Some(&StopReason::Interrupted),
                &left_and_attention,
                (Exit::Interrupted, RunStatus::Interrupted),
            ),
            // Interrupted after the last row: the run's own outcome.
            (false, Some(&StopReason::Interrupted), &done, (Exit::Success, RunStatus::Finished)),
            (false, Some(&StopReason::Interrupted), &attention, (Exit::NeedsAttention, RunStatus::Finished)),
            (false, Some(&aborted), &attention, (Exit::Aborted, RunStatus::Aborted)),
            (false, Some(&aborted), &left, (Exit::Aborted, RunStatus::Aborted)),
            // The machinery failing outweighs any stop and any count.
            (true, Some(&StopReason::Interrupted), &done, (Exit::Aborted, RunStatus::Aborted)),
            (true, None, &done, (Exit::Aborted, RunStatus::Aborted)),
        ] {
            assert_eq!(conclude(failed, stop, counts), expected, "{failed} {stop:?} {counts:?}");
        }
    }
}
