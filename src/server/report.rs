//! What the check of an upload found, as the pages show it and the state keeps it (the upload's
//! report, JSON): the problems grouped as `cibil-bulk validate` prints them (most common first,
//! where, one example with the value masked); the rows to fix with the cells the check reads as
//! the file has them and each offending cell's message — a preview, capped in rows, columns and
//! characters, whatever the file's size, the errors file having everything; how the uploader
//! asked the file to be read (`Choices`: the dates' order, which column is which), which its job
//! reads it with too; and what must be asked of them before it can be checked (`Questions`).
//! Plain data: `check` fills it, `views` shows it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::input::Field;
use crate::store::{RowStatus, StatusCounts};
use crate::validate::DateOrder;

/// Rows to fix kept with an upload, for its page. More are in the errors file.
pub const ROWS_TO_FIX_SHOWN: usize = 100;

/// Characters of a cell the preview shows; the errors file has the whole cell.
pub const CELL_CHARACTERS_SHOWN: usize = 80;

/// How the uploader asked for a file to be read, beyond the server's settings and the headers'
/// names. Kept with the upload, so that its job reads the file as its check did, and remembered
/// for the next file of the same shape.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Choices {
    /// `dmy` or `mdy`: the date column's day/month order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_order: Option<String>,
    /// Which column holds which field: the field's API name, and the file's header.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<(String, String)>,
}

impl Choices {
    pub fn date_order(&self) -> Option<DateOrder> {
        match self.date_order.as_deref() {
            Some("dmy") => Some(DateOrder::Dmy),
            Some("mdy") => Some(DateOrder::Mdy),
            _ => None,
        }
    }

    /// The columns chosen, as the reader's `map` takes them.
    pub fn map(&self) -> Vec<(Field, String)> {
        self.columns
            .iter()
            .filter_map(|(field, header)| Some((Field::parse(field)?, header.clone())))
            .collect()
    }

    /// The header chosen for `field`, if one was.
    pub fn column(&self, field: Field) -> Option<&str> {
        self.columns.iter().find(|(f, _)| Field::parse(f) == Some(field)).map(|(_, h)| h.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.date_order.is_none() && self.columns.is_empty()
    }
}

/// The date column reads in two orders: what the check found, for the question.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatesQuestion {
    /// The column as the file names it.
    pub column: String,
    /// Rows whose date can only be month first, and where (`lines 2, 4, ...`).
    pub month_first: u64,
    pub month_first_places: String,
    /// Rows whose date can only be day first, and where.
    pub day_first: u64,
    pub day_first_places: String,
}

/// What must be asked of the uploader before the file can be checked: nothing is counted or sent
/// until they answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Questions {
    /// Fields the rules need whose column was not recognised (API names).
    #[serde(default)]
    pub missing: Vec<String>,
    /// A field two or more columns could be (its API name), and those columns.
    #[serde(default)]
    pub doubled: Option<(String, Vec<String>)>,
    /// The date column reads in two orders.
    #[serde(default)]
    pub dates: Option<DatesQuestion>,
}

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

/// A row the uploader must fix, with its real values (of the columns shown): the uploader needs
/// them to find and correct the row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowToFix {
    /// `line 7` or `Customers!R7`.
    pub place: String,
    /// The cells shown, as read (each cut to [`CELL_CHARACTERS_SHOWN`]), in the file's order.
    pub cells: Vec<String>,
    /// Each error about one cell: its position among the cells shown, and the message.
    pub flags: Vec<(usize, String)>,
    /// Every error message of the row, including those about no one cell.
    pub messages: Vec<String>,
}

/// The check of one upload.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// How the file was read: `Excel workbook, sheet "Customers"`, `UTF-8, comma-separated`.
    pub format: String,
    /// The headers of the columns the preview of the rows to fix shows: those the check reads,
    /// in the file's order (every column in reports kept before the preview was capped).
    pub headers: Vec<String>,
    /// The file's columns the preview leaves out (they are in the errors file).
    #[serde(default)]
    pub columns_hidden: u64,
    /// The file's whole header line, for choosing which column is which.
    #[serde(default)]
    pub file_headers: Vec<String>,
    /// Which column each field was read from: its API name and the header.
    #[serde(default)]
    pub fields: Vec<(String, String)>,
    /// How the uploader asked for the file to be read.
    #[serde(default)]
    pub choices: Choices,
    /// The choices were made for an earlier file with the same columns.
    #[serde(default)]
    pub remembered: bool,
    /// What must be answered before the file can be checked; nothing else is known until then.
    #[serde(default)]
    pub questions: Option<Questions>,
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
