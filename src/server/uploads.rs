//! What the pages and the API do alike with uploads: receive a file (streamed to disk, at most
//! `--max-upload` bytes) and have it checked (again, with its uploader's choices), queue it for
//! registering — once: a "register" with nothing left to send changes nothing — offer its files,
//! and read its counts and report.

use axum::extract::Multipart;
use axum::response::Response;

use super::auth::csrf_matches;
pub use super::check::Checked;
use super::check::{self, CheckError};
use super::files::{self, Format, Kind, Receive};
use super::report::{Choices, Report};
use super::{App, Failure};
use crate::store::{StatusCounts, UploadRecord, UploadState};

/// Receives the multipart field `file` and has it checked; returns the new upload. With `csrf`, a
/// field `csrf` holding it must come before the file (a form puts it first). With `ask`, a file
/// the server cannot read alone is recorded with questions for its uploader; without, refused.
pub async fn accept(
    app: &App,
    mut multipart: Multipart,
    by: &str,
    csrf: Option<&str>,
    ask: bool,
) -> Result<Checked, Failure> {
    let mut csrf_ok = csrf.is_none();
    let mut received = None;
    while let Some(field) = multipart.next_field().await.map_err(|e| multipart_failure(e, app.max_upload))? {
        match field.name() {
            Some("csrf") => {
                let given = field.text().await.map_err(|e| multipart_failure(e, app.max_upload))?;
                csrf_ok = csrf.is_some_and(|expected| csrf_matches(expected, &given));
            }
            Some("file") if received.is_none() => {
                if !csrf_ok {
                    return Err(Failure::Forbidden);
                }
                let name = files::display_name(field.file_name());
                let incoming = app.ctx.uploads.incoming().map_err(|e| Failure::Internal(e.into()))?;
                let file = incoming.as_file().try_clone().map_err(|e| Failure::Internal(e.into()))?;
                let size = match files::receive(field, file, app.max_upload).await {
                    Ok(size) => size,
                    Err(Receive::TooLarge) => return Err(Failure::TooLarge(app.max_upload)),
                    Err(Receive::Broken(why)) => return Err(Failure::BadRequest(why)),
                    Err(Receive::Disk(e)) => return Err(Failure::Internal(e.into())),
                };
                received = Some((incoming, size, name));
            }
            _ => {}
        }
    }
    if !csrf_ok {
        return Err(Failure::Forbidden);
    }
    let Some((incoming, size, name)) = received else {
        return Err(Failure::BadRequest(
            "no file: send it as multipart/form-data in a field named \"file\"".to_owned(),
        ));
    };
    let (ctx, db, by) = (app.ctx.clone(), app.db.clone(), by.to_owned());
    tracing::info!("checking {name} ({size} bytes) from {by}");
    let checked =
        tokio::task::spawn_blocking(move || check::check_upload(&ctx, &db, incoming, size, &name, &by, ask))
            .await;
    checked_failure(checked)
}

/// A check's failure, as pages and API say it.
fn checked_failure(
    checked: Result<Result<Checked, CheckError>, tokio::task::JoinError>,
) -> Result<Checked, Failure> {
    match checked {
        Ok(Ok(checked)) => Ok(checked),
        Ok(Err(CheckError::Unusable(why))) => Err(Failure::Unusable(why.message())),
        Ok(Err(CheckError::Registered)) => Err(Failure::Conflict(
            "This upload is being registered already: it is read as it was checked.".to_owned(),
        )),
        Ok(Err(CheckError::Internal(e))) => Err(Failure::Internal(e)),
        Err(e) => Err(Failure::Internal(anyhow::anyhow!("checking the upload stopped unexpectedly: {e}"))),
    }
}

/// Checks upload `upload` again with its uploader's `choices` (how its dates are written, which
/// column is which).
pub async fn recheck(app: &App, upload: UploadRecord, choices: Choices) -> Result<Checked, Failure> {
    let (ctx, db) = (app.ctx.clone(), app.db.clone());
    let checked =
        tokio::task::spawn_blocking(move || check::recheck_upload(&ctx, &db, &upload, &choices)).await;
    checked_failure(checked)
}

/// The report of upload `id`'s check (an empty one if it cannot be read).
pub async fn report(app: &App, id: i64) -> Result<Report, Failure> {
    Ok(app
        .db(move |store| store.upload_report(id))
        .await?
        .and_then(|json| serde_json::from_str(&json).ok())
        .unwrap_or_default())
}

fn multipart_failure(error: axum::extract::multipart::MultipartError, limit: u64) -> Failure {
    if error.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        Failure::TooLarge(limit)
    } else {
        Failure::BadRequest(error.body_text())
    }
}

/// What a "Register" did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registering {
    /// Queued now, or already queued or being sent: the upload's state.
    Queued(UploadState),
    /// Its run has nothing left to send: nothing changed (a second press, the browser's Back).
    NothingLeft(UploadState),
}

/// "Register": queues upload `id` and wakes the job runner — unless its run has nothing left to
/// send, or its uploader has questions to answer first. An upload that was never registered is
/// queued even with nobody to send: its job writes the results (customers known already, with
/// their cibil_ids).
pub async fn register(app: &App, id: i64, by: &str) -> Result<Registering, Failure> {
    let upload = find(app, id).await?;
    if upload.state.is_active() {
        return Ok(Registering::Queued(upload.state));
    }
    if upload.run_id.is_some() && counts(app, &upload).await?.left() == 0 {
        return Ok(Registering::NothingLeft(upload.state));
    }
    if upload.run_id.is_none() && report(app, id).await?.questions.is_some() {
        return Err(Failure::Conflict(
            "This file cannot be registered yet: say how it is to be read on its page first.".to_owned(),
        ));
    }
    let by = by.to_owned();
    let state = app.db(move |store| store.queue_upload(id, &by)).await?.ok_or(Failure::NotFound)?;
    app.wake.notify_one();
    Ok(Registering::Queued(state))
}

/// Whether upload `upload` stopped on a refusal only the team lead can lift (credentials, the
/// address) since this server started: registering the rest meets the same refusal until they
/// have fixed it and restarted the server.
pub fn waits_for_the_team_lead(app: &App, upload: &UploadRecord) -> bool {
    upload.state == UploadState::Aborted
        && upload.ended_at.is_some_and(|ended| ended >= app.ctx.started_at)
        && upload
            .summary
            .as_deref()
            .and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok())
            .and_then(|v| v.get(super::runner::NEEDS_THE_TEAM_LEAD).and_then(serde_json::Value::as_bool))
            .unwrap_or(false)
}

/// The upload `id`, or 404.
pub async fn find(app: &App, id: i64) -> Result<UploadRecord, Failure> {
    app.db(move |store| store.upload(id)).await?.ok_or(Failure::NotFound)
}

/// Rows per status: the run's when the upload has one, else as its check found them.
pub async fn counts(app: &App, upload: &UploadRecord) -> Result<StatusCounts, Failure> {
    let found = {
        let upload = upload.clone();
        app.db(move |store| run_counts(store, &upload)).await?
    };
    Ok(found.unwrap_or_else(|| checked_counts(upload)))
}

/// Every upload, in the order the state lists them, with its counts: one visit to the shared
/// connection for the whole list.
pub async fn all_with_counts(app: &App) -> Result<Vec<(UploadRecord, StatusCounts)>, Failure> {
    let listed = app
        .db(|store| {
            store
                .uploads()?
                .into_iter()
                .map(|upload| {
                    let counts = run_counts(store, &upload)?.unwrap_or_else(|| checked_counts(&upload));
                    Ok((upload, counts))
                })
                .collect::<Result<Vec<_>, crate::store::StoreError>>()
        })
        .await?;
    Ok(listed)
}

/// The rows of upload `upload`'s run per status, or `None` before it has a run.
fn run_counts(
    store: &crate::store::Store,
    upload: &UploadRecord,
) -> Result<Option<StatusCounts>, crate::store::StoreError> {
    upload.run_id.map(|run| store.counts(run)).transpose()
}

/// The counts the check recorded.
pub fn checked_counts(upload: &UploadRecord) -> StatusCounts {
    let map: std::collections::BTreeMap<String, u64> =
        serde_json::from_str(&upload.counts).unwrap_or_default();
    super::report::counts_from_map(&map)
}

/// Customers a "Register" would send now: the rows left in its run, or those the check found
/// ready.
pub fn to_send(upload: &UploadRecord, counts: &StatusCounts) -> u64 {
    if upload.run_id.is_some() { counts.left() } else { counts.get(crate::store::RowStatus::Pending) }
}

/// `?format=csv` on a download: CSV whatever the upload was.
#[derive(Debug, serde::Deserialize)]
pub struct FormatQuery {
    pub format: Option<String>,
}

/// Upload `id`'s results or errors file: in the medium it was sent in, or CSV when asked.
pub async fn download(app: &App, id: i64, kind: Kind, format: Option<&str>) -> Result<Response, Failure> {
    let upload = find(app, id).await?;
    let format = match format {
        None => Format::of_upload(upload.workbook),
        Some("csv") => Format::Csv,
        Some("xlsx") if upload.workbook => Format::Xlsx,
        Some(other) => {
            return Err(Failure::BadRequest(format!(
                "format={other}: the files of this upload come as {} or csv",
                Format::of_upload(upload.workbook).extension()
            )));
        }
    };
    if kind == Kind::Results {
        if upload.state.is_active() {
            return Err(Failure::Conflict(
                "this upload is being registered: its results are written when it ends".to_owned(),
            ));
        }
        if upload.run_id.is_none() {
            return Err(Failure::Conflict(
                "this upload has not been registered: it has no results yet".to_owned(),
            ));
        }
    }
    let path = app.ctx.uploads.file(id, kind, format);
    let name = files::download_name(&upload.file_name, kind, format);
    match files::download(&path, &name, format).await {
        Ok(response) => Ok(response),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Failure::NotFound),
        Err(e) => Err(Failure::Internal(e.into())),
    }
}
