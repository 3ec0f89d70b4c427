//! One run at a time per state database (ARCHITECTURE.md, "Invariants"): the kernel's advisory
//! lock (`flock`) on a lock file beside the state, `<state>.lock`, and on the database file
//! itself — which follows the file wherever it is renamed or moved, even while a run holds it —
//! both held for the life of the process. The kernel releases them the moment the process dies —
//! killed with its wrapper, by the OOM killer, at a power cut's reboot — and never while it lives,
//! even stopped (SIGSTOP) or slow: no heartbeat to go stale, no lock to take over. A second run
//! waits for it a bounded time, then gives up naming the holder. The holder's pid, host and start
//! are kept in the state only to describe it, and to show `interrupted` rather than `running` for
//! a run whose process is gone.

use std::fs::{File, OpenOptions, TryLockError};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError, now_ms};
use crate::private_file;

/// How long a run waits for another to finish with the state without `--lock-wait`.
pub const DEFAULT_LOCK_WAIT: Duration = Duration::from_secs(10);
/// How often a waiting run looks again.
const RETRY_EVERY: Duration = Duration::from_millis(100);

/// Who holds (or last held) the lock, as the holder described itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockOwner {
    pub pid: u32,
    pub host: String,
    /// How long ago the holder took the lock.
    pub held_for: Duration,
}

impl std::fmt::Display for LockOwner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pid {} on {}, since {}s ago", self.pid, self.host, self.held_for.as_secs())
    }
}

/// The run lock, held until dropped or the process ends, however it ends.
#[derive(Debug)]
#[must_use = "the lock is released when this is dropped"]
pub struct HeldLock {
    _lock_file: File,
    database: Arc<DatabaseFile>,
}

impl Drop for HeldLock {
    fn drop(&mut self) {
        self.database.let_go();
    }
}

/// A state's database file as this process keeps it: opened once, when the process first opens
/// the state, and never closed. Closing *any* descriptor of a file lets go every POSIX lock the
/// process holds on it, SQLite's own among them: the shared lock each of its connections keeps
/// on a database in WAL mode, which tells another process closing its last connection that the
/// log is still in use. Without it, that process checkpoints and deletes the `-wal` and `-shm`
/// under this one's feet, and this one's next commits go to files nobody will read (seen: the
/// `sqlite3` shell run beside the server). So whatever this process reads of the file itself
/// goes through this descriptor ([`read_kept`]), and its `flock` is the run lock's second half.
#[derive(Debug)]
struct DatabaseFile {
    identity: (u64, u64),
    file: File,
    /// Whether this process holds its lock (an `flock` taken again through the same descriptor
    /// would not wait, so the process keeps count itself).
    held: Mutex<bool>,
}

/// Every database file this process keeps open (see [`DatabaseFile`]).
static KEPT: Mutex<Vec<Arc<DatabaseFile>>> = Mutex::new(Vec::new());

/// Keeps the database file at `state` open for the rest of the process: every opening of a state
/// does, before anything else of the process could open and close the file.
pub(super) fn keep_open(state: &Path) -> std::io::Result<(u64, u64)> {
    DatabaseFile::of(state).map(|database| database.identity)
}

/// The device and inode of the file `path` leads to: what a file is, whatever its name.
pub(super) fn identity_of(path: &Path) -> std::io::Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata(path).map(|meta| (meta.dev(), meta.ino()))
}

/// The file at `path`, if it is a database file this process keeps open (found by device and
/// inode, whatever name leads to it), without opening it.
fn kept(path: &Path) -> Option<Arc<DatabaseFile>> {
    let identity = identity_of(path).ok()?;
    KEPT.lock().unwrap_or_else(PoisonError::into_inner).iter().find(|f| f.identity == identity).cloned()
}

/// Whether the file at `path` is a database file this process keeps open.
pub(super) fn is_kept(path: &Path) -> bool {
    kept(path).is_some()
}

/// Reads the start of the file at `path` into `head` through the descriptor this process keeps,
/// if it keeps one (`None`: it does not, and may open the file itself).
pub(super) fn read_kept(path: &Path, head: &mut [u8]) -> Option<std::io::Result<()>> {
    use std::os::unix::fs::FileExt as _;
    kept(path).map(|database| database.file.read_exact_at(head, 0))
}

impl DatabaseFile {
    /// The database file at `state`, as this process keeps it open.
    fn of(state: &Path) -> std::io::Result<Arc<DatabaseFile>> {
        use std::os::unix::fs::MetadataExt as _;
        let identity = identity_of(state)?;
        let mut open = KEPT.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(kept) = open.iter().find(|f| f.identity == identity) {
            return Ok(kept.clone());
        }
        // A file removed since then can no longer be opened by its name, by anyone: its
        // descriptor may close. (So a process that opens many states in turn — a test suite —
        // keeps only those still there.)
        open.retain(|kept| Arc::strong_count(kept) > 1 || kept.file.metadata().is_ok_and(|m| m.nlink() > 0));
        let file = File::open(state)?;
        let meta = file.metadata()?;
        let database =
            Arc::new(DatabaseFile { identity: (meta.dev(), meta.ino()), file, held: Mutex::new(false) });
        open.push(database.clone());
        Ok(database)
    }

    /// Takes its lock, unless another process — or this one — holds it.
    fn try_take(&self) -> Result<(), TryLockError> {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        if *held {
            return Err(TryLockError::WouldBlock);
        }
        self.file.try_lock()?;
        *held = true;
        Ok(())
    }

    fn let_go(&self) {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        if *held {
            let _ = self.file.unlock();
            *held = false;
        }
    }

    /// Whether a process holds its lock now (looked at without keeping it).
    fn is_held(&self) -> Result<bool, std::io::Error> {
        match self.try_take() {
            Ok(()) => {
                self.let_go();
                Ok(false)
            }
            Err(TryLockError::WouldBlock) => Ok(true),
            Err(TryLockError::Error(e)) => Err(e),
        }
    }
}

/// The lock file of the state at `state`: `<state>.lock`, beside it.
pub fn lock_path(state: &Path) -> PathBuf {
    super::sibling(state, ".lock")
}

/// Opens (creating, mode 0600) the lock file of `state`; refused when another user controls it.
/// A state reached through a symlink is locked beside the file itself (as SQLite keeps its log
/// there), so that every name of it takes the one lock.
fn open_lock_file(state: &Path) -> Result<File, StoreError> {
    let path = lock_path(&std::fs::canonicalize(state).unwrap_or_else(|_| state.to_owned()));
    private_file::check("the lock file", &path)?;
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(|cause| StoreError::Open { path, cause })
}

impl Store {
    /// Takes the run lock for this process, held until the returned guard is dropped. While
    /// another process holds it, calls `waiting` once with who that is and waits up to `wait`;
    /// then fails with [`StoreError::Locked`] naming the holder. A state renamed while a run
    /// holds it is held still: its database file's lock went with it.
    pub fn acquire_lock(
        &mut self,
        wait: Duration,
        waiting: impl FnOnce(&LockOwner),
    ) -> Result<HeldLock, StoreError> {
        let lock_file = open_lock_file(&self.path)?;
        let database = DatabaseFile::of(&self.path)
            .map_err(|cause| StoreError::Open { path: self.path.clone(), cause })?;
        let deadline = Instant::now() + wait;
        let mut waiting = Some(waiting);
        loop {
            let taken = lock_file.try_lock().and_then(|()| {
                database.try_take().inspect_err(|_| {
                    let _ = lock_file.unlock();
                })
            });
            match taken {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) => {
                    let holder = self.lock_holder()?;
                    if Instant::now() >= deadline {
                        return Err(StoreError::Locked(holder));
                    }
                    if let (Some(waiting), Some(holder)) = (waiting.take(), &holder) {
                        waiting(holder);
                    }
                    std::thread::sleep(RETRY_EVERY.min(deadline.saturating_duration_since(Instant::now())));
                }
                Err(TryLockError::Error(cause)) => {
                    return Err(StoreError::Open { path: lock_path(&self.path), cause });
                }
            }
        }
        // Held from here: a guard lets go of the database file's lock whatever happens next.
        let held = HeldLock { _lock_file: lock_file, database };
        // Recorded: a backup a run or the server goes on with is a state from now on
        // (`stays_a_backup_while_unchanged`).
        let now = now_ms();
        self.conn.execute(
            "INSERT INTO lock (id, pid, host, acquired_at, heartbeat_at) VALUES (1, ?1, ?2, ?3, ?3)
             ON CONFLICT (id) DO UPDATE SET pid = ?1, host = ?2, acquired_at = ?3, heartbeat_at = ?3",
            params![std::process::id(), hostname(), now],
        )?;
        Ok(held)
    }

    /// Who last took the lock, as they described themselves; `None` when nobody ever did.
    pub fn lock_holder(&self) -> Result<Option<LockOwner>, StoreError> {
        let row: Option<(u32, String, i64)> = self
            .conn
            .query_row("SELECT pid, host, acquired_at FROM lock WHERE id = 1", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()?;
        Ok(row.map(|(pid, host, acquired_at)| LockOwner {
            pid,
            host,
            held_for: Duration::from_millis(u64::try_from(now_ms() - acquired_at).unwrap_or(0)),
        }))
    }

    /// Whether a live process holds the run lock now. Looks without waiting, and lets go at once.
    pub fn lock_is_held(&self) -> Result<bool, StoreError> {
        let open_err = |cause| StoreError::Open { path: lock_path(&self.path), cause };
        let file = match open_lock_file(&self.path) {
            Ok(file) => Some(file),
            // A lock file that cannot be made (a read-only disk): no process can hold one there,
            // or, if it exists, looked at read-only (`flock` needs no write access).
            Err(StoreError::Open { cause, .. }) if cause.raw_os_error() == Some(30) => {
                File::open(lock_path(&self.path)).ok()
            }
            Err(e) => return Err(e),
        };
        if let Some(file) = file {
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => return Ok(true),
                Err(TryLockError::Error(cause)) => return Err(open_err(cause)),
            }
        }
        let database = DatabaseFile::of(&self.path).map_err(open_err)?;
        database.is_held().map_err(open_err)
    }
}

fn hostname() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_waits_then_is_refused_naming_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let mut first = Store::open(&path).unwrap();
        let held = first.acquire_lock(Duration::ZERO, |_| panic!("nobody holds it")).unwrap();
        assert!(first.lock_is_held().unwrap());

        let mut second = Store::open(&path).unwrap();
        let mut told = None;
        let started = Instant::now();
        let Err(StoreError::Locked(Some(owner))) =
            second.acquire_lock(Duration::from_millis(300), |holder| told = Some(holder.clone()))
        else {
            panic!("not refused")
        };
        assert!(started.elapsed() >= Duration::from_millis(300), "it waited");
        assert_eq!(owner.pid, std::process::id());
        assert_eq!(told.map(|t| (t.pid, t.host)), Some((owner.pid, owner.host)));

        // Released when dropped: the second takes it at once.
        drop(held);
        assert!(!first.lock_is_held().unwrap());
        let _held = second.acquire_lock(Duration::ZERO, |_| panic!("free")).unwrap();
        assert_eq!(std::fs::metadata(lock_path(&path)).unwrap().len(), 0, "the lock file holds nothing");
    }

    /// A state at `path`, its lock held, its pages in the database file (as a run keeps them
    /// every two seconds).
    fn held(path: &Path) -> (Store, HeldLock) {
        let mut store = Store::open(path).unwrap();
        let held = store.acquire_lock(Duration::ZERO, |_| panic!("nobody holds it")).unwrap();
        store.checkpoint().unwrap();
        (store, held)
    }

    #[test]
    fn a_state_renamed_while_a_run_holds_it_is_held_under_its_new_name() {
        let dir = tempfile::tempdir().unwrap();
        let (path, moved) = (dir.path().join("state.db"), dir.path().join("moved.db"));
        let (_first, held) = held(&path);
        std::fs::rename(&path, &moved).unwrap();
        let mut second = Store::open(&moved).unwrap();
        assert!(second.lock_is_held().unwrap(), "held, under the old name");
        let refused = second.acquire_lock(Duration::from_millis(200), |_| {}).unwrap_err();
        assert!(matches!(refused, StoreError::Locked(Some(_))), "{refused}");
        // Let go: the new name takes it, and the next one is told to wait for that.
        drop(held);
        assert!(!second.lock_is_held().unwrap());
        let held = second.acquire_lock(Duration::ZERO, |_| panic!("free")).unwrap();
        let third = Store::open(&moved).unwrap();
        assert!(third.lock_is_held().unwrap());
        drop(held);
        assert!(!third.lock_is_held().unwrap());
    }

    #[test]
    fn a_copy_of_a_state_is_not_held_by_the_originals_run() {
        let dir = tempfile::tempdir().unwrap();
        let (path, copy) = (dir.path().join("state.db"), dir.path().join("copy.db"));
        let (_original, _held) = held(&path);
        std::fs::copy(&path, &copy).unwrap();
        let mut copy = Store::open(&copy).unwrap();
        assert!(!copy.lock_is_held().unwrap());
        let _also = copy.acquire_lock(Duration::ZERO, |_| panic!("a state of its own")).unwrap();
    }

    #[test]
    fn the_lock_file_is_private_and_another_users_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let mut store = Store::open(&path).unwrap();
        drop(store.acquire_lock(Duration::ZERO, |_| {}).unwrap());
        let mode = std::fs::metadata(lock_path(&path)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        std::fs::set_permissions(lock_path(&path), std::fs::Permissions::from_mode(0o666)).unwrap();
        let err = store.acquire_lock(Duration::ZERO, |_| {}).unwrap_err();
        assert!(err.to_string().contains("can be written by other users"), "{err}");
    }
}
