//! The audit log: who did what, when, to which upload — sign-ins and failed ones, uploads,
//! registrations, downloads, purges, changes to people and tokens — for an admin to read and
//! export. Never a customer's data: an upload is named by its id, never by its file's name (which
//! its sender chose, and may hold a customer's name), and a detail is the tool's own words.

use rusqlite::params;

use super::{Store, StoreError, now_ms};

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub at: i64,
    /// A person's name, `token NAME`, or the command that acted (`cibil-bulk purge`).
    pub who: String,
    pub action: String,
    pub upload: Option<i64>,
    pub detail: String,
}

impl Store {
    /// Records that `who` did `action` (to `upload`, with `detail`).
    pub fn audit(
        &self,
        who: &str,
        action: &str,
        upload: Option<i64>,
        detail: &str,
    ) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO audit (at, who, action, upload, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![now_ms(), who, action, upload, detail])?;
        Ok(())
    }

    /// The newest `limit` entries, newest first.
    pub fn audit_log(&self, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        let mut entries = Vec::new();
        self.for_each_audit(Some(limit), |entry| {
            entries.push(entry.clone());
            Ok::<_, StoreError>(())
        })?;
        Ok(entries)
    }

    /// Every entry (or the newest `limit`), newest first, to `each`.
    pub fn for_each_audit<E: From<StoreError>>(
        &self,
        limit: Option<u32>,
        mut each: impl FnMut(&AuditEntry) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT at, who, action, upload, detail FROM audit ORDER BY id DESC LIMIT ?1")
            .map_err(StoreError::from)?;
        let mut rows = stmt.query([limit.map_or(-1, i64::from)]).map_err(StoreError::from)?;
        while let Some(r) = rows.next().map_err(StoreError::from)? {
            let entry = AuditEntry {
                at: r.get(0).map_err(StoreError::from)?,
                who: r.get(1).map_err(StoreError::from)?,
                action: r.get(2).map_err(StoreError::from)?,
                upload: r.get(3).map_err(StoreError::from)?,
                detail: r.get(4).map_err(StoreError::from)?,
            };
            each(&entry)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_keeps_who_did_what_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        store.audit("asha", "sign-in", None, "").unwrap();
        store.audit("token nightly", "download", Some(3), "results").unwrap();
        let log = store.audit_log(10).unwrap();
        assert_eq!(log.len(), 2);
        assert_eq!(
            (log[0].who.as_str(), log[0].action.as_str(), log[0].upload),
            ("token nightly", "download", Some(3))
        );
        assert_eq!(store.audit_log(1).unwrap().len(), 1);
    }
}
