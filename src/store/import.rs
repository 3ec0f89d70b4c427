//! A new run: a file's rows written once, in one transaction, so that a file is either wholly in
//! the state or not at all. A valid row whose customer the ledger already holds is `known` at
//! once, and never sent; one whose file gives an order id the state already sent for another
//! customer is `invalid` (`order_id.taken`), and never sent under it.

use rusqlite::{Transaction, params};
use serde::Serializer as _;
use sha2::{Digest, Sha256};

use std::borrow::Cow;

use super::ledger::{Customer, IdOf, ORDER_ID_TAKEN, customer, order_id_taken, pan_key_with, release_claim};
use super::{RowStatus, Store, StoreError, now_ms};
use crate::api::{OrderIds, after_refusals, hex_id};
use crate::input::Locator;
use crate::validate::Applicant;

/// A row as the import writes it.
#[derive(Debug, Clone, Copy)]
pub struct NewRow<'a> {
    pub line: u64,
    /// `Pending` (valid), `Invalid` or `Duplicate`; a valid row whose customer is in the ledger
    /// becomes `Known` here.
    pub status: RowStatus,
    /// The order id the file gives; without one, the state makes the customer's (see `ledger`).
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

#[cfg(test)]
impl<'a> NewRow<'a> {
    /// A valid row of `applicant` at `line`, under the applicant's order id: for tests elsewhere
    /// in the crate.
    pub(crate) fn valid(line: u64, applicant: &'a Applicant) -> NewRow<'a> {
        NewRow {
            line,
            status: RowStatus::Pending,
            order_id: Some(&applicant.order_id),
            duplicate_of: None,
            applicant: Some(applicant),
            error_code: "",
            error: "",
            warnings: "",
            violations: &[],
        }
    }
}

/// Writes the rows of a new run. Dropped without [`Import::finish`], it leaves no trace.
#[derive(Debug)]
pub struct Import<'s> {
    tx: Transaction<'s>,
    ledger_key: [u8; 32],
    /// The merchant's order ids; without them (a dry run without credentials), ids are shown as
    /// the state's own key would make them.
    order_ids: Option<OrderIds>,
    run_id: i64,
    rows: u64,
    /// Rows whose customer an earlier run sent without an answer: sent again under that id.
    resent: u64,
    cells: Vec<u8>,
    now: i64,
}

impl Store {
    /// Starts the run of a file never seen by this state database; customers the file gives no
    /// order id get `order_ids`' (the merchant's).
    pub fn begin_import(
        &mut self,
        input_path: &str,
        sha256: &str,
        headers: &[String],
        locator: &Locator,
        settings: &serde_json::Value,
        order_ids: Option<&OrderIds>,
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
        Ok(Import {
            tx,
            ledger_key: self.ledger_key,
            order_ids: order_ids.cloned(),
            run_id,
            rows: 0,
            resent: 0,
            cells: Vec::new(),
            now,
        })
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
        let mut order_id = row.order_id.map(str::to_owned);
        let mut warnings = Cow::Borrowed(row.warnings);
        let (mut pan_key, mut payload, mut cibil_id, mut made) = (None, None, None, None);
        let mut taken = None;
        if let (RowStatus::Pending, Some(a)) = (row.status, row.applicant) {
            let key = pan_key_with(&self.ledger_key, &a.pancard);
            // The id made for the customer, kept for the next one after a refusal, unless the
            // file gives its own.
            if order_id.is_none() {
                made = Some(match &self.order_ids {
                    Some(ids) => ids.first(&a.pancard),
                    None => hex_id(&key[..8]),
                });
            }
            // Where the id it goes out under comes from, if it goes out.
            let mut of = None;
            match customer(&self.tx, &key)? {
                Customer::Registered { cibil_id: id, order_id: registered_as } => {
                    status = RowStatus::Known;
                    cibil_id = Some(id);
                    order_id = Some(registered_as);
                }
                // Sent by an earlier run without an answer: the vendor may have it. Only that id.
                Customer::Unanswered { order_id: sent_as } => {
                    if order_id.as_ref().is_some_and(|given| *given != sent_as) {
                        let note = format!(
                            "given order id {sent_as} by an earlier run that stopped before its answer \
                             (it may have been sent): sent again under that id, not the file's, so the \
                             customer is not registered twice"
                        );
                        warnings = Cow::Owned(join_warnings(row.warnings, &note));
                    }
                    order_id = Some(sent_as);
                    of = Some(IdOf::EarlierRun);
                }
                Customer::Free { refusals } => {
                    if let Some(made) = &made {
                        order_id.get_or_insert_with(|| after_refusals(made, refusals));
                    }
                    of = Some(if made.is_some() { IdOf::Made } else { IdOf::File });
                }
            }
            // Its order id already sent for another customer: AOPay may take this customer's
            // request for a replay of theirs, and answer with their registration.
            if let (Some(of), Some(id)) = (of, order_id.as_deref())
                && let Some(why) = order_id_taken(&self.tx, &self.ledger_key, id, of, &key)?
            {
                status = RowStatus::Invalid;
                taken = Some(why);
                if of == IdOf::EarlierRun {
                    // Not "sent again under that id", then.
                    warnings = Cow::Borrowed(row.warnings);
                    release_claim(&self.tx, &key)?;
                }
            } else {
                self.resent += u64::from(of == Some(IdOf::EarlierRun));
                pan_key = Some(key);
                payload = Some(payload_hash(a, order_id.as_deref().unwrap_or_default()));
            }
        }
        // A row refused here keeps only its cells, as every row that is not valid does.
        let a = row.applicant.filter(|_| taken.is_none());
        let (error_code, error) = match &taken {
            Some(error) => (ORDER_ID_TAKEN, error.as_str()),
            None => (row.error_code, row.error),
        };
        let violations =
            (!row.violations.is_empty()).then(|| serde_json::to_string(row.violations).unwrap_or_default());
        self.tx
            .prepare_cached(
                "INSERT INTO rows (run_id, line, status, order_id, duplicate_of, pan_key, payload_sha256,
                    first_name, middle_name, last_name, pancard, date_of_birth, email_id, mobile_number,
                    cells, error_code, error, warnings, cibil_id, updated_at, violations, made_order_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22)",
            )?
            .execute(params![
                self.run_id,
                row.line,
                status.as_str(),
                order_id,
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
                none_if_empty(error_code),
                none_if_empty(error),
                none_if_empty(&warnings),
                cibil_id,
                self.now,
                violations,
                made,
            ])?;
        self.rows += 1;
        Ok(status)
    }

    /// Rows so far whose customer an earlier run sent without an answer: they go out again under
    /// the order id they went out with, whatever the file says.
    pub fn resent(&self) -> u64 {
        self.resent
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

/// A row's warnings, and one more.
fn join_warnings(warnings: &str, more: &str) -> String {
    if warnings.is_empty() { more.to_owned() } else { format!("{warnings} | {more}") }
}

/// A fingerprint of what is sent for a row, kept when the values themselves are purged.
fn payload_hash(a: &Applicant, order_id: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for field in [
        order_id,
        a.first_name.as_str(),
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
