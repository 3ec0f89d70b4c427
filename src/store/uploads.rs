//! Files sent to `cibil-bulk serve` and the jobs that register them. An upload is recorded once
//! its file has been checked (`validated`: nothing sent); "register" queues it; the server's one
//! job runner takes queued uploads in upload order, one at a time (`running`), and records how the
//! job ended (`finished`, `interrupted` by a shutdown, or `aborted`). Every move names the states
//! it may come from, as the rows' transitions do, and says whether it happened. A job's rows are
//! an ordinary run (`runs`, `rows`, the ledger): the upload only points at it.

use std::fmt;

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError, now_ms};

/// Where an upload is in its life. Stored as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UploadState {
    /// Checked; nothing sent.
    Validated,
    /// Waiting for the job runner.
    Queued,
    /// Being sent.
    Running,
    /// Every row has its outcome (some may need attention).
    Finished,
    /// Stopped by a shutdown; the next start resumes it.
    Interrupted,
    /// Stopped by a failure (credentials refused, the endpoint down); registering again resumes it.
    Aborted,
}

impl UploadState {
    pub const ALL: [UploadState; 6] = [
        UploadState::Validated,
        UploadState::Queued,
        UploadState::Running,
        UploadState::Finished,
        UploadState::Interrupted,
        UploadState::Aborted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            UploadState::Validated => "validated",
            UploadState::Queued => "queued",
            UploadState::Running => "running",
            UploadState::Finished => "finished",
            UploadState::Interrupted => "interrupted",
            UploadState::Aborted => "aborted",
        }
    }

    pub fn parse(text: &str) -> Option<UploadState> {
        UploadState::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Queued or running: a job for it is under way.
    pub fn is_active(self) -> bool {
        matches!(self, UploadState::Queued | UploadState::Running)
    }
}

impl fmt::Display for UploadState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An upload as its check recorded it.
#[derive(Debug, Clone)]
pub struct NewUpload<'a> {
    /// The sender's name for the file, sanitised: for display only.
    pub file_name: &'a str,
    pub workbook: bool,
    pub size: u64,
    pub sha256: &'a str,
    pub uploaded_by: &'a str,
    pub rows: u64,
    /// JSON: rows per status as the check found them.
    pub counts: &'a str,
    /// JSON: the check's report (problems, rows to fix).
    pub report: &'a str,
}

/// An upload and its latest job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRecord {
    pub id: i64,
    pub file_name: String,
    pub workbook: bool,
    pub size: u64,
    pub sha256: String,
    pub uploaded_by: String,
    pub uploaded_at: i64,
    pub state: UploadState,
    pub rows: u64,
    /// JSON: rows per status as the check found them.
    pub counts: String,
    pub run_id: Option<i64>,
    pub registered_by: Option<String>,
    pub registered_at: Option<i64>,
    pub started_at: Option<i64>,
    pub ended_at: Option<i64>,
    /// JSON: how the last job ended.
    pub summary: Option<String>,
    pub stop_reason: Option<String>,
    /// When its customers' personal data was erased (retention): its files are gone, its report
    /// keeps no row, and it cannot be registered again.
    pub purged_at: Option<i64>,
}

const UPLOAD_COLUMNS: &str =
    "SELECT id, file_name, workbook, size, sha256, uploaded_by, uploaded_at, state, rows, counts,
        run_id, registered_by, registered_at, started_at, ended_at, summary, stop_reason, purged_at FROM uploads";

fn upload_record(r: &rusqlite::Row<'_>) -> rusqlite::Result<UploadRecord> {
    let state: String = r.get(7)?;
    Ok(UploadRecord {
        id: r.get(0)?,
        file_name: r.get(1)?,
        workbook: r.get(2)?,
        size: r.get(3)?,
        sha256: r.get(4)?,
        uploaded_by: r.get(5)?,
        uploaded_at: r.get(6)?,
        // The CHECK constraint admits no other text.
        state: UploadState::parse(&state).unwrap_or(UploadState::Aborted),
        rows: r.get(8)?,
        counts: r.get(9)?,
        run_id: r.get(10)?,
        registered_by: r.get(11)?,
        registered_at: r.get(12)?,
        started_at: r.get(13)?,
        ended_at: r.get(14)?,
        summary: r.get(15)?,
        stop_reason: r.get(16)?,
        purged_at: r.get(17)?,
    })
}

impl Store {
    /// Records a checked upload and calls `place` with its id, inside the same transaction: the
    /// upload exists only if its files were put in place under that id.
    pub fn add_upload<E: From<StoreError>>(
        &self,
        upload: &NewUpload<'_>,
        place: impl FnOnce(i64) -> Result<(), E>,
    ) -> Result<i64, E> {
        let tx = self.conn.unchecked_transaction().map_err(StoreError::from)?;
        tx.execute(
            "INSERT INTO uploads (file_name, workbook, size, sha256, uploaded_by, uploaded_at, state, rows, counts, report)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'validated', ?7, ?8, ?9)",
            params![
                upload.file_name,
                upload.workbook,
                upload.size,
                upload.sha256,
                upload.uploaded_by,
                now_ms(),
                upload.rows,
                upload.counts,
                upload.report
            ],
        )
        .map_err(StoreError::from)?;
        let id = tx.last_insert_rowid();
        place(id)?;
        tx.commit().map_err(StoreError::from)?;
        Ok(id)
    }

    /// Every upload, newest first.
    pub fn uploads(&self) -> Result<Vec<UploadRecord>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!("{UPLOAD_COLUMNS} ORDER BY id DESC"))?;
        let uploads = stmt.query_map([], upload_record)?.collect::<Result<Vec<_>, _>>()?;
        Ok(uploads)
    }

    pub fn upload(&self, id: i64) -> Result<Option<UploadRecord>, StoreError> {
        Ok(self.conn.query_row(&format!("{UPLOAD_COLUMNS} WHERE id = ?1"), [id], upload_record).optional()?)
    }

    /// The check's report of upload `id` (JSON), kept apart from [`UploadRecord`] as it can be
    /// large.
    pub fn upload_report(&self, id: i64) -> Result<Option<String>, StoreError> {
        Ok(self.conn.query_row("SELECT report FROM uploads WHERE id = ?1", [id], |r| r.get(0)).optional()?)
    }

    /// "Register": queues upload `id` for its job, recording who asked and when. An upload whose
    /// job is already queued or running stays as it is. Returns the upload's state afterwards, or
    /// `None` when there is no such upload.
    pub fn queue_upload(&self, id: i64, by: &str) -> Result<Option<UploadState>, StoreError> {
        let queued = self.conn.execute(
            "UPDATE uploads SET state = 'queued', registered_by = ?2, registered_at = ?3, stop_reason = NULL
             WHERE id = ?1 AND state IN ('validated', 'finished', 'interrupted', 'aborted') AND purged_at IS NULL",
            params![id, by, now_ms()],
        )?;
        if queued == 1 {
            return Ok(Some(UploadState::Queued));
        }
        Ok(self.upload(id)?.map(|u| u.state))
    }

    /// The first queued upload in upload order.
    pub fn next_queued(&self) -> Result<Option<UploadRecord>, StoreError> {
        Ok(self
            .conn
            .query_row(
                &format!("{UPLOAD_COLUMNS} WHERE state = 'queued' ORDER BY id LIMIT 1"),
                [],
                upload_record,
            )
            .optional()?)
    }

    /// Queued → running. `false` if the upload was not queued.
    pub fn start_job(&self, id: i64) -> Result<bool, StoreError> {
        let started = self.conn.execute(
            "UPDATE uploads SET state = 'running', started_at = ?2, ended_at = NULL WHERE id = ?1 AND state = 'queued'",
            params![id, now_ms()],
        )?;
        Ok(started == 1)
    }

    /// Points upload `id` at the run holding its rows.
    pub fn set_upload_run(&self, id: i64, run_id: i64) -> Result<(), StoreError> {
        self.conn.execute("UPDATE uploads SET run_id = ?2 WHERE id = ?1", params![id, run_id])?;
        Ok(())
    }

    /// Running → how the job ended, with its summary (JSON) and why it stopped early, if it did.
    /// `false` if the upload was not running.
    pub fn end_job(
        &self,
        id: i64,
        state: UploadState,
        summary: &str,
        stop_reason: Option<&str>,
    ) -> Result<bool, StoreError> {
        debug_assert!(matches!(
            state,
            UploadState::Finished | UploadState::Interrupted | UploadState::Aborted
        ));
        let ended = self.conn.execute(
            "UPDATE uploads SET state = ?2, summary = ?3, stop_reason = ?4, ended_at = ?5
             WHERE id = ?1 AND state = 'running'",
            params![id, state.as_str(), summary, stop_reason, now_ms()],
        )?;
        Ok(ended == 1)
    }

    /// At start: jobs that were running when the server died, or interrupted when it was stopped,
    /// are queued again, to resume in upload order. Returns their ids.
    pub fn requeue_stopped_jobs(&self) -> Result<Vec<i64>, StoreError> {
        let mut stmt = self.conn.prepare(
            "UPDATE uploads SET state = 'queued' WHERE state IN ('running', 'interrupted') RETURNING id",
        )?;
        let mut ids = stmt.query_map([], |r| r.get(0))?.collect::<Result<Vec<i64>, _>>()?;
        ids.sort_unstable();
        Ok(ids)
    }

    /// How many of the customers with these PANs are registered already.
    pub fn count_registered(&self, pans: &[String]) -> Result<u64, StoreError> {
        let tx = self.conn.unchecked_transaction()?;
        let mut found = 0;
        {
            let mut stmt = tx.prepare_cached("SELECT 1 FROM ledger WHERE pan_key = ?1")?;
            for pan in pans {
                if stmt.exists([self.pan_key(pan).as_slice()])? {
                    found += 1;
                }
            }
        }
        tx.commit()?;
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("state.db")).unwrap();
        (dir, store)
    }

    fn add(store: &Store, name: &str) -> i64 {
        let upload = NewUpload {
            file_name: name,
            workbook: false,
            size: 10,
            sha256: "ab",
            uploaded_by: "asha",
            rows: 3,
            counts: "{}",
            report: "{\"rows_to_fix\":[]}",
        };
        store.add_upload::<StoreError>(&upload, |_| Ok(())).unwrap()
    }

    #[test]
    fn an_upload_exists_only_if_its_files_were_placed() {
        let (_dir, store) = store();
        let failed = store.add_upload::<StoreError>(
            &NewUpload {
                file_name: "a.csv",
                workbook: false,
                size: 1,
                sha256: "x",
                uploaded_by: "asha",
                rows: 0,
                counts: "{}",
                report: "{}",
            },
            |_| Err(StoreError::Locked(None)),
        );
        assert!(failed.is_err());
        assert!(store.uploads().unwrap().is_empty());
        let id = add(&store, "b.csv");
        let upload = store.upload(id).unwrap().unwrap();
        assert_eq!((upload.file_name.as_str(), upload.state), ("b.csv", UploadState::Validated));
        assert_eq!(store.upload_report(id).unwrap().as_deref(), Some("{\"rows_to_fix\":[]}"));
    }

    #[test]
    fn jobs_move_only_from_the_states_they_may_come_from() {
        let (_dir, store) = store();
        let (first, second) = (add(&store, "1.csv"), add(&store, "2.csv"));
        assert!(!store.start_job(first).unwrap(), "not queued yet");
        // Registered in the other order, they still run in upload order.
        assert_eq!(store.queue_upload(second, "ravi").unwrap(), Some(UploadState::Queued));
        assert_eq!(store.queue_upload(first, "asha").unwrap(), Some(UploadState::Queued));
        assert_eq!(store.next_queued().unwrap().unwrap().id, first);
        assert!(store.start_job(first).unwrap());
        assert_eq!(store.queue_upload(first, "ravi").unwrap(), Some(UploadState::Running), "already running");
        assert_eq!(store.upload(first).unwrap().unwrap().registered_by.as_deref(), Some("asha"));
        assert!(store.end_job(first, UploadState::Finished, "{}", None).unwrap());
        assert!(!store.end_job(first, UploadState::Aborted, "{}", None).unwrap(), "ended once");
        assert_eq!(store.next_queued().unwrap().unwrap().id, second);
        assert_eq!(store.queue_upload(99, "ravi").unwrap(), None);
        // Registering a finished upload again queues it (failed rows are retried).
        assert_eq!(store.queue_upload(first, "ravi").unwrap(), Some(UploadState::Queued));
    }

    #[test]
    fn jobs_stopped_with_the_server_are_queued_again() {
        let (_dir, store) = store();
        let (a, b, c) = (add(&store, "a.csv"), add(&store, "b.csv"), add(&store, "c.csv"));
        for id in [a, b, c] {
            store.queue_upload(id, "asha").unwrap();
        }
        store.start_job(a).unwrap();
        store.end_job(a, UploadState::Interrupted, "{}", Some("stopped")).unwrap();
        store.start_job(b).unwrap();
        assert_eq!(store.requeue_stopped_jobs().unwrap(), vec![a, b]);
        let states: Vec<UploadState> =
            [a, b, c].iter().map(|id| store.upload(*id).unwrap().unwrap().state).collect();
        assert_eq!(states, vec![UploadState::Queued; 3]);
    }
}
