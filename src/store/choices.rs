//! What an uploader chose about how a file is read (the dates' order, which column is which),
//! remembered for the next file of the same shape: a record of the `meta` table per shape (a hash
//! of the file's header line, made by the caller), its value JSON the store does not read. And an
//! upload checked again with other choices before anyone registered it: its rows, counts and
//! report replaced in place, as one move from `validated` to `validated`.

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError};

/// The `meta` key of the choices for files of shape `shape`.
fn key(shape: &str) -> String {
    format!("choices:{shape}")
}

impl Store {
    /// The choices remembered for files of shape `shape` (JSON), if any.
    pub fn remembered_choices(&self, shape: &str) -> Result<Option<String>, StoreError> {
        let value: Option<Vec<u8>> = self
            .conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key(shape)], |r| r.get(0))
            .optional()?;
        Ok(value.and_then(|v| String::from_utf8(v).ok()))
    }

    /// Remembers `json` as the choices for files of shape `shape`, replacing earlier ones.
    pub fn remember_choices(&self, shape: &str, json: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![key(shape), json.as_bytes()],
        )?;
        Ok(())
    }

    /// Upload `id`, checked again: its rows, counts (JSON) and report (JSON) replaced, and `place`
    /// called inside the same transaction (its files put in place). Only while nobody has
    /// registered it: `false`, and nothing changed, once it was queued or has a run.
    pub fn recheck_upload<E: From<StoreError>>(
        &self,
        id: i64,
        rows: u64,
        counts: &str,
        report: &str,
        place: impl FnOnce() -> Result<(), E>,
    ) -> Result<bool, E> {
        let tx = self.conn.unchecked_transaction().map_err(StoreError::from)?;
        let changed = tx
            .execute(
                "UPDATE uploads SET rows = ?2, counts = ?3, report = ?4
                 WHERE id = ?1 AND state = 'validated' AND run_id IS NULL AND purged_at IS NULL",
                params![id, rows, counts, report],
            )
            .map_err(StoreError::from)?;
        if changed != 1 {
            return Ok(false);
        }
        place()?;
        tx.commit().map_err(StoreError::from)?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{NewUpload, UploadState};

    #[test]
    fn choices_are_remembered_per_shape_and_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("state.db")).unwrap();
        assert_eq!(store.remembered_choices("a").unwrap(), None);
        store.remember_choices("a", "{\"date_order\":\"mdy\"}").unwrap();
        store.remember_choices("b", "{}").unwrap();
        store.remember_choices("a", "{\"date_order\":\"dmy\"}").unwrap();
        assert_eq!(store.remembered_choices("a").unwrap().as_deref(), Some("{\"date_order\":\"dmy\"}"));
        assert_eq!(store.remembered_choices("b").unwrap().as_deref(), Some("{}"));
    }

    #[test]
    fn only_an_upload_nobody_registered_is_checked_again() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("state.db")).unwrap();
        let upload = NewUpload {
            file_name: "a.csv",
            workbook: false,
            size: 1,
            sha256: "x",
            uploaded_by: "asha",
            rows: 0,
            counts: "{}",
            report: "{\"questions\":{}}",
        };
        let id = store.add_upload::<StoreError>(&upload, |_| Ok(())).unwrap();
        // A failure to place its files changes nothing.
        let failed = store
            .recheck_upload::<StoreError>(id, 3, "{\"pending\":3}", "{}", || Err(StoreError::Locked(None)));
        assert!(failed.is_err());
        assert_eq!(store.upload(id).unwrap().unwrap().rows, 0);
        assert!(store.recheck_upload::<StoreError>(id, 3, "{\"pending\":3}", "{}", || Ok(())).unwrap());
        let again = store.upload(id).unwrap().unwrap();
        assert_eq!((again.rows, again.counts.as_str()), (3, "{\"pending\":3}"));
        assert_eq!(store.upload_report(id).unwrap().as_deref(), Some("{}"));
        assert_eq!(store.queue_upload(id, "asha").unwrap(), Some(UploadState::Queued));
        assert!(!store.recheck_upload::<StoreError>(id, 9, "{}", "{}", || Ok(())).unwrap(), "registered");
        assert_eq!(store.upload(id).unwrap().unwrap().rows, 3);
    }
}
