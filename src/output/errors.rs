//! The errors file: the rows a clerk must fix or retry, with the file's own columns and headers,
//! so that the clerk corrects the cells and runs the file again. An `error` column comes first,
//! where it is seen, and cannot be pushed out of line by a row with too many cells; an input that
//! already has one (an errors file run again) gets it replaced, not doubled. As CSV (with a BOM,
//! for Excel) or, for a path ending in `.xlsx`, as a workbook whose offending cells are highlighted
//! and carry a note saying what is wrong.

use std::path::PathBuf;

use super::OutputError;
use super::sheet::TableFile;
use crate::gate::Cleared;
use crate::input::{Field, header_key};

/// The errors file's message column, and the name of an input's that is one of ours.
pub(super) const ERROR_COLUMN: &str = "error";

#[derive(Debug)]
pub struct ErrorsFile {
    table: TableFile,
    /// An `error` column of the input, left out because ours replaces it.
    replaced: Option<usize>,
    rows: u64,
}

/// Input columns whose values are identifiers to keep as text: PAN, mobile, order id.
pub(super) fn identifier_columns(headers: &[String]) -> Vec<usize> {
    headers
        .iter()
        .enumerate()
        .filter(|(_, h)| matches!(Field::parse(h), Some(Field::Pan | Field::Mobile | Field::OrderId)))
        .map(|(i, _)| i)
        .collect()
}

impl ErrorsFile {
    pub fn create(path: &Cleared, headers: &[String]) -> Result<ErrorsFile, OutputError> {
        let replaced = headers.iter().position(|h| header_key(h) == ERROR_COLUMN);
        let kept: Vec<&str> = headers
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != replaced)
            .map(|(_, h)| h.as_str())
            .collect();
        let columns: Vec<&str> = std::iter::once(ERROR_COLUMN).chain(kept).collect();
        let text: Vec<usize> =
            identifier_columns(headers).into_iter().filter_map(|p| Self::out_column(replaced, p)).collect();
        let table = TableFile::create(path, "To fix", &columns, (&text, &[0], &[]), true)?;
        Ok(ErrorsFile { table, replaced, rows: 0 })
    }

    /// Where input column `position` lands: after the error column, and one to the left past a
    /// replaced `error` column (which itself lands nowhere).
    fn out_column(replaced: Option<usize>, position: usize) -> Option<usize> {
        match replaced {
            Some(r) if r == position => None,
            Some(r) if r < position => Some(position),
            _ => Some(position + 1),
        }
    }

    /// One row: its cells as read, the `error` text, and each error about one cell (its input
    /// column and message), which a workbook marks on that cell.
    pub fn write<'a>(
        &mut self,
        cells: impl IntoIterator<Item = &'a str>,
        error: &str,
        flags: &[(usize, String)],
    ) -> Result<(), OutputError> {
        self.rows += 1;
        let replaced = self.replaced;
        let kept = cells.into_iter().enumerate().filter(|(i, _)| Some(*i) != replaced).map(|(_, c)| c);
        let flags: Vec<(usize, String)> = flags
            .iter()
            .filter_map(|(p, message)| Some((Self::out_column(replaced, *p)?, message.clone())))
            .collect();
        self.table.write_row(std::iter::once(error).chain(kept), &flags)
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    pub fn commit(self) -> Result<PathBuf, OutputError> {
        self.table.commit()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_shift_past_the_error_column() {
        assert_eq!(ErrorsFile::out_column(None, 0), Some(1));
        assert_eq!(ErrorsFile::out_column(Some(2), 2), None);
        assert_eq!(ErrorsFile::out_column(Some(2), 1), Some(2));
        assert_eq!(ErrorsFile::out_column(Some(2), 3), Some(3));
    }

    #[test]
    fn identifiers_are_found_by_their_headers() {
        let headers: Vec<String> =
            ["Name", "PAN No", "Mobile No", "Ref ID", "Branch"].iter().map(|s| s.to_string()).collect();
        assert_eq!(identifier_columns(&headers), vec![1, 2, 3]);
    }
}
