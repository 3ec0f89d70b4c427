//! Everything the server asks of the rest of the crate, in one file: checking an upload with the
//! very checks of `validate` and `run` (`commands::intake::Intake`) and writing its errors file,
//! recording a job's rows as a run (or finding the run of the same content and resuming it),
//! sending them through the engine and ending the run — each the very step `run` takes
//! (`commands::lifecycle`) — then writing the results and errors files from the state, and the
//! summary `run --summary` writes.
//!
//! Jobs run one after another in upload order, on one state database: one engine at a time, so
//! one rate limit and one ledger hold across jobs, and a customer in two uploads is sent once
//! (the second job finds them in the ledger). The runner keeps one limiter for its life, and
//! every job's engine run paces itself with it: the `rate + burst` promise, a pause a 429 asked
//! for, and the quota the adaptive limiter found hold across jobs.
//!
//! A shutdown stops the running job as Ctrl-C stops `run` (requests in flight finish, the rest
//! stays pending); the next start queues it again, with every job that was running when the
//! process died, and resumes them in upload order with `run`'s crash guarantees.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context as _;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::files::{Format, Kind, Uploads};
use super::live::{Live, Watcher};
use super::report::{Problem, ROWS_TO_FIX_SHOWN, Report, RowToFix, counts_map};
use crate::api::{ApiSettings, Client};
use crate::commands::Exit;
use crate::commands::intake::Intake;
use crate::commands::lifecycle::{self, Imported};
use crate::engine::{self, EngineReport, EngineSettings, Limiter, Stop, StopReason};
use crate::input::{self, InputError};
use crate::output::{
    ErrorsFile, RunSummary, ValidationSummary, cell_flags, error_text, format_of, write_results,
    write_results_to,
};
use crate::settings::InputSettings;
use crate::store::{
    NewUpload, RowStatus, RunRecord, RunStatus, StatusCounts, Store, UploadRecord, UploadState,
};
use crate::validate::{Admission, DateOrderError};

/// What every job and every check needs.
#[derive(Debug)]
pub struct Context {
    /// How files are read and judged; each upload sets `path` (and, unless pinned, `today`).
    pub input: InputSettings,
    pub today_pinned: bool,
    /// The endpoint and credentials, the sandbox's with `--sandbox`.
    pub api: ApiSettings,
    pub engine: EngineSettings,
    /// What the state is bound to: `sandbox`, or the endpoint's URL.
    pub endpoint_scope: String,
    pub state: std::path::PathBuf,
    pub uploads: Uploads,
    /// `--metrics-file`: how the last job ended, written after every job.
    pub metrics_file: Option<std::path::PathBuf>,
}

impl Context {
    /// The input settings for the file at `path`, judged today.
    fn input_for(&self, path: &Path) -> InputSettings {
        let mut input = self.input.clone();
        input.path = path.to_owned();
        if !self.today_pinned {
            input.today = chrono::Local::now().date_naive();
        }
        input
    }
}

/// Why an upload was not accepted.
#[derive(Debug)]
pub enum CheckError {
    /// The file cannot be used as it is (not a customer file, a missing column, an inflating
    /// workbook, dates in two orders...): the message says why, naming the file as its sender
    /// named it.
    Unusable(String),
    /// The server failed.
    Internal(anyhow::Error),
}

/// Input errors are the file's, except failures to read it, which are the server's disk's.
fn classify(error: anyhow::Error, stored: &Path, name: &str) -> CheckError {
    let unusable = error.chain().any(|cause| {
        cause.downcast_ref::<DateOrderError>().is_some()
            || cause.downcast_ref::<InputError>().is_some_and(|e| !matches!(e, InputError::Read { .. }))
    });
    if unusable {
        // Messages name the file by its path on the server; its sender knows it by its name.
        let mut message = format!("{error:#}").replace(&stored.display().to_string(), name);
        if message.contains("--") {
            // Advice in flags is for the terminal; whoever uploads cannot pass one.
            message.push_str(
                "\n\nThe options named above are the server's settings: rename the column in the \
                 spreadsheet, or ask whoever runs the server to set them.",
            );
        }
        CheckError::Unusable(message)
    } else {
        CheckError::Internal(error)
    }
}

/// Checks the file received in `incoming` (`size` bytes, sent as `name` by `by`), writes its
/// errors file, and records it as an upload: `validated`, nothing sent. Returns its id.
pub fn check_upload(
    ctx: &Context,
    db: &Mutex<Store>,
    incoming: tempfile::NamedTempFile,
    size: u64,
    name: &str,
    by: &str,
) -> Result<i64, CheckError> {
    let stored = incoming.path().to_owned();
    let input = ctx.input_for(&stored);
    let probe = input::probe(&stored, input.probe).map_err(|e| classify(e.into(), &stored, name))?;
    let intake = Intake::open(&input, &probe).map_err(|e| classify(e, &stored, name))?;
    let format = Format::of_upload(probe.workbook.is_some());

    // The errors file in the medium of the upload, and as CSV for scripts; placed under the
    // upload's id once it has one.
    let internal = |e: std::io::Error| CheckError::Internal(e.into());
    let native_path = ctx.uploads.scratch(&format!(".{}", format.extension())).map_err(internal)?;
    let csv_path = match format {
        Format::Xlsx => Some(ctx.uploads.scratch(".csv").map_err(internal)?),
        Format::Csv => None,
    };
    let headers = intake.columns.headers().to_vec();
    let output = |e: crate::output::OutputError| CheckError::Internal(e.into());
    let mut native = ErrorsFile::create(&native_path, &headers).map_err(output)?;
    let mut csv = csv_path.as_ref().map(|p| ErrorsFile::create(p, &headers)).transpose().map_err(output)?;

    let locator = intake.locator().clone();
    let mut summary = ValidationSummary::default();
    let (mut rows_to_fix, mut rows_to_fix_total) = (Vec::new(), 0u64);
    let (mut pans, mut known) = (Vec::new(), 0u64);
    let lock = || db.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    intake
        .scan(|row, admission, checked| {
            summary.record(row.line, admission, checked);
            match admission {
                Admission::Invalid => {
                    let flags = cell_flags(checked);
                    let text = format!("{}: {}", locator.row(row.line), error_text(checked));
                    native.write(row.cells.iter(), &text, &flags)?;
                    if let Some(csv) = &mut csv {
                        csv.write(row.cells.iter(), &text, &flags)?;
                    }
                    rows_to_fix_total += 1;
                    if rows_to_fix.len() < ROWS_TO_FIX_SHOWN {
                        rows_to_fix.push(RowToFix {
                            place: locator.row(row.line),
                            cells: row.cells.iter().map(str::to_owned).collect(),
                            flags,
                            messages: checked.errors().map(|v| v.message()).collect(),
                        });
                    }
                }
                Admission::Valid => {
                    if let Some(customer) = &checked.customer {
                        pans.push(customer.pan.to_string());
                    }
                    // Looked up a page at a time: the server's connection is shared.
                    if pans.len() >= 4096 {
                        known += lock().count_registered(&pans)?;
                        pans.clear();
                    }
                }
                Admission::Duplicate { .. } => {}
            }
            Ok(())
        })
        .map_err(|e| classify(e, &stored, name))?;
    known += lock().count_registered(&pans).map_err(|e| CheckError::Internal(e.into()))?;
    native.commit().map_err(output)?;
    if let Some(csv) = csv {
        csv.commit().map_err(output)?;
    }

    let mut counts = StatusCounts::default();
    counts.add(RowStatus::Pending, summary.valid - known);
    counts.add(RowStatus::Known, known);
    counts.add(RowStatus::Duplicate, summary.duplicate);
    counts.add(RowStatus::Invalid, summary.invalid);
    let problems = |list: Vec<&crate::output::ProblemTally>| -> Vec<Problem> {
        list.into_iter()
            .map(|t| Problem {
                code: t.code.to_owned(),
                count: t.count,
                places: locator.rows(&t.lines, t.count > t.lines.len() as u64),
                example: t.example.clone(),
            })
            .collect()
    };
    let report = Report {
        format: format_of(&probe, &locator),
        headers,
        problems: problems(summary.errors()),
        warnings: problems(summary.warnings()),
        rows_with_warnings: summary.rows_with_warnings,
        rows_to_fix,
        rows_to_fix_total,
    };
    let (counts_json, report_json) = (to_json(&counts_map(&counts)), to_json(&report));
    let sha256 = probe.sha256_hex();
    let upload = NewUpload {
        file_name: name,
        workbook: probe.workbook.is_some(),
        size,
        sha256: &sha256,
        uploaded_by: by,
        rows: summary.rows,
        counts: &counts_json,
        report: &report_json,
    };
    let uploads = &ctx.uploads;
    lock().add_upload(&upload, |id| -> Result<(), CheckError> {
        std::fs::rename(&native_path, uploads.file(id, Kind::Errors, format)).map_err(internal)?;
        if let Some(csv_path) = &csv_path {
            std::fs::rename(csv_path, uploads.file(id, Kind::Errors, Format::Csv)).map_err(internal)?;
        }
        incoming.persist(uploads.original(id)).map_err(|e| internal(e.error))?;
        Ok(())
    })
}

impl From<crate::store::StoreError> for CheckError {
    fn from(e: crate::store::StoreError) -> Self {
        CheckError::Internal(e.into())
    }
}

/// JSON text for the state's JSON columns.
fn to_json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

/// The job runner: takes queued uploads in upload order, one at a time, until `shutdown`.
pub async fn run_jobs(
    ctx: Arc<Context>,
    mut store: Store,
    live: Live,
    wake: Arc<Notify>,
    shutdown: CancellationToken,
) {
    let limiter = Arc::new(Limiter::new(&ctx.engine));
    loop {
        if shutdown.is_cancelled() {
            break;
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
        tracing::info!(upload = upload.id, "registering upload {} ({})", upload.id, upload.file_name);
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
    let started = Instant::now();
    let (store, outcome) = send(ctx, store, upload, live, stop, limiter).await;
    watcher.abort();
    let (store, ended) = match (store, outcome) {
        (Some(store), outcome) => (store, outcome),
        (None, outcome) => match Store::open(&ctx.state) {
            Ok(store) => (store, outcome),
            Err(e) => {
                tracing::error!(upload = upload.id, "the state database cannot be opened again: {e}");
                return None;
            }
        },
    };
    let (state, summary, reason) = match ended {
        Ok(Ended { state, mut summary }) => {
            // The whole job's time, checking and writing included, as `run` counts it.
            summary.set_duration(started.elapsed());
            write_job_metrics(ctx, upload, &summary);
            let reason = summary.stop_reason.clone();
            (state, to_json(&summary), reason)
        }
        Err(e) => {
            tracing::error!(upload = upload.id, "the job stopped: {e:#}");
            let reason = format!(
                "the server could not go on: {e:#}. Rows registered are recorded; register again to resume"
            );
            let mut summary = before_job(ctx, upload);
            summary.set_duration(started.elapsed());
            summary.set_stop(Some(&StopReason::Aborted(reason.clone())));
            summary.exit_code = Exit::Aborted.code();
            write_job_metrics(ctx, upload, &summary);
            (UploadState::Aborted, to_json(&summary), Some(reason))
        }
    };
    match store.end_job(upload.id, state, &summary, reason.as_deref()) {
        Ok(_) => tracing::info!(upload = upload.id, "upload {} {state}", upload.id),
        Err(e) => tracing::error!(upload = upload.id, "cannot record how the job ended: {e}"),
    }
    Some(store)
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

/// `--metrics-file`, after a job: a failure to write it is logged, and serving goes on.
fn write_job_metrics(ctx: &Context, upload: &UploadRecord, summary: &RunSummary) {
    if let Some(path) = &ctx.metrics_file
        && let Err(e) = crate::output::write_metrics(path, summary)
    {
        tracing::warn!(upload = upload.id, "the metrics file could not be written: {e:#}");
    }
}

/// How a job ended, when it could record it.
struct Ended {
    state: UploadState,
    summary: RunSummary,
}

/// The rows a job has: those of the run of this content if there is one (resumed, as `run` on a
/// file it has seen), or a new run recorded from the file. Runs on a blocking thread.
fn prepare(ctx: &Context, store: &mut Store, upload: &UploadRecord) -> anyhow::Result<(RunRecord, bool)> {
    let path = ctx.uploads.original(upload.id);
    let input = ctx.input_for(&path);
    let probe = input::probe(&path, input.probe)?;
    anyhow::ensure!(
        probe.sha256_hex() == upload.sha256,
        "upload {} changed on the server's disk since it was checked ({}): upload the file again",
        upload.id,
        path.display()
    );
    let described = format!("{} (upload {})", upload.file_name, upload.id);
    let (run, resumed) = match store.find_run(&upload.sha256)? {
        Some(run) => {
            let requeued = lifecycle::resume(store, &run, &described)?;
            if requeued > 0 {
                tracing::info!(
                    upload = upload.id,
                    "{requeued} rows were being sent when the server stopped: they are sent again with the same order ids"
                );
            }
            (run, true)
        }
        None => {
            let mut settings =
                lifecycle::recorded_settings(&ctx.endpoint_scope, &ctx.api, &ctx.engine, &input);
            settings["upload"] = upload.id.into();
            // The server writes its own results files: none can record this upload's rows.
            let Imported { run, sent_before } =
                lifecycle::import(store, &input, &probe, &described, &settings, None)?;
            if sent_before > 0 {
                tracing::info!(
                    upload = upload.id,
                    "{sent_before} customers were sent by an earlier run without an answer: they are sent again with the order ids they went out with"
                );
            }
            (run, false)
        }
    };
    store.set_upload_run(upload.id, run.id)?;
    Ok((run, resumed))
}

/// Prepares, sends and finishes one job. The store comes back unless the engine lost it.
async fn send(
    ctx: &Arc<Context>,
    store: Store,
    upload: &UploadRecord,
    live: &Live,
    stop: Stop,
    limiter: &Arc<Limiter>,
) -> (Option<Store>, anyhow::Result<Ended>) {
    let prepared = {
        let (ctx, upload) = (ctx.clone(), upload.clone());
        tokio::task::spawn_blocking(move || {
            let mut store = store;
            let prepared = prepare(&ctx, &mut store, &upload);
            (store, prepared)
        })
        .await
    };
    let (mut store, (run, resumed)) = match prepared {
        Ok((store, Ok(prepared))) => (store, prepared),
        Ok((store, Err(e))) => return (Some(store), Err(e)),
        Err(e) => {
            return (None, Err(anyhow::anyhow!("checking the upload's rows stopped unexpectedly: {e}")));
        }
    };

    let counts = match store.counts(run.id) {
        Ok(counts) => counts,
        Err(e) => return (Some(store), Err(e.into())),
    };
    let mut report = EngineReport::default();
    let mut engine_error = None;
    if counts.left() > 0 && !stop.is_stopping() {
        let client = match Client::new(&ctx.api) {
            Ok(client) => client,
            Err(e) => return (Some(store), Err(e.into())),
        };
        let watcher = Watcher::new(live.clone(), upload.id, run.rows_total, &counts);
        let sent = lifecycle::send(
            store,
            &run,
            client,
            &ctx.engine,
            limiter.clone(),
            watcher,
            stop.clone(),
            &ctx.state,
        )
        .await;
        (store, report, engine_error) = match sent {
            Ok(sent) => sent,
            Err(e) => return (None, Err(e.into())),
        };
    }
    if report.stop.is_none() && engine_error.is_none() {
        // Stopped before a row was sent (the server is shutting down).
        report.stop = stop.reason();
    }
    let ctx = ctx.clone();
    let upload = upload.clone();
    let finished = tokio::task::spawn_blocking(move || {
        let ended = finish(&ctx, &store, &upload, run, resumed, &report, engine_error.as_ref());
        (store, ended)
    })
    .await;
    match finished {
        Ok((store, ended)) => (Some(store), ended),
        Err(e) => (None, Err(anyhow::anyhow!("writing the results stopped unexpectedly: {e}"))),
    }
}

/// The end of a job, as `run` ends: rows left unanswered go back to pending, the run records how
/// it ended, the results and errors files are written from the state.
fn finish(
    ctx: &Context,
    store: &Store,
    upload: &UploadRecord,
    run: RunRecord,
    resumed: bool,
    report: &EngineReport,
    engine_error: Option<&engine::EngineError>,
) -> anyhow::Result<Ended> {
    let lifecycle::Ended { exit, status, counts, run } =
        lifecycle::end(store, run, engine_error.is_some(), report.stop.as_ref())?;
    let state = match status {
        RunStatus::Finished => UploadState::Finished,
        RunStatus::Interrupted => UploadState::Interrupted,
        RunStatus::Running | RunStatus::Aborted => UploadState::Aborted,
    };

    // A workbook upload's files as workbooks, and as CSV for scripts: one read of the state.
    let file = |kind, format| ctx.uploads.file(upload.id, kind, format);
    let (csv_results, csv_errors) = (file(Kind::Results, Format::Csv), file(Kind::Errors, Format::Csv));
    let written = if upload.workbook {
        let (results, errors) = (file(Kind::Results, Format::Xlsx), file(Kind::Errors, Format::Xlsx));
        write_results_to(store, &run, [(&results, Some(&errors)), (&csv_results, Some(&csv_errors))])
            .map(|[workbook, _]| workbook)
    } else {
        write_results(store, &run, &csv_results, Some(&csv_errors))
    }
    .with_context(|| format!("the results of upload {} could not be written", upload.id))?;
    let returning = written.returning_customers;

    let mut summary = RunSummary::new(
        Path::new(&upload.file_name),
        &run,
        resumed,
        &ctx.state,
        ctx.endpoint_scope.clone(),
        &counts,
        report,
        report.elapsed,
    );
    summary.returning_customers = returning;
    summary.exit_code = exit.code();
    if let Some(e) = engine_error {
        summary.stop_reason =
            Some(format!("{e}: the results show where each row is; register again to resume"));
    }
    Ok(Ended { state, summary })
}

/// The rows of upload `upload`'s run per status, for its page and the API, or `None` before it
/// has a run.
pub fn run_counts(
    store: &Store,
    upload: &UploadRecord,
) -> Result<Option<StatusCounts>, crate::store::StoreError> {
    upload.run_id.map(|run| store.counts(run)).transpose()
}
