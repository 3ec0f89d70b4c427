//! Checking an upload: the very pass `validate` makes (`job::intake::check_file`), its errors
//! files written (in the medium it came in, and as CSV for scripts), the customers the ledger
//! knows counted, and the upload recorded — `validated`, nothing sent. Why a file cannot be used
//! is a typed error ([`Unusable`]) naming the file as its sender named it, never the path it was
//! stored under.

use std::path::Path;
use std::sync::Mutex;

use super::context::Context;
use super::files::{Format, Kind};
use super::report::{Problem, ROWS_TO_FIX_SHOWN, Report, RowToFix, counts_map};
use crate::input::{self, InputError};
use crate::job::intake::{DatesUntrusted, Intake, check_file};
use crate::output::advice::{Audience, violation_message};
use crate::output::{ErrorsFile, cell_flags, format_of};
use crate::store::{NewUpload, RowStatus, StatusCounts, Store};
use crate::validate::Admission;

/// Why an upload was not accepted.
#[derive(Debug)]
pub enum CheckError {
    /// The file cannot be used as it is: the sender must change it.
    Unusable(Box<Unusable>),
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
    /// What to tell whoever uploaded the file: why, and what to do.
    pub fn message(&self) -> String {
        let mut message = crate::output::error_chain(self);
        if self.advice_is_a_setting() {
            message.push_str(crate::output::notices::SETTINGS_ARE_THE_SERVERS);
        }
        message
    }

    /// Whether the advice names one of the server's settings, which whoever uploads cannot pass.
    fn advice_is_a_setting(&self) -> bool {
        match self {
            Unusable::Input(e) => matches!(
                e,
                InputError::Utf16WithoutBom { .. }
                    | InputError::Header { .. }
                    | InputError::WorkbookTooBig { .. }
                    | InputError::NoSuchSheet { .. }
                    | InputError::HeaderRowOutside { .. }
                    | InputError::HeaderLineOutside { .. }
                    | InputError::HeaderLineBlank { .. }
                    | InputError::HeaderOnAnotherSheet { .. }
            ),
            Unusable::Dates(_) => true,
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

/// Checks the file received in `incoming` (`size` bytes, sent as `name` by `by`), writes its
/// errors files, and records it as an upload: `validated`, nothing sent. Returns its id.
pub fn check_upload(
    ctx: &Context,
    db: &Mutex<Store>,
    incoming: tempfile::NamedTempFile,
    size: u64,
    name: &str,
    by: &str,
) -> Result<i64, CheckError> {
    let stored = incoming.path().to_owned();
    let shown = Path::new(name);
    let input = ctx.input_for(&stored);
    let probe = input::probe(&stored, input.probe).map_err(|e| sort(e.into(), shown))?;
    let intake = Intake::open(&input, &probe).map_err(|e| sort(e, shown))?;
    let format = Format::of_upload(probe.workbook.is_some());

    // The errors file in the medium of the upload, and as CSV for scripts; moved under the
    // upload's id once it has one.
    let headers = intake.columns.headers().to_vec();
    let locator = intake.locator().clone();
    let native = ctx.uploads.scratch(format)?;
    let csv = match format {
        Format::Xlsx => Some(ctx.uploads.scratch(Format::Csv)?),
        Format::Csv => None,
    };
    let mut errors = vec![ErrorsFile::create(native.cleared(), &headers)?];
    if let Some(csv) = &csv {
        errors.push(ErrorsFile::create(csv.cleared(), &headers)?);
    }

    let (mut rows_to_fix, mut pans, mut known) = (Vec::new(), Vec::new(), 0u64);
    let lock = || db.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let summary = check_file(intake, &mut errors, |row, admission, checked| {
        match admission {
            Admission::Invalid if rows_to_fix.len() < ROWS_TO_FIX_SHOWN => rows_to_fix.push(RowToFix {
                place: locator.row(row.line),
                cells: row.cells.iter().map(str::to_owned).collect(),
                flags: cell_flags(checked, Audience::Server),
                messages: checked.errors().map(|v| violation_message(v, Audience::Server)).collect(),
            }),
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
    })
    .map_err(|e| sort(e, shown))?;
    known += lock().count_registered(&pans)?;
    for file in errors {
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
        rows_to_fix_total: summary.invalid,
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
        native.keep_as(&uploads.writable(id, Kind::Errors, format)?)?;
        if let Some(csv) = csv {
            csv.keep_as(&uploads.writable(id, Kind::Errors, Format::Csv)?)?;
        }
        uploads.keep_original(incoming, id)?;
        Ok(())
    })
}

/// JSON text for the state's JSON columns.
pub fn to_json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}
