//! The state database (DESIGN.md, "Files"): SQLite in WAL mode with `synchronous = FULL`, created
//! mode 0600. It is the truth about every row — the results file is regenerated from it — so every
//! status change is a guarded SQL transition (`WHERE status IN (...)`) whose effect is checked.
//! Owns the schema and its migrations, the run lock, runs, rows and the ledger of registered
//! customers. Knows nothing of HTTP or CSV.

mod access;
mod lock;
mod purge;
mod rows;
mod schema;
mod uploads;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use crate::input::Locator;

pub use access::{SessionRecord, TokenRecord, UserRecord};
pub use lock::{HEARTBEAT_EVERY, HeldLock, LockOwner, STALE_AFTER};
pub use purge::Purged;
pub use rows::{Claim, Import, NewRow, PendingRow, ResultRow, RowResult, StatusCounts};
pub use uploads::{NewUpload, UploadRecord, UploadState};

/// A failure of the state database itself (never of a row).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("SQLite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("cannot open the state database {}: {source}", .path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the state database {} is damaged ({detail}). Keep it for inspection, and start with \
         another --state file; rows registered before are recorded in the old one",
        .path.display()
    )]
    Corrupt { path: PathBuf, detail: String },
    #[error(
        "the state database {} could not be checked ({detail}); nothing was sent. Run again; if \
         this persists, check the disk it is on",
        .path.display()
    )]
    Unchecked { path: PathBuf, detail: String },
    #[error(
        "the state database was written by a newer cibil-bulk (schema {found}, this one knows \
         {supported}): upgrade cibil-bulk"
    )]
    NewerSchema { found: i64, supported: i64 },
    #[error(
        "another run holds the state database: pid {} on {}, last seen {}s ago. Wait for it to \
         finish, or use another --state file",
        .0.pid, .0.host, .0.heartbeat_age.as_secs()
    )]
    Locked(LockOwner),
    #[error("another process took over the state database's lock while this run was using it")]
    LockLost,
    #[error(
        "the state database {} exists but is empty: it was truncated or replaced. Whatever it \
         recorded is lost from it, and running now could send registered rows again. Restore it \
         from a backup; if it really is new, delete it and run again",
        .path.display()
    )]
    Emptied { path: PathBuf },
    #[error(
        "the state database {} records registrations made with {bound}, not {requested}: a \
         customer registered there is not registered here. Use another --state file for {requested}",
        .path.display()
    )]
    OtherEndpoint { path: PathBuf, bound: String, requested: String },
    #[error(
        "line {line}: cannot move the row to {to} (its status is no longer one of {from}); the state was changed behind this run's back"
    )]
    Transition { line: u64, to: RowStatus, from: &'static str },
}

/// Where a row is in its life (DESIGN.md, "The row lifecycle"). Stored as text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RowStatus {
    #[default]
    Pending,
    InFlight,
    Registered,
    Known,
    Duplicate,
    Invalid,
    Rejected,
    Failed,
}

impl RowStatus {
    pub const ALL: [RowStatus; 8] = [
        RowStatus::Pending,
        RowStatus::InFlight,
        RowStatus::Registered,
        RowStatus::Known,
        RowStatus::Duplicate,
        RowStatus::Invalid,
        RowStatus::Rejected,
        RowStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RowStatus::Pending => "pending",
            RowStatus::InFlight => "in_flight",
            RowStatus::Registered => "registered",
            RowStatus::Known => "known",
            RowStatus::Duplicate => "duplicate",
            RowStatus::Invalid => "invalid",
            RowStatus::Rejected => "rejected",
            RowStatus::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<RowStatus> {
        RowStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Rows a clerk must look at: they are in the errors file, and make the exit status 1.
    pub fn needs_attention(self) -> bool {
        matches!(self, RowStatus::Invalid | RowStatus::Rejected | RowStatus::Failed)
    }
}

impl fmt::Display for RowStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a run ended, or that it has not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Finished,
    Aborted,
    Interrupted,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Finished => "finished",
            RunStatus::Aborted => "aborted",
            RunStatus::Interrupted => "interrupted",
        }
    }

    fn parse(text: &str) -> RunStatus {
        match text {
            "finished" => RunStatus::Finished,
            "aborted" => RunStatus::Aborted,
            "interrupted" => RunStatus::Interrupted,
            _ => RunStatus::Running,
        }
    }
}

/// One run: one input content, processed over one or more invocations.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RunRecord {
    pub id: i64,
    pub input_path: String,
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

/// The state database, opened by the one process that writes it.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// The secret that turns a PAN into the ledger's key, so the ledger never holds a PAN.
    ledger_key: [u8; 32],
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Store {
    /// Opens (creating, mode 0600) the state database at `path`, checks it and migrates it.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Store::open_with(path, |conn| check_structure(conn, path))
    }

    /// Opens the state database as [`Store::open`] does, with its structure checked on a
    /// connection of its own while the caller goes on: the check reads the whole file (seconds
    /// for a million rows), and so does rewriting the results of a finished run, so the two
    /// overlap. The caller must [`Check::wait`] before it claims a row, and before it trusts what
    /// it read.
    pub fn open_checking(path: &Path) -> Result<(Store, Check), StoreError> {
        let store = Store::open_with(path, |_| Ok(()))?;
        let reader = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
        )?;
        reader.busy_timeout(std::time::Duration::from_secs(5))?;
        let owned = path.to_owned();
        let handle = std::thread::Builder::new()
            .name("state-check".into())
            .spawn(move || {
                check_structure(&reader, &owned).map_err(|e| match e {
                    StoreError::Corrupt { detail, .. } => Verdict::Damaged(detail),
                    other => Verdict::Unchecked(other.to_string()),
                })
            })
            .map_err(|source| StoreError::Open { path: path.to_owned(), source })?;
        Ok((store, Check { path: path.to_owned(), handle: Some(handle), verdict: Ok(()) }))
    }

    /// Opens the database, runs `check` on the connection, then migrates it.
    fn open_with(
        path: &Path,
        check: impl FnOnce(&Connection) -> Result<(), StoreError>,
    ) -> Result<Store, StoreError> {
        let open_err = |source| StoreError::Open { path: path.to_owned(), source };
        if path.is_dir() {
            return Err(open_err(std::io::Error::new(std::io::ErrorKind::IsADirectory, "it is a directory")));
        }
        // SQLite takes an empty file for a new database. One that existed empty, with no
        // write-ahead log holding its content, was truncated or replaced: refuse rather than
        // forget every registration it held.
        let wal =
            path.with_file_name(format!("{}-wal", path.file_name().unwrap_or_default().to_string_lossy()));
        let empty = |p: &Path| std::fs::metadata(p).is_ok_and(|m| m.len() == 0);
        if empty(path) && (!wal.exists() || empty(&wal)) {
            return Err(StoreError::Emptied { path: path.to_owned() });
        }
        create_if_missing(path)?;
        let mut conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
        )?;
        // Durable commits: a claim or an outcome, once committed, survives a power cut.
        conn.execute_batch(
            "PRAGMA busy_timeout = 5000;
             PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             PRAGMA foreign_keys = ON;
             PRAGMA cache_size = -8192;",
        )
        .map_err(|e| corrupt_or(path, e))?;
        check(&conn)?;
        schema::migrate(&mut conn).map_err(|e| match e {
            StoreError::Sqlite(e) => corrupt_or(path, e),
            other => other,
        })?;
        let ledger_key = ledger_key(&conn, path)?;
        Ok(Store { conn, path: path.to_owned(), ledger_key })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A second, read-only connection, for a thread that streams rows while this one writes.
    pub fn reader(&self) -> Result<Reader, StoreError> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.execute_batch("PRAGMA busy_timeout = 5000;")?;
        Ok(Reader { conn })
    }

    /// The ledger's key for a PAN: a keyed hash (HMAC-SHA256, first 16 bytes).
    pub fn pan_key(&self, pan: &str) -> [u8; 16] {
        rows::pan_key_with(&self.ledger_key, pan)
    }

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

    /// Every run, newest first.
    pub fn runs(&self) -> Result<Vec<RunRecord>, StoreError> {
        let mut stmt = self.conn.prepare(&format!("{RUN_COLUMNS} ORDER BY id DESC"))?;
        let runs = stmt.query_map([], run_record)?.collect::<Result<Vec<_>, _>>()?;
        Ok(runs)
    }

    /// Marks the run as being worked on again (a resume), from `input_path`.
    pub fn resume_run(&self, id: i64, input_path: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE runs SET status = 'running', input_path = ?2, updated_at = ?3, finished_at = NULL, exit_code = NULL WHERE id = ?1",
            params![id, input_path, now_ms()],
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

    /// Records how this invocation of the run ended.
    pub fn end_run(&self, id: i64, status: RunStatus, exit_code: u8) -> Result<(), StoreError> {
        let now = now_ms();
        let finished = (status == RunStatus::Finished).then_some(now);
        self.conn.execute(
            "UPDATE runs SET status = ?2, exit_code = ?3, updated_at = ?4, finished_at = ?5 WHERE id = ?1",
            params![id, status.as_str(), exit_code, now, finished],
        )?;
        Ok(())
    }
}

/// A read-only view of the state database for a second thread.
#[derive(Debug)]
pub struct Reader {
    conn: Connection,
}

const RUN_COLUMNS: &str = "SELECT id, input_path, input_sha256, headers, rows_total, status, exit_code, started_at, updated_at, finished_at, locator, purged_at FROM runs";

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
    })
}

/// Creates the database at `path` unless it exists: built complete (mode 0600, WAL, schema) under
/// a temporary name beside it, then linked into place, so that a crash at any moment leaves
/// either no database or a whole one — never an empty file (which [`Store::open`] refuses as
/// truncated) — and SQLite, which gives its WAL and shared-memory files the database's mode, never
/// makes a world-readable file of customer data.
fn create_if_missing(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::OpenOptionsExt;
    if path.exists() {
        return Ok(());
    }
    let open_err = |source| StoreError::Open { path: path.to_owned(), source };
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let temp = path.with_file_name(format!(".{name}.new-{}", std::process::id()));
    let _ = std::fs::remove_file(&temp);
    std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&temp).map_err(open_err)?;
    let built = (|| -> Result<(), StoreError> {
        let mut conn = Connection::open(&temp)?;
        conn.execute_batch("PRAGMA journal_mode = WAL;")?;
        schema::migrate(&mut conn)?;
        Ok(())
    })();
    // Linking fails if another process created the database meanwhile: theirs is kept.
    let linked = built.and_then(|()| match std::fs::hard_link(&temp, path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(open_err(e)),
    });
    let _ = std::fs::remove_file(&temp);
    linked
}

/// The whole structure, checked at every open (`PRAGMA quick_check`): a damaged page found halfway
/// through a run would stop it with the results unwritten, where this stops it before anything
/// is claimed, with advice.
fn check_structure(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let check: String =
        conn.query_row("PRAGMA quick_check", [], |r| r.get(0)).map_err(|e| corrupt_or(path, e))?;
    if check == "ok" { Ok(()) } else { Err(StoreError::Corrupt { path: path.to_owned(), detail: check }) }
}

/// The check of a state database opened with [`Store::open_checking`], running or done.
#[derive(Debug)]
#[must_use = "a state is trusted only once its check is waited for"]
pub struct Check {
    path: PathBuf,
    handle: Option<std::thread::JoinHandle<Result<(), Verdict>>>,
    /// What the check found, once waited for: why the state cannot be trusted.
    verdict: Result<(), Verdict>,
}

/// Why a state failed its check: damage found, or no answer (the disk, a lock, the check's own
/// failure), which is not evidence of damage and must not send the user to another state file.
#[derive(Debug, Clone)]
enum Verdict {
    Damaged(String),
    Unchecked(String),
}

impl Check {
    /// Waits for the check (at once after the first time) and says whether the state can be
    /// trusted. A state that could not be checked is not used further either.
    pub fn wait(&mut self) -> Result<(), StoreError> {
        if let Some(handle) = self.handle.take() {
            self.verdict = handle
                .join()
                .unwrap_or_else(|_| Err(Verdict::Unchecked("the check stopped unexpectedly".to_owned())));
        }
        let path = self.path.clone();
        self.verdict.clone().map_err(|verdict| match verdict {
            Verdict::Damaged(detail) => StoreError::Corrupt { path, detail },
            Verdict::Unchecked(detail) => StoreError::Unchecked { path, detail },
        })
    }
}

/// SQLite's "not a database" and "malformed" become [`StoreError::Corrupt`], with what to do.
fn corrupt_or(path: &Path, error: rusqlite::Error) -> StoreError {
    match error.sqlite_error_code() {
        Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt) => {
            StoreError::Corrupt { path: path.to_owned(), detail: error.to_string() }
        }
        _ => StoreError::Sqlite(error),
    }
}

/// The state's secret for the ledger, made the first time a database is opened. Two processes
/// opening a new database at once both keep the first key written (`INSERT OR IGNORE`, then read
/// back): a key that changed would leave every registration in the ledger unrecognised.
fn ledger_key(conn: &Connection, path: &Path) -> Result<[u8; 32], StoreError> {
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
