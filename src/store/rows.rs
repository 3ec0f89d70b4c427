//! Rows through their life: written once by an import (in one transaction, so a file is either
//! wholly in the state or not at all), claimed in batches before their requests leave, given
//! their outcome in group commits, and read back in input order for the results. Every status
//! change names the statuses it may come from, and a change that touches no row is an error.

use std::collections::BTreeMap;

use rusqlite::{OptionalExtension, Transaction, params};
use serde::Serializer as _;
use sha2::{Digest, Sha256};

use super::{Reader, RowStatus, Store, StoreError, now_ms};
use crate::input::Locator;
use crate::validate::Applicant;

/// A row as the import writes it.
#[derive(Debug, Clone, Copy)]
pub struct NewRow<'a> {
    pub line: u64,
    /// `Pending` (valid), `Invalid` or `Duplicate`; a valid row whose customer is in the ledger
    /// becomes `Known` here.
    pub status: RowStatus,
    pub order_id: Option<&'a str>,
    pub duplicate_of: Option<u64>,
    /// The values to send, for a valid row.
    pub applicant: Option<&'a Applicant>,
    pub error_code: &'a str,
    pub error: &'a str,
    pub warnings: &'a str,
    /// Each error about one cell: the cell's column position and the message.
    pub violations: &'a [(usize, String)],
}

/// Writes the rows of a new run. Dropped without [`Import::finish`], it leaves no trace.
#[derive(Debug)]
pub struct Import<'s> {
    tx: Transaction<'s>,
    ledger_key: [u8; 32],
    run_id: i64,
    rows: u64,
    cells: Vec<u8>,
    now: i64,
}

impl Store {
    /// Starts the run of a file never seen by this state database.
    pub fn begin_import(
        &mut self,
        input_path: &str,
        sha256: &str,
        headers: &[String],
        locator: &Locator,
        settings: &serde_json::Value,
    ) -> Result<Import<'_>, StoreError> {
        let now = now_ms();
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO runs (input_path, input_sha256, headers, settings, rows_total, status, started_at, updated_at, locator)
             VALUES (?1, ?2, ?3, ?4, 0, 'running', ?5, ?5, ?6)",
            params![
                input_path,
                sha256,
                serde_json::to_string(headers).unwrap_or_default(),
                settings.to_string(),
                now,
                serde_json::to_string(locator).unwrap_or_default()
            ],
        )?;
        let run_id = tx.last_insert_rowid();
        Ok(Import { tx, ledger_key: self.ledger_key, run_id, rows: 0, cells: Vec::new(), now })
    }
}

impl Import<'_> {
    /// Adds one row with its original `cells`; returns the status it was stored with.
    pub fn add<'c>(
        &mut self,
        row: &NewRow<'_>,
        cells: impl IntoIterator<Item = &'c str>,
    ) -> Result<RowStatus, StoreError> {
        self.cells.clear();
        let mut json = serde_json::Serializer::new(&mut self.cells);
        json.collect_seq(cells)
            .map_err(|e| StoreError::Sqlite(rusqlite::Error::ToSqlConversionFailure(Box::new(e))))?;
        let cells = std::str::from_utf8(&self.cells).unwrap_or("[]");

        let mut status = row.status;
        let (mut pan_key, mut payload, mut cibil_id) = (None, None, None);
        if let (RowStatus::Pending, Some(a)) = (row.status, row.applicant) {
            let key = pan_key_with(&self.ledger_key, &a.pancard);
            cibil_id = ledger_cibil_id(&self.tx, &key)?;
            if cibil_id.is_some() {
                status = RowStatus::Known;
            }
            pan_key = Some(key);
            payload = Some(payload_hash(a));
        }
        let a = row.applicant;
        let violations =
            (!row.violations.is_empty()).then(|| serde_json::to_string(row.violations).unwrap_or_default());
        self.tx
            .prepare_cached(
                "INSERT INTO rows (run_id, line, status, order_id, duplicate_of, pan_key, payload_sha256,
                    first_name, middle_name, last_name, pancard, date_of_birth, email_id, mobile_number,
                    cells, error_code, error, warnings, cibil_id, updated_at, violations)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)",
            )?
            .execute(params![
                self.run_id,
                row.line,
                status.as_str(),
                row.order_id,
                row.duplicate_of,
                pan_key.as_ref().map(|k| k.as_slice()),
                payload.as_ref().map(|p| p.as_slice()),
                a.map(|a| &a.first_name),
                a.map(|a| &a.middle_name),
                a.map(|a| &a.last_name),
                a.map(|a| &a.pancard),
                a.map(|a| &a.date_of_birth),
                a.map(|a| &a.email_id),
                a.map(|a| &a.mobile_number),
                cells,
                none_if_empty(row.error_code),
                none_if_empty(row.error),
                none_if_empty(row.warnings),
                cibil_id,
                self.now,
                violations,
            ])?;
        self.rows += 1;
        Ok(status)
    }

    /// Commits the run and its rows; returns the run's id.
    pub fn finish(self) -> Result<i64, StoreError> {
        self.tx.execute("UPDATE runs SET rows_total = ?2 WHERE id = ?1", params![self.run_id, self.rows])?;
        self.tx.commit()?;
        Ok(self.run_id)
    }
}

fn none_if_empty(text: &str) -> Option<&str> {
    (!text.is_empty()).then_some(text)
}

pub(super) fn pan_key_with(key: &[u8; 32], pan: &str) -> [u8; 16] {
    use hmac::{Hmac, KeyInit, Mac};
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(pan.as_bytes());
    let digest = mac.finalize().into_bytes();
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    out
}

/// A fingerprint of what is sent for a row, kept when the values themselves are purged.
fn payload_hash(a: &Applicant) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for field in [
        &a.order_id,
        &a.first_name,
        &a.middle_name,
        &a.last_name,
        &a.pancard,
        &a.date_of_birth,
        &a.email_id,
        &a.mobile_number,
    ] {
        hasher.update(field.as_bytes());
        hasher.update([0x1f]);
    }
    hasher.finalize().into()
}

/// A row still to send, with what the request needs.
#[derive(Debug, Clone)]
pub struct PendingRow {
    pub line: u64,
    pub pan_key: [u8; 16],
    pub applicant: Applicant,
}

impl Reader {
    /// Up to `limit` rows still to send (`pending` or `failed`) after `after_line`, in order.
    pub fn pending(&self, run_id: i64, after_line: u64, limit: usize) -> Result<Vec<PendingRow>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT line, pan_key, order_id, first_name, middle_name, last_name, pancard, date_of_birth, email_id, mobile_number
             FROM rows WHERE run_id = ?1 AND status IN ('pending', 'failed') AND line > ?2 ORDER BY line LIMIT ?3",
        )?;
        let rows = stmt
            .query_map(params![run_id, after_line, limit], |r| {
                let key: Vec<u8> = r.get(1)?;
                // A key of another length is damage, said as such rather than a panic.
                let pan_key = <[u8; 16]>::try_from(key).map_err(|key| {
                    rusqlite::Error::FromSqlConversionFailure(
                        1,
                        rusqlite::types::Type::Blob,
                        format!("a ledger key of {} bytes, not 16", key.len()).into(),
                    )
                })?;
                Ok(PendingRow {
                    line: r.get(0)?,
                    pan_key,
                    applicant: Applicant {
                        order_id: r.get(2)?,
                        first_name: r.get(3)?,
                        middle_name: r.get::<_, Option<String>>(4)?.unwrap_or_default(),
                        last_name: r.get(5)?,
                        pancard: r.get(6)?,
                        date_of_birth: r.get(7)?,
                        email_id: r.get::<_, Option<String>>(8)?.unwrap_or_default(),
                        mobile_number: r.get(9)?,
                    },
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }
}

/// What a claim decided for one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Marked `in_flight`: its request may leave now.
    Send { line: u64 },
    /// Its customer was registered meanwhile (by another run of this state): `known`, not sent.
    Known { line: u64 },
}

/// The end of one row's requests in this invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowResult {
    Registered {
        line: u64,
        attempts: u32,
        http_status: u16,
        cibil_id: String,
        cibil_status: Option<String>,
        is_returning_customer: bool,
        merchant_trans_id: Option<String>,
        access_token: Option<String>,
    },
    Rejected {
        line: u64,
        attempts: u32,
        http_status: u16,
        code: Option<String>,
        message: String,
        raw: String,
    },
    Failed {
        line: u64,
        attempts: u32,
        http_status: Option<u16>,
        message: String,
    },
    /// Back to `pending`: the run stopped before the row's outcome was known. `attempts` were made.
    Released {
        line: u64,
        attempts: u32,
    },
}

impl RowResult {
    pub fn line(&self) -> u64 {
        match self {
            RowResult::Registered { line, .. }
            | RowResult::Rejected { line, .. }
            | RowResult::Failed { line, .. }
            | RowResult::Released { line, .. } => *line,
        }
    }

    pub fn status(&self) -> RowStatus {
        match self {
            RowResult::Registered { .. } => RowStatus::Registered,
            RowResult::Rejected { .. } => RowStatus::Rejected,
            RowResult::Failed { .. } => RowStatus::Failed,
            RowResult::Released { .. } => RowStatus::Pending,
        }
    }
}

/// Fails unless exactly one row changed: a guarded transition that did nothing means the state
/// is not what this run believes.
fn one_row(changed: usize, line: u64, to: RowStatus, from: &'static str) -> Result<(), StoreError> {
    if changed == 1 { Ok(()) } else { Err(StoreError::Transition { line, to, from }) }
}

impl Store {
    /// After a crash, rows claimed but never answered go back to `pending`: their requests are
    /// sent again with the same order id. Returns how many.
    pub fn requeue_in_flight(&self, run_id: i64) -> Result<usize, StoreError> {
        Ok(self.conn.execute(
            "UPDATE rows SET status = 'pending', updated_at = ?2 WHERE run_id = ?1 AND status = 'in_flight'",
            params![run_id, now_ms()],
        )?)
    }

    /// Claims rows for sending, durably, in one transaction: each becomes `in_flight`, or `known`
    /// when the ledger already holds its customer.
    pub fn claim(&mut self, run_id: i64, rows: &[(u64, [u8; 16])]) -> Result<Vec<Claim>, StoreError> {
        self.commit_group(run_id, &[], rows)
    }

    /// Records outcomes of claimed rows in one transaction (a group commit), adding each new
    /// registration to the ledger.
    pub fn record(&mut self, run_id: i64, results: &[RowResult]) -> Result<(), StoreError> {
        self.commit_group(run_id, results, &[]).map(drop)
    }

    /// Records `results` and claims `claims` in one transaction, so that one commit (one fsync)
    /// makes both durable: the collector's group commit. Outcomes go first, so a registration
    /// recorded here is already in the ledger the claims consult. Nothing is written unless all
    /// of it is.
    pub fn commit_group(
        &mut self,
        run_id: i64,
        results: &[RowResult],
        claims: &[(u64, [u8; 16])],
    ) -> Result<Vec<Claim>, StoreError> {
        if results.is_empty() && claims.is_empty() {
            return Ok(Vec::new());
        }
        let now = now_ms();
        let tx = self.conn.transaction()?;
        for result in results {
            record_one(&tx, run_id, result, now)?;
        }
        let claimed = claim_in(&tx, run_id, claims, now)?;
        tx.commit()?;
        Ok(claimed)
    }

    /// Counts of rows per status.
    pub fn counts(&self, run_id: i64) -> Result<StatusCounts, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT status, COUNT(*) FROM rows WHERE run_id = ?1 GROUP BY status")?;
        let mut counts = StatusCounts::default();
        for item in stmt.query_map([run_id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u64>(1)?)))? {
            let (status, n) = item?;
            if let Some(status) = RowStatus::parse(&status) {
                counts.0.insert(status, n);
            }
        }
        Ok(counts)
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
fn cells_into(json: &str, cells: &mut Vec<String>) -> serde_json::Result<()> {
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

/// The `cibil_id` the ledger holds for a customer, by the key of their PAN.
fn ledger_cibil_id(conn: &rusqlite::Connection, pan_key: &[u8; 16]) -> rusqlite::Result<Option<String>> {
    conn.prepare_cached("SELECT cibil_id FROM ledger WHERE pan_key = ?1")?
        .query_row([pan_key.as_slice()], |r| r.get(0))
        .optional()
}

fn claim_in(
    tx: &Transaction<'_>,
    run_id: i64,
    rows: &[(u64, [u8; 16])],
    now: i64,
) -> Result<Vec<Claim>, StoreError> {
    let mut claims = Vec::with_capacity(rows.len());
    if rows.is_empty() {
        return Ok(claims);
    }
    let mut known = tx.prepare_cached(
        "UPDATE rows SET status = 'known', cibil_id = ?3, updated_at = ?4,
            http_status = NULL, error_code = NULL, error = NULL, raw_response = NULL
         WHERE run_id = ?1 AND line = ?2 AND status IN ('pending', 'failed')",
    )?;
    let mut in_flight = tx.prepare_cached(
        "UPDATE rows SET status = 'in_flight', attempts = attempts + 1, updated_at = ?3
         WHERE run_id = ?1 AND line = ?2 AND status IN ('pending', 'failed')",
    )?;
    for (line, pan_key) in rows {
        let cibil_id = ledger_cibil_id(tx, pan_key)?;
        if let Some(cibil_id) = cibil_id {
            one_row(
                known.execute(params![run_id, line, cibil_id, now])?,
                *line,
                RowStatus::Known,
                "pending, failed",
            )?;
            claims.push(Claim::Known { line: *line });
        } else {
            one_row(
                in_flight.execute(params![run_id, line, now])?,
                *line,
                RowStatus::InFlight,
                "pending, failed",
            )?;
            claims.push(Claim::Send { line: *line });
        }
    }
    Ok(claims)
}

fn record_one(tx: &Transaction<'_>, run_id: i64, result: &RowResult, now: i64) -> Result<(), StoreError> {
    const FROM: &str = "in_flight";
    // The claim counted the first attempt; add the others.
    let extra = |attempts: &u32| i64::from(*attempts) - 1;
    match result {
        RowResult::Registered {
            line,
            attempts,
            http_status,
            cibil_id,
            cibil_status,
            is_returning_customer,
            merchant_trans_id,
            access_token,
        } => {
            let changed = tx
                .prepare_cached(
                    "UPDATE rows SET status = 'registered', attempts = attempts + ?3, http_status = ?4, cibil_id = ?5,
                        cibil_status = ?6, is_returning_customer = ?7, merchant_trans_id = ?8, access_token = ?9,
                        error_code = NULL, error = NULL, raw_response = NULL, updated_at = ?10
                     WHERE run_id = ?1 AND line = ?2 AND status = 'in_flight'",
                )?
                .execute(params![
                    run_id,
                    line,
                    extra(attempts),
                    http_status,
                    cibil_id,
                    cibil_status,
                    is_returning_customer,
                    merchant_trans_id,
                    access_token,
                    now
                ])?;
            one_row(changed, *line, RowStatus::Registered, FROM)?;
            tx.prepare_cached(
                "INSERT INTO ledger (pan_key, cibil_id, run_id, line, order_id, registered_at)
                 SELECT pan_key, ?3, run_id, line, order_id, ?4 FROM rows
                 WHERE run_id = ?1 AND line = ?2 AND pan_key IS NOT NULL
                 ON CONFLICT (pan_key) DO NOTHING",
            )?
            .execute(params![run_id, line, cibil_id, now])?;
        }
        RowResult::Rejected { line, attempts, http_status, code, message, raw } => {
            let changed = tx
                .prepare_cached(
                    "UPDATE rows SET status = 'rejected', attempts = attempts + ?3, http_status = ?4, error_code = ?5,
                        error = ?6, raw_response = ?7, updated_at = ?8
                     WHERE run_id = ?1 AND line = ?2 AND status = 'in_flight'",
                )?
                .execute(params![run_id, line, extra(attempts), http_status, code, message, raw, now])?;
            one_row(changed, *line, RowStatus::Rejected, FROM)?;
        }
        RowResult::Failed { line, attempts, http_status, message } => {
            let changed = tx
                .prepare_cached(
                    "UPDATE rows SET status = 'failed', attempts = attempts + ?3, http_status = ?4, error_code = 'transient',
                        error = ?5, updated_at = ?6
                     WHERE run_id = ?1 AND line = ?2 AND status = 'in_flight'",
                )?
                .execute(params![run_id, line, extra(attempts), http_status, message, now])?;
            one_row(changed, *line, RowStatus::Failed, FROM)?;
        }
        RowResult::Released { line, attempts } => {
            let changed = tx
                .prepare_cached(
                    "UPDATE rows SET status = 'pending', attempts = attempts + ?3, updated_at = ?4
                     WHERE run_id = ?1 AND line = ?2 AND status = 'in_flight'",
                )?
                .execute(params![run_id, line, extra(attempts), now])?;
            one_row(changed, *line, RowStatus::Pending, FROM)?;
        }
    }
    Ok(())
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

/// Rows per status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusCounts(pub BTreeMap<RowStatus, u64>);

impl StatusCounts {
    pub fn get(&self, status: RowStatus) -> u64 {
        self.0.get(&status).copied().unwrap_or(0)
    }

    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }

    /// Rows still to send: pending, in flight (after a crash) or failed.
    pub fn left(&self) -> u64 {
        self.get(RowStatus::Pending) + self.get(RowStatus::InFlight) + self.get(RowStatus::Failed)
    }

    pub fn needing_attention(&self) -> u64 {
        self.0.iter().filter(|(s, _)| s.needs_attention()).map(|(_, n)| n).sum()
    }

    pub fn add(&mut self, status: RowStatus, n: u64) {
        *self.0.entry(status).or_default() += n;
    }

    /// Counts `n` rows of `from` as `to` instead; `from` never goes below zero.
    pub fn shift(&mut self, from: RowStatus, to: RowStatus, n: u64) {
        let left = self.0.entry(from).or_default();
        *left = left.saturating_sub(n);
        self.add(to, n);
    }
}

#[cfg(test)]
mod tests;
