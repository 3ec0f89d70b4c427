//! The pages, as maud templates: HTML written in Rust, checked by the compiler, every value
//! escaped. Plain and calm: one column, system fonts, dark text on white, a visible focus ring,
//! labels on every field, tables with headers, and state said in words, never by colour alone.
//! Everything works without JavaScript; the one script (`live.js`) only keeps the progress of a
//! job being sent up to date. PANs and mobiles appear in full only in the rows the uploader must
//! fix; examples of problems are masked as on the terminal.

use maud::{DOCTYPE, Markup, html};

use super::files::{Format, Kind};
use super::live::{Progress, group};
use super::report::Report;
use crate::store::{
    AuditEntry, Role, RowStatus, Scope, StatusCounts, TokenRecord, UploadRecord, UploadState, UserRecord,
};

/// What every page around its content needs.
#[derive(Debug, Clone, Copy)]
pub struct Chrome<'a> {
    pub title: &'a str,
    /// The person logged in and their CSRF token, for the logout form.
    pub person: Option<(&'a str, &'a str)>,
    /// Whether they are an admin: the header links to their page.
    pub admin: bool,
    pub sandbox: bool,
    /// Reload every few seconds when scripts are off (a job is under way).
    pub refresh: bool,
}

fn page(chrome: Chrome<'_>, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (chrome.title) " · cibil-bulk" }
                link rel="stylesheet" href="/static/style.css";
                @if chrome.refresh {
                    noscript { meta http-equiv="refresh" content="5"; }
                }
            }
            body {
                a.skip href="#main" { "Skip to the content" }
                header.top {
                    div.bar {
                        a.brand href="/" { "cibil-bulk" span.tagline { " · customer registrations" } }
                        @if let Some((name, csrf)) = chrome.person {
                            form.logout method="post" action="/logout" {
                                input type="hidden" name="csrf" value=(csrf);
                                span.who { "Signed in as " strong { (name) } }
                                @if chrome.admin {
                                    a.admin-link href="/admin" { "People and tokens" }
                                }
                                button.link type="submit" { "Sign out" }
                            }
                        }
                    }
                    @if chrome.sandbox {
                        p.rehearsal role="note" {
                            strong { "Rehearsal. " }
                            "This server sends to the built-in sandbox: nothing reaches AOPay, and nobody is really registered."
                        }
                    }
                }
                main #main tabindex="-1" { (content) }
                script src="/static/live.js" defer {}
            }
        }
    }
}

/// The sign-in page.
pub fn login(sandbox: bool, name: &str, next: &str, csrf: &str, problem: Option<&str>) -> Markup {
    let chrome = Chrome { title: "Sign in", person: None, admin: false, sandbox, refresh: false };
    page(
        chrome,
        html! {
            section.narrow {
                h1 { "Sign in" }
                p.lead { "Sign in to upload customer spreadsheets and register them for CIBIL scores." }
                @if let Some(problem) = problem {
                    p.alert role="alert" { (problem) }
                }
                form method="post" action="/login" {
                    input type="hidden" name="csrf" value=(csrf);
                    input type="hidden" name="next" value=(next);
                    div.field {
                        label for="name" { "Name" }
                        input #name type="text" name="name" value=(name) autocomplete="username" required autofocus;
                    }
                    div.field {
                        label for="password" { "Password" }
                        input #password type="password" name="password" autocomplete="current-password" required;
                    }
                    button.primary type="submit" { "Sign in" }
                }
                p.hint { "No account? Ask your team lead: they add people with " code { "cibil-bulk users add" } "." }
            }
        },
    )
}

/// How a state is said on the pages.
pub fn state_words(state: UploadState) -> &'static str {
    match state {
        UploadState::Validated => "Checked, not sent",
        UploadState::Queued => "Waiting to register",
        UploadState::Running => "Registering",
        UploadState::Finished => "Done",
        UploadState::Interrupted => "Stopped with the server",
        UploadState::Aborted => "Stopped",
    }
}

fn badge(state: UploadState) -> Markup {
    html! { span class={ "badge " (state.as_str()) } { (state_words(state)) } }
}

/// A time on a page: `25 Nov 2026, 10:32`.
pub fn when(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.with_timezone(&chrono::Local).format("%-d %b %Y, %H:%M").to_string())
        .unwrap_or_default()
}

/// One line of the uploads list.
#[derive(Debug, Clone)]
pub struct Listed {
    pub upload: UploadRecord,
    pub counts: StatusCounts,
}

/// The home page: upload a file, and every upload so far.
pub fn home(
    chrome: Chrome<'_>,
    csrf: &str,
    uploads: &[Listed],
    max_upload: u64,
    problem: Option<&str>,
) -> Markup {
    page(
        chrome,
        html! {
            h1 { "Customer uploads" }
            section.card aria-labelledby="upload-title" {
                h2 #upload-title { "Upload a spreadsheet" }
                p {
                    "An Excel or OpenDocument workbook, or a CSV file, with a header line naming the columns. "
                    "It is checked at once; " strong { "nothing is sent" } " until you press Register on the next page."
                }
                @if let Some(problem) = problem {
                    div.alert role="alert" {
                        p { strong { "This file cannot be used. " } }
                        pre.message { (problem) }
                    }
                }
                form.upload method="post" action="/uploads" enctype="multipart/form-data" {
                    input type="hidden" name="csrf" value=(csrf);
                    div.drop {
                        label for="file" {
                            span.drop-title { "Choose a customer file, or drop it on the box below" }
                            span.drop-hint { ".xlsx, .xls, .ods or .csv · up to " (megabytes(max_upload)) }
                        }
                        // The browser's own file field, made as large as the box: a file dropped
                        // anywhere on it is taken, with no script.
                        input #file type="file" name="file" required
                            accept=".xlsx,.xlsm,.xls,.ods,.csv,.txt,text/csv,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet,application/vnd.ms-excel,application/vnd.oasis.opendocument.spreadsheet";
                    }
                    button.primary type="submit" { "Check the file" }
                }
            }
            section aria-labelledby="list-title" {
                h2 #list-title { "Uploads" }
                @if uploads.is_empty() {
                    p.empty { "No uploads yet." }
                } @else {
                    div.scroll role="region" aria-labelledby="list-title" tabindex="0" {
                        table.list {
                            thead {
                                tr {
                                    th scope="col" { "File" }
                                    th scope="col" { "Uploaded by" }
                                    th scope="col" { "When" }
                                    th scope="col" class="num" { "Rows" }
                                    th scope="col" class="num" { "Registered" }
                                    th scope="col" class="num" { "To fix" }
                                    th scope="col" { "State" }
                                }
                            }
                            tbody {
                                @for item in uploads {
                                    @let u = &item.upload;
                                    tr {
                                        td { a href={ "/uploads/" (u.id) } { (u.file_name) } }
                                        td { (u.uploaded_by) }
                                        td { (when(u.uploaded_at)) }
                                        td.num { (group(u.rows)) }
                                        td.num { (group(item.counts.get(RowStatus::Registered) + item.counts.get(RowStatus::Known))) }
                                        td.num { (group(item.counts.needing_attention())) }
                                        td { (badge(u.state)) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

/// `50 MB`.
fn megabytes(bytes: u64) -> String {
    if bytes >= 1_000_000 {
        format!("{} MB", bytes / 1_000_000)
    } else {
        format!("{} kB", bytes.div_ceil(1000))
    }
}

/// `43 customers`, `1 customer`.
pub fn customers(n: u64) -> String {
    if n == 1 { "1 customer".to_owned() } else { format!("{} customers", group(n)) }
}

fn rows(n: u64) -> String {
    if n == 1 { "1 row".to_owned() } else { format!("{} rows", group(n)) }
}

/// Everything an upload's page shows.
#[derive(Debug)]
pub struct UploadView<'a> {
    pub upload: &'a UploadRecord,
    /// Rows per status: the run's when there is one, else as the check found them.
    pub counts: &'a StatusCounts,
    pub report: &'a Report,
    /// Customers a "Register" would send now.
    pub to_send: u64,
    /// The running job's progress, when it is this upload's.
    pub progress: Option<&'a Progress>,
    pub returning: u64,
}

/// Counts in words, in the order a clerk cares: what happened, then what needs them.
fn count_items(counts: &StatusCounts, before_run: bool) -> Vec<(RowStatus, String)> {
    let label = |status: RowStatus| -> &'static str {
        match status {
            RowStatus::Pending if before_run => "ready to register",
            RowStatus::Pending => "waiting to be sent",
            RowStatus::InFlight => "being sent",
            RowStatus::Registered => "registered",
            RowStatus::Known => "registered before: not sent again",
            RowStatus::Duplicate => "repeat an earlier row's PAN: sent once",
            RowStatus::Invalid => "need fixing: not sent",
            RowStatus::Rejected => "refused by AOPay",
            RowStatus::Failed => "got no answer from AOPay: register again to retry",
        }
    };
    [
        RowStatus::Registered,
        RowStatus::Known,
        RowStatus::Pending,
        RowStatus::InFlight,
        RowStatus::Duplicate,
        RowStatus::Invalid,
        RowStatus::Rejected,
        RowStatus::Failed,
    ]
    .into_iter()
    .filter(|s| counts.get(*s) > 0)
    .map(|s| (s, label(s).to_owned()))
    .collect()
}

fn counts_list(counts: &StatusCounts, before_run: bool, live: bool) -> Markup {
    html! {
        ul.counts {
            @for (status, words) in count_items(counts, before_run) {
                li class=(status.as_str()) {
                    strong data-count=[live.then_some(status.as_str())] { (group(counts.get(status))) }
                    " " (words)
                }
            }
        }
    }
}

/// An upload's page: what the check found, the rows to fix, registering and its progress, the
/// files to download.
pub fn upload(chrome: Chrome<'_>, view: &UploadView<'_>) -> Markup {
    let u = view.upload;
    let id = u.id;
    page(
        chrome,
        html! {
            p.crumbs { a href="/" { "← All uploads" } }
            h1 { (u.file_name) }
            p.meta {
                (rows(u.rows)) " · " (view.report.format) " · uploaded by " (u.uploaded_by) " on " (when(u.uploaded_at))
                @if let (Some(by), Some(at)) = (&u.registered_by, u.registered_at) {
                    " · registered by " (by) " on " (when(at))
                }
            }
            p { "State: " span #state-badge { (badge(u.state)) } }
            @if let Some(erased) = u.purged_at {
                section.card aria-labelledby="status-title" {
                    h2 #status-title { "Customer data erased" }
                    p {
                        "On " (when(erased)) ", as the team's retention rule asks, this upload's customer data was erased: "
                        "the file, its results and its rows to fix are gone. What happened to its rows stays."
                    }
                    (counts_list(view.counts, u.run_id.is_none(), false))
                }
            } @else {
                (status_section(view))
                @if !view.report.problems.is_empty() || !view.report.warnings.is_empty() {
                    (problems_section(view.report))
                }
                @if view.report.rows_to_fix_total > 0 && !(u.state == UploadState::Finished && u.run_id.is_some()) {
                    (rows_to_fix_section(id, u.workbook, view.report))
                }
            }
        },
    )
}

fn download_links(id: i64, workbook: bool, kind: Kind) -> Markup {
    let native = Format::of_upload(workbook);
    let what = match kind {
        Kind::Results => "Download the results",
        Kind::Errors => "Download the rows to fix",
    };
    html! {
        a.button href={ "/uploads/" (id) "/" (kind.as_str()) } download { (what) " (" (native.extension()) ")" }
        @if native != Format::Csv {
            " "
            a.secondary href={ "/uploads/" (id) "/" (kind.as_str()) "?format=csv" } download { "as CSV" }
        }
    }
}

/// The counts a page shows while its upload is being sent, zeros included, so that the page's
/// script has a place for each.
const LIVE_COUNTS: [(RowStatus, &str); 7] = [
    (RowStatus::Registered, "registered"),
    (RowStatus::Known, "registered before: not sent again"),
    (RowStatus::Pending, "waiting to be sent"),
    (RowStatus::Rejected, "refused by AOPay"),
    (RowStatus::Failed, "got no answer from AOPay"),
    (RowStatus::Duplicate, "repeat an earlier row's PAN: sent once"),
    (RowStatus::Invalid, "need fixing: not sent"),
];

fn status_section(view: &UploadView<'_>) -> Markup {
    let u = view.upload;
    let before_run = u.run_id.is_none();
    match u.state {
        UploadState::Validated => html! {
            section.card aria-labelledby="status-title" {
                h2 #status-title { "Checked: nothing sent yet" }
                (counts_list(view.counts, true, false))
                @if view.report.rows_with_warnings > 0 {
                    p.hint {
                        @if view.report.rows_with_warnings == 1 { "1 row has a warning: it is sent anyway, but is worth a look." }
                        @else { (rows(view.report.rows_with_warnings)) " have warnings: they are sent anyway, but are worth a look." }
                    }
                }
                @if view.to_send > 0 {
                    p.actions {
                        a.button.primary href={ "/uploads/" (u.id) "/register" } { "Register " (customers(view.to_send)) }
                    }
                    @if view.report.rows_to_fix_total > 0 {
                        p.hint { "Rows that need fixing are not sent. Fix them in the errors file and upload it again: customers registered now are recognised then, and not sent twice." }
                    }
                } @else {
                    p { "There is nobody to register in this file." }
                }
            }
        },
        UploadState::Queued | UploadState::Running => {
            let running = view.progress.filter(|p| p.upload == u.id);
            let counts =
                running.map_or_else(|| view.counts.clone(), |p| super::report::counts_from_map(&p.counts));
            let (done, rows) = running.map_or((0, u.rows), |p| (p.done, p.rows));
            let (done_text, rate_text, left_text) = match running {
                Some(p) => (p.done_text(), p.rate_text(), p.left_text()),
                None if u.state == UploadState::Queued => (
                    "Not started yet".to_owned(),
                    "waiting for the uploads before it".to_owned(),
                    String::new(),
                ),
                None => ("Starting".to_owned(), String::new(), String::new()),
            };
            html! {
                section.card #live data-events={ "/uploads/" (u.id) "/events" } aria-labelledby="status-title" {
                    h2 #status-title {
                        @if u.state == UploadState::Queued { "Waiting for the uploads before it" } @else { "Registering" }
                    }
                    progress #live-bar max=(rows.max(1)) value=(done) aria-label="Rows done" { (done_text) }
                    p.progress-line {
                        span #live-done { (done_text) }
                        span.sep aria-hidden="true" { " · " }
                        span #live-rate { (rate_text) }
                        span.sep aria-hidden="true" { " · " }
                        span #live-left { (left_text) }
                    }
                    ul.counts {
                        @for (status, words) in LIVE_COUNTS {
                            li class=(status.as_str()) {
                                strong data-count=(status.as_str()) { (group(counts.get(status))) }
                                " " (words)
                            }
                        }
                    }
                    p.hint { "You may leave this page: registering goes on, and the results wait here." }
                }
            }
        }
        UploadState::Finished | UploadState::Interrupted | UploadState::Aborted => html! {
            section.card aria-labelledby="status-title" {
                h2 #status-title {
                    @match u.state {
                        UploadState::Finished => "Done",
                        UploadState::Interrupted => "Stopped when the server stopped",
                        _ => "Stopped before the end",
                    }
                }
                @if let Some(reason) = &u.stop_reason {
                    p.alert role="alert" { (reason) }
                }
                @if u.state == UploadState::Interrupted {
                    p { "It goes on by itself when the server starts again; nobody is sent twice." }
                }
                (counts_list(view.counts, before_run, false))
                @if view.returning > 0 {
                    p.hint { (group(view.returning)) " of those registered were known to CIBIL already (returning customers)." }
                }
                @if u.run_id.is_some() {
                    p.actions { (download_links(u.id, u.workbook, Kind::Results)) }
                    @if view.counts.needing_attention() > 0 {
                        p.actions { (download_links(u.id, u.workbook, Kind::Errors)) }
                        p.hint {
                            "The rows to fix are in that file with the file's own columns and what is wrong with each. "
                            "Correct them and upload the file again: customers registered now are recognised, and not sent twice."
                        }
                    }
                }
                @if view.to_send > 0 {
                    p.actions {
                        a.button href={ "/uploads/" (u.id) "/register" } { "Register the remaining " (customers(view.to_send)) }
                    }
                }
            }
        },
    }
}

fn problems_section(report: &Report) -> Markup {
    html! {
        section aria-labelledby="problems-title" {
            h2 #problems-title { "What the check found" }
            @for (title, list) in [("Problems, most common first", &report.problems), ("Warnings", &report.warnings)] {
                @if !list.is_empty() {
                    h3 { (title) }
                    ul.problems {
                        @for p in list {
                            li {
                                strong { (rows(p.count)) } " · " code { (p.code) } " · " span.places { (p.places) }
                                br;
                                span.example { "e.g. " (p.example) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn rows_to_fix_section(id: i64, workbook: bool, report: &Report) -> Markup {
    html! {
        section aria-labelledby="fix-title" {
            h2 #fix-title { "Rows to fix (" (group(report.rows_to_fix_total)) ")" }
            p {
                "Cells that need fixing are marked " span.bad-sample { "⚠ like this" } ", and what is wrong is said beside each row. "
                "The errors file has these rows with the file's own columns: fix the cells there and upload it again."
            }
            p.actions { (download_links(id, workbook, Kind::Errors)) }
            div.scroll role="region" aria-labelledby="fix-title" tabindex="0" {
                table.fix {
                    thead {
                        tr {
                            th scope="col" { "Row" }
                            th scope="col" { "What to fix" }
                            @for header in &report.headers { th scope="col" { (header) } }
                        }
                    }
                    tbody {
                        @for row in &report.rows_to_fix {
                            tr {
                                th scope="row" { (row.place) }
                                td.why {
                                    ul { @for message in &row.messages { li { (message) } } }
                                }
                                @for (i, cell) in row.cells.iter().enumerate() {
                                    @let flag = row.flags.iter().find(|(p, _)| *p == i);
                                    @match flag {
                                        Some((_, message)) => td.bad title=(message) {
                                            span aria-hidden="true" { "⚠ " } (cell)
                                            span.visually-hidden { " (needs fixing)" }
                                        },
                                        None => td { (cell) },
                                    }
                                }
                                @for _ in row.cells.len()..report.headers.len() { td {} }
                            }
                        }
                    }
                }
            }
            @if report.rows_to_fix_total > report.rows_to_fix.len() as u64 {
                p.hint { "The first " (group(report.rows_to_fix.len() as u64)) " are shown; the errors file has all of them." }
            }
        }
    }
}

/// "Register N customers?": the confirmation, naming the count and where they go.
pub fn confirm(chrome: Chrome<'_>, upload: &UploadRecord, csrf: &str, count: u64, target: &str) -> Markup {
    page(
        chrome,
        html! {
            p.crumbs { a href={ "/uploads/" (upload.id) } { "← " (upload.file_name) } }
            section.narrow {
                h1 { "Register " (customers(count)) " with " (target) "?" }
                p {
                    "Each of them is sent to " (target) " once, at the agreed rate. Customers registered before, "
                    "by this or any other upload, are recognised and not sent again. "
                    "A registration cannot be taken back."
                }
                form method="post" action={ "/uploads/" (upload.id) "/register" } {
                    input type="hidden" name="csrf" value=(csrf);
                    p.actions {
                        button.primary type="submit" { "Yes, register " (customers(count)) }
                        " "
                        a.secondary href={ "/uploads/" (upload.id) } { "Cancel" }
                    }
                }
            }
        },
    )
}

/// A page saying what went wrong and where to go from here.
pub fn failure(chrome: Chrome<'_>, message: &str) -> Markup {
    page(
        chrome,
        html! {
            section.narrow {
                h1 { (chrome.title) }
                p { (message) }
                p { a href="/" { "Back to the uploads" } }
            }
        },
    )
}

/// A token just made, shown once.
#[derive(Debug)]
pub struct NewToken {
    pub name: String,
    pub token: String,
    pub scopes: Vec<Scope>,
}

/// What the admins' page shows.
#[derive(Debug)]
pub struct AdminView<'a> {
    /// The admin looking: they cannot remove themselves.
    pub me: &'a str,
    pub csrf: &'a str,
    pub people: &'a [UserRecord],
    pub tokens: &'a [TokenRecord],
    /// The newest entries of the audit log.
    pub audit: &'a [AuditEntry],
    pub audit_shown: u32,
    pub problem: Option<&'a str>,
    pub new_token: Option<&'a NewToken>,
}

fn never_or(ms: Option<i64>) -> String {
    ms.map_or_else(|| "never".to_owned(), when)
}

fn scope_words(scope: Scope) -> &'static str {
    match scope {
        Scope::Upload => "upload files (they are checked at once)",
        Scope::Register => "register uploads",
        Scope::ReadResults => "read the summaries, results and errors of its own uploads",
    }
}

/// The admins' page: people, tokens, the audit log.
pub fn admin(chrome: Chrome<'_>, view: &AdminView<'_>) -> Markup {
    let csrf = view.csrf;
    page(
        chrome,
        html! {
            h1 { "People, tokens and the audit log" }
            @if let Some(problem) = view.problem {
                div.alert role="alert" { p { strong { "Nothing was changed. " } (problem) } }
            }
            @if let Some(new) = view.new_token {
                section.card.secret aria-labelledby="new-token-title" {
                    h2 #new-token-title { "The API token " (new.name) }
                    p { strong { "Copy it now: it is shown only this once." } " It is not kept anywhere; if it is lost, revoke it and make another." }
                    p { code.token { (new.token) } }
                    p.hint {
                        "It may " (new.scopes.iter().map(|s| scope_words(*s)).collect::<Vec<_>>().join(", ")) ". "
                        "Send it as " code { "Authorization: Bearer TOKEN" } "."
                    }
                }
            }
            section #people aria-labelledby="people-title" {
                h2 #people-title { "People" }
                p.hint { "A clerk uploads, registers and downloads results. An admin also manages people and tokens and reads the audit log." }
                div.scroll role="region" aria-labelledby="people-title" tabindex="0" {
                    table.list {
                        thead { tr {
                            th scope="col" { "Name" } th scope="col" { "Role" } th scope="col" { "Added" }
                            th scope="col" { "Last signed in" } th scope="col" { "Change" }
                        } }
                        tbody {
                            @for person in view.people {
                                @let other = if person.role == Role::Admin { Role::Clerk } else { Role::Admin };
                                tr {
                                    th scope="row" { (person.name) }
                                    td { (person.role.as_str()) }
                                    td { (when(person.created_at)) }
                                    td { (never_or(person.last_login_at)) }
                                    td.row-actions {
                                        form.inline method="post" action="/admin/people/role" {
                                            input type="hidden" name="csrf" value=(csrf);
                                            input type="hidden" name="name" value=(person.name);
                                            input type="hidden" name="role" value=(other.as_str());
                                            button.link type="submit" { "Make " (other.as_str()) }
                                        }
                                        @if person.name != view.me {
                                            form.inline method="post" action="/admin/people/remove" {
                                                input type="hidden" name="csrf" value=(csrf);
                                                input type="hidden" name="name" value=(person.name);
                                                button.link type="submit" { "Remove" }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                form.card method="post" action="/admin/people" {
                    h3 { "Add a person" }
                    input type="hidden" name="csrf" value=(csrf);
                    div.field {
                        label for="person-name" { "Name" }
                        input #person-name type="text" name="name" required maxlength="64" autocomplete="off" spellcheck="false" autocapitalize="none";
                    }
                    div.field {
                        label for="person-password" { "First password" }
                        input #person-password type="password" name="password" required minlength=(crate::server::auth::MIN_PASSWORD_CHARS) autocomplete="new-password";
                        p.hint { "Give it to them in person; they sign in with it." }
                    }
                    fieldset.field {
                        legend { "Role" }
                        label.choice { input type="radio" name="role" value="clerk" checked; " Clerk" }
                        label.choice { input type="radio" name="role" value="admin"; " Admin" }
                    }
                    button.primary type="submit" { "Add" }
                }
            }
            section #tokens aria-labelledby="tokens-title" {
                h2 #tokens-title { "API tokens" }
                p.hint { "For scripts and nightly jobs. A token sees only the uploads it made." }
                @if view.tokens.is_empty() {
                    p.empty { "No API tokens yet." }
                } @else {
                    div.scroll role="region" aria-labelledby="tokens-title" tabindex="0" {
                        table.list {
                            thead { tr {
                                th scope="col" { "Name" } th scope="col" { "May" } th scope="col" { "Made" }
                                th scope="col" { "Last used" } th scope="col" { "State" }
                            } }
                            tbody {
                                @for token in view.tokens {
                                    tr {
                                        th scope="row" { (token.name) }
                                        td { (token.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")) }
                                        td { (when(token.created_at)) }
                                        td { (never_or(token.last_used_at)) }
                                        td {
                                            @if let Some(revoked) = token.revoked_at {
                                                "revoked " (when(revoked))
                                            } @else {
                                                form.inline method="post" action="/admin/tokens/revoke" {
                                                    input type="hidden" name="csrf" value=(csrf);
                                                    input type="hidden" name="name" value=(token.name);
                                                    "live · " button.link type="submit" { "Revoke" }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                form.card method="post" action="/admin/tokens" {
                    h3 { "Make a token" }
                    input type="hidden" name="csrf" value=(csrf);
                    div.field {
                        label for="token-name" { "Name" }
                        input #token-name type="text" name="name" required maxlength="64" autocomplete="off" spellcheck="false" autocapitalize="none";
                        p.hint { "Say what uses it, like nightly-cron." }
                    }
                    fieldset.field {
                        legend { "It may" }
                        @for scope in Scope::ALL {
                            label.choice {
                                input type="checkbox" name="scope" value=(scope.as_str());
                                " " (scope_words(scope))
                            }
                        }
                    }
                    button.primary type="submit" { "Make the token" }
                }
            }
            section #audit aria-labelledby="audit-title" {
                h2 #audit-title { "Audit log" }
                p.hint {
                    "Who did what, newest first: the newest " (view.audit_shown) " here. "
                    a href="/admin/audit.csv" download { "Download the whole log (CSV)" }
                }
                @if view.audit.is_empty() {
                    p.empty { "Nothing yet." }
                } @else {
                    div.scroll role="region" aria-labelledby="audit-title" tabindex="0" {
                        table.list {
                            thead { tr {
                                th scope="col" { "When" } th scope="col" { "Who" } th scope="col" { "What" }
                                th scope="col" { "Upload" } th scope="col" { "Detail" }
                            } }
                            tbody {
                                @for entry in view.audit {
                                    tr {
                                        td { (when(entry.at)) }
                                        td { (entry.who) }
                                        td { (entry.action) }
                                        td { @if let Some(id) = entry.upload { a href={ "/uploads/" (id) } { (id) } } }
                                        td { (entry.detail) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}
