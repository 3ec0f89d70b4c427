//! What the pages and the API do alike with uploads: receive a file (streamed to disk, at most
//! `--max-upload` bytes) and have it checked (again, with its uploader's choices), queue it for
//! registering — once: a "register" with nothing left to send changes nothing — offer its files,
//! and read its counts and report — each for an [`Actor`], who may do it (a token's scopes) to
//! uploads they may see (a token sees those it made, unless its scopes say every upload), and
//! each recorded in the audit log.

use axum::extract::Multipart;
use axum::response::Response;

use super::auth::csrf_matches;
pub use super::check::Checked;
use super::check::{self, CheckError};
use super::files::{self, Format, Kind, Receive};
use super::report::{Choices, Report};
use super::session::Actor;
use super::{App, Failure};
use crate::store::{Scope, StatusCounts, UploadRecord, UploadState};

/// Receives the multipart field `file` and has it checked; returns the new upload. With `csrf`, a
/// field `csrf` holding it must come before the file (a form puts it first). With `ask`, a file
/// the server cannot read alone is recorded with questions for its uploader; without, refused.
pub async fn accept(
    app: &App,
    mut multipart: Multipart,
    actor: &Actor,
    csrf: Option<&str>,
    ask: bool,
) -> Result<Checked, Failure> {
    actor.require(Scope::Upload)?;
    let by = actor.who();
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
                // A name is shown, logged and kept: a credential in it (a file named after the
                // merchant's code) is masked like any the vendor repeats.
                let name = app.ctx.api.secrets().masked(&files::display_name(field.file_name()));
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
    let _turn = checking_turn(app).await?;
    let (ctx, db, who) = (app.ctx.clone(), app.db.clone(), by.clone());
    tracing::info!("checking an upload of {size} bytes from {by}");
    let checked =
        tokio::task::spawn_blocking(move || check::check_upload(&ctx, &db, incoming, size, &name, &who, ask))
            .await;
    let checked = checked_failure(checked)?;
    let (Checked::Done(id) | Checked::Asking(id)) = checked;
    audit(app, actor, "upload", Some(id), "").await;
    Ok(checked)
}

/// A turn to check a file. Checks run a few at a time: a workbook can take hundreds of megabytes
/// and seconds of a core to read, so those beyond wait their turn, for a while, then are told to
/// come back.
async fn checking_turn(app: &App) -> Result<tokio::sync::SemaphorePermit<'_>, Failure> {
    match tokio::time::timeout(CHECK_QUEUE_WAIT, app.checks.acquire()).await {
        Ok(Ok(turn)) => Ok(turn),
        _ => Err(Failure::Busy(CHECK_QUEUE_WAIT.as_secs())),
    }
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
    let _turn = checking_turn(app).await?;
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

/// How long an upload waits for its turn to be checked before it is told to come back.
const CHECK_QUEUE_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// The upload's id in a request's path (`/uploads/{id}/…`): anything but a number there names
/// no upload, and is said as such, by the pages and the API each their way.
pub async fn upload_id(parts: &mut axum::http::request::Parts, app: &App) -> Result<i64, Failure> {
    use axum::extract::FromRequestParts as _;
    axum::extract::Path::<i64>::from_request_parts(parts, app)
        .await
        .map(|axum::extract::Path(id)| id)
        .map_err(|_| Failure::NotFound)
}

/// Records what `actor` did in the audit log; a failure to record is logged, never the action's.
pub async fn audit(app: &App, actor: &Actor, action: &'static str, upload: Option<i64>, detail: &str) {
    let (who, detail) = (actor.who(), detail.to_owned());
    if let Err(e) = app.db(move |store| store.audit(&who, action, upload, &detail)).await {
        tracing::error!("cannot record {action} in the audit log: {}", e.message());
    }
}

/// What a "Register" did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registering {
    /// Queued now, or already queued or being sent: the upload's state.
    Queued(UploadState),
    /// Its run has nothing left to send: nothing changed (a second press, the browser's Back).
    NothingLeft(UploadState),
    /// It stopped on a refusal only the team lead can lift, since this server started: nothing
    /// changed, as registering would meet the same refusal.
    WaitsForTheTeamLead,
}

/// "Register": queues upload `id` and wakes the job runner — unless its run has nothing left to
/// send, or its uploader has questions to answer first, or its personal data was erased. An
/// upload that was never registered is queued even with nobody to send: its job writes the
/// results (customers known already, with their cibil_ids).
pub async fn register(app: &App, id: i64, actor: &Actor) -> Result<Registering, Failure> {
    actor.require(Scope::Register)?;
    let upload = find(app, id, actor).await?;
    if let Some(purged) = upload.purged_at {
        return Err(Failure::Gone(purged));
    }
    if upload.state.is_active() {
        return Ok(Registering::Queued(upload.state));
    }
    // Nothing left to send once its job has written the results; an upload stopped before that
    // (results that could not be written) may run again to write them.
    if upload.state == UploadState::Finished
        && upload.run_id.is_some()
        && counts(app, &upload).await?.left() == 0
    {
        return Ok(Registering::NothingLeft(upload.state));
    }
    if waits_for_the_team_lead(app, &upload) {
        return Ok(Registering::WaitsForTheTeamLead);
    }
    if upload.run_id.is_none() && report(app, id).await?.questions.is_some() {
        return Err(Failure::Conflict(
            "This file cannot be registered yet: say how it is to be read on its page first.".to_owned(),
        ));
    }
    let by = actor.who();
    let state = app.db(move |store| store.queue_upload(id, &by)).await?.ok_or(Failure::NotFound)?;
    if !state.is_active() {
        // Not queued: erased in the meantime (a purge), or another change came first.
        let now = find(app, id, actor).await?;
        if let Some(purged) = now.purged_at {
            return Err(Failure::Gone(purged));
        }
        return Ok(Registering::Queued(now.state));
    }
    audit(app, actor, "register", Some(id), "").await;
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

/// The upload `id`, if `actor` may see it; else 404, as if there were none.
pub async fn find(app: &App, id: i64, actor: &Actor) -> Result<UploadRecord, Failure> {
    let upload = app.db(move |store| store.upload(id)).await?.ok_or(Failure::NotFound)?;
    if actor.sees(&upload) { Ok(upload) } else { Err(Failure::NotFound) }
}

/// Rows per status: the run's when the upload has one, else as its check found them.
pub async fn counts(app: &App, upload: &UploadRecord) -> Result<StatusCounts, Failure> {
    let found = {
        let upload = upload.clone();
        app.db(move |store| run_counts(store, &upload)).await?
    };
    Ok(found.unwrap_or_else(|| checked_counts(upload)))
}

/// Every upload `actor` may see, in the order the state lists them, with its counts: one visit
/// to the shared connection for the whole list.
pub async fn all_with_counts(app: &App, actor: &Actor) -> Result<Vec<(UploadRecord, StatusCounts)>, Failure> {
    let actor = actor.clone();
    let listed = app
        .db(move |store| {
            store
                .uploads()?
                .into_iter()
                .filter(|upload| actor.sees(upload))
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
/// ready; none once its personal data was erased.
pub fn to_send(upload: &UploadRecord, counts: &StatusCounts) -> u64 {
    if upload.purged_at.is_some() {
        0
    } else if upload.run_id.is_some() {
        counts.left()
    } else {
        counts.get(crate::store::RowStatus::Pending)
    }
}

/// `?format=csv` on a download: CSV whatever the upload was.
#[derive(Debug, serde::Deserialize)]
pub struct FormatQuery {
    pub format: Option<String>,
}

/// Upload `id`'s results or errors file: in the medium it was sent in, or CSV when asked.
pub async fn download(
    app: &App,
    id: i64,
    kind: Kind,
    format: Option<&str>,
    actor: &Actor,
) -> Result<Response, Failure> {
    actor.require(Scope::ReadResults)?;
    let upload = find(app, id, actor).await?;
    if let Some(purged) = upload.purged_at {
        return Err(Failure::Gone(purged));
    }
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
        Ok(response) => {
            audit(app, actor, "download", Some(id), &format!("{} ({})", kind.as_str(), format.extension()))
                .await;
            Ok(response)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Failure::NotFound),
        Err(e) => Err(Failure::Internal(e.into())),
    }
}
