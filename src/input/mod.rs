//! Reading customer files. Owns encodings, the dialect (delimiter, quoting, line endings), the
//! header line and which column holds which field, and physical line numbers; hands out
//! [`RawRow`]s one at a time, so a file of any size is read in constant memory. Knows nothing of
//! field rules: that is `validate`'s work.

mod clean;
mod delimited;
mod header;
mod probe;

use std::fmt::{self, Write as _};
use std::io;
use std::path::{Path, PathBuf};

pub use clean::{clean, header_key};
pub use csv::StringRecord;
pub use header::{Columns, Field, HeaderProblem};
pub use probe::{Probe, ProbeOptions, TextEncoding, probe};

use delimited::DelimitedRows;

/// One record of the customer file, as it was written.
#[derive(Debug, Clone, Default)]
pub struct RawRow {
    /// Physical line the record starts on (the header is usually line 1), so a clerk can find it.
    pub line: u64,
    /// The cells as read (decoded, not cleaned): they are written back unchanged to the errors
    /// file the clerk corrects.
    pub cells: StringRecord,
}

impl RawRow {
    /// The cleaned value of column `index`, or `""` when the row is too short to have it.
    pub fn value(&self, index: usize) -> std::borrow::Cow<'_, str> {
        clean(self.cells.get(index).unwrap_or(""))
    }
}

/// A problem with the file as a whole: nothing in it can be processed until it is fixed.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("cannot read {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{} is a directory; give the path of a customer file", .path.display())]
    NotAFile { path: PathBuf },
    #[error(
        "{} is empty: export the customer sheet with its header line and its rows",
        .path.display()
    )]
    Empty { path: PathBuf },
    #[error(
        "{} has no header line: its first non-empty line must name the columns \
         (first_name, last_name, pancard, date_of_birth, mobile_number, ...)",
        .path.display()
    )]
    NoHeader { path: PathBuf },
    #[error(
        "{} is a {kind}, not a CSV file: open it in the spreadsheet program and save it as \
         \"CSV UTF-8 (comma delimited)\"",
        .path.display()
    )]
    NotText { path: PathBuf, kind: &'static str },
    #[error("{}, line {line}: the file cannot be read further: {message}", .path.display())]
    Parse { path: PathBuf, line: u64, message: String },
    #[error("{}", describe_header_problem(.path, *.line, .problem, .found))]
    Header { path: PathBuf, line: u64, problem: HeaderProblem, found: Vec<String> },
}

fn describe_header_problem(path: &Path, line: u64, problem: &HeaderProblem, found: &[String]) -> String {
    let mut out = format!("{}, line {line} (the header): ", path.display());
    let found_list = found.iter().map(|h| format!("\"{h}\"")).collect::<Vec<_>>().join(", ");
    match problem {
        HeaderProblem::Missing(fields) => {
            let names: Vec<&str> = fields.iter().map(|f| f.name()).collect();
            let _ = write!(out, "no column for {}.", names.join(", "));
            let _ = write!(out, "\n  headers found: {found_list}\n  expected:");
            for field in fields {
                let _ = write!(out, "\n    {} (or: {})", field.name(), field.aliases().join(", "));
            }
            let example = fields.first().map_or("pancard", |f| f.name());
            let _ = write!(
                out,
                "\n  If the column is there under another name, say which: --map {example}=\"Your Header\""
            );
        }
        HeaderProblem::Doubled { field, columns } => {
            let cols = columns.iter().map(|h| format!("\"{h}\"")).collect::<Vec<_>>().join(" and ");
            let _ = write!(
                out,
                "{cols} could both be {field}; keep one, rename the other, or choose with \
                 --map {field}=\"{}\"",
                columns.first().map_or("", String::as_str)
            );
        }
        HeaderProblem::MappedNotFound { field, header } => {
            let _ = write!(
                out,
                "--map {field}=\"{header}\" names a column the file does not have.\n  headers found: {found_list}"
            );
        }
    }
    out
}

/// How to read a file: what the probe found plus the user's column mapping.
#[derive(Debug)]
pub struct RowReader {
    rows: DelimitedRows,
    columns: Columns,
    header_line: u64,
}

impl RowReader {
    /// Opens `path` as the probe described it and reads its header line; fails when the header
    /// does not provide the `required` fields.
    pub fn open(
        path: &Path,
        probe: &Probe,
        map: &[(Field, String)],
        required: &[Field],
    ) -> Result<RowReader, InputError> {
        let mut rows = DelimitedRows::open(path, probe)?;
        let mut header = RawRow::default();
        if !rows.read_row(&mut header)? {
            return Err(InputError::NoHeader { path: path.to_owned() });
        }
        let headers: Vec<String> = header.cells.iter().map(str::to_owned).collect();
        let columns = Columns::resolve(headers.clone(), map, required).map_err(|problem| {
            InputError::Header { path: path.to_owned(), line: header.line, problem, found: headers }
        })?;
        Ok(RowReader { rows, columns, header_line: header.line })
    }

    pub fn columns(&self) -> &Columns {
        &self.columns
    }

    pub fn header_line(&self) -> u64 {
        self.header_line
    }

    /// Reads the next non-blank row into `row` (reusing its buffers); `false` at the end.
    pub fn read_row(&mut self, row: &mut RawRow) -> Result<bool, InputError> {
        self.rows.read_row(row)
    }
}

impl fmt::Display for TextEncoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}
