//! Advice in the words of whoever reads it. The command line's user can pass a flag; whoever
//! uploads to the server cannot — the server's settings are its team lead's — so the same finding
//! is said two ways: a row's remedy (`validate::Remedy`), why a file cannot be used as a whole
//! (`InputError`, a date column in two orders), why a job stopped (`engine::StopReason`). The
//! command line's words are the ones it always had; the server's name what the uploader can do
//! on the page, or whom to ask ("ask your team lead to …").

use std::fmt::Write as _;
use std::path::Path;

use crate::engine::{Abort, StopReason};
use crate::input::{Field, HEADER_SEARCH_ROWS, HeaderProblem, InputError};
use crate::validate::{DateOrder, DateOrderError, Remedy, Tally, Violation};

/// Who reads a message, and so how its advice is said.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Audience {
    /// `run`, `validate`, `export`: flags and settings by name.
    #[default]
    CommandLine,
    /// Whoever uploads to `serve`, on the pages or through the API: choices the page offers, and
    /// the team lead for the server's settings.
    Server,
}

/// A field as a person calls it.
pub fn field_words(field: Field) -> &'static str {
    match field {
        Field::FirstName => "first name",
        Field::MiddleName => "middle name",
        Field::LastName => "last name (surname)",
        Field::Pan => "PAN",
        Field::DateOfBirth => "date of birth",
        Field::Email => "e-mail address",
        Field::Mobile => "mobile number",
        Field::OrderId => "order id",
    }
}

/// A day/month order as the pages offer it: `day first (DD/MM/YYYY)`.
pub fn date_order_words(order: DateOrder) -> &'static str {
    match order {
        DateOrder::Dmy => "day first (DD/MM/YYYY)",
        DateOrder::Mdy => "month first (MM/DD/YYYY)",
    }
}

/// What a remedy is, said after the finding's detail (its punctuation included).
pub fn remedy(remedy: Remedy, audience: Audience) -> String {
    match (remedy, audience) {
        (Remedy::MinAge, Audience::CommandLine) => {
            " (change the limit with --min-age if your policy differs)".to_owned()
        }
        (Remedy::MinAge, Audience::Server) => {
            " (if your policy differs, ask your team lead to change the minimum age)".to_owned()
        }
        (Remedy::DateOrder(order), Audience::CommandLine) => {
            format!("; if the whole column is written that way, run with --date-order {}", order.flag())
        }
        (Remedy::DateOrder(order), Audience::Server) => format!(
            "; if the whole column is written that way, have its dates read {}: \"Change how the \
             file is read\" on its page",
            date_order_words(order)
        ),
        (Remedy::ExcelDates, Audience::CommandLine) => {
            ", or run with --excel-dates to read such numbers as dates".to_owned()
        }
        (Remedy::ExcelDates, Audience::Server) => {
            ", or ask your team lead to have the server read such numbers as dates".to_owned()
        }
        (Remedy::EmailOptional, Audience::CommandLine) => {
            " (or run with --email-optional if your account allows it)".to_owned()
        }
        (Remedy::EmailOptional, Audience::Server) => {
            " (or, if your AOPay account allows it, ask your team lead to make the e-mail optional)"
                .to_owned()
        }
    }
}

fn advice_of(violation: &Violation, audience: Audience) -> String {
    violation.remedy.map(|r| remedy(r, audience)).unwrap_or_default()
}

/// A row's problem in full, for the files and pages of whoever must fix it.
pub fn violation_message(violation: &Violation, audience: Audience) -> String {
    violation.message_with(&advice_of(violation, audience))
}

/// A row's problem with its value masked, for terminals, logs and examples.
pub fn masked_violation_message(violation: &Violation, audience: Audience) -> String {
    violation.masked_message_with(&advice_of(violation, audience))
}

/// `1 row`, `3 rows`.
fn rows(n: u64) -> String {
    if n == 1 { "1 row".to_owned() } else { format!("{n} rows") }
}

/// A date column in two orders, said to whoever uploaded the file to the server: where each order
/// shows, and what happens next — on the pages the uploader is asked which order is right; the
/// API cannot ask, and says where to answer.
pub fn dates_in_two_orders(name: &Path, error: &DateOrderError) -> String {
    let places = |t: &Tally| error.locator.rows(&t.lines, t.rows > t.lines.len() as u64);
    let mut out = format!(
        "{}: the dates cannot be trusted: {} of {} can only be month first, MM/DD/YYYY ({})",
        name.display(),
        rows(error.month_first.rows),
        error.column,
        places(&error.month_first)
    );
    if error.day_first.rows > 0 {
        let _ = write!(
            out,
            ", while {} can only be day first, DD/MM/YYYY ({})",
            rows(error.day_first.rows),
            places(&error.day_first)
        );
    }
    out.push_str(
        ". In dates like 05/06/1990 day and month cannot be told apart, so nothing is sent until \
         the order is known: upload the file on the web page once and choose the order there; \
         files with these columns are then read that way, here too.",
    );
    out
}

/// Why a file uploaded to the server cannot be used, in words its sender can act on: the command
/// line's own message wherever that names no setting, and otherwise what to change in the file,
/// or what to ask the team lead for.
pub fn unusable_upload(error: &InputError) -> String {
    match error {
        InputError::Utf16WithoutBom { path, encoding } => format!(
            "{} looks like {} text without the byte-order mark that says so: save the sheet as \
             \"CSV UTF-8 (comma delimited)\", or upload the workbook itself",
            path.display(),
            encoding.label()
        ),
        InputError::Header { path, line, problem, found, place } => {
            header_problem(path, *line, problem, found, place.as_deref())
        }
        InputError::WorkbookTooBig { path, refusal, .. } => format!(
            "{} is refused before it is read: {refusal}. No customer workbook comes near that: the \
             file is damaged or made to exhaust memory. If it is genuine, save the sheet as \"CSV \
             UTF-8\", which is read as it streams, and upload that, or ask your team lead to raise \
             the server's limit",
            path.display()
        ),
        InputError::NoSuchSheet { path, asked, sheets } => format!(
            "{} has no sheet {asked}, the sheet this server is set to read. Its sheets: {}. Rename \
             the sheet, or ask your team lead to change which sheet the server reads",
            path.display(),
            sheets.iter().map(|s| format!("\"{s}\"")).collect::<Vec<_>>().join(", ")
        ),
        InputError::HeaderRowOutside { path, .. }
        | InputError::HeaderLineOutside { path, .. }
        | InputError::HeaderLineBlank { path, .. } => format!(
            "{}: this server is set to find the column names on a row where this file has none: \
             ask your team lead to change where the server looks for them",
            path.display()
        ),
        InputError::HeaderOnAnotherSheet { path, sheet, other } => format!(
            "{}: sheet \"{sheet}\", the first, has no header line (no row among its first \
             {HEADER_SEARCH_ROWS} names every column needed), but sheet \"{other}\" has one: move \
             sheet \"{other}\" to the front of the workbook, save it, and upload it again",
            path.display()
        ),
        InputError::Changed { path } => format!(
            "{} changed while it was being read: nothing from it was used. Upload it again",
            path.display()
        ),
        other => super::error_chain(other),
    }
}

/// Whether saying which column is which can settle a header problem: a field two columns could
/// be, or fields missing from a line of column names (not a customer's details) with at least as
/// many columns that no field's name matches. A file of two columns lacking five cannot be saved
/// by a choice, and is not asked about.
pub fn columns_can_be_chosen(problem: &HeaderProblem, found: &[String]) -> bool {
    if found.iter().any(|h| crate::mask::contains_identifier(h)) {
        return false;
    }
    match problem {
        HeaderProblem::Doubled { .. } => true,
        HeaderProblem::Missing(fields) => {
            let unknown = found.iter().filter(|h| !h.trim().is_empty() && Field::parse(h).is_none()).count();
            unknown >= fields.len()
        }
        HeaderProblem::MappedNotFound { .. } => false,
    }
}

fn header_problem(
    path: &Path,
    line: u64,
    problem: &HeaderProblem,
    found: &[String],
    sheet: Option<&str>,
) -> String {
    let mut out = match sheet {
        None => format!("{}, line {line} (the header): ", path.display()),
        Some(sheet) => format!(
            "{}, sheet \"{sheet}\", row {line} (taken for the header: no row among the first \
             {HEADER_SEARCH_ROWS} names every column needed): ",
            path.display()
        ),
    };
    let (found_list, looks_like_data) = crate::input::headers_found(found);
    match problem {
        HeaderProblem::Missing(fields) => {
            let names: Vec<String> =
                fields.iter().map(|f| format!("{} (the {})", f.name(), field_words(*f))).collect();
            let _ = write!(out, "no column for {}. Headers found: {found_list}.", names.join(", "));
            if looks_like_data {
                out.push_str(
                    " This line looks like a customer's details, not column names: the file needs \
                     a header line above its rows.",
                );
            } else if columns_can_be_chosen(problem, found) {
                out.push_str(
                    " If the columns are there under other names, upload the file on the web page \
                     once and say which column is which; files with these columns are then read \
                     that way, here too.",
                );
            } else {
                out.push_str(
                    " The file does not have the columns a registration needs: add them, and \
                     upload it again.",
                );
            }
        }
        HeaderProblem::Doubled { field, columns } => {
            let cols = columns.iter().map(|h| format!("\"{h}\"")).collect::<Vec<_>>().join(" and ");
            let _ = write!(
                out,
                "{cols} could both be the {}: keep one and rename the other, or upload the file on \
                 the web page and say which",
                field_words(*field)
            );
        }
        HeaderProblem::MappedNotFound { field, header } => {
            let _ = write!(
                out,
                "this server reads the {} from a column \"{header}\", which the file does not \
                 have (headers found: {found_list}): rename the column, or ask your team lead to \
                 change that setting",
                field_words(*field)
            );
        }
    }
    out
}

/// Why a server's job stopped before every row was done, in the words of whoever uploaded it.
pub fn stop_reason_on_the_server(stop: &StopReason) -> String {
    const AFTER_THE_FIX: &str = "Once they have fixed it and restarted the server, register the rest here.";
    match stop {
        StopReason::Interrupted => "The server was stopped while this was being registered: it goes on \
             by itself when the server starts again, and nobody is sent twice."
            .to_owned(),
        StopReason::Aborted(Abort::Credentials { detail }) => format!(
            "AOPay refused the merchant's credentials ({detail}), so nothing more was sent: ask \
             your team lead to check the AOPay credentials the server uses, and that AOPay accepts \
             requests from the server's address. {AFTER_THE_FIX}"
        ),
        StopReason::Aborted(Abort::NotAnEndpoint { detail }) => format!(
            "The address registrations are sent to does not answer as AOPay's registration service \
             ({detail}), so nothing more was sent: ask your team lead to check the AOPay address the \
             server uses. {AFTER_THE_FIX}"
        ),
        StopReason::Aborted(Abort::Untrusted { detail }) => format!(
            "AOPay's address could not prove who it is ({detail}), so nothing more was sent: ask \
             your team lead to check the AOPay address the server uses and its certificate. \
             {AFTER_THE_FIX}"
        ),
        StopReason::Aborted(Abort::EndpointDown { failures, last }) => format!(
            "AOPay did not answer {failures} requests in a row (the last: {last}): it looks down. \
             The customers it stopped with were left to send: register the rest again in a while."
        ),
        StopReason::Aborted(Abort::StateFailed { error }) => format!(
            "The server's database failed ({error}): what was registered is recorded: ask your \
             team lead to look at the server's log."
        ),
        StopReason::Aborted(Abort::Said(reason)) => reason.clone(),
    }
}

/// Whether only the team lead can remove what stopped a job: registering again before they have
/// (and restarted the server) meets the same refusal.
pub fn stop_needs_the_team_lead(stop: &StopReason) -> bool {
    matches!(
        stop,
        StopReason::Aborted(
            Abort::Credentials { .. } | Abort::NotAnEndpoint { .. } | Abort::Untrusted { .. }
        )
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_lines_words_are_the_ones_it_had() {
        assert_eq!(
            remedy(Remedy::MinAge, Audience::CommandLine),
            " (change the limit with --min-age if your policy differs)"
        );
        assert_eq!(
            remedy(Remedy::DateOrder(DateOrder::Mdy), Audience::CommandLine),
            "; if the whole column is written that way, run with --date-order mdy"
        );
    }

    #[test]
    fn the_servers_words_name_no_setting() {
        for r in
            [Remedy::MinAge, Remedy::DateOrder(DateOrder::Mdy), Remedy::ExcelDates, Remedy::EmailOptional]
        {
            let said = remedy(r, Audience::Server);
            assert!(!said.contains("--"), "{said}");
        }
        assert!(remedy(Remedy::MinAge, Audience::Server).contains("ask your team lead"));
    }

    #[test]
    fn a_refusal_only_the_team_lead_can_lift() {
        let refused = StopReason::Aborted(Abort::Credentials { detail: "401".into() });
        assert!(stop_needs_the_team_lead(&refused));
        assert!(stop_reason_on_the_server(&refused).contains("ask your team lead"));
        assert!(!stop_reason_on_the_server(&refused).contains("AOPAY_"));
        let down = StopReason::Aborted(Abort::EndpointDown { failures: 5, last: "timeout".into() });
        assert!(!stop_needs_the_team_lead(&down));
    }
}
