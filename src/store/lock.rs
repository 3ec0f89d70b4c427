//! One run at a time per state database (ARCHITECTURE.md, "Invariants"): the kernel's advisory
//! lock (`flock`) on a lock file beside the state, `<state>.lock`, held for the life of the
//! process. The kernel releases it the moment the process dies — killed with its wrapper, by the
//! OOM killer, at a power cut's reboot — and never while it lives, even stopped (SIGSTOP) or slow:
//! no heartbeat to go stale, no lock to take over. A second run waits for it a bounded time, then
//! gives up naming the holder. The holder's pid, host and start are kept in the state only to
//! describe it, and to show `interrupted` rather than `running` for a run whose process is gone.

use std::fs::{File, OpenOptions, TryLockError};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
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
    _file: File,
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
    /// then fails with [`StoreError::Locked`] naming the holder.
    pub fn acquire_lock(
        &mut self,
        wait: Duration,
        waiting: impl FnOnce(&LockOwner),
    ) -> Result<HeldLock, StoreError> {
        let file = open_lock_file(&self.path)?;
        let deadline = Instant::now() + wait;
        let mut waiting = Some(waiting);
        loop {
            match file.try_lock() {
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
        let now = now_ms();
        self.conn.execute(
            "INSERT INTO lock (id, pid, host, acquired_at, heartbeat_at) VALUES (1, ?1, ?2, ?3, ?3)
             ON CONFLICT (id) DO UPDATE SET pid = ?1, host = ?2, acquired_at = ?3, heartbeat_at = ?3",
            params![std::process::id(), hostname(), now],
        )?;
        // A backup a run or the server goes on with is a state from now on: no later backup may
        // replace it. (Reading one — `status`, `export` — leaves it a backup.)
        self.conn.execute("DELETE FROM meta WHERE key = 'backup_of'", [])?;
        Ok(HeldLock { _file: file })
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
        let file = match open_lock_file(&self.path) {
            Ok(file) => file,
            // A lock file that cannot be made (a read-only disk): no process can hold one there,
            // or, if it exists, looked at read-only (`flock` needs no write access).
            Err(StoreError::Open { cause, .. }) if cause.raw_os_error() == Some(30) => {
                match File::open(lock_path(&self.path)) {
                    Ok(file) => file,
                    Err(_) => return Ok(false),
                }
            }
            Err(e) => return Err(e),
        };
        match file.try_lock() {
            Ok(()) => Ok(false),
            Err(TryLockError::WouldBlock) => Ok(true),
            Err(TryLockError::Error(cause)) => Err(StoreError::Open { path: lock_path(&self.path), cause }),
        }
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
