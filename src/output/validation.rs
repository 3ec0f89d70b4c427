//! What `validate` shows and writes: the summary (counts, the most common problems with example
//! lines), the errors file a clerk corrects, and the row-by-row report.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::advice::{Audience, masked_violation_message, violation_message};
use super::{CsvFile, OutputError};
use crate::gate::Cleared;
use crate::input::{Locator, Probe};
use crate::validate::{Admission, CheckedRow, Severity, format_date};

const SEPARATOR: &str = " | ";

/// How the file was read, in a few words: `UTF-8, comma-separated`, `Excel workbook, sheet
/// "Customers"`.
pub fn format_of(probe: &Probe, locator: &Locator) -> String {
    if let (Some(kind), Locator::Sheet { name, .. }) = (probe.workbook, locator) {
        return format!("{}, sheet \"{name}\"", kind.label());
    }
    let delimiter = match probe.delimiter {
        b',' => "comma".to_owned(),
        b';' => "semicolon".to_owned(),
        b'\t' => "tab".to_owned(),
        other => format!("'{}'", char::from(other)),
    };
    format!("{}, {delimiter}-separated", probe.encoding)
}

/// Each error about one cell: its column position and the full message, for the note on that
/// cell in an errors workbook.
pub fn cell_flags(checked: &CheckedRow, audience: Audience) -> Vec<(usize, String)> {
    checked.errors().filter_map(|v| Some((v.position?, violation_message(v, audience)))).collect()
}

/// Every error message of a row, in one cell.
pub fn error_text(checked: &CheckedRow, audience: Audience) -> String {
    join(checked, Severity::Error, audience)
}

/// Every warning message of a row, in one cell.
pub fn warnings_text(checked: &CheckedRow, audience: Audience) -> String {
    join(checked, Severity::Warning, audience)
}

/// The codes of a row's errors (`pan.format,mobile.length`), for machines.
pub fn codes_text(checked: &CheckedRow) -> String {
    checked.errors().map(|v| v.code).collect::<Vec<_>>().join(",")
}

fn join(checked: &CheckedRow, severity: Severity, audience: Audience) -> String {
    checked
        .violations
        .iter()
        .filter(|v| v.severity == severity)
        .map(|v| violation_message(v, audience))
        .collect::<Vec<_>>()
        .join(SEPARATOR)
}

fn codes(checked: &CheckedRow) -> String {
    checked.violations.iter().map(|v| v.code).collect::<Vec<_>>().join(",")
}

/// `validate --output`: one line per row with its verdict and the values that would be sent.
#[derive(Debug)]
pub struct ReportFile {
    csv: CsvFile,
}

impl ReportFile {
    const HEADERS: [&'static str; 14] = [
        "line",
        "status",
        "duplicate_of",
        "order_id",
        "first_name",
        "middle_name",
        "last_name",
        "pancard",
        "date_of_birth",
        "email_id",
        "mobile_number",
        "errors",
        "warnings",
        "codes",
    ];

    pub fn create(path: &Cleared) -> Result<ReportFile, OutputError> {
        let mut csv = CsvFile::create(path, false)?;
        csv.write_row(Self::HEADERS)?;
        Ok(ReportFile { csv })
    }

    pub fn write(
        &mut self,
        line: u64,
        admission: Admission,
        checked: &CheckedRow,
    ) -> Result<(), OutputError> {
        let (status, duplicate_of) = match admission {
            Admission::Valid => ("valid", String::new()),
            Admission::Invalid => ("invalid", String::new()),
            Admission::Duplicate { of_line } => ("duplicate", of_line.to_string()),
        };
        let line = line.to_string();
        let order_id = checked.order_id.as_deref().unwrap_or("");
        let (errors, warnings, codes) = (
            join(checked, Severity::Error, Audience::CommandLine),
            join(checked, Severity::Warning, Audience::CommandLine),
            codes(checked),
        );
        match &checked.customer {
            Some(c) => {
                let (pan, dob, mobile) =
                    (c.pan.to_string(), format_date(c.date_of_birth), c.mobile.to_string());
                self.csv.write_row([
                    line.as_str(),
                    status,
                    &duplicate_of,
                    order_id,
                    &c.first_name,
                    &c.middle_name,
                    &c.last_name,
                    &pan,
                    &dob,
                    &c.email,
                    &mobile,
                    &errors,
                    &warnings,
                    &codes,
                ])
            }
            None => self.csv.write_row([
                line.as_str(),
                status,
                &duplicate_of,
                order_id,
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                &errors,
                &warnings,
                &codes,
            ]),
        }
    }

    pub fn commit(self) -> Result<PathBuf, OutputError> {
        let path = self.csv.path().to_owned();
        self.csv.commit()?;
        Ok(path)
    }
}

/// How often one kind of problem occurred, with the first few lines and one example message.
#[derive(Debug, Clone, Serialize)]
pub struct ProblemTally {
    pub code: &'static str,
    pub count: u64,
    pub lines: Vec<u64>,
    /// The first occurrence's message, values masked.
    pub example: String,
}

/// The counts `validate` reports, gathered row by row in constant memory.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ValidationSummary {
    pub rows: u64,
    pub valid: u64,
    pub invalid: u64,
    pub duplicate: u64,
    pub rows_with_warnings: u64,
    #[serde(skip)]
    errors: BTreeMap<&'static str, ProblemTally>,
    #[serde(skip)]
    warnings: BTreeMap<&'static str, ProblemTally>,
    /// Who reads the examples.
    #[serde(skip)]
    audience: Audience,
}

const EXAMPLE_LINES: usize = 5;
const SHOWN_PROBLEMS: usize = 8;

impl ValidationSummary {
    /// An empty summary whose examples are said for `audience`.
    pub fn for_audience(audience: Audience) -> ValidationSummary {
        ValidationSummary { audience, ..ValidationSummary::default() }
    }

    pub fn record(&mut self, line: u64, admission: Admission, checked: &CheckedRow) {
        self.rows += 1;
        match admission {
            Admission::Valid => self.valid += 1,
            Admission::Invalid => self.invalid += 1,
            Admission::Duplicate { .. } => self.duplicate += 1,
        }
        if checked.warnings().next().is_some() {
            self.rows_with_warnings += 1;
        }
        for v in &checked.violations {
            let map = if v.is_error() { &mut self.errors } else { &mut self.warnings };
            let tally = map.entry(v.code).or_insert_with(|| ProblemTally {
                code: v.code,
                count: 0,
                lines: Vec::new(),
                example: masked_violation_message(v, self.audience),
            });
            tally.count += 1;
            if tally.lines.len() < EXAMPLE_LINES && tally.lines.last() != Some(&line) {
                tally.lines.push(line);
            }
        }
    }

    /// Problems, most common first.
    pub fn errors(&self) -> Vec<&ProblemTally> {
        ranked(&self.errors)
    }

    pub fn warnings(&self) -> Vec<&ProblemTally> {
        ranked(&self.warnings)
    }

    /// The text a clerk reads, naming the files written (`errors` with its row count).
    pub fn render(
        &self,
        file: &Path,
        probe: &Probe,
        locator: &Locator,
        errors: Option<(&Path, u64)>,
        report: Option<&Path>,
    ) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{}: {} ({})",
            file.display(),
            count(self.rows, "row", "rows"),
            format_of(probe, locator)
        );
        let _ = writeln!(out, "  ready to send  {:>8}", self.valid);
        let _ = writeln!(out, "  need fixing    {:>8}", self.invalid);
        if self.duplicate > 0 {
            let _ = writeln!(
                out,
                "  duplicates     {:>8}   same PAN as an earlier row: sent once",
                self.duplicate
            );
        }
        if self.rows_with_warnings > 0 {
            let _ = writeln!(
                out,
                "  with warnings  {:>8}   sent anyway, but worth a look",
                self.rows_with_warnings
            );
        }
        for (title, list) in [("Problems", self.errors()), ("Warnings", self.warnings())] {
            if list.is_empty() {
                continue;
            }
            let _ = writeln!(out, "\n{title}, most common first:");
            for tally in list.iter().take(SHOWN_PROBLEMS) {
                let where_ = locator.rows(&tally.lines, tally.count > tally.lines.len() as u64);
                let _ = writeln!(out, "  {:>6} x {}  ({where_})", tally.count, tally.code);
                let _ = writeln!(out, "           e.g. {}", tally.example);
            }
            if list.len() > SHOWN_PROBLEMS {
                let _ = writeln!(out, "  ... and {} other kinds", list.len() - SHOWN_PROBLEMS);
            }
        }
        if errors.is_some() || report.is_some() {
            let _ = writeln!(out);
        }
        match errors {
            Some((path, 0)) => {
                let _ =
                    writeln!(out, "No rows to fix; the errors file has the headers only: {}", path.display());
            }
            Some((path, rows)) => {
                let _ = writeln!(
                    out,
                    "Wrote the {} to fix, with an error column first: {}\n  Correct the cells in a \
                     spreadsheet (keep mobile and PAN columns as Text), save as CSV, and check it again.",
                    count(rows, "row", "rows"),
                    path.display()
                );
            }
            None => {}
        }
        if let Some(path) = report {
            let _ = writeln!(out, "Wrote the report of every row: {}", path.display());
        }
        if self.invalid > 0 && errors.is_none() {
            let _ = writeln!(
                out,
                "\nTo get the rows to fix as a spreadsheet, run again with --errors to-fix.csv."
            );
        }
        out
    }
}

/// `1 row`, `2 rows`.
fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn ranked<'a>(map: &'a BTreeMap<&'static str, ProblemTally>) -> Vec<&'a ProblemTally> {
    let mut list: Vec<&ProblemTally> = map.values().collect();
    list.sort_by(|a, b| b.count.cmp(&a.count).then(a.code.cmp(b.code)));
    list
}

/// `validate --summary`: stable keys for scripts.
#[derive(Debug, Serialize)]
pub struct ValidationJson<'a> {
    pub command: &'static str,
    pub file: &'a Path,
    pub sha256: String,
    pub encoding: &'static str,
    #[serde(flatten)]
    pub counts: &'a ValidationSummary,
    pub problems: Vec<&'a ProblemTally>,
    pub warnings: Vec<&'a ProblemTally>,
    pub files: BTreeMap<&'static str, &'a Path>,
    pub exit_code: u8,
}

impl ValidationSummary {
    pub fn json<'a>(
        &'a self,
        file: &'a Path,
        probe: &Probe,
        files: BTreeMap<&'static str, &'a Path>,
        exit_code: u8,
    ) -> ValidationJson<'a> {
        ValidationJson {
            command: "validate",
            file,
            sha256: probe.sha256_hex(),
            encoding: probe.encoding.label(),
            counts: self,
            problems: self.errors(),
            warnings: self.warnings(),
            files,
            exit_code,
        }
    }
}
