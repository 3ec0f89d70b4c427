//! Checking an upload: the very pass `validate` makes (`job::intake::check_file`), its errors
//! files written (in the medium it came in, and as CSV for scripts), the customers the ledger
//! knows counted, and the upload recorded — `validated`, nothing sent — with its report: what was
//! found, a preview of the rows to fix capped whatever the file's size, and how the file was read.
//!
//! A file the server cannot read alone is a question for its uploader rather than a refusal:
//! which column is which when a header is not recognised, which order the dates are in when the
//! date column reads both ways. On the pages the upload is recorded with its questions (nothing
//! counted, nothing to register) and checked again with the answers ([`recheck_upload`]); the
//! answers are kept with the upload, for its job, and remembered for the next file with the same
//! header line, which is then read that way without asking (the API's uploads too). The API
//! cannot ask: it refuses such a file, saying where to answer.
//!
//! Why a file cannot be used is a typed error ([`Unusable`]) naming the file as its sender named
//! it, never the path it was stored under, and said in their words (`output::advice`).

use std::path::Path;
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use super::context::Context;
use super::files::{Format, Kind, Scratch};
use super::report::{
    CELL_CHARACTERS_SHOWN, Choices, DatesQuestion, Problem, Questions, ROWS_TO_FIX_SHOWN, Report, RowToFix,
    counts_map,
};
use crate::input::{self, Columns, Field, HeaderProblem, InputError, header_key};
use crate::job::intake::{DatesUntrusted, Intake, check_file};
use crate::output::advice::{self, Audience, violation_message};
use crate::output::{ErrorsFile, cell_flags, format_of};
use crate::store::{NewUpload, RowStatus, StatusCounts, Store, UploadRecord};
use crate::validate::Admission;

/// Why an upload was not accepted.
#[derive(Debug)]
pub enum CheckError {
    /// The file cannot be used as it is: the sender must change it.
    Unusable(Box<Unusable>),
    /// Checked again after someone registered it: it stays as it was.
    Registered,
    /// The server failed.
    Internal(anyhow::Error),
}

/// Why a file cannot be used as a whole (not a customer file, a missing column, an inflating
/// workbook, dates in two orders...), naming it as its sender named it.
#[derive(Debug, thiserror::Error)]
pub enum Unusable {
    #[error(transparent)]
    Input(InputError),
    #[error(transparent)]
    Dates(DatesUntrusted),
}

impl Unusable {
    /// What to tell whoever uploaded the file: why, and what they can do (never a setting of the
    /// server by its flag: those are the team lead's).
    pub fn message(&self) -> String {
        match self {
            Unusable::Input(e) => advice::unusable_upload(e),
            Unusable::Dates(e) => advice::dates_in_two_orders(&e.path, &e.source),
        }
    }
}

/// The file's errors are the sender's, except failures to read it, which are the server's disk's.
fn sort(error: anyhow::Error, name: &Path) -> CheckError {
    let error = match error.downcast::<InputError>() {
        Ok(e) if e.is_the_files() => return CheckError::Unusable(Box::new(Unusable::Input(e.named(name)))),
        Ok(e) => anyhow::Error::from(e),
        Err(error) => error,
    };
    match error.downcast::<DatesUntrusted>() {
        Ok(e) => CheckError::Unusable(Box::new(Unusable::Dates(e.named(name)))),
        Err(error) => CheckError::Internal(error),
    }
}

impl From<crate::store::StoreError> for CheckError {
    fn from(e: crate::store::StoreError) -> Self {
        CheckError::Internal(e.into())
    }
}

impl From<crate::output::OutputError> for CheckError {
    fn from(e: crate::output::OutputError) -> Self {
        CheckError::Internal(e.into())
    }
}

impl From<crate::gate::Refused> for CheckError {
    fn from(e: crate::gate::Refused) -> Self {
        CheckError::Internal(e.into())
    }
}

impl From<std::io::Error> for CheckError {
    fn from(e: std::io::Error) -> Self {
        CheckError::Internal(e.into())
    }
}

/// What a check of an upload came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked {
    /// Checked: its page says what was found.
    Done(i64),
    /// Recorded with questions its uploader must answer first.
    Asking(i64),
}

/// A file's shape: a hash of its header line as the reader matches headers (case, spaces and
/// punctuation aside), so that tomorrow's export of the same sheet has today's shape.
pub fn shape(headers: &[String]) -> String {
    let mut keys: Vec<String> = headers.iter().map(|h| header_key(h)).collect();
    while keys.last().is_some_and(String::is_empty) {
        keys.pop();
    }
    let digest = Sha256::digest(format!("header-v1\u{1f}{}", keys.join("\u{1f}")).as_bytes());
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// The header problem that a choice of columns can settle (`advice::columns_can_be_chosen`), and
/// the header line it was found in.
fn columns_question(error: &anyhow::Error) -> Option<(&HeaderProblem, &[String])> {
    match error.downcast_ref::<InputError>()? {
        InputError::Header { problem, found, .. } if advice::columns_can_be_chosen(problem, found) => {
            Some((problem, found))
        }
        _ => None,
    }
}

/// The header line an opening found, or the one its header problem was found in.
fn header_line(opened: &anyhow::Result<Intake<'_>>) -> Option<Vec<String>> {
    match opened {
        Ok(intake) => Some(intake.columns.headers().to_vec()),
        Err(e) => match e.downcast_ref::<InputError>()? {
            InputError::Header { found, .. } => Some(found.clone()),
            _ => None,
        },
    }
}

/// Which column each field is read from, as far as the headers and `map` say.
fn fields_of(columns: &Columns) -> Vec<(String, String)> {
    Field::ALL
        .into_iter()
        .filter(|f| columns.get(*f).is_some())
        .map(|f| (f.name().to_owned(), columns.header(f).to_owned()))
        .collect()
}

/// `text`, cut to `most` characters (an ellipsis marking the cut).
fn cut(text: &str, most: usize) -> String {
    if text.chars().count() <= most {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(most.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A file checked, before it is recorded.
struct CheckedFile {
    rows: u64,
    counts: StatusCounts,
    report: Report,
    /// The errors files written, to be put in place under the upload's id.
    errors: Vec<(Scratch, Format)>,
    /// The file's shape, and the choices to remember for it (when the uploader just made them).
    remember: Option<(String, Choices)>,
}

/// What reading a file found, with what it is: a workbook or text, and its content's SHA-256.
struct Found {
    workbook: bool,
    sha256: String,
    examined: Examined,
}

/// What checking a file came to.
enum Examined {
    Checked(Box<CheckedFile>),
    /// Questions for the uploader (in the report); `refusal` says the same to whoever cannot be
    /// asked.
    Asking {
        report: Box<Report>,
        refusal: Box<Unusable>,
    },
}

/// Reads the file at `path` (sent as `shown`) with the server's settings and the uploader's
/// choices — `explicit`, or those remembered for its shape — and checks every row.
fn examine(
    ctx: &Context,
    db: &Mutex<Store>,
    path: &Path,
    shown: &Path,
    explicit: Option<&Choices>,
) -> Result<Found, CheckError> {
    let base = ctx.input_for(path);
    let probe = input::probe(path, base.probe).map_err(|e| sort(e.into(), shown))?;
    let examined = examine_probed(ctx, db, &base, &probe, shown, explicit)?;
    Ok(Found { workbook: probe.workbook.is_some(), sha256: probe.sha256_hex(), examined })
}

/// [`examine`], the file probed (`base` the server's settings for it).
fn examine_probed(
    ctx: &Context,
    db: &Mutex<Store>,
    base: &crate::settings::InputSettings,
    probe: &input::Probe,
    shown: &Path,
    explicit: Option<&Choices>,
) -> Result<Examined, CheckError> {
    let lock = || db.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let path = base.path.as_path();

    // The choices: those given, or those remembered for the file's header line. The file is
    // opened once when there are none (a workbook's sheet is read in full to open it).
    let mut first = None;
    let (choices, remembered) = match explicit {
        Some(choices) => (choices.clone(), false),
        None => {
            let opened = Intake::open(base, probe);
            let found = match header_line(&opened) {
                Some(headers) => {
                    let json = lock().remembered_choices(&shape(&headers))?;
                    json.and_then(|j| serde_json::from_str::<Choices>(&j).ok()).filter(|c| !c.is_empty())
                }
                None => None,
            };
            first = Some(opened);
            match found {
                Some(choices) => (choices, true),
                None => (Choices::default(), false),
            }
        }
    };
    let chosen = ctx.input_with(path, &choices);
    let opened = match first {
        Some(opened) if choices.is_empty() => opened,
        _ => Intake::open(&chosen, probe),
    };
    let asking = |report: Report, refusal: Unusable| Examined::Asking {
        report: Box::new(Report { choices: choices.clone(), remembered, ..report }),
        refusal: Box::new(refusal),
    };

    let intake = match opened {
        Ok(intake) => intake,
        Err(e) => {
            let Some((problem, found)) = columns_question(&e) else { return Err(sort(e, shown)) };
            let questions = match problem {
                HeaderProblem::Missing(fields) => Questions {
                    missing: fields.iter().map(|f| f.name().to_owned()).collect(),
                    ..Questions::default()
                },
                HeaderProblem::Doubled { field, columns } => Questions {
                    doubled: Some((field.name().to_owned(), columns.clone())),
                    ..Questions::default()
                },
                HeaderProblem::MappedNotFound { .. } => Questions::default(),
            };
            let report = Report {
                file_headers: found.to_vec(),
                fields: Columns::resolve(found.to_vec(), &chosen.map, &[])
                    .map(|c| fields_of(&c))
                    .unwrap_or_default(),
                questions: Some(questions),
                ..Report::default()
            };
            let CheckError::Unusable(refusal) = sort(e, shown) else {
                return Err(CheckError::Internal(anyhow::anyhow!("a header problem that is not the file's")));
            };
            return Ok(asking(report, *refusal));
        }
    };
    let format = Format::of_upload(probe.workbook.is_some());

    // The errors file in the medium of the upload, and as CSV for scripts; moved under the
    // upload's id once it has one.
    let headers = intake.columns.headers().to_vec();
    let file_shape = shape(&headers);
    let fields = fields_of(&intake.columns);
    let locator = intake.locator().clone();
    // The preview shows the columns the check reads, in the file's order: a file of two
    // thousand columns makes a page of a handful.
    let mut shown_columns: Vec<usize> = Field::ALL.iter().filter_map(|f| intake.columns.get(*f)).collect();
    shown_columns.sort_unstable();
    let mut errors = vec![(ctx.uploads.scratch(format)?, format)];
    if format == Format::Xlsx {
        errors.push((ctx.uploads.scratch(Format::Csv)?, Format::Csv));
    }
    let mut files = Vec::with_capacity(errors.len());
    for (scratch, _) in &errors {
        files.push(ErrorsFile::create(scratch.cleared(), &headers)?);
    }

    let (mut rows_to_fix, mut pans, mut known) = (Vec::new(), Vec::new(), 0u64);
    let scanned = check_file(intake, &mut files, |row, admission, checked| {
        match admission {
            Admission::Invalid if rows_to_fix.len() < ROWS_TO_FIX_SHOWN => {
                let flags = cell_flags(checked, Audience::Server)
                    .into_iter()
                    .filter_map(|(p, message)| Some((shown_columns.iter().position(|c| *c == p)?, message)))
                    .collect();
                rows_to_fix.push(RowToFix {
                    place: locator.row(row.line),
                    cells: shown_columns
                        .iter()
                        .map(|p| cut(row.cells.get(*p).unwrap_or_default(), CELL_CHARACTERS_SHOWN))
                        .collect(),
                    flags,
                    messages: checked
                        .errors()
                        .map(|v| cut(&violation_message(v, Audience::Server), 4 * CELL_CHARACTERS_SHOWN))
                        .collect(),
                });
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
            _ => {}
        }
        Ok(())
    });
    let summary = match scanned {
        Ok(summary) => summary,
        // The dates read both ways and nobody said which: a question, not the end.
        Err(e) if choices.date_order().is_none() && e.downcast_ref::<DatesUntrusted>().is_some() => {
            let Some(untrusted) = e.downcast_ref::<DatesUntrusted>() else { return Err(sort(e, shown)) };
            let order = &untrusted.source;
            let places =
                |t: &crate::validate::Tally| order.locator.rows(&t.lines, t.rows > t.lines.len() as u64);
            let dates = DatesQuestion {
                column: order.column.clone(),
                month_first: order.month_first.rows,
                month_first_places: places(&order.month_first),
                day_first: order.day_first.rows,
                day_first_places: places(&order.day_first),
            };
            let report = Report {
                format: format_of(probe, &locator),
                file_headers: headers,
                fields,
                questions: Some(Questions { dates: Some(dates), ..Questions::default() }),
                ..Report::default()
            };
            let CheckError::Unusable(refusal) = sort(e, shown) else {
                return Err(CheckError::Internal(anyhow::anyhow!("a date problem that is not the file's")));
            };
            return Ok(asking(report, *refusal));
        }
        Err(e) => return Err(sort(e, shown)),
    };
    known += lock().count_registered(&pans)?;
    for file in files {
        file.commit()?;
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
                example: cut(&t.example, 4 * CELL_CHARACTERS_SHOWN),
            })
            .collect()
    };
    let report = Report {
        format: format_of(probe, &locator),
        headers: shown_columns.iter().map(|p| headers[*p].clone()).collect(),
        columns_hidden: (headers.len() - shown_columns.len()) as u64,
        file_headers: headers,
        fields,
        choices: choices.clone(),
        remembered,
        questions: None,
        problems: problems(summary.errors()),
        warnings: problems(summary.warnings()),
        rows_with_warnings: summary.rows_with_warnings,
        rows_to_fix,
        rows_to_fix_total: summary.invalid,
    };
    let remember = (explicit.is_some() && !choices.is_empty()).then(|| (file_shape, choices.clone()));
    Ok(Examined::Checked(Box::new(CheckedFile { rows: summary.rows, counts, report, errors, remember })))
}

/// Checks the file received in `incoming` (`size` bytes, sent as `name` by `by`), writes its
/// errors files, and records it as an upload: `validated`, nothing sent. A file with questions
/// for its uploader is recorded with them when `ask` (the pages), refused otherwise (the API).
pub fn check_upload(
    ctx: &Context,
    db: &Mutex<Store>,
    incoming: tempfile::NamedTempFile,
    size: u64,
    name: &str,
    by: &str,
    ask: bool,
) -> Result<Checked, CheckError> {
    let Found { workbook, sha256, examined } = examine(ctx, db, incoming.path(), Path::new(name), None)?;
    let (found, asked) = match examined {
        Examined::Asking { refusal, .. } if !ask => return Err(CheckError::Unusable(refusal)),
        Examined::Asking { report, .. } => {
            let found = CheckedFile {
                rows: 0,
                counts: StatusCounts::default(),
                report: *report,
                errors: Vec::new(),
                remember: None,
            };
            (found, true)
        }
        Examined::Checked(found) => (*found, false),
    };
    let CheckedFile { rows, counts, report, errors, remember } = found;
    let (counts_json, report_json) = (to_json(&counts_map(&counts)), to_json(&report));
    let upload = NewUpload {
        file_name: name,
        workbook,
        size,
        sha256: &sha256,
        uploaded_by: by,
        rows,
        counts: &counts_json,
        report: &report_json,
    };
    let uploads = &ctx.uploads;
    let lock = || db.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let id = lock().add_upload(&upload, |id| -> Result<(), CheckError> {
        for (scratch, format) in errors {
            scratch.keep_as(&uploads.writable(id, Kind::Errors, format)?)?;
        }
        uploads.keep_original(incoming, id)?;
        Ok(())
    })?;
    if let Some((shape, choices)) = remember {
        lock().remember_choices(&shape, &to_json(&choices))?;
    }
    Ok(if asked { Checked::Asking(id) } else { Checked::Done(id) })
}

/// Checks upload `upload` again, its file read with `choices`: its rows, counts, report and
/// errors files replaced — or its questions, if some are still open. Only while nobody has
/// registered it.
pub fn recheck_upload(
    ctx: &Context,
    db: &Mutex<Store>,
    upload: &UploadRecord,
    choices: &Choices,
) -> Result<Checked, CheckError> {
    let id = upload.id;
    let path = ctx.uploads.original(id);
    let Found { sha256, examined, .. } =
        examine(ctx, db, &path, Path::new(&upload.file_name), Some(choices))?;
    if sha256 != upload.sha256 {
        return Err(CheckError::Internal(anyhow::anyhow!(crate::output::notices::upload_changed(id, &path))));
    }
    let lock = || db.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let uploads = &ctx.uploads;
    let (changed, checked) = match examined {
        Examined::Asking { report, .. } => {
            let counts = to_json(&counts_map(&StatusCounts::default()));
            let changed =
                lock().recheck_upload(id, 0, &counts, &to_json(&report), || -> Result<(), CheckError> {
                    uploads.forget_errors(id)?;
                    Ok(())
                })?;
            (changed, Checked::Asking(id))
        }
        Examined::Checked(found) => {
            let CheckedFile { rows, counts, report, errors, remember } = *found;
            let (counts, report) = (to_json(&counts_map(&counts)), to_json(&report));
            let changed =
                lock().recheck_upload(id, rows, &counts, &report, || -> Result<(), CheckError> {
                    uploads.forget_errors(id)?;
                    for (scratch, format) in errors {
                        scratch.keep_as(&uploads.writable(id, Kind::Errors, format)?)?;
                    }
                    Ok(())
                })?;
            if changed && let Some((shape, choices)) = remember {
                lock().remember_choices(&shape, &to_json(&choices))?;
            }
            (changed, Checked::Done(id))
        }
    };
    if changed { Ok(checked) } else { Err(CheckError::Registered) }
}

/// JSON text for the state's JSON columns.
pub fn to_json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shape_is_the_header_line_as_headers_are_matched() {
        let line = |cells: &[&str]| cells.iter().map(|c| (*c).to_owned()).collect::<Vec<_>>();
        let today = shape(&line(&["Given", "Tax Id", "Born"]));
        assert_eq!(today, shape(&line(&["given", "TAX ID", " Born", ""])), "case, spaces, trailing blanks");
        assert_ne!(today, shape(&line(&["Given", "Born", "Tax Id"])), "another order is another shape");
        assert_eq!(today.len(), 32);
    }

    #[test]
    fn long_cells_are_cut_for_the_preview() {
        assert_eq!(cut("short", 10), "short");
        assert_eq!(cut("abcdefghijkl", 5), "abcd…");
    }
}
