//! The admins' page, `/admin`: the people who may sign in (add one, make them a clerk or an
//! admin, remove them), the API tokens (make one with its scopes, shown once; revoke one), and
//! the audit log (the newest entries, and the whole log as a CSV file). Only an admin reaches any
//! of it ([`Admin`]), every form carries the session's CSRF token, and every change is written to
//! the audit log under the admin's name — as `cibil-bulk users` and `cibil-bulk tokens` write it
//! under "the command line". The last admin can be neither removed nor made a clerk
//! (`store::PeopleChange::LastAdmin`), so somebody can always manage the others.

use axum::extract::{FromRequestParts, RawForm, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use super::pages::PageFailure;
use super::session::Person;
use super::views::{self, AdminView, NewToken};
use super::{App, Failure, auth};
use crate::store::{PeopleChange, Role, Scope};

/// The newest audit entries the page shows; the CSV file has them all.
const AUDIT_SHOWN: u32 = 200;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/admin", get(page))
        .route("/admin/people", post(add_person))
        .route("/admin/people/role", post(change_role))
        .route("/admin/people/remove", post(remove_person))
        .route("/admin/tokens", post(add_token))
        .route("/admin/tokens/revoke", post(revoke_token))
        .route("/admin/audit.csv", get(audit_csv))
        .layer(axum::extract::DefaultBodyLimit::max(super::FORM_LIMIT))
}

/// A person signed in who is an admin: a clerk is told this page is not theirs.
#[derive(Debug)]
pub struct Admin(Person);

impl FromRequestParts<App> for Admin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Admin, Response> {
        let person = Person::from_request_parts(parts, app).await?;
        person.require_admin().map_err(|failure| PageFailure(failure).into_response())?;
        Ok(Admin(person))
    }
}

/// The page, with what was just done or refused, and a new token to show once.
async fn render(
    app: &App,
    admin: &Person,
    status: StatusCode,
    problem: Option<String>,
    new_token: Option<NewToken>,
) -> Result<Response, PageFailure> {
    let (people, tokens, audit) =
        app.db(|store| Ok((store.users()?, store.tokens()?, store.audit_log(AUDIT_SHOWN)?))).await?;
    let view = AdminView {
        me: &admin.name,
        csrf: &admin.csrf,
        people: &people,
        tokens: &tokens,
        audit: &audit,
        audit_shown: AUDIT_SHOWN,
        problem: problem.as_deref(),
        new_token: new_token.as_ref(),
    };
    let chrome = super::pages::chrome(app, "People, tokens and the audit log", admin);
    Ok((status, views::admin(chrome, &view)).into_response())
}

async fn page(State(app): State<App>, Admin(admin): Admin) -> Result<Response, PageFailure> {
    render(&app, &admin, StatusCode::OK, None, None).await
}

/// Back to the page, where the change shows.
fn done(anchor: &str) -> Response {
    Redirect::to(&format!("/admin#{anchor}")).into_response()
}

/// The page again, saying why nothing was done.
async fn refused(
    app: &App,
    admin: &Person,
    status: StatusCode,
    why: String,
) -> Result<Response, PageFailure> {
    render(app, admin, status, Some(why), None).await
}

#[derive(Debug, Deserialize)]
pub struct PersonForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    role: String,
}

/// What the role field said: only the two roles there are.
fn role_of(text: &str) -> Result<Role, Failure> {
    Role::parse(text).ok_or_else(|| Failure::BadRequest("Choose clerk or admin.".to_owned()))
}

async fn add_person(
    State(app): State<App>,
    Admin(admin): Admin,
    Form(form): Form<PersonForm>,
) -> Result<Response, PageFailure> {
    admin.check_csrf(&form.csrf)?;
    let role = role_of(&form.role)?;
    let name = form.name.trim().to_owned();
    if let Err(expected) = auth::check_name(&name) {
        return refused(
            &app,
            &admin,
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("The name must be {expected}."),
        )
        .await;
    }
    if let Err(weak) = auth::check_password(&form.password) {
        return refused(&app, &admin, StatusCode::UNPROCESSABLE_ENTITY, format!("Not added: {weak}.")).await;
    }
    // Hashing takes a core for a moment, by design: not on the server's own threads.
    let password = form.password;
    let hash = tokio::task::spawn_blocking(move || auth::hash_password(&password))
        .await
        .map_err(|e| Failure::Internal(e.into()))?
        .map_err(|e| Failure::Internal(e.into()))?;
    let (who, added_name) = (admin.name.clone(), name.clone());
    let added = app
        .db(move |store| {
            let added = store.add_user(&added_name, &hash, role)?;
            if added {
                store.audit(&who, "user-added", None, &format!("{added_name} ({})", role.as_str()))?;
            }
            Ok(added)
        })
        .await?;
    if !added {
        let why = format!(
            "{name} can already sign in. To give them a new password, remove them and add them again."
        );
        return refused(&app, &admin, StatusCode::CONFLICT, why).await;
    }
    tracing::info!("{} added {name} ({})", admin.name, role.as_str());
    Ok(done("people"))
}

async fn change_role(
    State(app): State<App>,
    Admin(admin): Admin,
    Form(form): Form<PersonForm>,
) -> Result<Response, PageFailure> {
    admin.check_csrf(&form.csrf)?;
    let role = role_of(&form.role)?;
    let (who, name) = (admin.name.clone(), form.name.clone());
    let change = app
        .db(move |store| {
            let change = store.set_role(&name, role)?;
            if change == PeopleChange::Done {
                store.audit(&who, "role-changed", None, &format!("{name} ({})", role.as_str()))?;
            }
            Ok(change)
        })
        .await?;
    people_changed(&app, &admin, change, &form.name).await
}

async fn remove_person(
    State(app): State<App>,
    Admin(admin): Admin,
    Form(form): Form<PersonForm>,
) -> Result<Response, PageFailure> {
    admin.check_csrf(&form.csrf)?;
    if form.name == admin.name {
        let why = "You cannot remove yourself: ask another admin.".to_owned();
        return refused(&app, &admin, StatusCode::CONFLICT, why).await;
    }
    let (who, name) = (admin.name.clone(), form.name.clone());
    let change = app
        .db(move |store| {
            let change = store.remove_user(&name)?;
            if change == PeopleChange::Done {
                store.audit(&who, "user-removed", None, &name)?;
            }
            Ok(change)
        })
        .await?;
    people_changed(&app, &admin, change, &form.name).await
}

async fn people_changed(
    app: &App,
    admin: &Person,
    change: PeopleChange,
    name: &str,
) -> Result<Response, PageFailure> {
    match change {
        PeopleChange::Done => Ok(done("people")),
        PeopleChange::NoSuchPerson => {
            let why = format!("Nobody called {name} can sign in: the list below is who can.");
            refused(app, admin, StatusCode::NOT_FOUND, why).await
        }
        PeopleChange::LastAdmin => {
            let why = format!(
                "{name} is the only admin: make someone else an admin first, so that somebody can still manage people and tokens."
            );
            refused(app, admin, StatusCode::CONFLICT, why).await
        }
    }
}

/// The new-token form: a name, the CSRF token, and a checkbox per scope (`scope=upload`, …).
/// Read as pairs, since a scope may appear several times.
async fn add_token(
    State(app): State<App>,
    Admin(admin): Admin,
    RawForm(body): RawForm,
) -> Result<Response, PageFailure> {
    let (mut csrf, mut name, mut scopes) = (String::new(), String::new(), Vec::new());
    for (key, value) in url::form_urlencoded::parse(&body) {
        match key.as_ref() {
            "csrf" => csrf = value.into_owned(),
            "name" => name = value.trim().to_owned(),
            "scope" => match Scope::parse(&value) {
                Some(scope) if !scopes.contains(&scope) => scopes.push(scope),
                Some(_) => {}
                None => return Err(Failure::BadRequest("There is no such scope.".to_owned()).into()),
            },
            _ => {}
        }
    }
    admin.check_csrf(&csrf)?;
    scopes.sort();
    if let Err(expected) = auth::check_name(&name) {
        return refused(
            &app,
            &admin,
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("The token's name must be {expected}."),
        )
        .await;
    }
    if scopes.is_empty() {
        let why = "Tick at least one thing the token may do.".to_owned();
        return refused(&app, &admin, StatusCode::UNPROCESSABLE_ENTITY, why).await;
    }
    let token = auth::new_token();
    let hash = auth::secret_hash(&token);
    let (who, token_name, token_scopes) = (admin.name.clone(), name.clone(), scopes.clone());
    let added = app
        .db(move |store| {
            let added = store.add_token(&token_name, &hash, &token_scopes)?;
            if added {
                let said: Vec<&str> = token_scopes.iter().map(|s| s.as_str()).collect();
                store.audit(&who, "token-added", None, &format!("{token_name} ({})", said.join(" ")))?;
            }
            Ok(added)
        })
        .await?;
    if !added {
        let why = format!("A live token is already called {name}: revoke it first, or choose another name.");
        return refused(&app, &admin, StatusCode::CONFLICT, why).await;
    }
    tracing::info!("{} made the API token {name}", admin.name);
    // Shown in this answer only: it is never kept, and a reload does not make another.
    render(&app, &admin, StatusCode::OK, None, Some(NewToken { name, token, scopes })).await
}

#[derive(Debug, Deserialize)]
pub struct NameForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
}

async fn revoke_token(
    State(app): State<App>,
    Admin(admin): Admin,
    Form(form): Form<NameForm>,
) -> Result<Response, PageFailure> {
    admin.check_csrf(&form.csrf)?;
    let (who, name) = (admin.name.clone(), form.name.clone());
    let revoked = app
        .db(move |store| {
            let revoked = store.revoke_token(&name)?;
            if revoked {
                store.audit(&who, "token-revoked", None, &name)?;
            }
            Ok(revoked)
        })
        .await?;
    if !revoked {
        let why = format!("No live token is called {}: the list below is every token.", form.name);
        return refused(&app, &admin, StatusCode::NOT_FOUND, why).await;
    }
    Ok(done("tokens"))
}

/// The whole audit log, newest first, as a CSV file for a spreadsheet (every cell formula-safe).
async fn audit_csv(State(app): State<App>, Admin(admin): Admin) -> Result<Response, PageFailure> {
    let csv = app
        .db(|store| {
            let mut csv = crate::output::AuditCsv::new();
            store.for_each_audit(None, |entry| {
                csv.push(entry);
                Ok::<_, crate::store::StoreError>(())
            })?;
            Ok(csv.finish())
        })
        .await?;
    let who = super::session::Actor::Person { name: admin.name.clone(), role: admin.role };
    super::uploads::audit(&app, &who, "audit-exported", None, "").await;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"cibil-bulk-audit-log.csv\""),
        ],
        csv,
    )
        .into_response())
}
