//! Runs: one per input content, worked on over one or more invocations — found by the content's
//! hash, resumed, ended — and the endpoint a state database is bound to.

use std::path::{Path, PathBuf};

use rusqlite::{OptionalExtension, params};

use super::{RunStatus, Store, StoreError, now_ms};
use crate::input::Locator;

/// One run: one input content, processed over one or more invocations.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RunRecord {
    pub id: i64,
    pub input_path: String,
    /// Where its file was when last read, absolute (`None` for a run recorded before this was).
    pub input_place: Option<PathBuf>,
    pub input_sha256: String,
    pub headers: Vec<String>,
    /// How the input names its rows.
    pub locator: Locator,
    pub rows_total: u64,
    pub status: RunStatus,
    pub exit_code: Option<u8>,
    pub started_at: i64,
    pub updated_at: i64,
    pub finished_at: Option<i64>,
    /// When the run's personal data was removed ([`Store::purge`]); its rows keep their statuses.
    pub purged_at: Option<i64>,
}

impl Store {
    /// The run of the file whose content hashes to `sha256`, if there is one.
    pub fn find_run(&self, sha256: &str) -> Result<Option<RunRecord>, StoreError> {
        Ok(self
            .conn
            .query_row(&format!("{RUN_COLUMNS} WHERE input_sha256 = ?1"), [sha256], run_record)
            .optional()?)
    }

    pub fn run(&self, id: i64) -> Result<Option<RunRecord>, StoreError> {
        Ok(self.conn.query_row(&format!("{RUN_COLUMNS} WHERE id = ?1"), [id], run_record).optional()?)
    }

    /// Whether the state has recorded nothing at all: no run, no registration. A new state, or a
    /// copy of one taken without its write-ahead log.
    pub fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.conn.query_row(
            "SELECT NOT EXISTS (SELECT 1 FROM runs) AND NOT EXISTS (SELECT 1 FROM ledger)",
            [],
            |r| r.get(0),
        )?)
    }

    /// Every run, newest first.
    pub fn runs(&self) -> Result<Vec<RunRecord>, StoreError> {
        let mut stmt = self.conn.prepare(&format!("{RUN_COLUMNS} ORDER BY id DESC"))?;
        let runs = stmt.query_map([], run_record)?.collect::<Result<Vec<_>, _>>()?;
        Ok(runs)
    }

    /// Marks the run as being worked on again (a resume), from `input_path`: from any status (a
    /// finished run is resumed to send its failed rows again; a run left `running` by a process
    /// that died is taken up by the next). A run whose personal data was erased keeps the name a
    /// purge left it: the file's new name may name its customers, whom nothing here still knows
    /// to mask. A run that is not there is an error.
    pub fn resume_run(&self, id: i64, input_path: &str) -> Result<(), StoreError> {
        let changed = self.conn.execute(
            "UPDATE runs SET status = 'running', input_path = CASE WHEN purged_at IS NULL THEN ?2 ELSE input_path END,
                updated_at = ?3, finished_at = NULL, exit_code = NULL WHERE id = ?1",
            params![id, input_path, now_ms()],
        )?;
        expect_one_run(changed, id, "running", "any")
    }

    /// Records where run `id`'s file is, as an absolute path (its name in the run may be
    /// relative, or a clerk's name for an upload): what `export` keeps from being overwritten
    /// (besides the file's content, by which `export` knows it wherever it is). Not for a run
    /// whose personal data was erased, as [`Store::resume_run`] says.
    pub fn set_input_place(&self, id: i64, file: &Path) -> Result<(), StoreError> {
        let place = std::path::absolute(file).unwrap_or_else(|_| file.to_owned());
        self.conn.execute(
            "UPDATE runs SET input_place = ?2 WHERE id = ?1 AND purged_at IS NULL",
            params![id, place.to_string_lossy()],
        )?;
        Ok(())
    }

    /// Ties the database to one endpoint (`sandbox` for the simulator): its ledger says who is
    /// registered *there*, so runs against another endpoint must not use it.
    pub fn bind_endpoint(&self, endpoint: &str) -> Result<(), StoreError> {
        let bound: Option<String> = self
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'endpoint'", [], |r| r.get(0))
            .optional()?;
        match bound {
            None => {
                self.conn.execute("INSERT INTO meta (key, value) VALUES ('endpoint', ?1)", [endpoint])?;
                Ok(())
            }
            Some(bound) if bound == endpoint => Ok(()),
            Some(bound) => Err(StoreError::OtherEndpoint {
                path: self.path.clone(),
                bound,
                requested: endpoint.to_owned(),
            }),
        }
    }

    /// Records how this invocation of the run ended: only a run being worked on (`running`)
    /// ends, once.
    pub fn end_run(&self, id: i64, status: RunStatus, exit_code: u8) -> Result<(), StoreError> {
        let now = now_ms();
        let finished = (status == RunStatus::Finished).then_some(now);
        let changed = self.conn.execute(
            "UPDATE runs SET status = ?2, exit_code = ?3, updated_at = ?4, finished_at = ?5 WHERE id = ?1 AND status = 'running'",
            params![id, status.as_str(), exit_code, now, finished],
        )?;
        expect_one_run(changed, id, status.as_str(), "running")
    }
}

/// A run's move touched exactly one run, or the state was changed behind the run's back.
fn expect_one_run(changed: usize, id: i64, to: &str, from: &'static str) -> Result<(), StoreError> {
    if changed == 1 { Ok(()) } else { Err(StoreError::RunTransition { run: id, to: to.to_owned(), from }) }
}

const RUN_COLUMNS: &str = "SELECT id, input_path, input_sha256, headers, rows_total, status, exit_code, started_at, updated_at, finished_at, locator, purged_at, input_place FROM runs";

fn run_record(r: &rusqlite::Row<'_>) -> rusqlite::Result<RunRecord> {
    let headers: String = r.get(3)?;
    let status: String = r.get(5)?;
    Ok(RunRecord {
        id: r.get(0)?,
        input_path: r.get(1)?,
        input_sha256: r.get(2)?,
        headers: serde_json::from_str(&headers).unwrap_or_default(),
        rows_total: r.get(4)?,
        status: RunStatus::parse(&status),
        exit_code: r.get(6)?,
        started_at: r.get(7)?,
        updated_at: r.get(8)?,
        finished_at: r.get(9)?,
        locator: r
            .get::<_, Option<String>>(10)?
            .and_then(|l| serde_json::from_str(&l).ok())
            .unwrap_or_default(),
        purged_at: r.get(11)?,
        input_place: r.get::<_, Option<String>>(12)?.map(PathBuf::from),
    })
}
