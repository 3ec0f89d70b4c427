//! The index behind the file-level rules: a private SQLite database on disk that lives as long as
//! one pass over a file and is deleted when it closes. Its page cache is bounded, so a file of a
//! million rows is checked in the same memory as a file of fifty.

use rusqlite::{Connection, params};

use super::StoreError;
use crate::validate::SeenIndex;

/// Pages of cache the index may hold in memory (negative: KiB), the bound on its footprint.
const CACHE_KIB: i64 = 8 * 1024;

#[derive(Debug)]
pub struct ScratchIndex {
    conn: Connection,
}

impl ScratchIndex {
    /// Opens an empty index. SQLite creates it as an anonymous temporary file, removed on close.
    pub fn new() -> Result<ScratchIndex, StoreError> {
        let conn = Connection::open("")?;
        // Nothing here outlives the pass, so nothing needs to survive a crash.
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = OFF;
             PRAGMA synchronous = OFF;
             PRAGMA cache_size = -{CACHE_KIB};
             CREATE TABLE pan (key INTEGER PRIMARY KEY, line INTEGER NOT NULL);
             CREATE TABLE mobile (key INTEGER PRIMARY KEY, pan INTEGER NOT NULL, line INTEGER NOT NULL);
             CREATE TABLE order_id (id TEXT PRIMARY KEY, pan INTEGER, line INTEGER NOT NULL) WITHOUT ROWID;
             BEGIN;"
        ))?;
        Ok(ScratchIndex { conn })
    }
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or_default()
}

impl SeenIndex for ScratchIndex {
    type Error = StoreError;

    fn first_pan(&mut self, pan: u64, line: u64) -> Result<u64, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "INSERT INTO pan (key, line) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET line = line RETURNING line",
        )?;
        let first: i64 = stmt.query_row(params![to_i64(pan), to_i64(line)], |r| r.get(0))?;
        Ok(to_u64(first))
    }

    fn first_mobile(&mut self, mobile: u64, pan: u64, line: u64) -> Result<(u64, u64), StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "INSERT INTO mobile (key, pan, line) VALUES (?1, ?2, ?3)
             ON CONFLICT (key) DO UPDATE SET line = line RETURNING line, pan",
        )?;
        let (first, first_pan): (i64, i64) = stmt
            .query_row(params![to_i64(mobile), to_i64(pan), to_i64(line)], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok((to_u64(first), to_u64(first_pan)))
    }

    fn first_order_id(
        &mut self,
        order_id: &str,
        pan: Option<u64>,
        line: u64,
    ) -> Result<(u64, Option<u64>), StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "INSERT INTO order_id (id, pan, line) VALUES (?1, ?2, ?3)
             ON CONFLICT (id) DO UPDATE SET line = line RETURNING line, pan",
        )?;
        let (first, first_pan): (i64, Option<i64>) =
            stmt.query_row(params![order_id, pan.map(to_i64), to_i64(line)], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok((to_u64(first), first_pan.map(to_u64)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_the_first_line_of_each_key() {
        let mut index = ScratchIndex::new().unwrap();
        assert_eq!(index.first_pan(42, 2).unwrap(), 2);
        assert_eq!(index.first_pan(43, 3).unwrap(), 3);
        assert_eq!(index.first_pan(42, 9).unwrap(), 2);
        assert_eq!(index.first_mobile(9_876_543_210, 42, 2).unwrap(), (2, 42));
        assert_eq!(index.first_mobile(9_876_543_210, 43, 3).unwrap(), (2, 42));
        assert_eq!(index.first_order_id("ORD-1", None, 4).unwrap(), (4, None));
        assert_eq!(index.first_order_id("ORD-1", Some(42), 5).unwrap(), (4, None));
        assert_eq!(index.first_order_id("ORD-2", Some(42), 6).unwrap(), (6, Some(42)));
    }

    #[test]
    fn holds_many_keys() {
        let mut index = ScratchIndex::new().unwrap();
        for i in 0..50_000u64 {
            assert_eq!(index.first_pan(i * 7919 % 100_003, i + 2).unwrap(), i + 2);
        }
        assert_eq!(index.first_pan(7919, 1_000_000).unwrap(), 3);
    }
}
