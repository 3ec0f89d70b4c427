//! What the state knows of each customer, keyed by a keyed hash of the PAN (HMAC-SHA256 with a
//! secret kept in the state), never by the PAN itself, so that a purge can drop PANs and still
//! recognise customers. The ledger holds every customer the vendor answered as registered: never
//! sent again. The claims hold every customer whose request went out without an answer that says
//! what became of it (the vendor may have committed it): sent again only under the same order id.
//! A customer the file gives no order id gets the merchant's (`api::OrderIds`), the same in
//! every state of the merchant; only the vendor refusing them makes the next one differ. The
//! import and every claim consult both.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use sha2::Sha256;

use super::{Store, StoreError};
use crate::mask::mask_identifiers_in;

impl Store {
    /// When this state last made order ids from its own key (before order ids were the
    /// merchant's), if it ever did: its rows from then keep them.
    pub fn order_ids_of_the_state_until(&self) -> Result<Option<i64>, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'order_ids_of_the_state_until'", [], |r| r.get(0))
            .optional()?)
    }

    /// The ledger's key for a PAN: a keyed hash (HMAC-SHA256, first 16 bytes).
    pub fn pan_key(&self, pan: &str) -> [u8; 16] {
        pan_key_with(&self.ledger_key, pan)
    }
}

pub(super) fn pan_key_with(key: &[u8; 32], pan: &str) -> [u8; 16] {
    keyed(key, &[pan.as_bytes()])
}

/// How the state knows an order id a customer went out under (`sent_ids`): a keyed hash of the id
/// without its case ([`crate::validate::order_id_key`]), so that ids that differ only in case are
/// one, and a purge leaves nothing of an id that repeats its customer's details.
pub(super) fn order_id_key_with(key: &[u8; 32], order_id: &str) -> [u8; 16] {
    keyed(key, &[b"order_id\0", crate::validate::order_id_key(order_id).as_bytes()])
}

/// The first 16 bytes of HMAC-SHA256 under `key` of `parts` one after the other.
fn keyed(key: &[u8; 32], parts: &[&[u8]]) -> [u8; 16] {
    use hmac::{Hmac, KeyInit, Mac};
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    for part in parts {
        mac.update(part);
    }
    let digest = mac.finalize().into_bytes();
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    out
}

/// What the state knows of a customer before a row of theirs is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Customer {
    /// In the ledger: registered, with this id, under this order id.
    Registered { cibil_id: String, order_id: String },
    /// Sent under `order_id` with no answer that settles it: only that id may be sent again.
    Unanswered { order_id: String },
    /// Never sent, or every request answered without a registration: `refusals` of the answers
    /// were the vendor refusing the customer.
    Free { refusals: u32 },
}

pub(super) fn customer(conn: &Connection, pan_key: &[u8; 16]) -> rusqlite::Result<Customer> {
    let registered = conn
        .prepare_cached("SELECT cibil_id, order_id FROM ledger WHERE pan_key = ?1")?
        .query_row([pan_key.as_slice()], |r| {
            Ok(Customer::Registered { cibil_id: r.get(0)?, order_id: r.get(1)? })
        })
        .optional()?;
    if let Some(registered) = registered {
        return Ok(registered);
    }
    let claim = conn
        .prepare_cached("SELECT order_id, open, refusals FROM claims WHERE pan_key = ?1")?
        .query_row([pan_key.as_slice()], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, bool>(1)?, r.get::<_, u32>(2)?))
        })
        .optional()?;
    Ok(match claim {
        Some((order_id, true, _)) => Customer::Unanswered { order_id },
        Some((_, false, refusals)) => Customer::Free { refusals },
        None => Customer::Free { refusals: 0 },
    })
}

/// The error code of a row whose own order id another customer of the state went out under.
pub const ORDER_ID_TAKEN: &str = "order_id.taken";

/// Where the id a customer is about to go out under comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum IdOf {
    /// The file gives it.
    File,
    /// The state made it for the customer.
    Made,
    /// An earlier run claimed the customer under it and stopped before its answer: it may have
    /// gone out.
    EarlierRun,
}

/// Why the customer with `pan_key` may not go out under `order_id` (see [`IdOf`] for where it
/// comes from), if another customer went out under it (or may have: claimed),
/// whatever AOPay answered: it may take the request for a replay of theirs and answer with their
/// registration, or their refusal. A made id can be taken too: a file gave it to another
/// customer (a results sheet's ids pasted onto the wrong rows). Ids that differ only in case are
/// one id ([`order_id_key_with`]). The reason names the run and line that had the id, never that
/// customer, and masks what in the ids looks like a customer's identifier (an id that is a PAN).
pub(super) fn order_id_taken(
    conn: &Connection,
    ledger_key: &[u8; 32],
    order_id: &str,
    of: IdOf,
    pan_key: &[u8; 16],
) -> rusqlite::Result<Option<String>> {
    let id_key = order_id_key_with(ledger_key, order_id);
    // Every customer under the id (one, as a rule), this one's left out here rather than in the
    // query: a `!=` on a bound value makes SQLite plan the statement again at every call.
    let mut under = conn.prepare_cached("SELECT pan_key, run_id, line FROM sent_ids WHERE id_key = ?1")?;
    let mut rows = under.query([id_key.as_slice()])?;
    let mut other = None;
    while let Some(row) = rows.next()? {
        if row.get_ref(0)?.as_blob()? != pan_key.as_slice() {
            other = Some((row.get::<_, i64>(1)?, row.get::<_, u64>(2)?));
            break;
        }
    }
    drop(rows);
    let Some((run, line)) = other else { return Ok(None) };
    let theirs: Option<String> = conn
        .prepare_cached("SELECT order_id FROM rows WHERE run_id = ?1 AND line = ?2")?
        .query_row(params![run, line], |r| r.get(0))
        .optional()?
        .flatten();
    // How that row wrote it, when only its case differs (a purge may have masked it since).
    let spelt = match theirs {
        Some(theirs)
            if theirs != order_id
                && crate::validate::order_id_key(&theirs) == crate::validate::order_id_key(order_id) =>
        {
            format!(
                ", written {} there: ids that differ only in case are one id",
                mask_identifiers_in(&theirs)
            )
        }
        _ => String::new(),
    };
    // One the state made holds no customer's details, only a keyed hash's digits.
    let id = if of == IdOf::Made { order_id.to_owned() } else { mask_identifiers_in(order_id) };
    Ok(Some(match of {
        IdOf::File => format!(
            "order_id \"{id}\" already belongs to another customer (run {run}, line {line}{spelt}): \
             every customer needs an order id of their own (or leave the cell empty to have one made)"
        ),
        IdOf::Made => format!(
            "the order id made for this customer, {id}, already belongs to another customer (run {run}, \
             line {line}{spelt}): give this row an order id of its own in an order_id column"
        ),
        // Left so by a version that told ids apart by their case.
        IdOf::EarlierRun => format!(
            "an earlier run gave this customer order id {id} and stopped before its answer, but it also \
             belongs to another customer (run {run}, line {line}{spelt}): not sent again under it, since \
             AOPay may answer with the other customer's registration. Ask AOPay whether this customer is \
             registered under {id}; if not, send the row in a new file, or an edited copy of this one, with \
             an order id of its own: that run sends the customer under it"
        ),
    }))
}

/// The customer with `pan_key` is no longer waiting for an answer under the id they were claimed
/// under: the next run sends them under the row's own id (see [`IdOf::EarlierRun`]).
pub(super) fn release_claim(tx: &Transaction<'_>, pan_key: &[u8; 16]) -> rusqlite::Result<()> {
    tx.prepare_cached("UPDATE claims SET open = 0 WHERE pan_key = ?1")?.execute([pan_key.as_slice()])?;
    Ok(())
}

/// Claims the customer of the row at `line` under `order_id`, before its request leaves; the id is
/// theirs from then on ([`order_id_taken`]).
pub(super) fn claim_customer(
    tx: &Transaction<'_>,
    ledger_key: &[u8; 32],
    pan_key: &[u8; 16],
    order_id: &str,
    run_id: i64,
    line: u64,
    now: i64,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO claims (pan_key, order_id, run_id, line, open, refusals, updated_at)
         VALUES (?1, ?2, ?3, ?4, 1, 0, ?5)
         ON CONFLICT (pan_key) DO UPDATE SET
            order_id = excluded.order_id, run_id = excluded.run_id, line = excluded.line, open = 1,
            updated_at = excluded.updated_at",
    )?
    .execute(params![pan_key.as_slice(), order_id, run_id, line, now])?;
    sent_under(tx, ledger_key, order_id, pan_key, run_id, line)
}

/// Records that the customer with `pan_key` went out (or may have) under `order_id`, by the row
/// at `line` of `run_id`.
fn sent_under(
    conn: &Connection,
    ledger_key: &[u8; 32],
    order_id: &str,
    pan_key: &[u8],
    run_id: i64,
    line: u64,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT OR IGNORE INTO sent_ids (id_key, pan_key, run_id, line) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![order_id_key_with(ledger_key, order_id).as_slice(), pan_key, run_id, line])?;
    Ok(())
}

/// Learns, once, the order ids a state written before `sent_ids` sent its customers under: those
/// of its rows that went out, of its claims and of its ledger (schema migration 11 asks for it;
/// a new state has none). In one transaction, so that it is done whole or not at all.
pub(super) fn learn_sent_ids(conn: &Connection, ledger_key: &[u8; 32]) -> rusqlite::Result<()> {
    let asked: bool =
        conn.query_row("SELECT EXISTS (SELECT 1 FROM meta WHERE key = 'sent_ids_to_learn')", [], |r| {
            r.get(0)
        })?;
    if !asked {
        return Ok(());
    }
    // Immediate, as every write of the state's: the write lock first, then the reads.
    let tx = Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)?;
    {
        let mut sent = tx.prepare(
            "SELECT order_id, pan_key, run_id, line FROM rows
                 WHERE pan_key IS NOT NULL AND order_id IS NOT NULL AND attempts > 0
             UNION ALL SELECT order_id, pan_key, run_id, line FROM claims
             UNION ALL SELECT order_id, pan_key, run_id, line FROM ledger",
        )?;
        let mut rows = sent.query([])?;
        while let Some(row) = rows.next()? {
            let (order_id, pan_key): (String, Vec<u8>) = (row.get(0)?, row.get(1)?);
            sent_under(&tx, ledger_key, &order_id, &pan_key, row.get(2)?, row.get(3)?)?;
        }
    }
    tx.execute("DELETE FROM meta WHERE key = 'sent_ids_to_learn'", [])?;
    tx.commit()
}

/// The vendor answered the customer of the row at `line`: their claim is settled, and when the
/// answer refused them (`refused`), the next order id made for them differs.
pub(super) fn settle_claim(
    tx: &Transaction<'_>,
    run_id: i64,
    line: u64,
    refused: bool,
    now: i64,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "UPDATE claims SET open = 0, refusals = refusals + ?3, updated_at = ?4
         WHERE pan_key = (SELECT pan_key FROM rows WHERE run_id = ?1 AND line = ?2)",
    )?
    .execute(params![run_id, line, i64::from(refused), now])?;
    Ok(())
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
    // Read first: a state that has its key is opened without writing, so that opening it never
    // waits for another process's write — one stopped mid-commit (Ctrl-Z) holds SQLite's write
    // lock for as long as it stays stopped, and the run lock, taken after this, is what says so.
    if let Some(key) = stored_ledger_key(conn, path)? {
        return Ok(key);
    }
    let fresh: [u8; 32] = rand::random();
    conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('ledger_key', ?1)", [fresh.as_slice()])?;
    read_ledger_key(conn, path)
}

/// The ledger key a state has (a state that has none has recorded nothing a key would find).
pub(super) fn read_ledger_key(conn: &Connection, path: &Path) -> Result<[u8; 32], StoreError> {
    Ok(stored_ledger_key(conn, path)?.unwrap_or([0; 32]))
}

/// The ledger key the state holds, if any; one that is not 32 bytes is damage.
fn stored_ledger_key(conn: &Connection, path: &Path) -> Result<Option<[u8; 32]>, StoreError> {
    let key: Option<rusqlite::types::Value> =
        conn.query_row("SELECT value FROM meta WHERE key = 'ledger_key'", [], |r| r.get(0)).optional()?;
    key.map(|key| {
        match key {
            rusqlite::types::Value::Blob(key) => <[u8; 32]>::try_from(key).ok(),
            _ => None,
        }
        .ok_or_else(|| StoreError::Corrupt {
            path: path.to_owned(),
            detail: "its ledger key is damaged".into(),
        })
    })
    .transpose()
}
