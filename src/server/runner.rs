//! The job runner: takes queued uploads in upload order, one at a time, and drives each to its end
//! with the one run driver (`job::drive`) — the very steps `run` takes — on the one state: one
//! engine at a time, so one rate limit and one ledger hold across jobs, and a customer in two
//! uploads is sent once (the second job finds them in the ledger). The runner keeps one limiter
//! for its life, and every job's engine paces itself with it: the `rate + burst` promise, a pause
//! a 429 asked for, and the quota the adaptive limiter found hold across jobs.
//!
//! A shutdown stops the running job as Ctrl-C stops `run` (requests in flight finish, the rest
//! stays pending); the next start queues it again, with every job that was running when the
//! process died, and resumes them in upload order with `run`'s crash guarantees. The runner is
//! supervised: if it ever dies, `/healthz` says so instead of "ok".

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::check::to_json;
use super::context::Context;
use super::files::{Format, Kind};
use super::live::{Live, Watcher};
use super::report::Choices;
use crate::engine::{Abort, Limiter, Observer, Stop, StopReason};
use crate::input;
use crate::job::{self, Exit, ExitFiles, Job, Reporter, lifecycle};
use crate::output::{Notice, RunSummary, advice, notices};

/// The key of an ended job's summary (as the state keeps it, not as the API shows it) saying
/// whether only the team lead can lift what stopped it.
pub const NEEDS_THE_TEAM_LEAD: &str = "stop_needs_team_lead";
use crate::store::{RunRecord, StatusCounts, Store, StoreError, UploadRecord, UploadState};

/// Whether the job runner is alive: set when it starts, cleared when it ends however it ends (a
/// panic included), for `/healthz`.
#[derive(Debug, Default)]
pub struct Alive(AtomicBool);

impl Alive {
    pub fn is_alive(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Clears [`Alive`] when dropped: at the runner's end, or as a panic unwinds it.
struct Lifeline(Arc<Alive>);

impl Drop for Lifeline {
    fn drop(&mut self) {
        (self.0).0.store(false, Ordering::Relaxed);
    }
}

/// The job runner: takes queued uploads in upload order, one at a time, until `shutdown`.
pub async fn run_jobs(
    ctx: Arc<Context>,
    mut store: Store,
    live: Live,
    wake: Arc<Notify>,
    shutdown: CancellationToken,
    alive: Arc<Alive>,
) {
    alive.0.store(true, Ordering::Relaxed);
    let _lifeline = Lifeline(alive);
    let limiter = Arc::new(Limiter::new(&ctx.engine));
    let mut retention_due = tokio::time::Instant::now();
    loop {
        if shutdown.is_cancelled() {
            break;
        }
        // Between jobs, never during one: erasing compacts the database, which would hold a
        // job's writes up.
        if tokio::time::Instant::now() >= retention_due {
            store = match erase_old_personal_data(&ctx, store).await {
                Some(store) => store,
                None => {
                    shutdown.cancel();
                    break;
                }
            };
            retention_due = tokio::time::Instant::now() + RETENTION_EVERY;
        }
        let next = match store.next_queued() {
            Ok(next) => next,
            Err(e) => {
                tracing::error!("cannot read the queue of uploads: {e}");
                None
            }
        };
        let Some(upload) = next else {
            tokio::select! {
                () = wake.notified() => continue,
                () = tokio::time::sleep_until(retention_due) => continue,
                () = shutdown.cancelled() => break,
            }
        };
        match store.start_job(upload.id) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                tracing::error!(upload = upload.id, "cannot start the job: {e}");
                // Wait for something to change rather than spin on a failing state.
                tokio::select! {
                    () = wake.notified() => continue,
                    () = shutdown.cancelled() => break,
                }
            }
        }
        // By its number only: a clerk's file is often named after a customer, and the log (the
        // journal) is kept as long as its own settings say, whatever the purge erases.
        tracing::info!(upload = upload.id, "registering upload {}", upload.id);
        let after = run_job(&ctx, store, &upload, &live, &shutdown, &limiter).await;
        live.send_replace(None);
        match after {
            Some(next) => store = next,
            None => {
                // Nothing can be recorded any more: stop serving rather than take uploads that
                // would never be sent. The next start resumes the job.
                tracing::error!("the state database cannot be used any more: the server stops");
                shutdown.cancel();
                break;
            }
        }
    }
}

/// How often the runner erases personal data kept past `--keep-personal-data`: at start, then
/// this often (between jobs).
pub const RETENTION_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// Who the audit log says erased data on the server's own schedule.
const RETENTION: &str = "the server's retention";

/// Erases the personal data of runs and uploads done longer ago than `--keep-personal-data`, as
/// `cibil-bulk purge --older-than` does, and records it in the audit log. A failure is logged and
/// tried again at the next pass; `None` only when the runner's connection was lost with it.
async fn erase_old_personal_data(ctx: &Arc<Context>, mut store: Store) -> Option<Store> {
    let keep = i64::try_from(ctx.keep_personal_data.as_millis()).unwrap_or(i64::MAX);
    let state = ctx.state.clone();
    let erased = tokio::task::spawn_blocking(move || {
        let cutoff = crate::store::now_ms().saturating_sub(keep);
        let purged = store.purge(cutoff, RETENTION);
        (store, purged)
    })
    .await;
    let Ok((store, purged)) = erased else {
        tracing::error!("erasing old personal data stopped unexpectedly");
        return None;
    };
    match purged {
        Ok(purged) if purged.is_empty() => {}
        Ok(purged) => tracing::info!("{}", notices::purged(&purged, &state)),
        Err(e) => tracing::error!("cannot erase old personal data (tried again in an hour): {e}"),
    }
    Some(store)
}

/// One job, to its end: its outcome is recorded on the upload whatever happens. Returns the
/// store for the next, or `None` when the state cannot be opened again.
async fn run_job(
    ctx: &Arc<Context>,
    store: Store,
    upload: &UploadRecord,
    live: &Live,
    shutdown: &CancellationToken,
    limiter: &Arc<Limiter>,
) -> Option<Store> {
    let stop = Stop::new();
    let watcher = {
        let (stop, shutdown) = (stop.clone(), shutdown.clone());
        tokio::spawn(async move {
            shutdown.cancelled().await;
            stop.request(StopReason::Interrupted);
        })
    };
    let ending = ExitFiles::new(
        None,
        ctx.metrics_file.clone(),
        Path::new(&upload.file_name),
        &ctx.state,
        ctx.endpoint_scope.clone(),
    );
    ending.update(|summary| summary.sha256 = Some(upload.sha256.clone()));
    // The file is read as its check read it: with its uploader's choices. A report that cannot be
    // read ends the job before anything is sent, rather than read the file another way.
    let choices = store.upload_report(upload.id).map_err(anyhow::Error::from).and_then(|json| match json {
        Some(json) => Ok(serde_json::from_str::<ChoicesOf>(&json)
            .map_err(|e| anyhow::anyhow!("upload {}'s check report cannot be read: {e}", upload.id))?
            .choices),
        None => Ok(Choices::default()),
    });
    let (store, outcome) = match choices.and_then(|choices| job_of(ctx, upload, &choices)) {
        Ok(job) => {
            let reporter = Arc::new(JobLog { upload: upload.id, live: live.clone() });
            let driven =
                job::drive(Arc::new(job), store, None, limiter.clone(), stop, reporter, ending.clone()).await;
            (driven.store, driven.outcome)
        }
        Err(e) => (Some(store), Err(e)),
    };
    watcher.abort();
    let store = match store {
        Some(store) => store,
        None => match Store::open(&ctx.state) {
            Ok(store) => store,
            Err(e) => {
                tracing::error!(upload = upload.id, "the state database cannot be opened again: {e}");
                return None;
            }
        },
    };
    let (state, stop) = match &outcome {
        Ok(exit) => (upload_state(*exit), ending.summary().stop),
        Err(e) => {
            tracing::error!(upload = upload.id, "the job stopped: {e:#}");
            let stop = StopReason::Aborted(Abort::Said(notices::job_stopped(e)));
            ending.update(|summary| summary.set_stop(Some(&stop)));
            (UploadState::Aborted, Some(stop))
        }
    };
    // Said to whoever uploaded the file, on its page and through the API: what they can do, or
    // whom to ask.
    let reason = stop.as_ref().map(advice::stop_reason_on_the_server);
    // A job that could not go on aborted, whatever the error: the upload is left to register
    // again, as a run that stopped early is.
    let exit = outcome.as_ref().map_or(Exit::Aborted, |exit| *exit);
    if let Err(e) = ending.write(exit, outcome.as_ref().err()) {
        tracing::warn!(upload = upload.id, "the metrics file could not be written: {e:#}");
    }
    let mut summary = serde_json::to_value(ending.summary()).unwrap_or_default();
    if let Some(object) = summary.as_object_mut() {
        object.insert("stop_reason".into(), reason.clone().into());
        object.insert(
            NEEDS_THE_TEAM_LEAD.into(),
            stop.as_ref().is_some_and(advice::stop_needs_the_team_lead).into(),
        );
    }
    match store.end_job(upload.id, state, &to_json(&summary), reason.as_deref()) {
        Ok(_) => tracing::info!(upload = upload.id, "upload {} {state}", upload.id),
        Err(e) => tracing::error!(upload = upload.id, "cannot record how the job ended: {e}"),
    }
    Some(store)
}

/// The upload's state once its job ended with `exit`.
fn upload_state(exit: Exit) -> UploadState {
    match exit {
        Exit::Success | Exit::NeedsAttention => UploadState::Finished,
        Exit::Interrupted => UploadState::Interrupted,
        Exit::Usage | Exit::Aborted => UploadState::Aborted,
    }
}

/// The run of `upload`: its file as checked (it must not have changed on the server's disk
/// since), read with its uploader's `choices`, its settings, and its results and errors files — a
/// workbook upload's as workbooks and as CSV for scripts, from one read of the state.
/// The choices a check report holds (none in a report from before there were any).
#[derive(serde::Deserialize)]
struct ChoicesOf {
    #[serde(default)]
    choices: Choices,
}

fn job_of(ctx: &Context, upload: &UploadRecord, choices: &Choices) -> anyhow::Result<Job> {
    let path = ctx.uploads.original(upload.id);
    let input = ctx.input_with(&path, choices);
    let probe = input::probe(&path, input.probe)?;
    anyhow::ensure!(probe.sha256_hex() == upload.sha256, notices::upload_changed(upload.id, &path));
    let mut settings = lifecycle::recorded_settings(&ctx.endpoint_scope, &ctx.api, &ctx.engine, &input);
    settings["upload"] = upload.id.into();
    let file = |kind, format| ctx.uploads.writable(upload.id, kind, format);
    let mut outputs = Vec::new();
    if upload.workbook {
        outputs.push((file(Kind::Results, Format::Xlsx)?, Some(file(Kind::Errors, Format::Xlsx)?)));
    }
    outputs.push((file(Kind::Results, Format::Csv)?, Some(file(Kind::Errors, Format::Csv)?)));
    Ok(Job {
        input,
        probe,
        // As logged and recorded: a customer's identifiers in a file's name masked.
        described: format!("{} (upload {})", crate::mask::mask_identifiers_in(&upload.file_name), upload.id),
        settings,
        // The server writes its own results files: none can record this upload's rows.
        recorded: Vec::new(),
        api: ctx.api.clone(),
        engine: ctx.engine.clone(),
        state: ctx.state.clone(),
        outputs,
    })
}

/// What a job says as it goes: notices to the log, the rows to the live page, and the run tied
/// to its upload as soon as it is known.
struct JobLog {
    upload: i64,
    live: Live,
}

impl Reporter for JobLog {
    fn tell(&self, notice: Notice) {
        if notice.is_warning() {
            tracing::warn!(upload = self.upload, "{notice}");
        } else {
            tracing::info!(upload = self.upload, "{notice}");
        }
    }

    fn recorded(&self, store: &Store, run: &RunRecord) -> Result<(), StoreError> {
        store.set_upload_run(self.upload, run.id)
    }

    fn watch(&self, run: &RunRecord, counts: &StatusCounts) -> Box<dyn Observer> {
        Box::new(Watcher::new(self.live.clone(), self.upload, run.rows_total, counts))
    }
}

/// The summary of `upload` before its job has ended: nothing sent, no exit status yet.
pub fn before_job(ctx: &Context, upload: &UploadRecord) -> RunSummary {
    let mut summary =
        RunSummary::before_run(Path::new(&upload.file_name), &ctx.state, ctx.endpoint_scope.clone());
    summary.sha256 = Some(upload.sha256.clone());
    summary.run_id = upload.run_id;
    summary.stop_reason.clone_from(&upload.stop_reason);
    summary
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_runner_that_dies_is_not_taken_for_alive() {
        let alive = Arc::new(Alive::default());
        alive.0.store(true, Ordering::Relaxed);
        let lifeline = Lifeline(alive.clone());
        let died = tokio::spawn(async move {
            let _lifeline = lifeline;
            panic!("a job runner that panics");
        })
        .await;
        assert!(died.is_err_and(|e| e.is_panic()));
        assert!(!alive.is_alive(), "/healthz must not say ok once the runner is gone");
    }
}
