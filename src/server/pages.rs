//! The pages' handlers: signing in and out, the uploads list with the upload form, an upload's
//! page, how its file is to be read (asked when the server cannot tell alone), the confirmation
//! before registering, downloads, and the server-sent events that keep a page's progress live.
//! Every form is a plain POST carrying the session's CSRF token, answered with a redirect
//! (post/redirect/get), so reloading a page never sends a form twice; the page it lands on may
//! say what happened (`?said=`, one of a fixed list). Pressing "Yes, register" twice — the
//! browser's Back, a second tab — registers nothing twice, and says so.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use axum::Form;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{FromRequestParts, Multipart, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use futures_util::Stream;
use maud::Markup;
use serde::Deserialize;

use super::auth::{self, csrf_matches, new_secret, secret_hash};
use super::files::Kind;
use super::session::{
    ClientAddress, LOGIN_COOKIE, Person, SESSION_COOKIE, cookie, is_https, local_path, set_cookie,
};
use super::uploads::{Checked, Registering};
use super::views::{self, Chrome, Listed, Said, UploadView};
use super::{App, Failure, uploads};
use crate::store::{UploadState, now_ms};

/// A failure, as a page says it.
#[derive(Debug)]
pub struct PageFailure(pub Failure);

impl From<Failure> for PageFailure {
    fn from(failure: Failure) -> Self {
        PageFailure(failure)
    }
}

impl IntoResponse for PageFailure {
    fn into_response(self) -> Response {
        let status = self.0.status();
        let title = match status {
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::FORBIDDEN => "This form has expired",
            StatusCode::PAYLOAD_TOO_LARGE => "The file is too large",
            StatusCode::CONFLICT => "Not yet",
            StatusCode::GONE => "Erased",
            StatusCode::FORBIDDEN if matches!(self.0, Failure::NotAllowed(_)) => "Not for this account",
            StatusCode::SERVICE_UNAVAILABLE if matches!(self.0, Failure::Busy(_)) => "Busy",
            _ if status.is_server_error() => "Something went wrong",
            _ => "This cannot be done",
        };
        let chrome = Chrome { title, person: None, admin: false, sandbox: false, refresh: false };
        self.0.respond(views::failure(chrome, &self.0.message()))
    }
}

/// An upload's id in the path; anything else is the page saying there is no such upload.
#[derive(Debug, Clone, Copy)]
pub struct PageId(pub i64);

impl FromRequestParts<App> for PageId {
    type Rejection = PageFailure;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        app: &App,
    ) -> Result<PageId, PageFailure> {
        uploads::upload_id(parts, app).await.map(PageId).map_err(PageFailure)
    }
}

pub(super) fn chrome<'a>(app: &App, title: &'a str, person: &'a Person) -> Chrome<'a> {
    Chrome {
        title,
        person: Some((&person.name, &person.csrf)),
        admin: person.role == crate::store::Role::Admin,
        sandbox: app.sandbox,
        refresh: false,
    }
}

#[derive(Debug, Deserialize)]
pub struct NextQuery {
    #[serde(default)]
    next: String,
    /// `ended`: the person's session ended while they were at work.
    #[serde(default)]
    why: String,
}

/// What the page is to say about what just happened (`?said=`).
#[derive(Debug, Default, Deserialize)]
pub struct SaidQuery {
    #[serde(default)]
    said: String,
}

impl SaidQuery {
    fn said(&self) -> Option<Said> {
        Said::parse(&self.said)
    }
}

/// The address of upload `id`'s page, saying `said`.
fn upload_address(id: i64, said: Option<Said>) -> String {
    match said {
        Some(said) => format!("/uploads/{id}?said={}", said.as_str()),
        None => format!("/uploads/{id}"),
    }
}

/// The sign-in form, with a fresh CSRF token in a cookie of its own.
fn login_page(
    app: &App,
    headers: &HeaderMap,
    status: StatusCode,
    name: &str,
    next: &str,
    problem: Option<&str>,
    ended: bool,
) -> Response {
    let token = new_secret();
    let mut response =
        (status, views::login(app.sandbox, name, local_path(next), &token, problem, ended)).into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, set_cookie(LOGIN_COOKIE, &token, "/login", 3600, is_https(headers)));
    response
}

pub async fn login_form(
    State(app): State<App>,
    headers: HeaderMap,
    Query(query): Query<NextQuery>,
) -> Response {
    login_page(&app, &headers, StatusCode::OK, "", &query.next, None, query.why == "ended")
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    next: String,
}

pub async fn login(
    State(app): State<App>,
    headers: HeaderMap,
    ClientAddress(address): ClientAddress,
    Form(form): Form<LoginForm>,
) -> Result<Response, PageFailure> {
    let name = form.name.trim().to_owned();
    // A name that cannot be anybody's is never stored, shown or looked up.
    let possible = auth::check_name(&name).is_ok();
    let shown = if possible { name.as_str() } else { "" };
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if !csrf_matches(&expected, &form.csrf) {
        let problem = "The sign-in form had expired. Please sign in again.";
        return Ok(login_page(
            &app,
            &headers,
            StatusCode::FORBIDDEN,
            shown,
            &form.next,
            Some(problem),
            false,
        ));
    }
    // Counted before it is checked: attempts sent at once each take a step of the throttle.
    let attempt = app.throttle.lock().unwrap_or_else(std::sync::PoisonError::into_inner).attempt(
        possible.then_some(name.as_str()),
        address,
        Instant::now(),
    );
    if let Err(wait) = attempt {
        let seconds = wait.as_secs().max(1);
        let problem = format!(
            "Too many failed sign-in attempts, for this name or from this address. Try again in {}.",
            super::live::rough_duration(Duration::from_secs(seconds))
        );
        let mut response = login_page(
            &app,
            &headers,
            StatusCode::TOO_MANY_REQUESTS,
            shown,
            &form.next,
            Some(&problem),
            false,
        );
        response.headers_mut().insert(header::RETRY_AFTER, seconds.into());
        return Ok(response);
    }

    let user = if possible {
        let name = name.clone();
        app.db(move |store| store.user_password_hash(&name)).await?
    } else {
        None
    };
    let someone = user.is_some();
    let (user_id, hash) = user.map_or((None, None), |(id, hash)| (Some(id), Some(hash)));
    // Checked on the small pool, in the time a real check takes even for nobody's name.
    let matched = match app.hashers.verify(form.password, hash).await {
        Ok(matched) => matched,
        Err(super::hashing::Busy) => return Err(Failure::Busy(1).into()),
    };
    let Some(user_id) = user_id.filter(|_| matched) else {
        // A name nobody has is not written down: people type their password in the name field.
        let who = if someone { name.as_str() } else { "a name nobody has" };
        tracing::warn!("failed sign-in for {who}");
        let actor = super::session::Actor::Person { name: who.to_owned(), role: crate::store::Role::Clerk };
        uploads::audit(&app, &actor, "sign-in-failed", None, "").await;
        let problem = "That name and password do not match. Check both and try again.";
        return Ok(login_page(
            &app,
            &headers,
            StatusCode::UNAUTHORIZED,
            shown,
            &form.next,
            Some(problem),
            false,
        ));
    };
    app.throttle.lock().unwrap_or_else(std::sync::PoisonError::into_inner).succeeded(&name, address);
    let (session, csrf) = (new_secret(), new_secret());
    let lifetime = app.session_lifetime;
    let expires = now_ms() + i64::try_from(lifetime.as_millis()).unwrap_or(i64::MAX / 2);
    let hash = secret_hash(&session);
    app.db(move |store| store.create_session(&hash, user_id, &csrf, expires)).await?;
    tracing::info!("{name} signed in");
    let actor = super::session::Actor::Person { name: name.clone(), role: crate::store::Role::Clerk };
    uploads::audit(&app, &actor, "sign-in", None, "").await;

    let secure = is_https(&headers);
    let mut response = Redirect::to(local_path(&form.next)).into_response();
    let seconds = i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX);
    let cookies = response.headers_mut();
    cookies.append(header::SET_COOKIE, set_cookie(SESSION_COOKIE, &session, "/", seconds, secure));
    cookies.append(header::SET_COOKIE, set_cookie(LOGIN_COOKIE, "", "/login", 0, secure));
    Ok(response)
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub async fn logout(
    State(app): State<App>,
    headers: HeaderMap,
    person: Person,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageFailure> {
    person.check_csrf(&form.csrf)?;
    let session = person.session;
    app.db(move |store| store.end_session(&session)).await?;
    let mut response = Redirect::to("/login").into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, set_cookie(SESSION_COOKIE, "", "/", 0, is_https(&headers)));
    Ok(response)
}

async fn home_page(
    app: &App,
    person: &Person,
    status: StatusCode,
    problem: Option<&str>,
    said: Option<Said>,
) -> Result<Response, PageFailure> {
    let mut listed = Vec::new();
    for (upload, counts) in uploads::all_with_counts(app, &person.actor()).await? {
        // Only an upload recorded with questions has no rows yet: its report says.
        let asking = upload.state == UploadState::Validated
            && upload.run_id.is_none()
            && upload.rows == 0
            && upload.purged_at.is_none()
            && uploads::report(app, upload.id).await?.questions.is_some();
        let to_send = uploads::to_send(&upload, &counts);
        listed.push(Listed { upload, counts, to_send, asking });
    }
    let markup = views::home(
        chrome(app, "Customer uploads", person),
        &person.csrf,
        &listed,
        app.max_upload,
        problem,
        said,
    );
    Ok((status, markup).into_response())
}

pub async fn home(
    State(app): State<App>,
    person: Person,
    Query(query): Query<SaidQuery>,
) -> Result<Response, PageFailure> {
    home_page(&app, &person, StatusCode::OK, None, query.said()).await
}

pub async fn upload_file(
    State(app): State<App>,
    person: Person,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, PageFailure> {
    let multipart = multipart.map_err(|e| Failure::BadRequest(e.body_text()))?;
    match uploads::accept(&app, multipart, &person.actor(), Some(&person.csrf), true).await {
        Ok(Checked::Done(id)) => Ok(Redirect::to(&format!("/uploads/{id}")).into_response()),
        // Questions before the check: how the file is to be read.
        Ok(Checked::Asking(id)) => Ok(Redirect::to(&format!("/uploads/{id}/choices")).into_response()),
        // The list again, with why the file cannot be used above the form, to try another.
        Err(Failure::Unusable(message)) => {
            home_page(&app, &person, StatusCode::UNPROCESSABLE_ENTITY, Some(&message), None).await
        }
        Err(other) => Err(other.into()),
    }
}

pub async fn upload_page(
    State(app): State<App>,
    person: Person,
    PageId(id): PageId,
    Query(query): Query<SaidQuery>,
) -> Result<Markup, PageFailure> {
    let upload = uploads::find(&app, id, &person.actor()).await?;
    let counts = uploads::counts(&app, &upload).await?;
    let report = uploads::report(&app, id).await?;
    let progress = app.live.borrow().clone();
    let returning = upload
        .summary
        .as_deref()
        .and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok())
        .and_then(|v| v.get("returning_customers").and_then(serde_json::Value::as_u64))
        .unwrap_or(0);
    let view = UploadView {
        upload: &upload,
        counts: &counts,
        report: &report,
        to_send: uploads::to_send(&upload, &counts),
        progress: progress.as_ref(),
        returning,
        waits_for_the_team_lead: uploads::waits_for_the_team_lead(&app, &upload),
        said: query.said(),
    };
    let mut chrome = chrome(&app, &upload.file_name, &person);
    chrome.refresh = upload.state.is_active();
    Ok(views::upload(chrome, &view))
}

/// "Register N customers?". Never from a cache (no page is): the browser's Back asks again, and
/// an upload with nothing to send, or waiting for its team lead, sends back to its page.
pub async fn confirm_page(
    State(app): State<App>,
    person: Person,
    PageId(id): PageId,
    Query(query): Query<SaidQuery>,
) -> Result<Response, PageFailure> {
    let upload = uploads::find(&app, id, &person.actor()).await?;
    if uploads::waits_for_the_team_lead(&app, &upload) {
        return Ok(Redirect::to(&upload_address(id, Some(Said::TeamLead))).into_response());
    }
    let counts = uploads::counts(&app, &upload).await?;
    let count = uploads::to_send(&upload, &counts);
    if upload.state.is_active() || count == 0 {
        return Ok(Redirect::to(&upload_address(id, None)).into_response());
    }
    let title = format!("Register {}", views::customers(count));
    let page = views::confirm(
        chrome(&app, &title, &person),
        &upload,
        &person.csrf,
        count,
        &app.target,
        query.said(),
    );
    Ok(page.into_response())
}

/// "Yes, register": queues the upload, once. Nothing left to send, or a refusal only the team
/// lead can lift: nothing changes, and the page says so.
pub async fn register(
    State(app): State<App>,
    person: Person,
    PageId(id): PageId,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageFailure> {
    person.check_csrf(&form.csrf)?;
    let said = match uploads::register(&app, id, &person.actor()).await {
        Ok(Registering::Queued(_)) => None,
        Ok(Registering::NothingLeft(_)) => Some(Said::NothingLeft),
        Ok(Registering::WaitsForTheTeamLead) => Some(Said::TeamLead),
        // Questions still open: back to them.
        Err(Failure::Conflict(_)) => {
            return Ok(Redirect::to(&format!("/uploads/{id}/choices")).into_response());
        }
        Err(other) => return Err(other.into()),
    };
    Ok(Redirect::to(&upload_address(id, said)).into_response())
}

/// Whether upload `upload`'s reading may still be chosen: checked, never registered, its file
/// still kept.
fn open_to_choices(upload: &crate::store::UploadRecord) -> bool {
    upload.state == UploadState::Validated && upload.run_id.is_none() && upload.purged_at.is_none()
}

/// How upload `id`'s file is to be read: asked before its check when the server cannot tell,
/// and open to change until someone registers it.
pub async fn choices_page(
    State(app): State<App>,
    person: Person,
    PageId(id): PageId,
    Query(query): Query<SaidQuery>,
) -> Result<Response, PageFailure> {
    let upload = uploads::find(&app, id, &person.actor()).await?;
    if !open_to_choices(&upload) {
        return Ok(Redirect::to(&upload_address(id, None)).into_response());
    }
    let report = uploads::report(&app, id).await?;
    let title = format!("How to read {}", upload.file_name);
    let page =
        views::choices(chrome(&app, &title, &person), &upload, &report, &person.csrf, query.said(), None);
    Ok(page.into_response())
}

/// The answers: the file checked again with them, then its page — or the questions left.
pub async fn choose(
    State(app): State<App>,
    person: Person,
    PageId(id): PageId,
    Form(form): Form<std::collections::HashMap<String, String>>,
) -> Result<Response, PageFailure> {
    person.check_csrf(form.get("csrf").map_or("", String::as_str))?;
    let actor = person.actor();
    actor.require(crate::store::Scope::Upload)?;
    let upload = uploads::find(&app, id, &actor).await?;
    if !open_to_choices(&upload) {
        return Ok(Redirect::to(&upload_address(id, None)).into_response());
    }
    let report = uploads::report(&app, id).await?;
    let again = |problem: String| {
        let title = format!("How to read {}", upload.file_name);
        let page = views::choices(
            chrome(&app, &title, &person),
            &upload,
            &report,
            &person.csrf,
            None,
            Some(&problem),
        );
        Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
    };
    let choices = match views::read_choices(&report.choices, &report.file_headers, &form) {
        Ok(choices) => choices,
        Err(problem) => return again(problem),
    };
    let checked = uploads::recheck(&app, upload.clone(), choices).await;
    if checked.is_ok() {
        uploads::audit(&app, &actor, "re-check", Some(id), "").await;
    }
    match checked {
        Ok(Checked::Done(_)) => Ok(Redirect::to(&upload_address(id, None)).into_response()),
        Ok(Checked::Asking(_)) => Ok(Redirect::to(&format!("/uploads/{id}/choices")).into_response()),
        Err(Failure::Unusable(problem)) => again(problem),
        Err(Failure::Conflict(_)) => Ok(Redirect::to(&upload_address(id, None)).into_response()),
        Err(other) => Err(other.into()),
    }
}

pub async fn results(
    State(app): State<App>,
    person: Person,
    PageId(id): PageId,
    Query(query): Query<uploads::FormatQuery>,
) -> Result<Response, PageFailure> {
    Ok(uploads::download(&app, id, Kind::Results, query.format.as_deref(), &person.actor()).await?)
}

pub async fn errors(
    State(app): State<App>,
    person: Person,
    PageId(id): PageId,
    Query(query): Query<uploads::FormatQuery>,
) -> Result<Response, PageFailure> {
    Ok(uploads::download(&app, id, Kind::Errors, query.format.as_deref(), &person.actor()).await?)
}

/// What the events stream of one page has said so far.
struct Following {
    app: App,
    id: i64,
    /// The state the page was drawn in: when it changes, the page is drawn anew.
    drawn: UploadState,
    live: tokio::sync::watch::Receiver<Option<super::live::Progress>>,
    first: bool,
    done: bool,
    /// The follower's session, looked at again every [`SESSION_LOOK_EVERY`]: a session that
    /// ended (signed out, the person removed) ends the stream.
    session: [u8; 32],
    session_seen: Instant,
    /// The stream's share of the person's and the server's ([`super::listen::MOST_STREAMS`]).
    _share: super::listen::Share<String>,
}

const SESSION_LOOK_EVERY: Duration = Duration::from_secs(2);

/// Server-sent events for an upload's page: `progress` while its job is sent (counts, rate, time
/// left), then one `state` when its state changes, for the page to reload.
pub async fn events(
    State(app): State<App>,
    person: Person,
    PageId(id): PageId,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, PageFailure> {
    let drawn = uploads::find(&app, id, &person.actor()).await?.state;
    // Past the bound the page only stays still (a browser does not try such a stream again).
    let share = app.streams.take(person.name.clone()).ok_or(Failure::Busy(5))?;
    let live = app.live.clone();
    let following = Following {
        _share: share,
        app,
        id,
        drawn,
        live,
        first: true,
        done: false,
        session: person.session,
        session_seen: Instant::now(),
    };
    let stream = futures_util::stream::unfold(following, |mut f| async move {
        if f.done {
            return None;
        }
        loop {
            let mut changed = f.first;
            if !f.first {
                tokio::select! {
                    result = f.live.changed() => {
                        if result.is_err() {
                            return None;
                        }
                        changed = true;
                    }
                    // States change without progress too (queued, then ended by another page).
                    () = tokio::time::sleep(Duration::from_secs(2)) => {}
                    () = f.app.shutdown.cancelled() => return None,
                }
            }
            f.first = false;
            if f.session_seen.elapsed() >= SESSION_LOOK_EVERY {
                let (session, now) = (f.session, now_ms());
                if !matches!(f.app.db(move |store| store.session(&session, now)).await, Ok(Some(_))) {
                    return None;
                }
                f.session_seen = Instant::now();
            }
            let id = f.id;
            let progress = f.live.borrow_and_update().clone().filter(|p| p.upload == id && changed);
            // Progress of the job the page was drawn running: nothing else can have changed. Any
            // other wake-up asks the state whether it did.
            if f.drawn != UploadState::Running || progress.is_none() {
                let state = f.app.db(move |store| store.upload(id)).await.ok().flatten().map(|u| u.state);
                match state {
                    None => return None,
                    Some(state) if state != f.drawn => {
                        f.done = true;
                        return Some((Ok(Event::default().event("state").data(state.as_str())), f));
                    }
                    Some(_) => {}
                }
            }
            if let Some(progress) = progress {
                let event = Event::default().event("progress").data(progress.event_json().to_string());
                return Some((Ok(event), f));
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
