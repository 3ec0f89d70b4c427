//! Rows moving through their life while a run sends: read a page at a time (`pending`), claimed
//! durably before their requests leave (`in_flight`, or `known` when the ledger already holds the
//! customer, or `invalid` when the file's order id became another customer's since the import),
//! and settled with their outcome in group commits. Every move names the statuses it
//! may come from, and a move that touches no row is an error: the state is not what the run
//! believes. After a crash, rows left `in_flight` go back to `pending` and are sent again with
//! the same order id.

use rusqlite::types::ToSql;
use rusqlite::{Transaction, params, params_from_iter};

use rusqlite::OptionalExtension;

use super::ledger::{
    Customer, IdOf, ORDER_ID_TAKEN, claim_customer, customer, order_id_taken, record_registration,
    release_claim, settle_claim,
};
use super::{Reader, RowStatus, Store, StoreError, now_ms};
use crate::api::{Registration, Rejection};
use crate::validate::Applicant;

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
    /// Marked `in_flight`, its customer claimed: its request may leave now, under `order_id`.
    Send { line: u64, order_id: String },
    /// Its customer was registered meanwhile (by another run of this state): `known`, not sent.
    Known { line: u64 },
    /// Its file's order id became another customer's since it was imported: `invalid`
    /// (`order_id.taken`), not sent.
    Taken { line: u64 },
}

/// The end of one row's requests in this invocation. `attempts` counts the requests made for it,
/// the one its claim counted included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowResult {
    Registered {
        line: u64,
        attempts: u32,
        registration: Registration,
    },
    Rejected {
        line: u64,
        attempts: u32,
        rejection: Rejection,
    },
    Failed {
        line: u64,
        attempts: u32,
        http_status: Option<u16>,
        message: String,
    },
    /// Back to `pending`: the run stopped before the row's outcome was known.
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

    fn attempts(&self) -> u32 {
        match self {
            RowResult::Registered { attempts, .. }
            | RowResult::Rejected { attempts, .. }
            | RowResult::Failed { attempts, .. }
            | RowResult::Released { attempts, .. } => *attempts,
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
        // Immediate: the write lock is taken (waiting for it as long as the busy timeout allows)
        // before the ledger is read. A deferred transaction that reads first cannot wait for the
        // lock later: when another connection writes in between (the server's pages, `users
        // add`), SQLite refuses the upgrade at once with "database is locked".
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        for result in results {
            settle(&tx, run_id, result, now)?;
        }
        let claimed = claim_in(&tx, &self.ledger_key, run_id, claims, now)?;
        tx.commit()?;
        Ok(claimed)
    }
}

fn claim_in(
    tx: &Transaction<'_>,
    ledger_key: &[u8; 32],
    run_id: i64,
    rows: &[(u64, [u8; 16])],
    now: i64,
) -> Result<Vec<Claim>, StoreError> {
    let mut claims = Vec::with_capacity(rows.len());
    if rows.is_empty() {
        return Ok(claims);
    }
    let mut known = tx.prepare_cached(
        "UPDATE rows SET status = 'known', cibil_id = ?3, order_id = ?4, updated_at = ?5,
            http_status = NULL, error_code = NULL, error = NULL, raw_response = NULL
         WHERE run_id = ?1 AND line = ?2 AND status IN ('pending', 'failed')",
    )?;
    // A customer another run sent without an answer goes out under the id it went out with (?4);
    // one the vendor refused ?5 times, under the id made for them then (their first, `-N`); a row
    // whose file gives its id keeps it.
    let mut in_flight = tx.prepare_cached(
        "UPDATE rows SET status = 'in_flight', attempts = attempts + 1, updated_at = ?3,
            order_id = COALESCE(?4, CASE WHEN made_order_id IS NOT NULL AND ?5 > 0
                                         THEN made_order_id || '-' || ?5 ELSE order_id END)
         WHERE run_id = ?1 AND line = ?2 AND status IN ('pending', 'failed')
         RETURNING order_id, made_order_id IS NULL",
    )?;
    // Claimed under an order id the state sent for another customer (see `IdOf`: the file's, the
    // one made for it, or one an earlier run claimed it under): not sent, and, as every row that
    // is not valid, it keeps only its cells.
    let mut taken = tx.prepare_cached(
        "UPDATE rows SET status = 'invalid', attempts = attempts - 1, error_code = ?3, error = ?4,
            pan_key = NULL, payload_sha256 = NULL, first_name = NULL, middle_name = NULL,
            last_name = NULL, pancard = NULL, date_of_birth = NULL, email_id = NULL,
            mobile_number = NULL
         WHERE run_id = ?1 AND line = ?2 AND status = 'in_flight'",
    )?;
    for (line, pan_key) in rows {
        match customer(tx, pan_key)? {
            Customer::Registered { cibil_id, order_id } => {
                one_row(
                    known.execute(params![run_id, line, cibil_id, order_id, now])?,
                    *line,
                    RowStatus::Known,
                    "pending, failed",
                )?;
                claims.push(Claim::Known { line: *line });
            }
            customer => {
                let (sent_as, refusals) = match customer {
                    Customer::Unanswered { order_id } => (Some(order_id), 0),
                    Customer::Free { refusals } => (None, refusals),
                    Customer::Registered { .. } => unreachable!("matched above"),
                };
                // No id the customer went out under before: the row's own goes, and may be the
                // file's.
                let own_id = sent_as.is_none();
                let claimed: Option<(String, bool)> = in_flight
                    .query_row(params![run_id, line, now, sent_as, refusals], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()?;
                let Some((order_id, files_own)) = claimed else {
                    return Err(StoreError::Transition {
                        line: *line,
                        to: RowStatus::InFlight,
                        from: "pending, failed",
                    });
                };
                let of = match (own_id, files_own) {
                    (false, _) => IdOf::EarlierRun,
                    (true, true) => IdOf::File,
                    (true, false) => IdOf::Made,
                };
                if let Some(why) = order_id_taken(tx, ledger_key, &order_id, of, pan_key)? {
                    one_row(
                        taken.execute(params![run_id, line, ORDER_ID_TAKEN, why])?,
                        *line,
                        RowStatus::Invalid,
                        "in_flight",
                    )?;
                    if of == IdOf::EarlierRun {
                        release_claim(tx, pan_key)?;
                    }
                    claims.push(Claim::Taken { line: *line });
                    continue;
                }
                claim_customer(tx, ledger_key, pan_key, &order_id, run_id, *line, now)?;
                claims.push(Claim::Send { line: *line, order_id });
            }
        }
    }
    Ok(claims)
}

/// Moves a claimed row out of `in_flight` to its outcome, in one guarded `UPDATE`: the status,
/// the attempts beyond the one its claim counted, and the outcome's own columns. A registration
/// also enters the ledger.
fn settle(tx: &Transaction<'_>, run_id: i64, result: &RowResult, now: i64) -> Result<(), StoreError> {
    let line = result.line();
    let to = result.status();
    // The outcome's columns, as `, column = ?N` from ?6 on, and their values.
    let (columns, values): (&str, Vec<&dyn ToSql>) = match result {
        RowResult::Registered { registration: r, .. } => (
            ", http_status = ?6, cibil_id = ?7, cibil_status = ?8, is_returning_customer = ?9,
               merchant_trans_id = ?10, access_token = ?11, error_code = NULL, error = NULL, raw_response = NULL",
            vec![
                &r.http_status,
                &r.cibil_id,
                &r.cibil_status,
                &r.is_returning_customer,
                &r.merchant_trans_id,
                &r.access_token,
            ],
        ),
        // The vendor says the order id was used before: by a request it registered (sent by a run
        // that stopped before its answer was recorded, or by another state of the merchant) or
        // by one it refused — the answer cannot tell which. Sending under another id could
        // register the customer twice, so the row needs a person's attention instead.
        RowResult::Rejected { rejection: r, .. } if r.order_id_used => (
            ", http_status = ?6, error_code = 'order_id.used', error = ?7, raw_response = ?8",
            vec![&r.http_status, &r.message, &r.raw],
        ),
        RowResult::Rejected { rejection: r, .. } => (
            ", http_status = ?6, error_code = ?7, error = ?8, raw_response = ?9",
            vec![&r.http_status, &r.code, &r.message, &r.raw],
        ),
        RowResult::Failed { http_status, message, .. } => {
            (", http_status = ?6, error_code = 'transient', error = ?7", vec![http_status, message])
        }
        RowResult::Released { .. } => ("", Vec::new()),
    };
    let extra_attempts = i64::from(result.attempts()) - 1;
    let sql = format!(
        "UPDATE rows SET status = ?3, attempts = attempts + ?4, updated_at = ?5{columns}
         WHERE run_id = ?1 AND line = ?2 AND status = 'in_flight'"
    );
    let status = to.as_str();
    let fixed: [&dyn ToSql; 5] = [&run_id, &line, &status, &extra_attempts, &now];
    let changed = tx.prepare_cached(&sql)?.execute(params_from_iter(fixed.into_iter().chain(values)))?;
    one_row(changed, line, to, "in_flight")?;
    match result {
        RowResult::Registered { registration, .. } => {
            record_registration(tx, run_id, line, &registration.cibil_id, now)?;
            settle_claim(tx, run_id, line, false, now)?;
        }
        // Answered, but not a refusal of the customer: the id stays the customer's (a later run
        // meets the same answer, and never registers them under a second id).
        RowResult::Rejected { rejection, .. } if rejection.order_id_used => {
            settle_claim(tx, run_id, line, false, now)?
        }
        // The vendor refused the customer: settled, and a corrected row may go out under a new id.
        RowResult::Rejected { rejection, .. } if rejection.by_vendor => {
            settle_claim(tx, run_id, line, true, now)?
        }
        // An answer not to be trusted, no answer, or not sent: the claim stays, and with it the id.
        RowResult::Rejected { .. } | RowResult::Failed { .. } | RowResult::Released { .. } => {}
    }
    Ok(())
}
