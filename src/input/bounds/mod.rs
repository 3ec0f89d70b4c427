//! How much a workbook may make of itself before it is read: the guard every workbook passes
//! (from a path today, from an upload's bytes tomorrow) before calamine sees it. A 2 MB `.xlsx`
//! can hold a sheet that inflates to gigabytes, an `.ods` can repeat one cell a billion times, and
//! an `.xls` can chain its sectors in a loop or point ten thousand cells at one long string;
//! calamine would build all of it in memory (or loop, or panic). What is bounded:
//!
//! - every `.xlsx`/`.ods` part, by its declared size and then by the bytes it really inflates
//!   to (declared sizes can lie: each part is inflated through a counter that stops at the
//!   bound, into nothing), and no single text or tag in its XML may exceed the cell bound;
//! - an `.xls`'s compound-file structure (no sector chain may loop or point outside the file),
//!   and its records: the cells and text its sheets will expand to;
//! - an `.ods`'s `content.xml`: the rows, cells and text its repeat counts expand to.
//!
//! The `.xlsx` sheet itself is bounded while it is read (`workbook.rs`), cell by cell. The limits
//! are [`WorkbookLimits`]; a workbook over one is refused with a [`WorkbookRefusal`] before any of
//! it is kept, and memory stays within what the limits allow whatever the file claims.

mod ods;
mod xls;
mod zip_parts;

use super::probe::WorkbookKind;

/// What a workbook's parts may inflate to, all together: sheets, shared strings, styles (and for
/// an `.xls`, its file). Far above a real customer workbook (100,000 rows of a clerk's sheet are
/// about 40 MiB of XML), far below what would exhaust a machine.
pub const MAX_UNPACKED_BYTES: u64 = 256 * 1024 * 1024;
/// Rows of one sheet, from its first row with data to its last: above any spreadsheet program's
/// own maximum (1,048,576 rows).
pub const MAX_SHEET_ROWS: u64 = 2_000_000;
/// Cells read (a sheet's rows times its columns): a sheet is held in memory whole, about 32 bytes
/// a cell before its text, so this bounds that to a few hundred MB. A million rows of ten
/// columns fit.
pub const MAX_CELLS: u64 = 10_000_000;
/// Text in one cell, or one text or tag of a workbook's XML: no customer's detail comes near it.
/// The same bound as a record of a delimited file.
pub const MAX_CELL_BYTES: u64 = super::MAX_RECORD_BYTES;
/// Text in all the cells read.
pub const MAX_TEXT_BYTES: u64 = 256 * 1024 * 1024;

/// The bounds a workbook is read within. The defaults are generous for real onboarding files;
/// raise one for a genuine file that exceeds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkbookLimits {
    /// See [`MAX_UNPACKED_BYTES`].
    pub max_unpacked_bytes: u64,
    /// See [`MAX_SHEET_ROWS`].
    pub max_sheet_rows: u64,
    /// See [`MAX_CELLS`]. An `.xls` or `.ods` reader loads every sheet at once, so for those
    /// the bound covers the cells of all sheets; for an `.xlsx`, the sheet read.
    pub max_cells: u64,
    /// See [`MAX_CELL_BYTES`].
    pub max_cell_bytes: u64,
    /// See [`MAX_TEXT_BYTES`]. Counted like [`Self::max_cells`].
    pub max_text_bytes: u64,
}

impl Default for WorkbookLimits {
    fn default() -> Self {
        WorkbookLimits {
            max_unpacked_bytes: MAX_UNPACKED_BYTES,
            max_sheet_rows: MAX_SHEET_ROWS,
            max_cells: MAX_CELLS,
            max_cell_bytes: MAX_CELL_BYTES,
            max_text_bytes: MAX_TEXT_BYTES,
        }
    }
}

/// Which of the [`WorkbookLimits`] a workbook went over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    UnpackedBytes,
    SheetRows,
    Cells,
    CellBytes,
    TextBytes,
}

impl Limit {
    /// The field of [`WorkbookLimits`] it is, for a setting named after it.
    pub fn field(self) -> &'static str {
        match self {
            Limit::UnpackedBytes => "max_unpacked_bytes",
            Limit::SheetRows => "max_sheet_rows",
            Limit::Cells => "max_cells",
            Limit::CellBytes => "max_cell_bytes",
            Limit::TextBytes => "max_text_bytes",
        }
    }
}

/// Why a workbook is not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkbookRefusal {
    /// It would unpack to more than a limit allows. `place` says where (a part, a sheet, a cell).
    #[error("{}", describe_too_big(*.limit, *.allowed, .place))]
    TooBig { limit: Limit, allowed: u64, place: String },
    /// Its structure is damaged in a way that would make the reader loop, run past its data or
    /// crash; not a question of size.
    #[error("{0}")]
    Damaged(String),
}

impl WorkbookRefusal {
    /// The setting that raises the limit this refusal is about.
    pub fn flag(&self) -> &'static str {
        match self {
            WorkbookRefusal::TooBig { limit: Limit::SheetRows | Limit::Cells, .. } => {
                "--max-workbook-rows (or [input] max_workbook_rows)"
            }
            WorkbookRefusal::TooBig { limit: Limit::CellBytes, .. } => {
                "nothing: no customer's cell holds a megabyte of text"
            }
            _ => "--max-workbook-size (or [input] max_workbook_size)",
        }
    }
}

/// The place of a refusal for the file's own size.
const THE_FILE: &str = "the file";

fn describe_too_big(limit: Limit, allowed: u64, place: &str) -> String {
    let amount = bytes(allowed);
    match limit {
        Limit::UnpackedBytes if place == THE_FILE => format!("{place} is larger than {amount}"),
        Limit::UnpackedBytes => format!("{place} unpacks to more than {amount}"),
        Limit::SheetRows => format!("{place} has more than {allowed} rows"),
        Limit::Cells => format!("{place} holds more than {allowed} cells"),
        Limit::CellBytes => format!("{place} holds more than {amount} of text in one piece"),
        Limit::TextBytes => format!("{place} holds more than {amount} of text"),
    }
}

/// `256 MiB`, `1 MiB`, `1000 bytes`.
fn bytes(n: u64) -> String {
    const MIB: u64 = 1024 * 1024;
    const KIB: u64 = 1024;
    if n >= MIB && n.is_multiple_of(MIB) {
        format!("{} MiB", n / MIB)
    } else if n >= KIB && n.is_multiple_of(KIB) {
        format!("{} KiB", n / KIB)
    } else {
        format!("{n} bytes")
    }
}

fn too_big(limit: Limit, allowed: u64, place: impl Into<String>) -> WorkbookRefusal {
    WorkbookRefusal::TooBig { limit, allowed, place: place.into() }
}

/// Checks a workbook's bytes before any reader expands them: its size, and what its parts,
/// records and repeat counts will expand to. `Ok` means the reader can open it within the
/// limits (an `.xlsx` sheet is still bounded as it is read); a workbook the reader cannot
/// parse at all is let through for the reader to say why.
pub fn check_workbook(
    bytes: &[u8],
    kind: WorkbookKind,
    limits: &WorkbookLimits,
) -> Result<(), WorkbookRefusal> {
    check_file_size(bytes.len() as u64, limits)?;
    let mut budget = Budget::new(limits);
    match kind {
        WorkbookKind::OfficeOpenXml => zip_parts::check(bytes, limits),
        WorkbookKind::OpenDocument => {
            zip_parts::check(bytes, limits)?;
            ods::check_content(bytes, &mut budget)
        }
        WorkbookKind::LegacyExcel => xls::check(bytes, &mut budget),
    }
}

/// A workbook file of `len` bytes: no larger than it may unpack to (a zip's parts unpack to about
/// as much as they are stored in, or more), so a huge file is refused before it is read.
pub(crate) fn check_file_size(len: u64, limits: &WorkbookLimits) -> Result<(), WorkbookRefusal> {
    if len > limits.max_unpacked_bytes {
        return Err(too_big(Limit::UnpackedBytes, limits.max_unpacked_bytes, THE_FILE));
    }
    Ok(())
}

/// What the cells read so far add up to, against the limits: shared by every sheet a reader
/// loads at once.
#[derive(Debug)]
pub(crate) struct Budget {
    limits: WorkbookLimits,
    cells: u64,
    text: u64,
}

impl Budget {
    pub(crate) fn new(limits: &WorkbookLimits) -> Budget {
        Budget { limits: *limits, cells: 0, text: 0 }
    }

    /// One piece of text (a cell's, or one text of the XML) of `len` bytes.
    pub(crate) fn cell_text(&self, len: u64, place: impl FnOnce() -> String) -> Result<(), WorkbookRefusal> {
        if len > self.limits.max_cell_bytes {
            return Err(too_big(Limit::CellBytes, self.limits.max_cell_bytes, place()));
        }
        Ok(())
    }

    /// `len` more bytes of text kept.
    pub(crate) fn text(&mut self, len: u64, place: impl FnOnce() -> String) -> Result<(), WorkbookRefusal> {
        self.text = self.text.saturating_add(len);
        if self.text > self.limits.max_text_bytes {
            return Err(too_big(Limit::TextBytes, self.limits.max_text_bytes, place()));
        }
        Ok(())
    }

    /// A sheet spanning `rows` rows and `area` cells (rows times columns), loaded beside those
    /// counted before.
    pub(crate) fn sheet(&mut self, rows: u64, area: u64, name: &str) -> Result<(), WorkbookRefusal> {
        if rows > self.limits.max_sheet_rows {
            return Err(too_big(Limit::SheetRows, self.limits.max_sheet_rows, format!("sheet \"{name}\"")));
        }
        self.cells = self.cells.saturating_add(area);
        if self.cells > self.limits.max_cells {
            let place = if self.cells == area {
                format!("sheet \"{name}\"")
            } else {
                "the workbook (all its sheets, which are read together)".to_owned()
            };
            return Err(too_big(Limit::Cells, self.limits.max_cells, place));
        }
        Ok(())
    }

    pub(crate) fn limits(&self) -> &WorkbookLimits {
        &self.limits
    }
}

/// The area from the first row and column with data to the last, as cells are seen.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Span {
    bounds: Option<(u64, u64, u64, u64)>,
}

impl Span {
    pub(crate) fn see(&mut self, row: u64, column: u64) {
        self.see_rows(row, row, column, column);
    }

    /// Rows `first..=last` and columns `left..=right`.
    pub(crate) fn see_rows(&mut self, first: u64, last: u64, left: u64, right: u64) {
        self.bounds = Some(match self.bounds {
            None => (first, last, left, right),
            Some((r0, r1, c0, c1)) => (r0.min(first), r1.max(last), c0.min(left), c1.max(right)),
        });
    }

    pub(crate) fn rows(&self) -> u64 {
        self.bounds.map_or(0, |(r0, r1, _, _)| r1 - r0 + 1)
    }

    /// Rows times columns: what a reader that holds the sheet as a grid allocates.
    pub(crate) fn area(&self) -> u64 {
        self.bounds.map_or(0, |(r0, r1, c0, c1)| (r1 - r0 + 1).saturating_mul(c1 - c0 + 1))
    }
}

#[cfg(test)]
mod tests;
