//! The field rules; each rule's file names its public source. The cleaned cells of one row become a
//! normalised [`Customer`] or the list of everything wrong with it — every problem, not the first —
//! and [`FileChecks`] adds the rules that need the whole file (duplicate PANs, repeated order ids,
//! shared mobiles, the day/month order of the date column). Pure: no I/O, no logging, no clock; the
//! run date comes in [`Rules`].

mod dob;
mod email;
mod file;
mod mobile;
mod name;
mod order_id;
mod pan;

use chrono::NaiveDate;

use crate::input::{Columns, Field, Locator, MAX_RECORD_BYTES, Oversized, RawRow, clean};
use crate::mask::mask;

pub use dob::{DateOrder, format as format_date, from_excel_serial};
pub use file::{Admission, DateOrderError, FileChecks, Sieve, Tally};
pub use mobile::Mobile;
pub use order_id::key as order_id_key;
pub use pan::{Pan, normalise as normalise_pan, valid as valid_pan};

/// The youngest age accepted on the run date without `--min-age`: CIBIL
/// reports on adults.
pub const DEFAULT_MIN_AGE: u32 = 18;

/// The per-file settings the rules depend on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    pub date_order: DateOrder,
    /// The user chose the order: rows that contradict it are row errors rather than a reason to
    /// stop the whole file.
    pub date_order_explicit: bool,
    /// Read bare 4–5 digit numbers in the date column as Excel serial dates.
    pub excel_dates: bool,
    pub min_age: u32,
    /// The run date, against which ages and "in the future" are measured.
    pub today: NaiveDate,
    pub email_required: bool,
    /// How messages name another row (`line 14`, `Customers!R14`).
    pub locator: Locator,
}

impl Rules {
    /// The default rules, for a run on `today`.
    pub fn new(today: NaiveDate) -> Rules {
        Rules {
            date_order: DateOrder::Dmy,
            date_order_explicit: false,
            excel_dates: false,
            min_age: DEFAULT_MIN_AGE,
            today,
            email_required: true,
            locator: Locator::Lines,
        }
    }

    /// The columns a file must have for these rules.
    pub fn required_fields(&self) -> Vec<Field> {
        let mut fields =
            vec![Field::FirstName, Field::LastName, Field::Pan, Field::DateOfBirth, Field::Mobile];
        if self.email_required {
            fields.push(Field::Email);
        }
        fields
    }
}

/// A setting that would change a verdict, named by the rule as data: `output` says it in the words
/// of whoever reads the message — a flag on the command line; on the server, what the uploader can
/// choose or whom to ask (the server's settings are its team lead's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Remedy {
    /// The youngest age accepted (`--min-age`).
    MinAge,
    /// The whole date column read in this day/month order (`--date-order`).
    DateOrder(DateOrder),
    /// Bare numbers in the date column read as Excel's dates (`--excel-dates`).
    ExcelDates,
    /// E-mail optional (`--email-optional`), where the merchant's account allows it.
    EmailOptional,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Severity {
    /// The row cannot be sent.
    Error,
    /// Worth a look; the row is still sent.
    Warning,
}

/// What a field rule found, before it is tied to a column.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Finding {
    code: &'static str,
    severity: Severity,
    detail: String,
    suggestion: Option<String>,
    remedy: Option<Remedy>,
}

impl Finding {
    fn error(code: &'static str, detail: String) -> Finding {
        Finding { code, severity: Severity::Error, detail, suggestion: None, remedy: None }
    }

    fn warning(code: &'static str, detail: String) -> Finding {
        Finding { code, severity: Severity::Warning, detail, suggestion: None, remedy: None }
    }

    fn suggest(mut self, suggestion: Option<String>) -> Finding {
        self.suggestion = suggestion;
        self
    }

    /// The setting that would accept the value, said after the detail.
    fn remedy(mut self, remedy: Remedy) -> Finding {
        self.remedy = Some(remedy);
        self
    }
}

/// One problem with one row: a stable machine `code` (`pan.format`), the column as the file names
/// it, the offending value, and what is wrong and what a valid value looks like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub code: &'static str,
    pub severity: Severity,
    /// The header as written in the file; empty for a problem with the row as a whole.
    pub column: String,
    /// The cleaned value the clerk typed; empty when the cell is.
    pub value: String,
    /// Reads after the column and value: `is not a valid PAN: …`. Never contains the value, nor
    /// a setting's name: that is the `remedy`, said by `output` for its reader.
    pub detail: String,
    /// A corrected value to offer, shown only where values are (never on a terminal).
    pub suggestion: Option<String>,
    /// The setting that would accept the value, when one would.
    pub remedy: Option<Remedy>,
    /// The column's position among the file's columns, when the problem is one cell's.
    pub position: Option<usize>,
}

impl Violation {
    fn of_row(code: &'static str, detail: String) -> Violation {
        Violation {
            code,
            severity: Severity::Error,
            column: String::new(),
            value: String::new(),
            detail,
            suggestion: None,
            remedy: None,
            position: None,
        }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The full message without its remedy: `PAN No "FRS23456" is not a valid PAN: …`.
    pub fn message(&self) -> String {
        self.message_with("")
    }

    /// The full message, for the files a clerk edits, with `advice` (the remedy as its reader is
    /// told it, from `output`) after the detail.
    pub fn message_with(&self, advice: &str) -> String {
        let mut out = self.render(&self.value);
        out.push_str(advice);
        if let Some(suggestion) = &self.suggestion {
            out.push_str(&format!(" (for example \"{suggestion}\")"));
        }
        out
    }

    /// The message with the value masked, for terminals and logs, without its remedy.
    pub fn masked_message(&self) -> String {
        self.masked_message_with("")
    }

    /// The masked message with `advice` after the detail.
    pub fn masked_message_with(&self, advice: &str) -> String {
        let mut out = self.render(&mask(&self.value));
        out.push_str(advice);
        out
    }

    fn render(&self, value: &str) -> String {
        match (self.column.is_empty(), value.is_empty()) {
            (true, _) => self.detail.clone(),
            (false, true) => format!("{} {}", self.column, self.detail),
            (false, false) => format!("{} \"{value}\" {}", self.column, self.detail),
        }
    }
}

/// A customer whose every field passed: the values that are sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    /// The order id the file gives; without one, the state makes one for the customer.
    pub order_id: Option<String>,
    pub first_name: String,
    pub middle_name: String,
    pub last_name: String,
    pub pan: Pan,
    pub date_of_birth: NaiveDate,
    /// Empty only when e-mail is optional and the cell was empty.
    pub email: String,
    pub mobile: Mobile,
}

/// A customer's values as text, exactly as they are sent and stored: the registration request
/// minus the merchant's credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct Applicant {
    /// Empty until the state gives the customer one (when the file gave none).
    pub order_id: String,
    pub first_name: String,
    pub middle_name: String,
    pub last_name: String,
    pub pancard: String,
    /// DD/MM/YYYY.
    pub date_of_birth: String,
    pub email_id: String,
    pub mobile_number: String,
}

impl From<&Customer> for Applicant {
    fn from(c: &Customer) -> Applicant {
        Applicant {
            order_id: c.order_id.clone().unwrap_or_default(),
            first_name: c.first_name.clone(),
            middle_name: c.middle_name.clone(),
            last_name: c.last_name.clone(),
            pancard: c.pan.to_string(),
            date_of_birth: format_date(c.date_of_birth),
            email_id: c.email.clone(),
            mobile_number: c.mobile.to_string(),
        }
    }
}

#[cfg(test)]
impl Applicant {
    /// A valid applicant for tests elsewhere in the crate.
    pub(crate) fn sample(order_id: &str, pancard: &str) -> Applicant {
        Applicant {
            order_id: order_id.into(),
            first_name: "Ravi".into(),
            middle_name: String::new(),
            last_name: "Kumar".into(),
            pancard: pancard.into(),
            date_of_birth: "31/01/1985".into(),
            email_id: "ravi@example.com".into(),
            mobile_number: "9876543210".into(),
        }
    }
}

/// Personal data stays out of debug output.
impl std::fmt::Debug for Applicant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Applicant")
            .field("order_id", &self.order_id)
            .field("pancard", &mask(&self.pancard))
            .finish_non_exhaustive()
    }
}

/// The verdict on one row by itself.
#[derive(Debug, Clone, Default)]
pub struct CheckedRow {
    /// Present when the row has no errors (warnings allowed).
    pub customer: Option<Customer>,
    /// The order id the file gives the row, when it gives a usable one. A row without one gets
    /// its customer's order id from the state (`store::Import`), never from the file's bytes.
    pub order_id: Option<String>,
    pub violations: Vec<Violation>,
    /// The day/month order the row's date proves, if it proves one.
    pub date_evidence: Option<DateOrder>,
}

impl CheckedRow {
    pub fn is_valid(&self) -> bool {
        self.customer.is_some()
    }

    pub fn errors(&self) -> impl Iterator<Item = &Violation> {
        self.violations.iter().filter(|v| v.is_error())
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Violation> {
        self.violations.iter().filter(|v| !v.is_error())
    }

    /// A file-level rule found an error: the row is no longer sendable.
    fn reject(&mut self, violation: Violation) {
        self.customer = None;
        self.violations.push(violation);
    }
}

/// Applies every field rule to one row.
pub fn check_row(row: &RawRow, columns: &Columns, rules: &Rules) -> CheckedRow {
    if let Some(oversized) = &row.oversized {
        return CheckedRow {
            violations: vec![Violation::of_row("row.too_long", too_long(row.line, oversized))],
            ..CheckedRow::default()
        };
    }
    let width = columns.len();
    let extra_cells = row.cells.iter().skip(width).any(|c| !clean(c).is_empty());
    if row.cells.len() < width || extra_cells {
        let cause = if extra_cells {
            "a cell probably contains the delimiter without quotes around it"
        } else {
            "the row is cut short, or a cell contains a line break without quotes around it"
        };
        let detail = format!(
            "This line has {} cells but the header has {width} columns: {cause}. Fix the row in \
             the spreadsheet and export again.",
            row.cells.len()
        );
        return CheckedRow {
            violations: vec![Violation::of_row("row.columns", detail)],
            ..CheckedRow::default()
        };
    }

    let mut row_check = RowCheck { row, columns, violations: Vec::new(), findings: Vec::new() };
    let first_name = row_check.field(Field::FirstName, |v, f| name::check(v, true, f));
    let middle_name = row_check.field(Field::MiddleName, |v, f| name::check(v, false, f));
    let last_name = row_check.field(Field::LastName, |v, f| name::check(v, true, f));
    let pan = row_check.field(Field::Pan, pan::check);
    let mut date_evidence = None;
    let date_of_birth = row_check.field(Field::DateOfBirth, |v, f| {
        let c = dob::check(v, rules, f);
        date_evidence = c.evidence;
        c.date
    });
    let email = row_check.field(Field::Email, |v, f| email::check(v, rules.email_required, f));
    let mobile = row_check.field(Field::Mobile, mobile::check);
    let given_order_id = row_check.field(Field::OrderId, |v, f| {
        if v.is_empty() { Some(None) } else { order_id::check(v, f).map(Some) }
    });

    if let (Some(pan), Some(last)) = (&pan, &last_name) {
        let initial = last.chars().find(char::is_ascii_alphabetic).map(|c| c.to_ascii_uppercase());
        if initial.is_some_and(|c| c != pan.surname_initial()) {
            row_check.findings.push(Finding::warning(
                "pan.surname",
                format!(
                    "has a 5th character (the initial of the surname the PAN was issued under) \
                     that differs from the first letter of {}: check both; the row is still sent",
                    columns.header(Field::LastName)
                ),
            ));
            row_check.attach(Field::Pan);
        }
    }

    let order_id = given_order_id.clone().flatten();
    let has_errors = row_check.violations.iter().any(|(_, v)| v.is_error());
    let customer = (|| {
        Some(Customer {
            order_id: given_order_id?,
            first_name: first_name?,
            middle_name: middle_name?,
            last_name: last_name?,
            pan: pan?,
            date_of_birth: date_of_birth?,
            email: email?,
            mobile: mobile?,
        })
    })()
    .filter(|_| !has_errors);
    // In the order of the file's columns, as the clerk reads the row.
    row_check.violations.sort_by_key(|(column, _)| *column);
    let violations = row_check.violations.into_iter().map(|(_, v)| v).collect();
    CheckedRow { customer, order_id, violations, date_evidence }
}

/// Why a record the reader skipped for its length is not a customer row, and where it lies.
fn too_long(line: u64, oversized: &Oversized) -> String {
    let size = oversized.bytes as f64 / (1024.0 * 1024.0);
    let lines = match oversized.last_line {
        last if last > line => format!("lines {line} to {last}"),
        _ => format!("line {line}"),
    };
    format!(
        "This record ({lines}) is {size:.1} MiB long, more than any customer row (the limit is {} \
         MiB), so it was not read. Usually a cell opens a quote (\") that is never closed, so the \
         lines after it read as one cell; or a cell holds far more than a customer's details. Fix \
         it in the spreadsheet and export again.",
        MAX_RECORD_BYTES / (1024 * 1024)
    )
}

/// Runs field rules against one row, turning their findings into violations named by column.
struct RowCheck<'a> {
    row: &'a RawRow,
    columns: &'a Columns,
    /// With the position of their column.
    violations: Vec<(usize, Violation)>,
    findings: Vec<Finding>,
}

impl RowCheck<'_> {
    fn field<T>(
        &mut self,
        field: Field,
        check: impl FnOnce(&str, &mut Vec<Finding>) -> Option<T>,
    ) -> Option<T> {
        let column = self.columns.get(field);
        if column.is_some_and(|i| self.row.unsaved_formulas.contains(&i)) {
            self.findings.push(Finding::error(
                "cell.formula_unsaved",
                "is a formula whose value was never saved (the file was made by a program, or saved \
                 without calculating), so it reads as empty: open the workbook in Excel or \
                 LibreOffice, save it, and use that file"
                    .into(),
            ));
            self.attach(field);
            return None;
        }
        let value = column.map(|i| self.row.value(i)).unwrap_or_default();
        let out = check(&value, &mut self.findings);
        self.attach(field);
        out
    }

    fn attach(&mut self, field: Field) {
        if self.findings.is_empty() {
            return;
        }
        let value = self.columns.get(field).map(|i| self.row.value(i)).unwrap_or_default();
        let position = self.columns.get(field).unwrap_or(usize::MAX);
        for finding in self.findings.drain(..) {
            self.violations.push((
                position,
                Violation {
                    code: finding.code,
                    severity: finding.severity,
                    column: self.columns.header(field).to_owned(),
                    value: value.to_string(),
                    detail: finding.detail,
                    suggestion: finding.suggestion,
                    remedy: finding.remedy,
                    position: self.columns.get(field),
                },
            ));
        }
    }
}

#[cfg(test)]
mod tests;
