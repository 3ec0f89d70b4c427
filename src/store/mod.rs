//! The state database: SQLite in WAL mode with `synchronous = FULL`, created
//! mode 0600. It is the truth about every row — the results file is regenerated from it — so every
//! status change is a guarded SQL transition (`WHERE status IN (...)`) whose effect is checked.
//! Owns the schema and its migrations, the run lock, runs, rows, the ledger of registered
//! customers and the vendor's quota as last learned. Knows nothing of HTTP or CSV.

mod access;
mod audit;
mod choices;
mod import;
mod ledger;
mod lock;
mod purge;
mod quota;
mod results;
mod runs;
mod schema;
mod status;
mod transitions;
mod uploads;

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OpenFlags};

pub use access::{PeopleChange, Role, Scope, SessionRecord, TokenHolder, TokenRecord, UserRecord};
pub use audit::AuditEntry;
pub use import::{Import, NewRow};
pub use lock::{DEFAULT_LOCK_WAIT, HeldLock, LockOwner, lock_path};
pub use purge::{INCOMING, Purged, SCRATCH, UPLOADS_MARK, WRITING, remove_unfinished_uploads, uploads_dir};
pub use quota::QuotaRecord;
pub use results::ResultRow;
pub use runs::RunRecord;
pub use status::{RowStatus, RunStatus, StatusCounts};
pub use transitions::{Claim, PendingRow, RowResult};
pub use uploads::{NewUpload, UploadRecord, UploadState};

/// A failure of the state database itself (never of a row).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    // The cause is in the message, and not a `source` too: `{:#}` would print it twice.
    #[error("SQLite: {0}")]
    Sqlite(rusqlite::Error),
    #[error(
        "the disk holding the state database is full ({0}): free some space, or use --state on \
         another disk, and run again; what was recorded is kept"
    )]
    DiskFull(rusqlite::Error),
    #[error("cannot open the state database {}: {cause}", .path.display())]
    Open { path: PathBuf, cause: std::io::Error },
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
        "another run holds the state database ({}), and did not finish within --lock-wait: wait \
         for it to finish and run again, or use another --state file",
        .0.as_ref().map_or_else(|| "a process that has not said who it is".to_owned(), ToString::to_string)
    )]
    Locked(Option<LockOwner>),
    /// The state or its lock file is controlled by another user.
    #[error(transparent)]
    Untrusted(#[from] crate::private_file::Untrusted),
    #[error(
        "the state database {} exists but is empty: it was truncated or replaced. Whatever it \
         recorded is lost from it, and running now could send registered rows again. Restore it \
         from a backup; if it really is new, delete it and run again",
        .path.display()
    )]
    Emptied { path: PathBuf },
    #[error(
        "the state database {} was removed or replaced while this run used it: what the run \
         recorded went into the file it had open, which no name leads to any more. The run \
         stopped sending, and its results file holds every outcome. Put back the state that was \
         there (from a backup, or the file moved away) before running again: a state that did not \
         see this run would send its customers again",
        .path.display()
    )]
    MovedAway { path: PathBuf },
    #[error(
        "the state database {} has {links} names (hard links): SQLite keeps a log beside each name, \
         so two runs could each take one and damage it. Keep one name: remove the others (`find / \
         -samefile {}` lists them) and run again",
        .path.display(),
        .path.display()
    )]
    HardLinked { path: PathBuf, links: u64 },
    #[error(
        "the state database {} records registrations made with {bound}, not {requested}: a \
         customer registered there is not registered here. Use another --state file for {requested}",
        .path.display()
    )]
    OtherEndpoint { path: PathBuf, bound: String, requested: String },
    #[error(
        "the write-ahead log of {} could not be emptied (another process kept reading it): the \
         personal data erased from the database may still be in its -wal file; run the purge again",
        .path.display()
    )]
    LogNotEmptied { path: PathBuf },
    #[error(
        "the state database {} cannot be written here ({detail}): it is on a read-only disk, or in \
         a directory this user cannot write. `status` and `export` can still read it; to run, \
         choose --state on a disk that can be written",
        .path.display()
    )]
    CannotWrite { path: PathBuf, detail: String },
    #[error(
        "the state database {} is on a disk that cannot be written, and was made by an older \
         cibil-bulk: it must be upgraded before it can be read. Copy it to a disk that can be \
         written and run `cibil-bulk status --state COPY`",
        .path.display()
    )]
    ReadOnlyOld { path: PathBuf },
    #[error(
        "{} is a companion of the state database {} (SQLite's log, shared memory or the run lock), \
         not a state database: choose the state with --state {}",
        .path.display(), .of.display(), .of.display()
    )]
    Companion { path: PathBuf, of: PathBuf },
    #[error(
        "{} is not a state database (another kind of file, or another program's database): it was \
         left as it is. Choose the state with --state, or a new name to start one",
        .path.display()
    )]
    NotAState { path: PathBuf },
    #[error(
        "line {line}: cannot move the row to {to} (its status is no longer one of {from}); the state was changed behind this run's back"
    )]
    Transition { line: u64, to: RowStatus, from: &'static str },
    #[error(
        "run {run}: cannot move it to {to} (its status is no longer {from}, or it is gone); the \
         state was changed behind this run's back"
    )]
    RunTransition { run: i64, to: String, from: &'static str },
}

/// A failure to open a state that comes of a disk (or directory) that cannot be written, said as
/// such: SQLite's own words are "unable to open database file".
fn cannot_write(path: &Path, error: StoreError) -> StoreError {
    if error.is_read_only() {
        StoreError::CannotWrite { path: path.to_owned(), detail: error.to_string() }
    } else {
        error
    }
}

impl StoreError {
    /// Whether the state could not be opened because it cannot be written (a read-only mount,
    /// a directory it cannot create its log in): it may still be read.
    pub fn is_read_only(&self) -> bool {
        match self {
            StoreError::CannotWrite { .. } => true,
            StoreError::Sqlite(e) => matches!(
                e.sqlite_error_code(),
                Some(rusqlite::ErrorCode::CannotOpen | rusqlite::ErrorCode::ReadOnly)
            ),
            StoreError::Open { cause, .. } => {
                cause.raw_os_error() == Some(30) || cause.kind() == std::io::ErrorKind::PermissionDenied
            }
            _ => false,
        }
    }
}

/// The state database, opened by the one process that writes it.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// The secret that turns a PAN into the ledger's key, so the ledger never holds a PAN.
    ledger_key: [u8; 32],
    /// The mode the state had when others could read it, before this open made it 0600.
    tightened: Option<u32>,
    /// The device and inode of the file its connection writes (none read-only): whether `path`
    /// still leads to it ([`Store::moved_away`]).
    identity: Option<(u64, u64)>,
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Store {
    /// Opens (creating, mode 0600) the state database at `path`, checks it and migrates it.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Store::open_with(path, |conn| check_structure(conn, path)).map_err(|e| cannot_write(path, e))
    }

    /// Opens the state database at `path` for reading only, when it cannot be opened to write (a
    /// read-only mount, a copy on read-only media): `status` and `export` show it as it was last
    /// written. SQLite is told the file cannot change (`immutable`): on a read-only disk nothing
    /// can change it. A state that would need upgrading cannot be read here.
    pub fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        crate::private_file::refuse_untrusted("the state database", path)?;
        let open_err = |cause| StoreError::Open { path: path.to_owned(), cause };
        if !is_sqlite(path).map_err(open_err)? {
            return Err(StoreError::NotAState { path: path.to_owned() });
        }
        let url = url::Url::from_file_path(std::path::absolute(path).map_err(open_err)?)
            .map_err(|()| open_err(std::io::Error::other("not a path SQLite can open")))?;
        let conn = Connection::open_with_flags(
            format!("{url}?immutable=1"),
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
        )?;
        check_structure(&conn, path)?;
        let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if found != schema::VERSION {
            return Err(StoreError::ReadOnlyOld { path: path.to_owned() });
        }
        let ledger_key = ledger::read_ledger_key(&conn, path)?;
        Ok(Store { conn, path: path.to_owned(), ledger_key, tightened: None, identity: None })
    }

    /// Copies the whole state, as one transaction sees it — every row committed before it began,
    /// the ledger, the claims — into the empty file at `into` (SQLite's `VACUUM INTO`), while a
    /// run or the server goes on writing it.
    /// The copy says it is one (`backup_of` in its `meta`), so that the next `backup` may replace
    /// it, while no output may replace a state; opened as a state, it is one again.
    pub fn backup_into(&self, into: &Path) -> Result<(), StoreError> {
        let path = into.to_str().ok_or_else(|| StoreError::Open {
            path: into.to_owned(),
            cause: std::io::Error::other("the path is not UTF-8, which SQLite needs"),
        })?;
        self.conn.execute("VACUUM INTO ?1", [path])?;
        let copy = Connection::open_with_flags(
            into,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        copy.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('backup_of', ?1)",
            [self.path.to_string_lossy()],
        )?;
        Ok(())
    }

    /// Moves what the write-ahead log holds into the database file, as far as no reader needs it
    /// (`PASSIVE`: it never waits): a plain copy of the `.db` then lags the state by seconds, not
    /// by a whole run.
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        self.conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
        Ok(())
    }

    /// Another connection to a state this process has opened (and checked) already: the check is
    /// not made twice.
    pub fn open_another(path: &Path) -> Result<Store, StoreError> {
        Store::open_with(path, |_| Ok(())).map_err(|e| cannot_write(path, e))
    }

    /// Opens the state database as [`Store::open`] does, with its structure checked on a
    /// connection of its own while the caller goes on: the check reads the whole file (seconds
    /// for a million rows), and so does rewriting the results of a finished run, so the two
    /// overlap. The caller must [`Check::wait`] before it claims a row, and before it trusts what
    /// it read.
    pub fn open_checking(path: &Path) -> Result<(Store, Check), StoreError> {
        let store = Store::open_with(path, |_| Ok(())).map_err(|e| cannot_write(path, e))?;
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
                    StoreError::Corrupt { detail, .. } => CheckFailure::Damaged(detail),
                    other => CheckFailure::Unchecked(other.to_string()),
                })
            })
            .map_err(|cause| StoreError::Open { path: path.to_owned(), cause })?;
        Ok((store, Check { path: path.to_owned(), handle: Some(handle), verdict: Ok(()) }))
    }

    /// Opens the database, runs `check` on the connection, then migrates it.
    fn open_with(
        path: &Path,
        check: impl FnOnce(&Connection) -> Result<(), StoreError>,
    ) -> Result<Store, StoreError> {
        let open_err = |cause| StoreError::Open { path: path.to_owned(), cause };
        if path.is_dir() {
            return Err(open_err(std::io::Error::new(std::io::ErrorKind::IsADirectory, "it is a directory")));
        }
        // SQLite takes an empty file for a new database. One that existed empty, with no
        // write-ahead log holding its content, was truncated or replaced: refuse rather than
        // forget every registration it held.
        let wal = sibling(path, "-wal");
        let empty = |p: &Path| std::fs::metadata(p).is_ok_and(|m| m.len() == 0);
        if empty(path) && (!wal.exists() || empty(&wal)) {
            return Err(StoreError::Emptied { path: path.to_owned() });
        }
        // A companion of another state (its write-ahead log, shared memory or lock file) named as
        // a state would be taken for a database of its own, and the other state's log lost.
        if let Some(of) = companion_of(path) {
            return Err(StoreError::Companion { path: path.to_owned(), of });
        }
        // Another kind of file named as the state (a customer file, a config file, an output) is
        // left exactly as it is: not even its mode is touched.
        if !empty(path) && !is_sqlite(path).map_err(open_err)? {
            return Err(StoreError::NotAState { path: path.to_owned() });
        }
        // Another program's database named as the state is left exactly as it is: no tables
        // added, no mode changed, no lock file made.
        // A state this process has open already was judged then, and is not read again here.
        let ours = lock::is_kept(path)
            || match whose(path) {
                Whose::Another => return Err(StoreError::NotAState { path: path.to_owned() }),
                Whose::Ours => true,
                // Damaged: it is checked below, and its mode is not touched before that says whose.
                Whose::Unreadable => false,
            };
        // A second name for the state has its own log and lock beside it: two processes, one per
        // name, would each think the state theirs alone.
        if let Ok(meta) = std::fs::metadata(path)
            && std::os::unix::fs::MetadataExt::nlink(&meta) > 1
        {
            return Err(StoreError::HardLinked {
                path: path.to_owned(),
                links: std::os::unix::fs::MetadataExt::nlink(&meta),
            });
        }
        // Whoever else can write the state can read every PAN it holds, or plant registrations.
        let mut tightened = None;
        for file in [path.to_owned(), wal.clone(), sibling(path, "-shm")].into_iter().filter(|_| ours) {
            if let crate::private_file::Checked::Tightened { was } =
                crate::private_file::check("the state database", &file)?
            {
                tightened.get_or_insert(was);
            }
        }
        create_if_missing(path)?;
        // Kept open from now on, before the first connection takes a lock (see `lock::DatabaseFile`).
        let identity = lock::keep_open(path).map_err(open_err)?;
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
        let ledger_key = ledger::ledger_key(&conn, path)?;
        ledger::learn_sent_ids(&conn, &ledger_key)?;
        stays_a_backup_while_unchanged(&conn)?;
        Ok(Store { conn, path: path.to_owned(), ledger_key, tightened, identity: Some(identity) })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Why the state's path no longer leads to the file this connection writes, if it does not:
    /// removed, or replaced by another (a restore, a `mv` over it). What is recorded after that
    /// goes into a file no name leads to, and is lost with this process.
    pub fn moved_away(&self) -> Option<StoreError> {
        let identity = self.identity?;
        (lock::identity_of(&self.path).ok() != Some(identity))
            .then(|| StoreError::MovedAway { path: self.path.clone() })
    }

    /// When other users could read the state as it was found: its mode then (it is 0600 now).
    pub fn tightened_from(&self) -> Option<u32> {
        self.tightened
    }

    /// A second, read-only connection, for a thread that streams rows while this one writes.
    pub fn reader(&self) -> Result<Reader, StoreError> {
        Ok(Reader { conn: read_only(&self.path, std::time::Duration::from_secs(5))? })
    }
}

/// A connection to the state at `path` that reads what was committed and writes nothing, creates
/// nothing (a state moved away is not made again), and waits at most `busy` for a writer.
fn read_only(path: &Path, busy: std::time::Duration) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(busy)?;
    Ok(conn)
}

/// A read-only view of the state database for a second thread.
#[derive(Debug)]
pub struct Reader {
    conn: Connection,
}

/// The database whose companion `path` is named as (`x.db-wal` beside a database `x.db`), for
/// the gate: no output may be one.
pub fn companion_of_a_database(path: &Path) -> Option<PathBuf> {
    companion_of(path)
}

/// Whether the file at `path` exists and is a SQLite database, for the gate: no output may
/// replace one. A file whose header is not written yet (empty, or short) is one too when a
/// write-ahead log beside it holds its pages.
pub fn is_a_database(path: &Path) -> bool {
    path.is_file() && (is_sqlite(path).unwrap_or(false) || has_a_log(path))
}

/// Whether `<path>-wal` is a SQLite write-ahead log (its magic number, either byte order).
fn has_a_log(path: &Path) -> bool {
    use std::io::Read as _;
    let mut magic = [0u8; 4];
    std::fs::File::open(sibling(path, "-wal")).and_then(|mut f| f.read_exact(&mut magic)).is_ok()
        && matches!(u32::from_be_bytes(magic), 0x377f_0682 | 0x377f_0683)
}

/// Whether the file at `path` is a copy `backup` made, never opened as a state since: for the
/// gate, which lets `backup` replace only such a copy.
pub fn is_a_backup(path: &Path) -> bool {
    read_untouched(path).is_some_and(|conn| marked_as_backup(&conn))
}

/// Whether the database on `conn` says it is a copy `backup` made.
fn marked_as_backup(conn: &Connection) -> bool {
    conn.query_row("SELECT 1 FROM meta WHERE key = 'backup_of'", [], |_| Ok(())).is_ok()
}

/// A copy `backup` made is one only until something in it changes: a run or the server goes on
/// with it (taking the lock), people or tokens are added to it, it is purged (which the audit
/// log records). Then it is a state, and no backup may replace it. For a backup opened on
/// `conn`, every change to any of its tables (but `meta`, where it says what it is) removes its
/// mark; reading leaves it. A state that is not a backup gets no triggers, and pays nothing.
fn stays_a_backup_while_unchanged(conn: &Connection) -> Result<(), StoreError> {
    if !marked_as_backup(conn) {
        return Ok(());
    }
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'meta'")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for table in tables {
        for change in ["INSERT", "UPDATE", "DELETE"] {
            conn.execute_batch(&format!(
                "CREATE TEMP TRIGGER IF NOT EXISTS \"no_longer_a_backup_{table}_{change}\" AFTER {change} ON main.\"{table}\"
                 BEGIN DELETE FROM main.meta WHERE key = 'backup_of'; END;"
            ))?;
        }
    }
    Ok(())
}

/// The SQLite file at `path`, opened to read without changing a byte of it (no log, no lock).
fn read_untouched(path: &Path) -> Option<Connection> {
    // An immutable connection takes no lock, and its close is a plain close of its descriptor:
    // never on a state this process has open (see `lock::DatabaseFile`). That one is read through
    // an ordinary connection, which SQLite closes without letting go of the others' locks.
    if lock::is_kept(path) {
        return Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .ok();
    }
    let url = url::Url::from_file_path(std::path::absolute(path).ok()?).ok()?;
    Connection::open_with_flags(
        format!("{url}?immutable=1"),
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
    )
    .ok()
}

/// Whose a SQLite file is, by its tables, read without changing a byte of it.
enum Whose {
    /// Missing, empty, without tables yet, or with this tool's.
    Ours,
    /// Tables, none of them this tool's: another program's database.
    Another,
    /// It cannot be read as a database.
    Unreadable,
}

fn whose(path: &Path) -> Whose {
    if std::fs::metadata(path).map_or(true, |m| m.len() == 0) {
        return Whose::Ours;
    }
    let Some(conn) = read_untouched(path) else { return Whose::Unreadable };
    let tables = conn.query_row(
        "SELECT count(*), coalesce(sum(name = 'runs'), 0) FROM sqlite_master WHERE type = 'table'",
        [],
        |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
    );
    match tables {
        Ok((0, _)) | Ok((_, 1..)) => Whose::Ours,
        Ok(_) => Whose::Another,
        Err(_) => Whose::Unreadable,
    }
}

/// The state database whose companion `path` is named as (`x.db-wal` beside a database `x.db`).
fn companion_of(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?.to_str()?;
    let base = ["-wal", "-shm", "-journal", ".lock"].iter().find_map(|suffix| name.strip_suffix(suffix))?;
    let base = path.with_file_name(base);
    (base.is_file() && is_sqlite(&base).unwrap_or(false)).then_some(base)
}

/// Whether the file at `path`, if there is one, starts as every SQLite database does.
fn is_sqlite(path: &Path) -> std::io::Result<bool> {
    use std::io::Read as _;
    const HEADER: &[u8; 16] = b"SQLite format 3\0";
    let mut head = [0u8; 16];
    // A state this process has open is read through the descriptor it keeps: opening and closing
    // one of its own would let go of SQLite's locks on it (see `lock::DatabaseFile`).
    let read = match lock::read_kept(path, &mut head) {
        Some(read) => read,
        None => match std::fs::File::open(path) {
            Ok(mut file) => file.read_exact(&mut head),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(true),
            Err(e) => return Err(e),
        },
    };
    match read {
        Ok(()) => Ok(&head == HEADER),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
}

/// `path` with `suffix` after its name: the database's `-wal`, `-shm` and `.lock` files.
pub fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
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
    let open_err = |cause| StoreError::Open { path: path.to_owned(), cause };
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
    handle: Option<std::thread::JoinHandle<Result<(), CheckFailure>>>,
    /// What the check found, once waited for: why the state cannot be trusted.
    verdict: Result<(), CheckFailure>,
}

/// Why a state failed its check: damage found, or no answer (the disk, a lock, the check's own
/// failure), which is not evidence of damage and must not send the user to another state file.
#[derive(Debug, Clone)]
enum CheckFailure {
    Damaged(String),
    Unchecked(String),
}

impl Check {
    /// Waits for the check (at once after the first time) and says whether the state can be
    /// trusted. A state that could not be checked is not used further either.
    pub fn wait(&mut self) -> Result<(), StoreError> {
        if let Some(handle) = self.handle.take() {
            self.verdict = handle.join().unwrap_or_else(|_| {
                Err(CheckFailure::Unchecked("the check stopped unexpectedly".to_owned()))
            });
        }
        let path = self.path.clone();
        self.verdict.clone().map_err(|verdict| match verdict {
            CheckFailure::Damaged(detail) => StoreError::Corrupt { path, detail },
            CheckFailure::Unchecked(detail) => StoreError::Unchecked { path, detail },
        })
    }
}

impl From<rusqlite::Error> for StoreError {
    /// A full disk is said as such. SQLite says "database or disk is full" when the database or
    /// its write-ahead log cannot grow, but only "disk I/O error" when its shared-memory index
    /// cannot (`SQLITE_IOERR_SHMSIZE`), which is where a fuller state first runs out of room.
    fn from(error: rusqlite::Error) -> StoreError {
        match &error {
            rusqlite::Error::SqliteFailure(e, _)
                if e.code == rusqlite::ErrorCode::DiskFull
                    || e.extended_code == rusqlite::ffi::SQLITE_IOERR_SHMSIZE =>
            {
                StoreError::DiskFull(error)
            }
            _ => StoreError::Sqlite(error),
        }
    }
}

/// SQLite's "not a database" and "malformed" become [`StoreError::Corrupt`], with what to do.
fn corrupt_or(path: &Path, error: rusqlite::Error) -> StoreError {
    match error.sqlite_error_code() {
        Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt) => {
            StoreError::Corrupt { path: path.to_owned(), detail: error.to_string() }
        }
        _ => StoreError::from(error),
    }
}

#[cfg(test)]
mod tests;
