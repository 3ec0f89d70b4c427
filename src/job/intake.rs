//! The one pass over a customer file that `validate`, `run`, `run --dry-run` and the server's
//! upload check share: read each row, apply the field rules, then the file-level rules, and hand
//! the verdict to the caller ([`Intake::scan`]); and the one loop that checks a whole file without
//! recording it — the counts, and the errors files of the rows to fix ([`check_file`]) — for
//! `validate` and the server's check of an upload. Stops with an error when the file as a whole
//! cannot be trusted (its date order).

use std::path::{Path, PathBuf};

use crate::input::{self, Columns, InputError, Locator, Probe, RawRow, RowReader};
use crate::output::{
    Audience, ErrorsFile, ValidationSummary, cell_flags, codes_text, error_text, warnings_text,
};
use crate::settings::InputSettings;
use crate::store::{NewRow, RowStatus};
use crate::validate::{Admission, Applicant, CheckedRow, DateOrderError, Rules, Sieve, check_row};

/// The file's dates cannot be trusted as a whole (day and month in two orders): nothing from it
/// is used.
#[derive(Debug, thiserror::Error)]
#[error("{}: the dates cannot be trusted", .path.display())]
pub struct DatesUntrusted {
    pub path: PathBuf,
    #[source]
    pub source: DateOrderError,
}

impl DatesUntrusted {
    /// The same error, naming the file `name` as its sender knows it.
    pub fn named(self, name: &Path) -> DatesUntrusted {
        DatesUntrusted { path: name.to_owned(), ..self }
    }
}

/// A customer file and the rules that judge it.
#[derive(Debug)]
pub struct Intake<'a> {
    settings: &'a InputSettings,
    probe: &'a Probe,
    reader: RowReader,
    pub columns: Columns,
    pub rules: Rules,
}

impl<'a> Intake<'a> {
    /// Opens the file and reads its header line (a missing column is reported here).
    pub fn open(settings: &'a InputSettings, probe: &'a Probe) -> anyhow::Result<Intake<'a>> {
        let mut rules = settings.rules();
        let reader =
            RowReader::open(&settings.path, probe, &settings.map, &rules.required_fields(), &settings.sheet)?;
        rules.locator = reader.locator().clone();
        Ok(Intake { settings, probe, columns: reader.columns().clone(), reader, rules })
    }

    /// Where the file's rows are (lines, or a sheet's rows), for messages.
    pub fn locator(&self) -> &Locator {
        &self.rules.locator
    }

    /// Calls `each` with every row and its verdict, in file order. The file is read twice: first
    /// to settle what needs the whole file (repeats, the date order), then to judge each row for
    /// good. Nothing reaches `each` when the file as a whole cannot be trusted.
    pub fn scan(
        mut self,
        mut each: impl FnMut(&RawRow, Admission, &CheckedRow) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let path = self.settings.path.as_path();
        let mut sieve = Sieve::new(&self.rules, self.probe.size);
        let mut row = RawRow::default();
        while self.reader.read_row(&mut row)? {
            sieve.see(row.line, &check_row(&row, &self.columns, &self.rules));
        }
        let mut checks =
            sieve.finish(&self.columns).map_err(|source| DatesUntrusted { path: path.to_owned(), source })?;

        self.reader.rewind()?;
        while self.reader.read_row(&mut row)? {
            let mut checked = check_row(&row, &self.columns, &self.rules);
            let admission = checks.admit(row.line, &mut checked, &self.columns);
            each(&row, admission, &checked)?;
        }
        // Both passes, and the run's identity, must be of one content.
        if input::sha256_of(path)? != self.probe.sha256 {
            return Err(InputError::Changed { path: path.to_owned() }.into());
        }
        Ok(())
    }
}

/// Checks every row of `intake` without recording anything: the counts of what was found, each
/// row to fix written to every one of `errors` (its cells, where it is and what is wrong, the
/// offending cells marked), and every row handed to `each` as well.
pub fn check_file(
    intake: Intake<'_>,
    errors: &mut [ErrorsFile],
    mut each: impl FnMut(&RawRow, Admission, &CheckedRow) -> anyhow::Result<()>,
) -> anyhow::Result<ValidationSummary> {
    let locator = intake.locator().clone();
    let audience = intake.settings.audience;
    let mut summary = ValidationSummary::for_audience(audience);
    intake.scan(|row, admission, checked| {
        summary.record(row.line, admission, checked);
        if admission == Admission::Invalid && !errors.is_empty() {
            let text = format!("{}: {}", locator.row(row.line), error_text(checked, audience));
            let flags = cell_flags(checked, audience);
            for file in errors.iter_mut() {
                file.write(row.cells.iter(), &text, &flags)?;
            }
        }
        each(row, admission, checked)
    })?;
    Ok(summary)
}

/// A row's verdict as the state records it: the status, the values to send, and the texts the
/// results and errors files show, made once here for every command that records rows.
#[derive(Debug)]
pub struct RowRecord<'a> {
    line: u64,
    checked: &'a CheckedRow,
    status: RowStatus,
    duplicate_of: Option<u64>,
    pub applicant: Option<Applicant>,
    error: String,
    codes: String,
    warnings: String,
    flags: Vec<(usize, String)>,
}

impl<'a> RowRecord<'a> {
    /// The verdict on the row on `line`, its messages said for `audience`.
    pub fn new(
        line: u64,
        admission: Admission,
        checked: &'a CheckedRow,
        audience: Audience,
    ) -> RowRecord<'a> {
        let (status, duplicate_of) = match admission {
            Admission::Valid => (RowStatus::Pending, None),
            Admission::Invalid => (RowStatus::Invalid, None),
            Admission::Duplicate { of_line } => (RowStatus::Duplicate, Some(of_line)),
        };
        RowRecord {
            line,
            checked,
            status,
            duplicate_of,
            applicant: checked.customer.as_ref().map(Applicant::from),
            error: error_text(checked, audience),
            codes: codes_text(checked),
            warnings: warnings_text(checked, audience),
            flags: cell_flags(checked, audience),
        }
    }

    /// The row as the import writes it.
    pub fn new_row(&self) -> NewRow<'_> {
        NewRow {
            line: self.line,
            status: self.status,
            order_id: self.checked.order_id.as_deref(),
            duplicate_of: self.duplicate_of,
            applicant: self.applicant.as_ref(),
            error_code: &self.codes,
            error: &self.error,
            warnings: &self.warnings,
            violations: &self.flags,
        }
    }
}
