//! The ledger: every customer this state database has seen registered, keyed by a keyed hash of
//! the PAN (HMAC-SHA256 with a secret kept in the state), never by the PAN itself, so that a
//! purge can drop PANs and still recognise customers. A customer in the ledger is never sent
//! again: the import and every claim consult it.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use sha2::Sha256;

use super::{Store, StoreError};

impl Store {
    /// The ledger's key for a PAN: a keyed hash (HMAC-SHA256, first 16 bytes).
    pub fn pan_key(&self, pan: &str) -> [u8; 16] {
        pan_key_with(&self.ledger_key, pan)
    }
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

/// The `cibil_id` the ledger holds for a customer, by the key of their PAN.
pub(super) fn ledger_cibil_id(
    conn: &rusqlite::Connection,
    pan_key: &[u8; 16],
) -> rusqlite::Result<Option<String>> {
    conn.prepare_cached("SELECT cibil_id FROM ledger WHERE pan_key = ?1")?
        .query_row([pan_key.as_slice()], |r| r.get(0))
        .optional()
}

/// Adds the customer of a row just registered to the ledger; the first registration of a
/// customer stays the one recorded.
pub(super) fn record_registration(
    tx: &Transaction<'_>,
    run_id: i64,
    line: u64,
    cibil_id: &str,
    now: i64,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO ledger (pan_key, cibil_id, run_id, line, order_id, registered_at)
         SELECT pan_key, ?3, run_id, line, order_id, ?4 FROM rows
         WHERE run_id = ?1 AND line = ?2 AND pan_key IS NOT NULL
         ON CONFLICT (pan_key) DO NOTHING",
    )?
    .execute(params![run_id, line, cibil_id, now])?;
    Ok(())
}

/// The state's secret for the ledger, made the first time a database is opened. Two processes
/// opening a new database at once both keep the first key written (`INSERT OR IGNORE`, then read
/// back): a key that changed would leave every registration in the ledger unrecognised.
pub(super) fn ledger_key(conn: &Connection, path: &Path) -> Result<[u8; 32], StoreError> {
    let fresh: [u8; 32] = rand::random();
    conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('ledger_key', ?1)", [fresh.as_slice()])?;
    let key: rusqlite::types::Value =
        conn.query_row("SELECT value FROM meta WHERE key = 'ledger_key'", [], |r| r.get(0))?;
    match key {
        rusqlite::types::Value::Blob(key) => <[u8; 32]>::try_from(key).ok(),
        _ => None,
    }
    .ok_or_else(|| StoreError::Corrupt { path: path.to_owned(), detail: "its ledger key is damaged".into() })
}
