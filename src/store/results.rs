//! Reading a run back, in input order, for the results and errors files: every row with its
//! outcome (a duplicate carries the result of the row it repeats) and the cells as they were in
//! the file, and the counts per status.

use std::path::Path;

use rusqlite::Connection;

use super::{RowStatus, StatusCounts, Store, StoreError};

fn counts_on(conn: &Connection, run_id: i64) -> Result<StatusCounts, StoreError> {
    let mut stmt =
        conn.prepare_cached("SELECT status, COUNT(*) FROM rows WHERE run_id = ?1 GROUP BY status")?;
    let mut counts = StatusCounts::default();
    for item in stmt.query_map([run_id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u64>(1)?)))? {
        let (status, n) = item?;
        if let Some(status) = RowStatus::parse(&status) {
            counts.0.insert(status, n);
        }
    }
    Ok(counts)
}

/// One line of the results, from the state.
#[derive(Debug, Clone, Default)]
pub struct ResultRow {
    pub line: u64,
    pub order_id: Option<String>,
    pub status: RowStatus,
    pub cibil_id: Option<String>,
    pub cibil_status: Option<String>,
    pub is_returning_customer: Option<bool>,
    pub merchant_trans_id: Option<String>,
    pub error_code: Option<String>,
    pub error: Option<String>,
    pub warnings: Option<String>,
    pub attempts: u32,
    pub http_status: Option<u16>,
    pub duplicate_of: Option<u64>,
    /// The status of the row this one duplicates.
    pub duplicate_of_status: Option<RowStatus>,
    /// The row's cells as they were in the file.
    pub cells: Vec<String>,
    /// Each error about one cell: its column position and the message.
    pub violations: Vec<(usize, String)>,
}

impl Store {
    /// Counts of rows per status.
    pub fn counts(&self, run_id: i64) -> Result<StatusCounts, StoreError> {
        counts_on(&self.conn, run_id)
    }

    /// Counts of rows per status of run `run_id` of the state at `path`, as committed, read on a
    /// connection of its own that writes nothing and creates nothing (a state moved away is not
    /// made again): for a process leaving at once while its own connection may be mid-write.
    pub fn counts_as_committed(path: &Path, run_id: i64) -> Result<StatusCounts, StoreError> {
        counts_on(&super::read_only(path, std::time::Duration::from_millis(500))?, run_id)
    }

    /// Calls `each` with every row of the run in input order; a duplicate carries the result of
    /// the row it duplicates.
    pub fn for_each_result<E: From<StoreError>>(
        &self,
        run_id: i64,
        mut each: impl FnMut(&ResultRow) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT r.line, r.order_id, r.status, COALESCE(r.cibil_id, f.cibil_id),
                        COALESCE(r.cibil_status, f.cibil_status),
                        COALESCE(r.is_returning_customer, f.is_returning_customer),
                        COALESCE(r.merchant_trans_id, f.merchant_trans_id),
                        r.error_code, r.error, r.warnings, r.attempts, r.duplicate_of, f.status, r.cells, r.http_status,
                        r.violations
                 FROM rows r LEFT JOIN rows f ON f.run_id = r.run_id AND f.line = r.duplicate_of
                 WHERE r.run_id = ?1 ORDER BY r.line",
            )
            .map_err(StoreError::from)?;
        let mut rows = stmt.query([run_id]).map_err(StoreError::from)?;
        let mut row = ResultRow::default();
        while let Some(r) = rows.next().map_err(StoreError::from)? {
            read_result(r, &mut row).map_err(StoreError::from)?;
            each(&row)?;
        }
        Ok(())
    }
}

/// Reads one result into `row`, reusing its strings: a results file of a million rows is
/// written from one `ResultRow`, not a million of them.
fn read_result(r: &rusqlite::Row<'_>, row: &mut ResultRow) -> rusqlite::Result<()> {
    row.line = r.get(0)?;
    text_into(r, 1, &mut row.order_id)?;
    row.status = status_of(r, 2)?.unwrap_or_default();
    text_into(r, 3, &mut row.cibil_id)?;
    text_into(r, 4, &mut row.cibil_status)?;
    row.is_returning_customer = r.get::<_, Option<i64>>(5)?.map(|v| v != 0);
    text_into(r, 6, &mut row.merchant_trans_id)?;
    text_into(r, 7, &mut row.error_code)?;
    text_into(r, 8, &mut row.error)?;
    text_into(r, 9, &mut row.warnings)?;
    row.attempts = r.get(10)?;
    row.duplicate_of = r.get(11)?;
    row.duplicate_of_status = status_of(r, 12)?;
    match r.get_ref(13)?.as_str_or_null()? {
        Some(json) => {
            if cells_into(json, &mut row.cells).is_err() {
                row.cells.clear();
            }
        }
        None => row.cells.clear(),
    }
    row.http_status = r.get(14)?;
    let violations: Option<String> = r.get(15)?;
    row.violations = violations.and_then(|v| serde_json::from_str(&v).ok()).unwrap_or_default();
    Ok(())
}

/// Column `index` (text or NULL) into `slot`, in the string already there when there is one.
fn text_into(r: &rusqlite::Row<'_>, index: usize, slot: &mut Option<String>) -> rusqlite::Result<()> {
    match r.get_ref(index)?.as_str_or_null()? {
        Some(text) => {
            let slot = slot.get_or_insert_with(String::new);
            slot.clear();
            slot.push_str(text);
        }
        None => *slot = None,
    }
    Ok(())
}

fn status_of(r: &rusqlite::Row<'_>, index: usize) -> rusqlite::Result<Option<RowStatus>> {
    Ok(r.get_ref(index)?.as_str_or_null()?.and_then(RowStatus::parse))
}

/// Parses the JSON array of a row's cells into `cells`, reusing its strings.
pub(super) fn cells_into(json: &str, cells: &mut Vec<String>) -> serde_json::Result<()> {
    use serde::de::{DeserializeSeed, Deserializer, SeqAccess, Visitor};

    struct Cells<'a>(&'a mut Vec<String>);
    struct Cell<'a>(&'a mut String);

    impl<'de> DeserializeSeed<'de> for Cells<'_> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
            deserializer.deserialize_seq(self)
        }
    }
    impl<'de> Visitor<'de> for Cells<'_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an array of cells")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            let mut n = 0;
            loop {
                if n == self.0.len() {
                    self.0.push(String::new());
                }
                if seq.next_element_seed(Cell(&mut self.0[n]))?.is_none() {
                    break;
                }
                n += 1;
            }
            self.0.truncate(n);
            Ok(())
        }
    }
    impl<'de> DeserializeSeed<'de> for Cell<'_> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
            deserializer.deserialize_str(self)
        }
    }
    impl Visitor<'_> for Cell<'_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a cell's text")
        }
        fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<(), E> {
            self.0.clear();
            self.0.push_str(text);
            Ok(())
        }
    }

    let mut deserializer = serde_json::Deserializer::from_str(json);
    Cells(cells).deserialize(&mut deserializer)?;
    deserializer.end()
}
