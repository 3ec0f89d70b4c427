//! The JSON API, for the cron job and for scripts, behind `Authorization: Bearer TOKEN`:
//!
//! | call | answer |
//! |---|---|
//! | `POST /api/uploads` (multipart field `file`) | `201` `{"id", "state": "validated", "file", "rows", "counts"}`: checked, nothing sent; `413` over `--max-upload`; `422` a file that cannot be used, with why |
//! | `GET /api/uploads` | every upload: `{"id", "file", "uploaded_by", "uploaded_at", "state", "counts"}`, newest first |
//! | `GET /api/uploads/{id}` | the keys of `run --summary`, with `state` the upload's |
//! | `POST /api/uploads/{id}/register` | `202`: its job starts, or waits for those before it; `200` with `"nothing_to_send": true`, nothing changed, when its run has nothing left to send |
//! | `GET /api/uploads/{id}/results`, `/errors` | the files, `.xlsx` for a workbook, `.csv` for CSV; `?format=csv` forces CSV |
//!
//! `counts` holds every row status, zeros included. Errors are `{"error": "what and what to do"}`.

use axum::Json;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{FromRequestParts, Multipart, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::files::Kind;
use super::report::counts_map;
use super::session::Machine;
use super::{App, Failure, runner, uploads};
use crate::store::{Scope, StatusCounts, UploadRecord};

/// A failure, as the API says it.
#[derive(Debug)]
pub struct ApiFailure(pub Failure);

impl From<Failure> for ApiFailure {
    fn from(failure: Failure) -> Self {
        ApiFailure(failure)
    }
}

impl IntoResponse for ApiFailure {
    fn into_response(self) -> Response {
        self.0.respond(Json(json!({ "error": self.0.message() })))
    }
}

/// An upload's id in the path; anything else is answered in JSON as no such upload.
#[derive(Debug, Clone, Copy)]
pub struct ApiId(pub i64);

impl FromRequestParts<App> for ApiId {
    type Rejection = ApiFailure;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        app: &App,
    ) -> Result<ApiId, ApiFailure> {
        uploads::upload_id(parts, app).await.map(ApiId).map_err(ApiFailure)
    }
}

/// `2026-11-25T05:02:11Z`.
fn timestamp(ms: i64) -> Value {
    chrono::DateTime::from_timestamp_millis(ms)
        .map_or(Value::Null, |t| Value::String(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)))
}

fn brief(upload: &UploadRecord, counts: &StatusCounts) -> Value {
    json!({
        "id": upload.id,
        "file": upload.file_name,
        "uploaded_by": upload.uploaded_by,
        "uploaded_at": timestamp(upload.uploaded_at),
        "state": upload.state,
        "counts": counts_map(counts),
    })
}

pub async fn create(
    State(app): State<App>,
    machine: Machine,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, ApiFailure> {
    let multipart = multipart.map_err(|e| {
        Failure::BadRequest(format!(
            "{}: send the file as multipart/form-data in a field named \"file\"",
            e.body_text()
        ))
    })?;
    // The API cannot ask how to read a file: one the server cannot read alone is refused, saying
    // where to answer (the answers given on a page are remembered for files of the same shape).
    let actor = machine.actor();
    let checked = uploads::accept(&app, multipart, &actor, None, false).await?;
    let (uploads::Checked::Done(id) | uploads::Checked::Asking(id)) = checked;
    let upload = uploads::find(&app, id, &actor).await?;
    let counts = uploads::checked_counts(&upload);
    let body = json!({
        "id": upload.id,
        "state": upload.state,
        "file": upload.file_name,
        "rows": upload.rows,
        "counts": counts_map(&counts),
    });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

pub async fn list(State(app): State<App>, machine: Machine) -> Result<Json<Value>, ApiFailure> {
    let actor = machine.actor();
    actor.require(Scope::ReadResults)?;
    let all = uploads::all_with_counts(&app, &actor).await?;
    Ok(Json(Value::Array(all.iter().map(|(upload, counts)| brief(upload, counts)).collect())))
}

pub async fn show(
    State(app): State<App>,
    machine: Machine,
    ApiId(id): ApiId,
) -> Result<Json<Value>, ApiFailure> {
    let actor = machine.actor();
    actor.require(Scope::ReadResults)?;
    let upload = uploads::find(&app, id, &actor).await?;
    let counts = uploads::counts(&app, &upload).await?;
    Ok(Json(summary(&app, &upload, &counts)))
}

/// The keys `run --summary` writes, for an upload: those its last job wrote when it has ended,
/// with `state` the upload's state (not the path of the state database, a server's detail) and
/// `files` the URLs of its downloads.
pub fn summary(app: &App, upload: &UploadRecord, counts: &StatusCounts) -> Value {
    // A job's summary has every key (an aborted one's included); an upload whose job has not
    // ended, or ended before the server kept aborted jobs' summaries (`{}`), has the keys of a
    // summary before the job, with no exit status yet.
    let ended = (!upload.state.is_active())
        .then(|| upload.summary.as_deref().and_then(|s| serde_json::from_str::<Value>(s).ok()))
        .flatten()
        .filter(|v| v.get("exit_code").is_some());
    let mut value = ended.unwrap_or_else(|| {
        let mut before = serde_json::to_value(runner::before_job(&app.ctx, upload)).unwrap_or_default();
        before["exit_code"] = Value::Null;
        before
    });
    let mut files = serde_json::Map::new();
    files.insert("errors".into(), json!(format!("/api/uploads/{}/errors", upload.id)));
    if upload.run_id.is_some() && !upload.state.is_active() {
        files.insert("results".into(), json!(format!("/api/uploads/{}/results", upload.id)));
    }
    if let Some(object) = value.as_object_mut() {
        // The pages' own note: not a key of `run --summary`.
        object.remove(runner::NEEDS_THE_TEAM_LEAD);
        object.insert("id".into(), json!(upload.id));
        object.insert("state".into(), json!(upload.state));
        object.insert("rows".into(), json!(upload.rows));
        object.insert("counts".into(), json!(counts_map(counts)));
        object.insert("files".into(), Value::Object(files));
        object.insert("uploaded_by".into(), json!(upload.uploaded_by));
        object.insert("uploaded_at".into(), timestamp(upload.uploaded_at));
        object.insert("registered_by".into(), json!(upload.registered_by));
        object.insert("registered_at".into(), upload.registered_at.map_or(Value::Null, timestamp));
        object.insert("purged_at".into(), upload.purged_at.map_or(Value::Null, timestamp));
    }
    value
}

pub async fn register(
    State(app): State<App>,
    machine: Machine,
    ApiId(id): ApiId,
) -> Result<Response, ApiFailure> {
    match uploads::register(&app, id, &machine.actor()).await? {
        uploads::Registering::Queued(state) => {
            Ok((StatusCode::ACCEPTED, Json(json!({ "id": id, "state": state }))).into_response())
        }
        uploads::Registering::NothingLeft(state) => {
            Ok((StatusCode::OK, Json(json!({ "id": id, "state": state, "nothing_to_send": true })))
                .into_response())
        }
        uploads::Registering::WaitsForTheTeamLead => Err(Failure::Conflict(
            "this upload stopped on a refusal only the server's operator can lift (the credentials \
             or the address): nothing was sent; register it again once they have fixed it and \
             restarted the server"
                .to_owned(),
        )
        .into()),
    }
}

pub async fn results(
    State(app): State<App>,
    machine: Machine,
    ApiId(id): ApiId,
    Query(query): Query<uploads::FormatQuery>,
) -> Result<Response, ApiFailure> {
    Ok(uploads::download(&app, id, Kind::Results, query.format.as_deref(), &machine.actor()).await?)
}

pub async fn errors(
    State(app): State<App>,
    machine: Machine,
    ApiId(id): ApiId,
    Query(query): Query<uploads::FormatQuery>,
) -> Result<Response, ApiFailure> {
    Ok(uploads::download(&app, id, Kind::Errors, query.format.as_deref(), &machine.actor()).await?)
}
