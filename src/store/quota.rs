//! What the adaptive rate limiter learned of the vendor's quota, kept so that the next run of the
//! same state starts from it instead of finding it again by being refused. One record per state
//! (a state is bound to one endpoint), in the `meta` table as JSON under [`QUOTA_KEY`]; a record
//! that cannot be read is ignored, as if nothing had been learned: the next refusal teaches it
//! again. A record a later run finds was made by the vendor's random refusals, not its quota, is
//! forgotten.

use rusqlite::OptionalExtension;
use serde::{Deserialize, Serialize};

use super::{Store, StoreError, now_ms};

const QUOTA_KEY: &str = "quota";

/// The vendor's quota as last found, in requests a second.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct QuotaRecord {
    /// What the vendor accepted in the second before it refused a request.
    pub accepted_per_second: f64,
    /// The rate held below it.
    pub holding_per_second: f64,
    /// How long that rate is held before probing above it again.
    pub hold_seconds: f64,
    /// When it was learned (Unix milliseconds).
    pub learned_at: i64,
}

impl Store {
    /// The quota an earlier run learned, if any.
    pub fn learned_quota(&self) -> Result<Option<QuotaRecord>, StoreError> {
        let value: Option<Vec<u8>> = self
            .conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [QUOTA_KEY], |r| r.get(0))
            .optional()?;
        Ok(value.and_then(|v| serde_json::from_slice::<QuotaRecord>(&v).ok()).filter(|q| {
            q.accepted_per_second.is_finite()
                && q.accepted_per_second > 0.0
                && q.holding_per_second.is_finite()
                && q.hold_seconds.is_finite()
                && q.hold_seconds >= 0.0
        }))
    }

    /// Keeps what was learned just now, replacing what was learned before.
    pub fn remember_quota(
        &self,
        accepted_per_second: f64,
        holding_per_second: f64,
        hold_seconds: f64,
    ) -> Result<QuotaRecord, StoreError> {
        let record =
            QuotaRecord { accepted_per_second, holding_per_second, hold_seconds, learned_at: now_ms() };
        let json = serde_json::to_vec(&record).unwrap_or_default();
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            rusqlite::params![QUOTA_KEY, json],
        )?;
        Ok(record)
    }
}

impl Store {
    /// Forgets what was learned: an earlier run's refusals turned out to be the vendor's noise,
    /// not its quota, and no run should start from them.
    pub fn forget_quota(&self) -> Result<(), StoreError> {
        self.conn.execute("DELETE FROM meta WHERE key = ?1", [QUOTA_KEY])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_was_learned_is_kept_and_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("state.db")).unwrap();
        assert_eq!(store.learned_quota().unwrap(), None);
        store.remember_quota(98.0, 95.06, 30.0).unwrap();
        let first = store.learned_quota().unwrap().unwrap();
        assert_eq!(
            (first.accepted_per_second, first.holding_per_second, first.hold_seconds),
            (98.0, 95.06, 30.0)
        );
        store.remember_quota(50.0, 48.5, 60.0).unwrap();
        let again = store.learned_quota().unwrap().unwrap();
        assert_eq!((again.accepted_per_second, again.hold_seconds), (50.0, 60.0));
        store.forget_quota().unwrap();
        assert_eq!(store.learned_quota().unwrap(), None);
        store.forget_quota().unwrap();
    }

    #[test]
    fn a_record_that_cannot_be_read_is_as_good_as_none() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("state.db")).unwrap();
        for bad in [
            &b"not json"[..],
            br#"{"accepted_per_second":-1,"holding_per_second":1,"hold_seconds":1,"learned_at":0}"#,
        ] {
            store
                .conn
                .execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('quota', ?1)", [bad])
                .unwrap();
            assert_eq!(store.learned_quota().unwrap(), None);
        }
    }
}
