//! The pages, as maud templates: HTML written in Rust, checked by the compiler, every value
//! escaped. Plain and calm: one column, system fonts, dark text on white, a visible focus ring,
//! labels on every field, tables with headers, and state said in words, never by colour alone.
//! In the clerk's words: what they can do on the page, or whom to ask — never a command-line
//! flag. On a phone no page is wider than the screen: tables become one card per row. Everything
//! works without JavaScript; the one script (`live.js`) keeps the progress of a job being sent up
//! to date, and tells a screen reader how it goes (a polite live region). PANs and mobiles appear
//! in full only in the rows the uploader must fix; examples of problems are masked as on the
//! terminal.

use maud::{DOCTYPE, Markup, html};

use super::files::{Format, Kind};
use super::live::{Progress, group};
use super::report::{Choices, Report};
use crate::input::Field;
use crate::output::advice::{date_order_words, field_words};
use crate::store::{
    AuditEntry, Role, RowStatus, Scope, StatusCounts, TokenRecord, UploadRecord, UploadState, UserRecord,
};
use crate::validate::DateOrder;

/// What a page says about what just happened, named in its address (`?said=...`) by the page
/// that sent the person there: a fixed list, so no address can make a page say anything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Said {
    /// Their session ended before a form of theirs was done: nothing was sent.
    SignedOut,
    /// Their session ended while a file was on its way: it was not kept.
    FileLost,
    /// "Register" with nothing left to send: nothing changed.
    NothingLeft,
    /// "Register" after a refusal only the team lead can lift: nothing was sent.
    TeamLead,
}

impl Said {
    pub fn parse(text: &str) -> Option<Said> {
        match text {
            "signed-out" => Some(Said::SignedOut),
            "file-lost" => Some(Said::FileLost),
            "nothing-left" => Some(Said::NothingLeft),
            "team-lead" => Some(Said::TeamLead),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Said::SignedOut => "signed-out",
            Said::FileLost => "file-lost",
            Said::NothingLeft => "nothing-left",
            Said::TeamLead => "team-lead",
        }
    }
}

/// A notice at the top of a page's content, said to a screen reader as it appears.
fn notice(text: Markup) -> Markup {
    html! { p.notice role="status" { (text) } }
}

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

/// The sign-in page; `ended` when the person's session ended while they were at work.
pub fn login(
    sandbox: bool,
    name: &str,
    next: &str,
    csrf: &str,
    problem: Option<&str>,
    ended: bool,
) -> Markup {
    let chrome = Chrome { title: "Sign in", person: None, admin: false, sandbox, refresh: false };
    page(
        chrome,
        html! {
            section.narrow {
                h1 { "Sign in" }
                p.lead { "Sign in to upload customer spreadsheets and register them for CIBIL scores." }
                @if ended && problem.is_none() {
                    (notice(html! {
                        strong { "You were signed out. " }
                        "Sign in again to go on where you were."
                    }))
                }
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
                p.hint { "No account yet? Ask your team lead to add you." }
            }
        },
    )
}

/// How a state is said on the pages.
pub fn state_words(state: UploadState) -> &'static str {
    match state {
        UploadState::Validated => "Checked, not sent yet",
        UploadState::Queued => "Waiting to register",
        UploadState::Running => "Registering",
        UploadState::Finished => "Done",
        UploadState::Interrupted => "Stopped with the server",
        UploadState::Aborted => "Stopped",
    }
}

/// Where an upload is, as its badge says it: a checked upload with nobody left to send says so
/// (not "not sent" beside the customers registered before), and one with questions asks.
fn badge_of(state: UploadState, to_send: u64, asking: bool) -> Markup {
    let (class, words) = match state {
        UploadState::Validated if asking => ("asking", "Needs your answer"),
        UploadState::Validated if to_send == 0 => ("validated", "Checked: nobody to send"),
        other => (other.as_str(), state_words(other)),
    };
    html! { span class={ "badge " (class) } { (words) } }
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
    /// Customers a "Register" would send now.
    pub to_send: u64,
    /// It has questions for its uploader before it can be checked.
    pub asking: bool,
}

/// The home page: upload a file, and every upload so far, each told apart from others of the
/// same name by its number, who sent it and when.
pub fn home(
    chrome: Chrome<'_>,
    csrf: &str,
    uploads: &[Listed],
    max_upload: u64,
    problem: Option<&str>,
    said: Option<Said>,
) -> Markup {
    page(
        chrome,
        html! {
            h1 { "Customer uploads" }
            @if said == Some(Said::FileLost) {
                (notice(html! {
                    strong { "You were signed out before your file was checked, " }
                    "so it was not kept and nothing was sent: choose the file again."
                }))
            }
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
                        table.list.cards role="table" {
                            thead role="rowgroup" {
                                tr role="row" {
                                    th scope="col" role="columnheader" { "File" }
                                    th scope="col" role="columnheader" { "Uploaded" }
                                    th scope="col" role="columnheader" class="num" { "Rows" }
                                    th scope="col" role="columnheader" class="num" { "Registered" }
                                    th scope="col" role="columnheader" class="num" { "To fix" }
                                    th scope="col" role="columnheader" { "State" }
                                }
                            }
                            tbody role="rowgroup" {
                                @for item in uploads {
                                    @let u = &item.upload;
                                    tr role="row" {
                                        th scope="row" role="rowheader" .file {
                                            a href={ "/uploads/" (u.id) } { (u.file_name) }
                                            " " span.id { "upload " (u.id) }
                                        }
                                        td role="cell" data-label="Uploaded" { (u.uploaded_by) ", " (when(u.uploaded_at)) }
                                        td.num role="cell" data-label="Rows" { (group(u.rows)) }
                                        td.num role="cell" data-label="Registered" { (group(item.counts.get(RowStatus::Registered) + item.counts.get(RowStatus::Known))) }
                                        td.num role="cell" data-label="To fix" { (group(item.counts.needing_attention())) }
                                        td role="cell" data-label="State" { (badge_of(u.state, item.to_send, item.asking)) }
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
    /// It stopped on a refusal only the team lead can lift, and they have not restarted the
    /// server since: registering the rest is not offered.
    pub waits_for_the_team_lead: bool,
    pub said: Option<Said>,
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

/// Whether the page may offer to change how the file is read: until someone registers it.
fn may_change_reading(u: &UploadRecord) -> bool {
    u.state == UploadState::Validated && u.run_id.is_none()
}

/// An upload's page: what the check found (or what must be answered first), how the file was
/// read, registering and its progress, the files to download, and the rows to fix — kept after
/// the end, as they are still to fix.
pub fn upload(chrome: Chrome<'_>, view: &UploadView<'_>) -> Markup {
    let u = view.upload;
    let id = u.id;
    let asking = view.report.questions.is_some() && may_change_reading(u);
    page(
        chrome,
        html! {
            p.crumbs { a href="/" { "← All uploads" } }
            h1 { (u.file_name) }
            p.meta {
                "upload " (u.id) " · "
                @if !asking { (rows(u.rows)) " · " (view.report.format) " · " }
                "uploaded by " (u.uploaded_by) " on " (when(u.uploaded_at))
                @if let (Some(by), Some(at)) = (&u.registered_by, u.registered_at) {
                    " · registered by " (by) " on " (when(at))
                }
            }
            @match view.said {
                Some(Said::NothingLeft) => (notice(html! {
                    strong { "Nothing was left to send: " }
                    "every customer of this file has an outcome, and nothing was changed."
                })),
                Some(Said::TeamLead) => (notice(html! {
                    strong { "Nothing was sent: " }
                    "what stopped this upload is for your team lead to fix first (see below)."
                })),
                _ => {}
            }
            p { "State: " span #state-badge { (badge_of(u.state, view.to_send, asking)) } }
            @if let Some(erased) = u.purged_at {
                section.card aria-labelledby="status-title" {
                    h2 #status-title { "Customer data erased" }
                    p {
                        "On " (when(erased)) ", as the team's retention rule asks, this upload's customer data was erased: "
                        "the file, its results and its rows to fix are gone. What happened to its rows stays."
                    }
                    (counts_list(view.counts, u.run_id.is_none(), false))
                }
            } @else if asking {
                (asking_section(u, view.report))
            } @else {
                (status_section(view))
                @if may_change_reading(u) || !view.report.choices.is_empty() {
                    (reading_section(u, view.report))
                }
                @if !view.report.problems.is_empty() || !view.report.warnings.is_empty() {
                    (problems_section(view.report))
                }
                @if view.report.rows_to_fix_total > 0 {
                    (rows_to_fix_section(id, u.workbook, view.report))
                }
            }
        },
    )
}

/// Before the check: what the server cannot tell alone, and the way to say it.
fn asking_section(u: &UploadRecord, report: &Report) -> Markup {
    let questions = report.questions.clone().unwrap_or_default();
    html! {
        section.card aria-labelledby="status-title" {
            h2 #status-title { "Before it is checked: how is this file to be read?" }
            @if !questions.missing.is_empty() || questions.doubled.is_some() {
                p { "Some of the columns needed were not recognised by their names: say which of the file's columns holds what." }
            }
            @if questions.dates.is_some() {
                p { "Its dates of birth can be read day first or month first: say which order the file uses." }
            }
            p { "Nothing is checked or sent until you have. " }
            p.actions { a.button.primary href={ "/uploads/" (u.id) "/choices" } { "Say how to read it" } }
        }
    }
}

/// How the file was read: the dates' order and the columns the uploader chose, and the way to
/// change them while nobody has registered it.
fn reading_section(u: &UploadRecord, report: &Report) -> Markup {
    let choices = &report.choices;
    let order = choices.date_order().unwrap_or(DateOrder::Dmy);
    html! {
        section aria-labelledby="reading-title" {
            h2 #reading-title { "How the file is read" }
            ul.reading {
                li {
                    "Dates of birth: " strong { (date_order_words(order)) }
                    @if choices.date_order().is_none() { " (the usual order)" }
                }
                @for (field, header) in &choices.columns {
                    @if let Some(field) = Field::parse(field) {
                        li { "The " (field_words(field)) ": column " strong { "\u{201c}" (header) "\u{201d}" } }
                    }
                }
            }
            @if report.remembered {
                p.hint { "As chosen for an earlier file with the same columns." }
            }
            @if may_change_reading(u) {
                p { a href={ "/uploads/" (u.id) "/choices" } { "Change how the file is read" } }
            }
        }
    }
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
            let heading = if u.state == UploadState::Queued {
                "Waiting for the uploads before it"
            } else {
                "Registering"
            };
            html! {
                section.card #live data-events={ "/uploads/" (u.id) "/events" } aria-labelledby="status-title" {
                    h2 #status-title { (heading) }
                    // What a screen reader announces as it changes: the script updates it every
                    // tenth of the way, not at every tick of the bar.
                    p.visually-hidden #live-said role="status" aria-live="polite" aria-atomic="true" {
                        (heading) ": " (done_text)
                    }
                    progress #live-bar max=(rows.max(1)) value=(done) aria-label="Rows done" { (done_text) }
                    p.progress-line aria-hidden="true" {
                        span #live-done { (done_text) }
                        span.sep { " · " }
                        span #live-rate { (rate_text) }
                        span.sep { " · " }
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
                    @if view.waits_for_the_team_lead {
                        p.hint {
                            "Once your team lead has fixed this and restarted the server, you can register the remaining "
                            (customers(view.to_send)) " here."
                        }
                    } @else {
                        p.actions {
                            a.button href={ "/uploads/" (u.id) "/register" } { "Register the remaining " (customers(view.to_send)) }
                        }
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
                                strong { (rows(p.count)) } " · " span.places { (p.places) }
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
    let shown = report.rows_to_fix.len() as u64;
    html! {
        section aria-labelledby="fix-title" {
            h2 #fix-title { "Rows to fix (" (group(report.rows_to_fix_total)) ")" }
            p {
                "Cells that need fixing are marked " span.bad-sample { "⚠ like this" } ", and what is wrong is said beside each row. "
                "The errors file has these rows with the file's own columns: fix the cells there and upload it again."
            }
            p.actions { (download_links(id, workbook, Kind::Errors)) }
            @if report.columns_hidden > 0 {
                p.hint {
                    "Only the columns that are checked are shown here; the file's other "
                    (group(report.columns_hidden)) " columns are in the errors file."
                }
            }
            div.scroll role="region" aria-labelledby="fix-title" tabindex="0" {
                table.fix.cards role="table" {
                    thead role="rowgroup" {
                        tr role="row" {
                            th scope="col" role="columnheader" { "Row" }
                            th scope="col" role="columnheader" { "What to fix" }
                            @for header in &report.headers { th scope="col" role="columnheader" { (header) } }
                        }
                    }
                    tbody role="rowgroup" {
                        @for row in &report.rows_to_fix {
                            tr role="row" {
                                th scope="row" role="rowheader" { (row.place) }
                                td.why role="cell" data-label="What to fix" {
                                    ul { @for message in &row.messages { li { (message) } } }
                                }
                                @for (i, cell) in row.cells.iter().enumerate() {
                                    @let label = report.headers.get(i).map_or("", String::as_str);
                                    @let flag = row.flags.iter().find(|(p, _)| *p == i);
                                    @match flag {
                                        Some((_, message)) => td.bad role="cell" data-label=(label) title=(message) {
                                            span aria-hidden="true" { "⚠ " } (cell)
                                            span.visually-hidden { " (needs fixing)" }
                                        },
                                        None => td role="cell" data-label=(label) { (cell) },
                                    }
                                }
                                @for _ in row.cells.len()..report.headers.len() { td role="cell" {} }
                            }
                        }
                    }
                }
            }
            @if report.rows_to_fix_total > shown {
                p.hint { "The first " (group(shown)) " are shown; the errors file has all of them." }
            }
        }
    }
}

/// "Register N customers?": the confirmation, naming the count and where they go.
pub fn confirm(
    chrome: Chrome<'_>,
    upload: &UploadRecord,
    csrf: &str,
    count: u64,
    target: &str,
    said: Option<Said>,
) -> Markup {
    page(
        chrome,
        html! {
            p.crumbs { a href={ "/uploads/" (upload.id) } { "← " (upload.file_name) } }
            section.narrow {
                @if said == Some(Said::SignedOut) {
                    (notice(html! {
                        strong { "You were signed out before this was confirmed, so nothing was sent. " }
                        "Press \u{201c}Yes, register " (customers(count)) "\u{201d} to register them now."
                    }))
                }
                h1 { "Register " (customers(count)) " with " (target) "?" }
                p.meta { (upload.file_name) ", upload " (upload.id) ", uploaded by " (upload.uploaded_by) " on " (when(upload.uploaded_at)) }
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

/// How a file is to be read: which column holds which field, and the order of its dates. Asked
/// when the check cannot tell alone (`report.questions`), and offered to change until someone
/// registers the upload.
pub fn choices(
    chrome: Chrome<'_>,
    upload: &UploadRecord,
    report: &Report,
    csrf: &str,
    said: Option<Said>,
    problem: Option<&str>,
) -> Markup {
    let questions = report.questions.clone().unwrap_or_default();
    let asking = report.questions.is_some();
    // The fields to choose a column for: those asked about, or (to change how it is read) every
    // field the file has or the rules need.
    let mut asked: Vec<Field> = questions.missing.iter().filter_map(|f| Field::parse(f)).collect();
    if let Some((field, _)) = &questions.doubled
        && let Some(field) = Field::parse(field)
    {
        asked.push(field);
    }
    let columns_asked = !asked.is_empty();
    if !asking {
        asked = Field::ALL
            .into_iter()
            .filter(|f| {
                report.fields.iter().any(|(name, _)| Field::parse(name) == Some(*f))
                    || matches!(
                        f,
                        Field::FirstName | Field::LastName | Field::Pan | Field::DateOfBirth | Field::Mobile
                    )
            })
            .collect();
    }
    let dates_asked = questions.dates.is_some();
    let show_dates = dates_asked || !asking;
    let current = |field: Field| -> Option<String> {
        report.choices.column(field).map(str::to_owned).or_else(|| {
            report.fields.iter().find(|(n, _)| Field::parse(n) == Some(field)).map(|(_, h)| h.clone())
        })
    };
    let order = report.choices.date_order();
    page(
        chrome,
        html! {
            p.crumbs { a href={ "/uploads/" (upload.id) } { "← " (upload.file_name) } }
            section.narrow {
                @if said == Some(Said::SignedOut) {
                    (notice(html! {
                        strong { "You were signed out before the file was checked again: " }
                        "nothing was changed. Choose again and press \u{201c}Check the file\u{201d}."
                    }))
                }
                h1 { "How is " (upload.file_name) " to be read?" }
                p.meta { "upload " (upload.id) ", uploaded by " (upload.uploaded_by) " on " (when(upload.uploaded_at)) }
                @if let Some(problem) = problem {
                    p.alert role="alert" { (problem) }
                }
                form.choices method="post" action={ "/uploads/" (upload.id) "/choices" } {
                    input type="hidden" name="csrf" value=(csrf);
                    @if columns_asked || !asking {
                        fieldset {
                            legend { "Which column is which?" }
                            @if columns_asked {
                                p { "These were not recognised by the names of the file's columns. Choose the column that holds each." }
                            }
                            @if let Some((field, columns)) = &questions.doubled {
                                p {
                                    @let words = Field::parse(field).map_or("", field_words);
                                    "More than one column could be the " (words) ": "
                                    (columns.iter().map(|c| format!("\u{201c}{c}\u{201d}")).collect::<Vec<_>>().join(" and "))
                                    ". Choose the right one."
                                }
                            }
                            @for field in &asked {
                                @let name = format!("col_{}", field.name());
                                @let chosen = current(*field);
                                div.field {
                                    label for=(name) { "The " (field_words(*field)) }
                                    select id=(name) name=(name) required[columns_asked] {
                                        option value="" { "— choose a column —" }
                                        @for header in &report.file_headers {
                                            @if !header.trim().is_empty() {
                                                option value=(header) selected[chosen.as_deref() == Some(header.as_str())] { (header) }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    @if show_dates {
                        fieldset {
                            legend { "How are the dates of birth written?" }
                            @if let Some(dates) = &questions.dates {
                                p {
                                    "In " strong { "\u{201c}" (dates.column) "\u{201d}" } ", "
                                    (rows(dates.month_first)) " can only be month first (" (dates.month_first_places) ")"
                                    @if dates.day_first > 0 {
                                        " and " (rows(dates.day_first)) " can only be day first (" (dates.day_first_places) ")"
                                    }
                                    ". In a date like 05/06/1990 the day and the month cannot be told apart, so say which order the file uses. "
                                    "Rows that do not fit it become rows to fix."
                                }
                            }
                            div.choice {
                                input #order-dmy type="radio" name="date_order" value="dmy" required
                                    checked[order == Some(DateOrder::Dmy) || (!dates_asked && order.is_none())];
                                label for="order-dmy" { "Day first: 05/06/1990 is 5 June 1990 (DD/MM/YYYY)" }
                            }
                            div.choice {
                                input #order-mdy type="radio" name="date_order" value="mdy" required
                                    checked[order == Some(DateOrder::Mdy)];
                                label for="order-mdy" { "Month first: 05/06/1990 is May 6, 1990 (MM/DD/YYYY)" }
                            }
                        }
                    }
                    p.hint { "Files with the same columns are read this way from now on, without asking; you can change it on their page." }
                    p.actions {
                        button.primary type="submit" { "Check the file" }
                        " "
                        a.secondary href={ "/uploads/" (upload.id) } { "Cancel" }
                    }
                }
            }
        },
    )
}

/// The choices a form of [`choices`] sends, on top of those the upload had: `fields` are the
/// form's fields; a header must be one of the file's. An error says what is wrong, in words.
pub fn read_choices(
    had: &Choices,
    file_headers: &[String],
    fields: &std::collections::HashMap<String, String>,
) -> Result<Choices, String> {
    let mut choices = had.clone();
    if let Some(order) = fields.get("date_order") {
        match order.as_str() {
            "dmy" | "mdy" => choices.date_order = Some(order.clone()),
            _ => return Err("Choose how the dates are written.".to_owned()),
        }
    }
    for field in Field::ALL {
        let Some(header) = fields.get(&format!("col_{}", field.name())) else { continue };
        choices.columns.retain(|(f, _)| Field::parse(f) != Some(field));
        if header.is_empty() {
            continue;
        }
        if !file_headers.contains(header) {
            return Err(format!(
                "The file has no column \u{201c}{header}\u{201d}: choose one of its columns."
            ));
        }
        choices.columns.push((field.name().to_owned(), header.clone()));
    }
    for (i, (field, header)) in choices.columns.iter().enumerate() {
        if let Some((other, _)) = choices.columns[..i].iter().find(|(_, h)| h == header) {
            let words = |f: &str| Field::parse(f).map_or("", field_words);
            return Err(format!(
                "The column \u{201c}{header}\u{201d} was chosen for both the {} and the {}: each column holds one thing.",
                words(other),
                words(field)
            ));
        }
    }
    Ok(choices)
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
        Scope::ReadResults => "read the summaries, results and errors of its uploads",
        Scope::AllUploads => "see every upload, a clerk's included, not only those it made",
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
                    table.list.cards role="table" {
                        thead role="rowgroup" { tr role="row" {
                            th scope="col" role="columnheader" { "Name" } th scope="col" role="columnheader" { "Role" } th scope="col" role="columnheader" { "Added" }
                            th scope="col" role="columnheader" { "Last signed in" } th scope="col" role="columnheader" { "Change" }
                        } }
                        tbody role="rowgroup" {
                            @for person in view.people {
                                @let other = if person.role == Role::Admin { Role::Clerk } else { Role::Admin };
                                tr role="row" {
                                    th scope="row" role="rowheader" { (person.name) }
                                    td role="cell" data-label="Role" { (person.role.as_str()) }
                                    td role="cell" data-label="Added" { (when(person.created_at)) }
                                    td role="cell" data-label="Last signed in" { (never_or(person.last_login_at)) }
                                    td.row-actions role="cell" {
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
                p.hint { "For scripts and nightly jobs. A token sees only the uploads it made, unless it may see every upload." }
                @if view.tokens.is_empty() {
                    p.empty { "No API tokens yet." }
                } @else {
                    div.scroll role="region" aria-labelledby="tokens-title" tabindex="0" {
                        table.list.cards role="table" {
                            thead role="rowgroup" { tr role="row" {
                                th scope="col" role="columnheader" { "Name" } th scope="col" role="columnheader" { "May" } th scope="col" role="columnheader" { "Made" }
                                th scope="col" role="columnheader" { "Last used" } th scope="col" role="columnheader" { "State" }
                            } }
                            tbody role="rowgroup" {
                                @for token in view.tokens {
                                    tr role="row" {
                                        th scope="row" role="rowheader" { (token.name) }
                                        td role="cell" data-label="May" { (token.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")) }
                                        td role="cell" data-label="Made" { (when(token.created_at)) }
                                        td role="cell" data-label="Last used" { (never_or(token.last_used_at)) }
                                        td role="cell" data-label="State" {
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
                        table.list.cards role="table" {
                            thead role="rowgroup" { tr role="row" {
                                th scope="col" role="columnheader" { "When" } th scope="col" role="columnheader" { "Who" } th scope="col" role="columnheader" { "What" }
                                th scope="col" role="columnheader" { "Upload" } th scope="col" role="columnheader" { "Detail" }
                            } }
                            tbody role="rowgroup" {
                                @for entry in view.audit {
                                    tr role="row" {
                                        td role="cell" data-label="When" { (when(entry.at)) }
                                        td role="cell" data-label="Who" { (entry.who) }
                                        td role="cell" data-label="What" { (entry.action) }
                                        td role="cell" data-label="Upload" { @if let Some(id) = entry.upload { a href={ "/uploads/" (id) } { (id) } } }
                                        td role="cell" data-label="Detail" { (entry.detail) }
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
