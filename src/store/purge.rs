//! Retention (India's DPDP Act 2023: personal data kept no longer than its purpose needs). A
//! finished run's customer data — names, PAN, date of birth, mobile, e-mail, the cells of the
//! file, the messages quoting them, the access tokens, the raw answers — is removed, while its
//! counts, statuses, order ids and cibil_ids stay, and so does the ledger, which knows customers by
//! a keyed hash of the PAN, never the PAN: a customer registered long ago is still `known`.

use rusqlite::params;

use super::{Store, StoreError, now_ms};

/// What a purge removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    pub runs: u64,
    pub rows: u64,
    /// Bytes the database file shrank by.
    pub bytes_freed: u64,
}

impl Store {
    /// Removes the personal data of runs done before `cutoff_ms` (Unix milliseconds), then
    /// compacts the file so the data is gone from disk too, not only from the tables. A run is done
    /// when it finished with nothing left to send: a run with pending or failed rows keeps its data,
    /// which those rows still need to be sent.
    pub fn purge(&mut self, cutoff_ms: i64) -> Result<Purged, StoreError> {
        const DONE: &str = "SELECT id FROM runs WHERE status = 'finished' AND purged_at IS NULL AND finished_at < ?1
             AND NOT EXISTS (SELECT 1 FROM rows WHERE rows.run_id = runs.id AND rows.status IN ('pending', 'in_flight', 'failed'))";
        let size_before = std::fs::metadata(&self.path).map_or(0, |m| m.len());
        let now = now_ms();
        let tx = self.conn.transaction()?;
        let rows = tx.execute(
            &format!(
                "UPDATE rows SET first_name = NULL, middle_name = NULL, last_name = NULL, pancard = NULL,
                    date_of_birth = NULL, email_id = NULL, mobile_number = NULL, cells = NULL, error = NULL,
                    warnings = NULL, violations = NULL, access_token = NULL, raw_response = NULL, updated_at = ?2
                 WHERE run_id IN ({DONE})"
            ),
            params![cutoff_ms, now],
        )?;
        let runs = tx.execute(
            &format!("UPDATE runs SET purged_at = ?2 WHERE id IN ({DONE})"),
            params![cutoff_ms, now],
        )?;
        tx.commit()?;
        // Deleted values linger in free pages and in the write-ahead log until both are rewritten.
        self.conn.execute_batch("VACUUM; PRAGMA wal_checkpoint(TRUNCATE);")?;
        let size_after = std::fs::metadata(&self.path).map_or(0, |m| m.len());
        Ok(Purged {
            runs: runs as u64,
            rows: rows as u64,
            bytes_freed: size_before.saturating_sub(size_after),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Registration;
    use crate::input::Locator;
    use crate::store::{NewRow, RowResult, RowStatus, RunStatus};
    use crate::validate::Applicant;

    #[test]
    fn finished_runs_lose_their_personal_data_and_keep_their_ledger() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let mut store = Store::open(&path).unwrap();
        let a = Applicant::sample("ORD-2", "ABCPK1234F");
        let row = NewRow::valid(2, &a);
        let mut import = store
            .begin_import("in.csv", "aa", &["pan".into()], &Locator::Lines, &serde_json::json!({}), None)
            .unwrap();
        import.add(&row, ["ABCPK1234F"]).unwrap();
        let run = import.finish().unwrap();
        let key = store.pan_key("ABCPK1234F");
        store.claim(run, &[(2, key)]).unwrap();
        let registered = RowResult::Registered {
            line: 2,
            attempts: 1,
            registration: Registration {
                http_status: 200,
                cibil_id: "9362678".into(),
                cibil_status: None,
                is_returning_customer: false,
                merchant_trans_id: None,
                access_token: Some("331ce37a".into()),
            },
        };
        store.record(run, &[registered]).unwrap();

        // Not finished yet: kept, whatever its age.
        assert_eq!(store.purge(i64::MAX).unwrap().runs, 0);
        store.end_run(run, RunStatus::Finished, 0).unwrap();
        // Finished, but more recently than the cutoff: kept.
        assert_eq!(store.purge(0).unwrap().runs, 0);
        let purged = store.purge(i64::MAX).unwrap();
        assert_eq!((purged.runs, purged.rows), (1, 1));
        assert!(store.run(run).unwrap().unwrap().purged_at.is_some());
        drop(store);

        // Nothing of the customer is left in the file, and the ledger still knows them.
        let bytes = std::fs::read(&path).unwrap();
        for secret in ["ABCPK1234F", "9876543210", "ravi@example.com", "331ce37a", "31/01/1985"] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{secret} is still in the file"
            );
        }
        let mut store = Store::open(&path).unwrap();
        let mut import = store
            .begin_import("again.csv", "bb", &[], &Locator::Lines, &serde_json::json!({}), None)
            .unwrap();
        assert_eq!(import.add(&row, ["x"]).unwrap(), RowStatus::Known);
    }
}
