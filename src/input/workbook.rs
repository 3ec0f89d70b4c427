//! Rows out of a spreadsheet workbook (`.xlsx`, `.xlsm`, `.xls`, `.ods`), read with calamine —
//! so that numbers, dates and text arrive as the clerk typed them, not as a CSV export rewrote
//! them. Owns choosing the sheet, finding the header line below any title block, and turning each
//! typed cell into the text the rules read:
//!
//! - a number stored as a float (`9876543210.0`) becomes its digits (`9876543210`), never
//!   scientific notation; a number with a fraction keeps it;
//! - a date cell becomes ISO `YYYY-MM-DD`: a date cell has no day/month order to guess, and ISO
//!   text proves none, so it never counts toward the date-order check;
//! - a formula cell gives the value the spreadsheet last computed (saved in the file);
//! - a merged cell's value fills every cell of its area in `.xlsx` and `.xls` (what the clerk sees
//!   applies to each row it spans); OpenDocument merges keep the value in the first cell only;
//! - hidden rows and columns are read like any other (hidden is not deleted); hidden sheets are
//!   skipped when choosing the sheet, unless named.
//!
//! A sheet is read into memory whole (workbooks hold thousands of rows, not millions: for those,
//! CSV streams), within [`WorkbookLimits`]: the workbook passes `bounds`' guard before calamine
//! opens it, and an `.xlsx`/`.xlsb` sheet is read cell by cell against the limits rather than
//! handed over whole. Row numbers are the sheet's own, as Excel shows them.

use std::collections::HashSet;
use std::io::{Cursor, Read as _};
use std::panic::AssertUnwindSafe;
use std::path::Path;

use calamine::{Cell, Data, DataRef, Ods, Range, Reader, SheetType, SheetVisible, Sheets, Xls, Xlsb, Xlsx};

use super::bounds::{self, Budget, Span, WorkbookLimits, WorkbookRefusal};
use super::header::{Columns, Field, HeaderProblem};
use super::probe::WorkbookKind;
use super::{InputError, RawRow, StringRecord};

/// Which sheet to read, as the user named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SheetChoice {
    Name(String),
    /// 1 is the first sheet, as people count tabs.
    Position(usize),
}

/// How to find the rows in a workbook, and how much of it may be read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SheetOptions {
    /// Without it, the first visible sheet with data.
    pub sheet: Option<SheetChoice>,
    /// The header's row number as the sheet shows it; without it, the first row among the top
    /// [`HEADER_SEARCH_ROWS`] that names every required column.
    pub header_row: Option<u32>,
    /// What the workbook may unpack to; a workbook over a limit is refused before it is read.
    pub limits: WorkbookLimits,
}

/// How far down a title block may push the header line.
pub const HEADER_SEARCH_ROWS: usize = 50;

/// The rows of one sheet below its header line.
pub(crate) struct SheetRows {
    range: Range<Data>,
    /// Index in `range` of the first row after the header.
    start: usize,
    /// Index in `range` of the next row to read.
    next: usize,
    /// The sheet's row number of `range`'s first row.
    first_row: u64,
    /// Cells (0-based row and column of the sheet) holding a formula whose value was never
    /// saved: read as empty, they are told apart from cells left empty.
    unsaved: HashSet<(u32, u32)>,
    /// The sheet's first column of `range` (0-based).
    first_column: u32,
}

impl std::fmt::Debug for SheetRows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SheetRows")
            .field("next", &self.next)
            .field("first_row", &self.first_row)
            .finish_non_exhaustive()
    }
}

/// What opening a sheet gives: its rows, its columns, where the header was, and the sheet's name
/// and first column (for cell references in messages).
pub(crate) struct OpenedSheet {
    pub rows: SheetRows,
    pub columns: Columns,
    pub header_line: u64,
    pub name: String,
    pub first_column: u32,
}

fn workbook_error(path: &Path, kind: WorkbookKind, detail: impl std::fmt::Display) -> InputError {
    InputError::Workbook { path: path.to_owned(), kind: kind.label(), detail: detail.to_string() }
}

fn refused(path: &Path, kind: WorkbookKind, refusal: WorkbookRefusal) -> InputError {
    match refusal {
        WorkbookRefusal::Damaged(detail) => workbook_error(path, kind, detail),
        refusal => InputError::WorkbookTooBig { path: path.to_owned(), kind: kind.label(), refusal },
    }
}

/// Why a sheet could not be taken: over a limit, or unreadable (calamine's message).
enum SheetProblem {
    Refused(WorkbookRefusal),
    Unreadable(String),
}

impl From<WorkbookRefusal> for SheetProblem {
    fn from(refusal: WorkbookRefusal) -> Self {
        SheetProblem::Refused(refusal)
    }
}

/// The workbook's bytes are shared, not copied, when a second reader is tried on them.
type Workbook = Sheets<Cursor<bytes::Bytes>>;

pub(crate) fn open(
    path: &Path,
    kind: WorkbookKind,
    options: &SheetOptions,
    map: &[(Field, String)],
    required: &[Field],
) -> Result<OpenedSheet, InputError> {
    let limits = &options.limits;
    let read_error = |source| InputError::Read { path: path.to_owned(), source };
    let file = std::fs::File::open(path).map_err(read_error)?;
    let size = file.metadata().map_err(read_error)?.len();
    bounds::check_file_size(size, limits).map_err(|r| refused(path, kind, r))?;
    // Read one byte past the bound, so that a file grown since its size was taken is caught too.
    let mut bytes = Vec::new();
    file.take(limits.max_unpacked_bytes.saturating_add(1)).read_to_end(&mut bytes).map_err(read_error)?;
    open_bytes(path, bytes, kind, options, map, required)
}

/// Opens a workbook held in memory (`path` only names it in messages): the guard, then the sheet.
pub(crate) fn open_bytes(
    path: &Path,
    bytes: Vec<u8>,
    kind: WorkbookKind,
    options: &SheetOptions,
    map: &[(Field, String)],
    required: &[Field],
) -> Result<OpenedSheet, InputError> {
    // calamine indexes some damaged files' tables unchecked: its panic is a damaged workbook, said
    // as such, not a crash that loses the clerk's message. The guard walks the same tables, so it
    // is inside too.
    std::panic::catch_unwind(AssertUnwindSafe(|| {
        bounds::check_workbook(&bytes, kind, &options.limits).map_err(|r| refused(path, kind, r))?;
        read_sheet(path, bytes, kind, options, map, required)
    }))
    .unwrap_or_else(|_| {
        Err(workbook_error(path, kind, "its contents are damaged: the reader stopped on them"))
    })
}

/// Sheets up to this many rows are read a second time for their formulas (a customer sheet is far
/// smaller): a formula whose value was never saved is then said as such, not as an empty cell.
const FORMULA_SCAN_ROWS: usize = 50_000;
/// The most such cells remembered.
const MOST_UNSAVED: usize = 100_000;

/// The cells of sheet `name` holding a formula without a saved value (an `.xlsx` written by a
/// program and never opened and saved in a spreadsheet): streamed, never held whole.
fn unsaved_formulas(workbook: &mut Workbook, name: &str) -> HashSet<(u32, u32)> {
    let mut found = HashSet::new();
    let Sheets::Xlsx(xlsx) = workbook else { return found };
    let Ok(mut cells) = xlsx.worksheet_cells_reader(name) else { return found };
    while let Ok(Some(cell)) = cells.next_cell_with_formula_metadata() {
        if cell.formula.is_some() && matches!(cell.value, DataRef::Empty) {
            found.insert(cell.pos);
            if found.len() >= MOST_UNSAVED {
                break;
            }
        }
    }
    found
}

/// Whether sheet `name` has, among its first rows, one that names every required column.
fn has_header(
    workbook: &mut Workbook,
    name: &str,
    map: &[(Field, String)],
    required: &[Field],
    limits: &WorkbookLimits,
) -> bool {
    let Ok(range) = sheet_range(workbook, name, limits) else { return false };
    (0..range.height().min(HEADER_SEARCH_ROWS))
        .any(|i| Columns::resolve(row_text(&range, i), map, required).is_ok())
}

/// The reader for what the probe found, never a guess among all four: the guard checked the
/// workbook as that kind.
fn open_workbook(bytes: Vec<u8>, kind: WorkbookKind) -> Result<Workbook, String> {
    let cursor = Cursor::new(bytes::Bytes::from(bytes));
    match kind {
        WorkbookKind::LegacyExcel => Xls::new(cursor).map(Sheets::Xls).map_err(|e| e.to_string()),
        WorkbookKind::OpenDocument => Ods::new(cursor).map(Sheets::Ods).map_err(|e| e.to_string()),
        // `.xlsx` and `.xlsm`, or the binary `.xlsb` (the same package, other parts).
        WorkbookKind::OfficeOpenXml => match Xlsx::new(cursor.clone()) {
            Ok(xlsx) => Ok(Sheets::Xlsx(xlsx)),
            Err(error) => Xlsb::new(cursor).map(Sheets::Xlsb).map_err(|_| error.to_string()),
        },
    }
}

fn read_sheet(
    path: &Path,
    bytes: Vec<u8>,
    kind: WorkbookKind,
    options: &SheetOptions,
    map: &[(Field, String)],
    required: &[Field],
) -> Result<OpenedSheet, InputError> {
    let limits = &options.limits;
    let mut workbook = open_workbook(bytes, kind).map_err(|e| workbook_error(path, kind, e))?;
    let sheet_error = |problem: SheetProblem| match problem {
        SheetProblem::Refused(refusal) => refused(path, kind, refusal),
        SheetProblem::Unreadable(detail) => workbook_error(path, kind, detail),
    };

    let sheets: Vec<(String, bool)> = workbook
        .sheets_metadata()
        .iter()
        .filter(|s| matches!(s.typ, SheetType::WorkSheet))
        .map(|s| (s.name.clone(), s.visible == SheetVisible::Visible))
        .collect();
    let no_such_sheet = |asked: String| InputError::NoSuchSheet {
        path: path.to_owned(),
        asked,
        sheets: sheets.iter().map(|(name, _)| name.clone()).collect(),
    };
    let (name, mut range) = match &options.sheet {
        Some(SheetChoice::Name(wanted)) => {
            let name = sheets
                .iter()
                .map(|(n, _)| n)
                .find(|n| *n == wanted)
                .or_else(|| sheets.iter().map(|(n, _)| n).find(|n| n.eq_ignore_ascii_case(wanted)))
                .ok_or_else(|| no_such_sheet(format!("\"{wanted}\"")))?
                .clone();
            let range = sheet_range(&mut workbook, &name, limits).map_err(sheet_error)?;
            (name, range)
        }
        Some(SheetChoice::Position(n)) => {
            let name =
                sheets.get(n.wrapping_sub(1)).ok_or_else(|| no_such_sheet(format!("number {n}")))?.0.clone();
            let range = sheet_range(&mut workbook, &name, limits).map_err(sheet_error)?;
            (name, range)
        }
        None => {
            let mut found = None;
            for (name, _) in sheets.iter().filter(|(_, visible)| *visible) {
                let range = sheet_range(&mut workbook, name, limits).map_err(sheet_error)?;
                if range.used_cells().any(|(_, _, cell)| !is_blank(cell)) {
                    found = Some((name.clone(), range));
                    break;
                }
            }
            found.ok_or_else(|| InputError::EmptyWorkbook { path: path.to_owned() })?
        }
    };
    fill_merged_cells(&mut workbook, &name, &mut range, limits).map_err(|r| refused(path, kind, r))?;

    let Some((first_row, first_column)) = range.start() else {
        return Err(InputError::EmptySheet { path: path.to_owned(), sheet: name });
    };
    let header_at = |index: usize| -> Vec<String> { row_text(&range, index) };
    let height = range.height();
    let header_index = match options.header_row {
        Some(row) => {
            let index =
                u64::from(row).checked_sub(u64::from(first_row) + 1).and_then(|i| usize::try_from(i).ok());
            match index.filter(|i| *i < height) {
                Some(index) => {
                    Columns::resolve(header_at(index), map, required).map_err(|problem| {
                        InputError::Header {
                            path: path.to_owned(),
                            line: u64::from(row),
                            problem,
                            found: header_at(index),
                            place: Some(name.clone()),
                        }
                    })?;
                    index
                }
                None => {
                    return Err(InputError::HeaderRowOutside {
                        path: path.to_owned(),
                        sheet: name,
                        row,
                        last: u64::from(first_row) + height as u64,
                    });
                }
            }
        }
        None => {
            let candidates = (0..height.min(HEADER_SEARCH_ROWS))
                .filter(|i| header_at(*i).iter().any(|c| !c.trim().is_empty()));
            let mut first_problem: Option<(usize, HeaderProblem)> = None;
            let mut found = None;
            for index in candidates {
                match Columns::resolve(header_at(index), map, required) {
                    Ok(_) => {
                        found = Some(index);
                        break;
                    }
                    Err(problem) => {
                        first_problem.get_or_insert((index, problem));
                    }
                }
            }
            match (found, first_problem) {
                (Some(index), _) => index,
                // The sheet taken by default has no header, and another one has: a cover sheet
                // before the customers. Say which to choose rather than where a header might be.
                (None, Some(_))
                    if options.sheet.is_none()
                        && let Some(other) = sheets
                            .iter()
                            .filter(|(other, visible)| *visible && *other != name)
                            .find(|(other, _)| has_header(&mut workbook, other, map, required, limits)) =>
                {
                    return Err(InputError::HeaderOnAnotherSheet {
                        path: path.to_owned(),
                        sheet: name,
                        other: other.0.clone(),
                    });
                }
                (None, Some((index, problem))) => {
                    return Err(InputError::Header {
                        path: path.to_owned(),
                        line: u64::from(first_row) + index as u64 + 1,
                        problem,
                        found: header_at(index),
                        place: Some(name.clone()),
                    });
                }
                (None, None) => return Err(InputError::EmptySheet { path: path.to_owned(), sheet: name }),
            }
        }
    };
    let columns =
        Columns::resolve(header_at(header_index), map, required).map_err(|problem| InputError::Header {
            path: path.to_owned(),
            line: u64::from(first_row) + header_index as u64 + 1,
            problem,
            found: header_at(header_index),
            place: Some(name.clone()),
        })?;
    let header_line = u64::from(first_row) + header_index as u64 + 1;
    let unsaved =
        if height <= FORMULA_SCAN_ROWS { unsaved_formulas(&mut workbook, &name) } else { HashSet::new() };
    Ok(OpenedSheet {
        rows: SheetRows {
            range,
            start: header_index + 1,
            next: header_index + 1,
            first_row: u64::from(first_row) + 1,
            unsaved,
            first_column,
        },
        columns,
        header_line,
        name,
        first_column,
    })
}

impl SheetRows {
    pub(crate) fn rewind(&mut self) {
        self.next = self.start;
    }

    /// Reads the next row that is not blank into `row`; `false` after the last.
    pub(crate) fn read_row(&mut self, row: &mut RawRow) -> Result<bool, InputError> {
        while self.next < self.range.height() {
            let index = self.next;
            self.next += 1;
            let cells = row_text(&self.range, index);
            if cells.iter().all(|c| super::clean(c).is_empty()) {
                continue;
            }
            row.line = self.first_row + index as u64;
            row.unsaved_formulas.clear();
            if !self.unsaved.is_empty() {
                let sheet_row = u32::try_from(self.first_row - 1 + index as u64).unwrap_or(u32::MAX);
                row.unsaved_formulas.extend(
                    (0..cells.len())
                        .filter(|c| self.unsaved.contains(&(sheet_row, self.first_column + *c as u32))),
                );
            }
            row.cells = StringRecord::from(cells);
            return Ok(true);
        }
        Ok(false)
    }
}

fn is_blank(cell: &Data) -> bool {
    match cell {
        Data::Empty => true,
        Data::String(s) => s.trim().is_empty(),
        _ => false,
    }
}

/// The text of every cell of one row of the range.
fn row_text(range: &Range<Data>, index: usize) -> Vec<String> {
    (0..range.width()).map(|column| range.get((index, column)).map_or_else(String::new, cell_text)).collect()
}

/// A typed cell as the text the rules read (see the module's documentation).
pub(crate) fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(s) => s.clone(),
        Data::Int(n) => n.to_string(),
        Data::Float(f) => float_text(*f),
        Data::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_owned(),
        Data::DateTime(dt) if dt.is_datetime() => {
            let (y, m, d, hh, mm, ss, _) = dt.to_ymd_hms_milli();
            if (hh, mm, ss) == (0, 0, 0) {
                format!("{y:04}-{m:02}-{d:02}")
            } else {
                format!("{y:04}-{m:02}-{d:02} {hh:02}:{mm:02}:{ss:02}")
            }
        }
        Data::DateTime(dt) => float_text(dt.as_f64()),
        Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Error(e) => e.to_string(),
    }
}

/// Whole numbers as digits (a mobile number is a whole number Excel keeps as a float); other
/// numbers in Rust's shortest exact form.
fn float_text(f: f64) -> String {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e17 { format!("{f:.0}") } else { f.to_string() }
}

/// A sheet's cells as a grid. An `.xlsx` or `.xlsb` sheet is read a cell at a time and refused
/// the moment it passes a limit; an `.xls` or `.ods` sheet was loaded with the workbook, within
/// the bounds its guard checked.
fn sheet_range(
    workbook: &mut Workbook,
    name: &str,
    limits: &WorkbookLimits,
) -> Result<Range<Data>, SheetProblem> {
    let unreadable = |e: &dyn std::fmt::Display| SheetProblem::Unreadable(e.to_string());
    match workbook {
        Sheets::Xlsx(xlsx) => match xlsx.worksheet_cells_reader(name) {
            Ok(mut cells) => collect_cells(name, limits, || cells.next_cell().map_err(|e| unreadable(&e))),
            // A chart sheet or a dialog: no cells, as calamine's own reading has it.
            Err(calamine::XlsxError::NotAWorksheet(_)) => Ok(Range::default()),
            Err(e) => Err(unreadable(&e)),
        },
        Sheets::Xlsb(xlsb) => {
            let mut cells = xlsb.worksheet_cells_reader(name).map_err(|e| unreadable(&e))?;
            collect_cells(name, limits, || cells.next_cell().map_err(|e| unreadable(&e)))
        }
        other => other.worksheet_range(name).map_err(|e| unreadable(&e)),
    }
}

/// The cells `next` gives, as a grid, counted against the limits as they come: the text of each,
/// all the text, the rows and the grid's area (rows times columns, what the grid allocates).
fn collect_cells<'a>(
    name: &str,
    limits: &WorkbookLimits,
    mut next: impl FnMut() -> Result<Option<Cell<DataRef<'a>>>, SheetProblem>,
) -> Result<Range<Data>, SheetProblem> {
    let mut budget = Budget::new(limits);
    let mut span = Span::default();
    let mut cells = Vec::new();
    while let Some(cell) = next()? {
        if matches!(cell.get_value(), DataRef::Empty) {
            continue;
        }
        let (row, column) = cell.get_position();
        let len = text_len(cell.get_value());
        budget.cell_text(len, || format!("cell {}", cell_reference(name, row, column)))?;
        budget.text(len, || format!("sheet \"{name}\""))?;
        span.see(u64::from(row), u64::from(column));
        let count = cells.len() as u64 + 1;
        if span.rows() > limits.max_sheet_rows || span.area().max(count) > limits.max_cells {
            Budget::new(limits).sheet(span.rows(), span.area().max(count), name)?;
        }
        cells.push(Cell::new((row, column), Data::from(cell.get_value().clone())));
    }
    Ok(Range::from_sparse(cells))
}

/// The bytes of text a cell holds beyond its fixed size.
fn text_len(value: &DataRef<'_>) -> u64 {
    match value {
        DataRef::String(s) | DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => s.len() as u64,
        DataRef::SharedString(s) => s.len() as u64,
        _ => 0,
    }
}

/// `Customers!B7`, as a clerk finds it with Go To.
fn cell_reference(sheet: &str, row: u32, column: u32) -> String {
    format!("{}!{}{}", super::sheet_reference(sheet), super::column_letters(column), u64::from(row) + 1)
}

/// Copies each merged area's value into all its cells (`.xlsx`, `.xls`). Only the part of an area
/// inside the sheet's data is filled, and every copy counts against the limits: one merge over a
/// whole sheet of a long text would otherwise be the bomb the guard stopped.
fn fill_merged_cells(
    workbook: &mut Workbook,
    sheet: &str,
    range: &mut Range<Data>,
    limits: &WorkbookLimits,
) -> Result<(), WorkbookRefusal> {
    let areas = match workbook {
        Sheets::Xlsx(x) => x.merge_cells_by_sheet_name(sheet).unwrap_or_default(),
        Sheets::Xls(x) => x.merge_cells_by_sheet_name(sheet).unwrap_or_default(),
        _ => Vec::new(),
    };
    let (Some(start), Some(end)) = (range.start(), range.end()) else { return Ok(()) };
    let mut budget = Budget::new(limits);
    // Merged areas never overlap in a sound workbook, so together they cover the sheet at most once.
    let mut filled = 0u64;
    let grid = (u64::from(end.0) - u64::from(start.0) + 1) * (u64::from(end.1) - u64::from(start.1) + 1);
    for area in areas {
        let Some(value) = range.get_value(area.start).cloned() else { continue };
        let rows = area.start.0.max(start.0)..=area.end.0.min(end.0);
        let columns = area.start.1.max(start.1)..=area.end.1.min(end.1);
        let cells = (rows.clone().count() as u64) * (columns.clone().count() as u64);
        filled += cells;
        if filled > grid {
            return Err(WorkbookRefusal::Damaged(format!("the merged cells of sheet \"{sheet}\" overlap")));
        }
        let text = match &value {
            Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => s.len() as u64,
            _ => 0,
        };
        budget.text(text.saturating_mul(cells), || format!("sheet \"{sheet}\" (its merged cells)"))?;
        for row in rows {
            for column in columns.clone() {
                if (row, column) != area.start {
                    range.set_value((row, column), value.clone());
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_come_out_as_typed() {
        assert_eq!(cell_text(&Data::Float(9_876_543_210.0)), "9876543210");
        assert_eq!(cell_text(&Data::Float(12.5)), "12.5");
        assert_eq!(cell_text(&Data::Float(36526.0)), "36526");
        assert_eq!(cell_text(&Data::Int(42)), "42");
        assert_eq!(cell_text(&Data::Float(f64::NAN)), "NaN");
        assert_eq!(cell_text(&Data::Float(1e20)), "100000000000000000000");
        assert_eq!(cell_text(&Data::Bool(true)), "TRUE");
        assert_eq!(cell_text(&Data::Empty), "");
    }

    #[test]
    fn dates_come_out_as_iso() {
        use calamine::{ExcelDateTime, ExcelDateTimeType};
        let date = ExcelDateTime::new(36526.0, ExcelDateTimeType::DateTime, false);
        assert_eq!(cell_text(&Data::DateTime(date)), "2000-01-01");
        let with_time = ExcelDateTime::new(36526.5, ExcelDateTimeType::DateTime, false);
        assert_eq!(cell_text(&Data::DateTime(with_time)), "2000-01-01 12:00:00");
        assert_eq!(cell_text(&Data::DateTimeIso("1985-01-31".into())), "1985-01-31");
    }
}
