//! Workbooks written for clerks (`.xlsx`, with rust_xlsxwriter): a frozen header row and an
//! autofilter, identifier columns (PAN, mobile, ids) formatted as Text so that the next save in a
//! spreadsheet cannot turn them into `9.87654E+09`, and — in an errors workbook — every offending
//! cell highlighted with a note saying what is wrong and what a valid value looks like. Values are
//! written as text exactly as they are: a workbook cell is never taken for a formula. Rows stream
//! to disk as they are written, and the file appears whole or not at all.

use std::io;
use std::path::{Path, PathBuf};

use crate::gate::Cleared;

use rust_xlsxwriter::{Color, Format, FormatBorder, Note, Workbook, XlsxError};

use super::{AtomicFile, OutputError};

/// Column widths, in characters: most columns, and those holding messages.
const WIDTH: f64 = 16.0;
const MESSAGE_WIDTH: f64 = 70.0;

/// An `.xlsx` file being written, one sheet, rows in order.
pub struct SheetFile {
    workbook: Workbook,
    path: Cleared,
    /// The next row to write (0 is the header).
    row: u32,
    columns: u16,
    text_columns: Vec<u16>,
    /// Columns whose cells are numbers (written as numbers, so that they sort as numbers).
    number_columns: Vec<u16>,
    text: Format,
    flagged: Format,
    flagged_text: Format,
}

impl std::fmt::Debug for SheetFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SheetFile")
            .field("path", &self.path.path())
            .field("row", &self.row)
            .finish_non_exhaustive()
    }
}

fn error(path: &Path, e: XlsxError) -> OutputError {
    OutputError { path: path.to_owned(), source: io::Error::other(e) }
}

/// Whether `path` asks for a workbook (by its extension).
pub fn is_workbook_path(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("xlsx"))
}

impl SheetFile {
    /// A workbook with one sheet named `title`, whose columns at `text_columns` hold text, those
    /// at `message_columns` sentences (made wide), and those at `number_columns` numbers.
    pub fn create(
        cleared: &Cleared,
        title: &str,
        headers: &[&str],
        text_columns: &[usize],
        message_columns: &[usize],
        number_columns: &[usize],
    ) -> Result<SheetFile, OutputError> {
        let path = cleared.path();
        let mut workbook = Workbook::new();
        let columns = u16::try_from(headers.len()).map_err(|_| OutputError {
            path: path.to_owned(),
            source: io::Error::other("more columns than a worksheet holds"),
        })?;
        let text_columns: Vec<u16> = text_columns.iter().filter_map(|c| u16::try_from(*c).ok()).collect();
        let number_columns: Vec<u16> = number_columns.iter().filter_map(|c| u16::try_from(*c).ok()).collect();
        let text = Format::new().set_num_format("@");
        let header = Format::new()
            .set_bold()
            .set_background_color(Color::RGB(0xD9E1F2))
            .set_border_bottom(FormatBorder::Thin);
        // Excel's own "Bad" style: light red fill, dark red text.
        let flagged =
            Format::new().set_background_color(Color::RGB(0xFFC7CE)).set_font_color(Color::RGB(0x9C0006));
        let flagged_text = flagged.clone().set_num_format("@");
        {
            let sheet = workbook.add_worksheet_with_constant_memory().map_err(|e| error(path, e))?;
            sheet.set_name(title).map_err(|e| error(path, e))?;
            for (column, name) in headers.iter().enumerate() {
                let column = column as u16;
                let width = if message_columns.contains(&usize::from(column)) {
                    MESSAGE_WIDTH
                } else {
                    (name.chars().count() as f64 + 4.0).max(WIDTH)
                };
                sheet.set_column_width(column, width).map_err(|e| error(path, e))?;
                if text_columns.contains(&column) {
                    sheet.set_column_format(column, &text).map_err(|e| error(path, e))?;
                }
                sheet.write_string_with_format(0, column, *name, &header).map_err(|e| error(path, e))?;
            }
            sheet.set_freeze_panes(1, 0).map_err(|e| error(path, e))?;
        }
        Ok(SheetFile {
            workbook,
            path: cleared.clone(),
            row: 1,
            columns,
            text_columns,
            number_columns,
            text,
            flagged,
            flagged_text,
        })
    }

    /// Writes one row; each `(column, message)` of `flags` highlights that cell and attaches the
    /// message as a note.
    pub fn write_row<'a>(
        &mut self,
        cells: impl IntoIterator<Item = &'a str>,
        flags: &[(usize, String)],
    ) -> Result<(), OutputError> {
        let row = self.row;
        let sheet = self.workbook.worksheet_from_index(0).map_err(|e| error(self.path.path(), e))?;
        for (column, cell) in cells.into_iter().enumerate() {
            let Ok(column) = u16::try_from(column) else { break };
            let flagged = flags.iter().any(|(c, _)| *c == usize::from(column));
            let is_text = self.text_columns.contains(&column);
            // A count the program wrote (never a customer's value): a number, or nothing.
            if self.number_columns.contains(&column) {
                if let Ok(number) = cell.parse::<f64>() {
                    sheet.write_number(row, column, number).map_err(|e| error(self.path.path(), e))?;
                }
                continue;
            }
            let written = match (flagged, is_text) {
                (true, true) => sheet.write_string_with_format(row, column, cell, &self.flagged_text),
                (true, false) => sheet.write_string_with_format(row, column, cell, &self.flagged),
                (false, true) => sheet.write_string_with_format(row, column, cell, &self.text),
                (false, false) => sheet.write_string(row, column, cell),
            };
            written.map_err(|e| error(self.path.path(), e))?;
        }
        for (column, message) in flags {
            let Ok(column) = u16::try_from(*column) else { continue };
            let note = Note::new(message.as_str())
                .set_author("cibil-bulk")
                .add_author_prefix(false)
                .set_width(360)
                .set_height(120);
            sheet.insert_note(row, column, &note).map_err(|e| error(self.path.path(), e))?;
        }
        self.row += 1;
        Ok(())
    }

    /// Adds the autofilter over what was written and saves the workbook atomically.
    pub fn commit(mut self) -> Result<PathBuf, OutputError> {
        let cleared = self.path.clone();
        let path = cleared.path();
        let (last_row, last_column) = (self.row.saturating_sub(1), self.columns.saturating_sub(1));
        let sheet = self.workbook.worksheet_from_index(0).map_err(|e| error(path, e))?;
        sheet.autofilter(0, 0, last_row, last_column).map_err(|e| error(path, e))?;
        let mut file = AtomicFile::create(&cleared)?;
        self.workbook.save_to_writer(&mut file).map_err(|e| error(path, e))?;
        file.commit()?;
        Ok(path.to_owned())
    }
}

/// A table of rows written as CSV or, for a path ending in `.xlsx`, as a workbook: the same
/// content either way.
#[derive(Debug)]
pub enum TableFile {
    Csv(Box<super::CsvFile>),
    Sheet(Box<SheetFile>),
}

impl TableFile {
    /// `title` names the sheet of a workbook; `bom` starts a CSV with a byte-order mark (for files
    /// clerks open in Excel); in a workbook, `text_columns` hold identifiers kept as text,
    /// `message_columns` sentences, and `number_columns` numbers.
    pub fn create(
        path: &Cleared,
        title: &str,
        headers: &[&str],
        (text_columns, message_columns, number_columns): (&[usize], &[usize], &[usize]),
        bom: bool,
    ) -> Result<TableFile, OutputError> {
        if is_workbook_path(path.path()) {
            let sheet =
                SheetFile::create(path, title, headers, text_columns, message_columns, number_columns)?;
            return Ok(TableFile::Sheet(Box::new(sheet)));
        }
        let mut csv = super::CsvFile::create(path, bom)?;
        csv.write_row(headers.iter().copied())?;
        Ok(TableFile::Csv(Box::new(csv)))
    }

    /// One row; `flags` mark cells in a workbook (a CSV has nowhere to put them).
    pub fn write_row<'a>(
        &mut self,
        cells: impl IntoIterator<Item = &'a str>,
        flags: &[(usize, String)],
    ) -> Result<(), OutputError> {
        match self {
            TableFile::Csv(csv) => csv.write_row(cells),
            TableFile::Sheet(sheet) => sheet.write_row(cells, flags),
        }
    }

    pub fn commit(self) -> Result<PathBuf, OutputError> {
        match self {
            TableFile::Csv(csv) => {
                let path = csv.path().to_owned();
                csv.commit()?;
                Ok(path)
            }
            TableFile::Sheet(sheet) => sheet.commit(),
        }
    }
}
