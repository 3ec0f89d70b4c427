//! Reading customer files, delimited text or spreadsheet workbooks. Owns encodings, the dialect
//! (delimiter, quoting, line endings), workbooks' sheets and typed cells, the header line and which
//! column holds which field, and where each row is (a physical line, or a sheet's row); hands out
//! [`RawRow`]s one at a time. Knows nothing of field rules: that is `validate`'s work.

mod bounds;
mod clean;
mod delimited;
mod header;
mod probe;
mod workbook;

use std::fmt::{self, Write as _};
use std::io;
use std::path::{Path, PathBuf};

pub use bounds::{
    Limit, MAX_CELL_BYTES, MAX_CELLS, MAX_SHEET_ROWS, MAX_TEXT_BYTES, MAX_UNPACKED_BYTES, WorkbookLimits,
    WorkbookRefusal, check_workbook,
};
pub use clean::{clean, header_key};
pub use csv::StringRecord;
pub use header::{Columns, Field, HeaderProblem};
pub use probe::{Probe, ProbeOptions, TextEncoding, WorkbookKind, is_workbook, probe, sha256_of};
pub use workbook::{HEADER_SEARCH_ROWS, SheetChoice, SheetOptions};

pub use delimited::MAX_RECORD_BYTES;

use delimited::DelimitedRows;
use workbook::SheetRows;

/// How a file names the place of a row, so that every message leads the clerk back to it: a
/// physical line of a text file, or a row of a workbook's sheet as Excel shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Locator {
    #[default]
    Lines,
    Sheet {
        name: String,
        /// The sheet's column (0 = A) of the first column read.
        first_column: u32,
    },
}

impl Locator {
    /// `line 14`, or `Customers!R14`.
    pub fn row(&self, line: u64) -> String {
        match self {
            Locator::Lines => format!("line {line}"),
            Locator::Sheet { name, .. } => format!("{}!R{line}", sheet_reference(name)),
        }
    }

    /// `lines 2, 5, 9, ...` or `Customers!R2, R5, R9, ...` (`more`: there are others).
    pub fn rows(&self, lines: &[u64], more: bool) -> String {
        let tail = if more { ", ..." } else { "" };
        match self {
            Locator::Lines => {
                let noun = if lines.len() == 1 && !more { "line" } else { "lines" };
                let list = lines.iter().map(u64::to_string).collect::<Vec<_>>().join(", ");
                format!("{noun} {list}{tail}")
            }
            Locator::Sheet { name, .. } => {
                let list = lines.iter().map(|l| format!("R{l}")).collect::<Vec<_>>().join(", ");
                format!("{}!{list}{tail}", sheet_reference(name))
            }
        }
    }

    /// The cell at column `position` (0-based, among the columns read) of `line`, in A1 form for
    /// a sheet (`Customers!D14`, which Excel's Go To accepts); `None` for a text file.
    pub fn cell(&self, line: u64, position: usize) -> Option<String> {
        match self {
            Locator::Lines => None,
            Locator::Sheet { name, first_column } => {
                let column = u32::try_from(position).ok()?.checked_add(*first_column)?;
                Some(format!("{}!{}{line}", sheet_reference(name), column_letters(column)))
            }
        }
    }
}

/// A sheet name as a reference writes it: quoted when it holds anything but letters, digits and
/// `_` (`'New Customers'!R4`).
fn sheet_reference(name: &str) -> String {
    if !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_') {
        name.to_owned()
    } else {
        format!("'{}'", name.replace('\'', "''"))
    }
}

/// `0` → `A`, `25` → `Z`, `26` → `AA`.
pub fn column_letters(mut column: u32) -> String {
    let mut letters = Vec::new();
    loop {
        letters.push(char::from(b'A' + u8::try_from(column % 26).unwrap_or(0)));
        if column < 26 {
            break;
        }
        column = column / 26 - 1;
    }
    letters.iter().rev().collect()
}

/// One record of the customer file, as it was written.
#[derive(Debug, Clone, Default)]
pub struct RawRow {
    /// Physical line the record starts on (the header is usually line 1), so a clerk can find it.
    pub line: u64,
    /// The cells as read (decoded, not cleaned): they are written back unchanged to the errors
    /// file the clerk corrects.
    pub cells: StringRecord,
    /// Set when the record is longer than [`MAX_RECORD_BYTES`]: it was skipped, not kept, so
    /// `cells` is empty, and validation rejects the row.
    pub oversized: Option<Oversized>,
    /// The columns whose cell is a workbook formula without a saved value (read as empty).
    pub unsaved_formulas: Vec<usize>,
}

/// A record too long to be a customer row, skipped to its end without keeping it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Oversized {
    /// Its length in the file.
    pub bytes: u64,
    /// The physical line it ends on (it starts on [`RawRow::line`]).
    pub last_line: u64,
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
    // The cause is the `source`, which `{:#}` prints after the message: not repeated here.
    #[error("cannot read {}", .path.display())]
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
        "{} is a {kind}, not a customer file: give the workbook itself (.xlsx, .xls, .ods) or its \
         sheet saved as \"CSV UTF-8 (comma delimited)\"",
        .path.display()
    )]
    NotText { path: PathBuf, kind: &'static str },
    #[error(
        "{} looks like {encoding} text without the byte-order mark that says so: run again with \
         --encoding {}, or save the sheet as \"CSV UTF-8 (comma delimited)\"",
        .path.display(), .encoding.label().to_ascii_lowercase()
    )]
    Utf16WithoutBom { path: PathBuf, encoding: TextEncoding },
    #[error("{}, line {line}: the file cannot be read further: {message}", .path.display())]
    Parse { path: PathBuf, line: u64, message: String },
    #[error("{}", describe_header_problem(.path, *.line, .problem, .found, .place.as_deref()))]
    Header {
        path: PathBuf,
        line: u64,
        problem: HeaderProblem,
        found: Vec<String>,
        /// The sheet, for a workbook.
        place: Option<String>,
    },
    #[error(
        "{} cannot be read as an {kind} ({detail}). If it opens in the spreadsheet program, save it \
         again (File > Save As, .xlsx), or export the sheet as \"CSV UTF-8\"",
        .path.display()
    )]
    Workbook { path: PathBuf, kind: &'static str, detail: String },
    #[error(
        "{} is refused before it is read: {refusal}. No customer workbook comes near that: the file \
         is damaged or made to exhaust memory. If it is genuine, save the sheet as \"CSV UTF-8\", \
         which is read as it streams, or raise the limit with {}",
        .path.display(), .refusal.flag()
    )]
    WorkbookTooBig { path: PathBuf, kind: &'static str, refusal: WorkbookRefusal },
    #[error(
        "{} has no sheet {asked}. Its sheets: {}. Choose one with --sheet NAME or --sheet NUMBER",
        .path.display(), .sheets.iter().map(|s| format!("\"{s}\"")).collect::<Vec<_>>().join(", ")
    )]
    NoSuchSheet { path: PathBuf, asked: String, sheets: Vec<String> },
    #[error(
        "{} changed while it was being read (saved again, or still being copied): nothing from it \
         was used. Run again once it is complete and closed",
        .path.display()
    )]
    Changed { path: PathBuf },
    #[error("{} has no sheet with any data in it", .path.display())]
    EmptyWorkbook { path: PathBuf },
    #[error("{}: sheet \"{sheet}\" has no data", .path.display())]
    EmptySheet { path: PathBuf, sheet: String },
    #[error(
        "{}: --header-row {row} is outside sheet \"{sheet}\", whose data ends at row {last}",
        .path.display()
    )]
    HeaderRowOutside { path: PathBuf, sheet: String, row: u32, last: u64 },
    #[error(
        "{}: --header-row {line} is past the end of the file, whose last row starts on line {last}",
        .path.display()
    )]
    HeaderLineOutside { path: PathBuf, line: u32, last: u64 },
    #[error(
        "{}: --header-row {line} is a blank line (or inside a quoted cell of the line above): \
         give the line of the column names as a text editor numbers it",
        .path.display()
    )]
    HeaderLineBlank { path: PathBuf, line: u32 },
    #[error(
        "{}: sheet \"{sheet}\", the first, has no header line (no row among its first {} names \
         every required column), but sheet \"{other}\" has one: choose it with --sheet \"{other}\"",
        .path.display(), HEADER_SEARCH_ROWS
    )]
    HeaderOnAnotherSheet { path: PathBuf, sheet: String, other: String },
}

impl InputError {
    /// Whether the file is at fault, not the disk it is on (a failure to read it).
    pub fn is_the_files(&self) -> bool {
        !matches!(self, InputError::Read { .. })
    }

    /// The same error, naming the file `name` — as its sender knows it — instead of the path it
    /// was read from (an upload's, on the server's disk).
    pub fn named(mut self, name: &Path) -> InputError {
        *self.path_mut() = name.to_owned();
        self
    }

    fn path_mut(&mut self) -> &mut PathBuf {
        match self {
            InputError::Read { path, .. }
            | InputError::NotAFile { path }
            | InputError::Empty { path }
            | InputError::NoHeader { path }
            | InputError::NotText { path, .. }
            | InputError::Utf16WithoutBom { path, .. }
            | InputError::Parse { path, .. }
            | InputError::Header { path, .. }
            | InputError::Workbook { path, .. }
            | InputError::WorkbookTooBig { path, .. }
            | InputError::NoSuchSheet { path, .. }
            | InputError::Changed { path }
            | InputError::EmptyWorkbook { path }
            | InputError::EmptySheet { path, .. }
            | InputError::HeaderRowOutside { path, .. }
            | InputError::HeaderLineOutside { path, .. }
            | InputError::HeaderLineBlank { path, .. }
            | InputError::HeaderOnAnotherSheet { path, .. } => path,
        }
    }
}

/// The headers found on a header line, quoted, as a message lists them, and whether they look
/// like a customer's details instead (a file exported without its header line). When any of
/// them holds an identifier, the line is a customer's: every one of them is masked, the name
/// beside the PAN included, and whoever reads the message is told what happened.
pub fn headers_found(found: &[String]) -> (String, bool) {
    let masked = crate::mask::masked_if_a_customers(found);
    let looks_like_data = masked.is_some();
    let shown: Vec<_> = masked.unwrap_or_else(|| found.to_vec()).iter().map(|h| format!("\"{h}\"")).collect();
    (shown.join(", "), looks_like_data)
}

fn describe_header_problem(
    path: &Path,
    line: u64,
    problem: &HeaderProblem,
    found: &[String],
    sheet: Option<&str>,
) -> String {
    let mut out = match sheet {
        None => format!("{}, line {line} (the header): ", path.display()),
        Some(sheet) => format!(
            "{}, sheet \"{sheet}\", row {line} (taken for the header; no row among the first {} has \
             every required column, or choose the row with --header-row): ",
            path.display(),
            HEADER_SEARCH_ROWS
        ),
    };
    let (mut found_list, looks_like_data) = headers_found(found);
    if looks_like_data {
        found_list.push_str(
            "\n  This line looks like a customer's details, not column names: the file needs a \
             header line above its rows.",
        );
    }
    match problem {
        HeaderProblem::Missing(fields) => {
            let names: Vec<&str> = fields.iter().map(|f| f.name()).collect();
            let _ = write!(out, "no column for {}.", names.join(", "));
            let _ = write!(out, "\n  headers found: {found_list}\n  expected:");
            for field in fields {
                let _ = write!(out, "\n    {} (or: {})", field.name(), field.aliases().join(", "));
            }
            // Without a header line, naming columns with --map cannot help.
            if !looks_like_data {
                let example = fields.first().map_or("pancard", |f| f.name());
                let _ = write!(
                    out,
                    "\n  If the column is there under another name, say which: --map {example}=\"Your Header\""
                );
            }
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

/// Rows of a customer file, whatever its format, after its header line.
#[derive(Debug)]
pub struct RowReader {
    rows: Rows,
    columns: Columns,
    header_line: u64,
    locator: Locator,
    path: PathBuf,
    probe: Probe,
    /// `--header-row`, for a text file read again.
    header_row: Option<u32>,
}

#[derive(Debug)]
enum Rows {
    Delimited(Box<DelimitedRows>),
    Sheet(SheetRows),
}

impl RowReader {
    /// Opens `path` as the probe described it and reads its header line; fails when the header
    /// does not provide the `required` fields.
    pub fn open(
        path: &Path,
        probe: &Probe,
        map: &[(Field, String)],
        required: &[Field],
        sheet: &SheetOptions,
    ) -> Result<RowReader, InputError> {
        if let Some(kind) = probe.workbook {
            let opened = workbook::open(path, kind, sheet, map, required)?;
            return Ok(RowReader {
                rows: Rows::Sheet(opened.rows),
                columns: opened.columns,
                header_line: opened.header_line,
                locator: Locator::Sheet { name: opened.name, first_column: opened.first_column },
                path: path.to_owned(),
                probe: probe.clone(),
                header_row: sheet.header_row,
            });
        }
        let (rows, header) = Self::delimited(path, probe, sheet.header_row)?;
        let headers: Vec<String> = header.cells.iter().map(str::to_owned).collect();
        let columns =
            Columns::resolve(headers.clone(), map, required).map_err(|problem| InputError::Header {
                path: path.to_owned(),
                line: header.line,
                problem,
                found: headers,
                place: None,
            })?;
        Ok(RowReader {
            rows: Rows::Delimited(Box::new(rows)),
            columns,
            header_line: header.line,
            locator: Locator::Lines,
            path: path.to_owned(),
            probe: probe.clone(),
            header_row: sheet.header_row,
        })
    }

    /// A delimited file opened, and its header record read: the first, or the one on line
    /// `header_line` (below a title block).
    fn delimited(
        path: &Path,
        probe: &Probe,
        header_line: Option<u32>,
    ) -> Result<(DelimitedRows, RawRow), InputError> {
        let mut rows = DelimitedRows::open(path, probe)?;
        let mut header = RawRow::default();
        loop {
            if !rows.read_row(&mut header)? {
                return Err(match header_line {
                    Some(line) => {
                        InputError::HeaderLineOutside { path: path.to_owned(), line, last: header.line }
                    }
                    None => InputError::NoHeader { path: path.to_owned() },
                });
            }
            match header_line {
                Some(line) if header.line < u64::from(line) => continue,
                Some(line) if header.line > u64::from(line) => {
                    return Err(InputError::HeaderLineBlank { path: path.to_owned(), line });
                }
                _ => break,
            }
        }
        if header.oversized.is_some() {
            return Err(InputError::Parse {
                path: path.to_owned(),
                line: header.line,
                message: format!(
                    "the header line is longer than {} MiB: this is not a customer file, or a header \
                     cell opens a quote (\") that is never closed",
                    MAX_RECORD_BYTES / (1024 * 1024)
                ),
            });
        }
        Ok((rows, header))
    }

    /// Goes back to the first row after the header, for another pass over the file: a text file
    /// is opened again (never held in memory), a sheet already is in memory.
    pub fn rewind(&mut self) -> Result<(), InputError> {
        match &mut self.rows {
            Rows::Delimited(rows) => **rows = Self::delimited(&self.path, &self.probe, self.header_row)?.0,
            Rows::Sheet(rows) => rows.rewind(),
        }
        Ok(())
    }

    pub fn columns(&self) -> &Columns {
        &self.columns
    }

    pub fn header_line(&self) -> u64 {
        self.header_line
    }

    /// Where the rows are: lines of a text file, or a sheet's rows.
    pub fn locator(&self) -> &Locator {
        &self.locator
    }

    /// Reads the next non-blank row into `row` (reusing its buffers); `false` at the end.
    pub fn read_row(&mut self, row: &mut RawRow) -> Result<bool, InputError> {
        match &mut self.rows {
            Rows::Delimited(rows) => rows.read_row(row),
            Rows::Sheet(rows) => rows.read_row(row),
        }
    }
}

impl fmt::Display for TextEncoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use proptest::prelude::*;

    use super::*;

    const HEADER: &str = "first_name,last_name,pancard,date_of_birth,email_id,mobile_number";

    /// Reads `bytes` as a customer file from the first look to the last row, as `validate` does,
    /// checking on the way that rows come out in order of their physical lines, after the header.
    fn read_all(bytes: &[u8], options: ProbeOptions, required: &[Field]) -> Result<u64, InputError> {
        let mut file = tempfile::NamedTempFile::new().expect("a temporary file");
        file.write_all(bytes).expect("write the file");
        let probe = probe(file.path(), options)?;
        let mut reader = RowReader::open(file.path(), &probe, &[], required, &SheetOptions::default())?;
        let (mut row, mut last, mut rows) = (RawRow::default(), reader.header_line(), 0);
        while reader.read_row(&mut row)? {
            assert!(row.line > last, "line {} after line {last}", row.line);
            last = row.line;
            rows += 1;
        }
        Ok(rows)
    }

    fn options() -> impl Strategy<Value = ProbeOptions> {
        let encoding = prop::option::of(prop::sample::select(vec![
            TextEncoding::Utf8,
            TextEncoding::Utf16Le,
            TextEncoding::Utf16Be,
            TextEncoding::Windows1252,
        ]));
        let delimiter = prop::option::of(prop::sample::select(vec![b',', b';', b'\t', b'|']));
        (encoding, delimiter).prop_map(|(encoding, delimiter)| ProbeOptions {
            encoding,
            delimiter,
            header_line: None,
        })
    }

    /// Bytes as a damaged spreadsheet export has them: mostly the ones that steer a CSV reader
    /// (quotes, separators, line ends), pieces of BOMs and multi-byte characters, NULs, and noise.
    fn messy_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
        const SPECIAL: &[u8] = b"\",;\t\r\n \0\xFF\xFE\xEF\xBB\xBF\xC3\xA9\xE9a1@=";
        // Pairs of plain bytes mapped afterwards: a union of strategies per byte is far slower.
        prop::collection::vec(any::<(u8, u8)>(), 0..max).prop_map(|pairs| {
            pairs
                .into_iter()
                .map(|(pick, b)| if pick % 4 == 0 { b } else { SPECIAL[usize::from(b) % SPECIAL.len()] })
                .collect()
        })
    }

    #[test]
    fn a_header_line_too_long_to_be_one_is_a_file_error() {
        let mut bytes = b"first_name,\"".to_vec();
        bytes.extend(std::iter::repeat_n(b'x', 2 * 1024 * 1024));
        bytes.extend_from_slice(b"\nRavi,x\n");
        let err = read_all(&bytes, ProbeOptions::default(), &[]).unwrap_err();
        assert!(matches!(err, InputError::Parse { line: 1, .. }), "{err}");
        assert!(err.to_string().contains("header line is longer than 1 MiB"), "{err}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn no_bytes_make_the_reader_panic(
            bytes in prop_oneof![messy_bytes(2048), prop::collection::vec(any::<u8>(), 0..2048)],
            options in options(),
        ) {
            for required in [&[][..], &[Field::Pan, Field::DateOfBirth][..]] {
                if let Err(e) = read_all(&bytes, options, required) {
                    let _ = e.to_string();
                }
            }
        }

        #[test]
        fn no_bytes_after_a_valid_header_make_the_reader_panic(
            bom in prop::sample::select(vec![&b""[..], b"\xEF\xBB\xBF", b"\xFF\xFE", b"\xFE\xFF"]),
            ending in prop::sample::select(vec!["\n", "\r\n", "\r"]),
            tail in messy_bytes(2048),
            options in options(),
        ) {
            let bytes = [bom, HEADER.as_bytes(), ending.as_bytes(), &tail].concat();
            match read_all(&bytes, options, &[Field::Pan, Field::Mobile]) {
                Ok(rows) => {
                    // Every row starts on a line of its own.
                    let line_ends = tail.iter().filter(|&&b| b == b'\n' || b == b'\r').count() as u64;
                    prop_assert!(rows <= line_ends + 1);
                }
                Err(e) => {
                    let _ = e.to_string();
                }
            }
        }

        #[test]
        fn a_file_with_a_good_header_line_is_always_read_to_the_end(
            tail in messy_bytes(1024),
            ending in prop::sample::select(vec!["\n", "\r\n", "\r"]),
        ) {
            // Whatever follows, a file that starts with a good header line is a customer file:
            // its damage is in rows, which are row errors, never a reason to refuse the file.
            let bytes = [HEADER.as_bytes(), ending.as_bytes(), &tail].concat();
            let result = read_all(&bytes, ProbeOptions::default(), &[Field::Pan, Field::Mobile]);
            prop_assert!(result.is_ok(), "{:?}", result);
        }
    }
}
