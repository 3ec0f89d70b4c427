//! What the check of an upload found, as the pages show it and the state keeps it: the problems
//! grouped as `cibil-bulk validate` prints them (most common first, where, one example with the
//! value masked), and the rows to fix with their cells as the file has them and each offending
//! cell's message. Plain data: `jobs` fills it, `views` shows it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::store::{RowStatus, StatusCounts};

/// Rows to fix kept with an upload, for its page. More are in the errors file.
pub const ROWS_TO_FIX_SHOWN: usize = 500;

/// One kind of problem and where it occurs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// The stable code, as `validate` and the errors file's `error_code` name it (`pan.format`).
    pub code: String,
    pub count: u64,
    /// `lines 2, 5, 9, ...` or `Customers!R2, R5, ...`.
    pub places: String,
    /// The first occurrence's message, its value masked.
    pub example: String,
}

/// A row the uploader must fix, with its real values: the uploader needs them to find and
/// correct the row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowToFix {
    /// `line 7` or `Customers!R7`.
    pub place: String,
    /// The cells as read, in the file's column order.
    pub cells: Vec<String>,
    /// Each error about one cell: its column position and the message.
    pub flags: Vec<(usize, String)>,
    /// Every error message of the row, including those about no one cell.
    pub messages: Vec<String>,
}

/// The check of one upload.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// How the file was read: `Excel workbook, sheet "Customers"`, `UTF-8, comma-separated`.
    pub format: String,
    /// The file's own header line.
    pub headers: Vec<String>,
    pub problems: Vec<Problem>,
    pub warnings: Vec<Problem>,
    pub rows_with_warnings: u64,
    /// The first [`ROWS_TO_FIX_SHOWN`] rows to fix.
    pub rows_to_fix: Vec<RowToFix>,
    /// All rows to fix, shown or not.
    pub rows_to_fix_total: u64,
}

/// Rows per status, as the API and the pages show them: every status named, zeros included, so
/// that a script finds every key.
pub fn counts_map(counts: &StatusCounts) -> BTreeMap<String, u64> {
    RowStatus::ALL.iter().map(|s| (s.as_str().to_owned(), counts.get(*s))).collect()
}

/// The inverse of [`counts_map`], for counts read back from the state.
pub fn counts_from_map(map: &BTreeMap<String, u64>) -> StatusCounts {
    let mut counts = StatusCounts::default();
    for (name, n) in map {
        if let Some(status) = RowStatus::parse(name) {
            counts.add(status, *n);
        }
    }
    counts
}
