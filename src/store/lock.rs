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
    _files: Vec<File>,
}

/// Takes every lock in `files`, or none: a lock taken is let go again when another is held.
fn try_lock_all(files: &[File]) -> Result<(), TryLockError> {
    for (i, file) in files.iter().enumerate() {
        if let Err(e) = file.try_lock() {
            for taken in &files[..i] {
                let _ = taken.unlock();
            }
            return Err(e);
        }
    }
    Ok(())
}

/// The lock file of the state at `state`: `<state>.lock`, beside it.
pub fn lock_path(state: &Path) -> PathBuf {
    super::sibling(state, ".lock")
}

/// Opens (creating, mode 0600) the lock file of `state`; refused when another user controls it.
/// A state reached through a symlink is locked beside the file itself (as SQLite keeps its log
/// there), so that every name of it takes the one lock.
fn open_lock_file(state: &Path) -> Result<(PathBuf, File), StoreError> {
    let path = lock_path(&std::fs::canonicalize(state).unwrap_or_else(|_| state.to_owned()));
    private_file::check("the lock file", &path)?;
    match OpenOptions::new().read(true).write(true).create(true).truncate(false).mode(0o600).open(&path) {
        Ok(file) => Ok((path, file)),
        Err(cause) => Err(StoreError::Open { path, cause }),
    }
}

/// The key in `meta` naming the lock file the state was last locked through.
pub(super) const LOCKED_THROUGH: &str = "locked_through";

impl Store {
    /// The lock file the state was last locked through, when it is another than `ours`, is still
    /// there, and no file has the state's old name: the state was renamed (or moved) since,
    /// perhaps while a run holds it, and that run holds the lock beside the old name. (A copy of
    /// a state is not held by its original's runs: the original is still under its name.)
    fn lock_file_of_another_name(&self, ours: &Path) -> Option<File> {
        let recorded: String = self
            .conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [LOCKED_THROUGH], |r| r.get(0))
            .optional()
            .ok()
            .flatten()?;
        let recorded = PathBuf::from(recorded);
        let old_name = recorded.to_str()?.strip_suffix(".lock").map(PathBuf::from)?;
        if recorded == ours || std::fs::symlink_metadata(&old_name).is_ok() {
            return None;
        }
        File::open(&recorded).ok()
    }

    /// The lock files that say whether a run holds the state: its own, beside it, and the one it
    /// was last locked through under another name.
    fn lock_files(&self) -> Result<(PathBuf, Vec<File>), StoreError> {
        let (ours, file) = open_lock_file(&self.path)?;
        let mut files = vec![file];
        files.extend(self.lock_file_of_another_name(&ours));
        Ok((ours, files))
    }

    /// Takes the run lock for this process, held until the returned guard is dropped. While
    /// another process holds it, calls `waiting` once with who that is and waits up to `wait`;
    /// then fails with [`StoreError::Locked`] naming the holder. A state renamed while a run
    /// holds it is held still: the lock file it was locked through is taken too.
    pub fn acquire_lock(
        &mut self,
        wait: Duration,
        waiting: impl FnOnce(&LockOwner),
    ) -> Result<HeldLock, StoreError> {
        let (ours, files) = self.lock_files()?;
        let deadline = Instant::now() + wait;
        let mut waiting = Some(waiting);
        loop {
            match try_lock_all(&files) {
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
                Err(TryLockError::Error(cause)) => return Err(StoreError::Open { path: ours, cause }),
            }
        }
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = ?2",
            params![LOCKED_THROUGH, ours.to_string_lossy()],
        )?;
        // Recorded: a backup a run or the server goes on with is a state from now on
        // (`stays_a_backup_while_unchanged`).
        let now = now_ms();
        self.conn.execute(
            "INSERT INTO lock (id, pid, host, acquired_at, heartbeat_at) VALUES (1, ?1, ?2, ?3, ?3)
             ON CONFLICT (id) DO UPDATE SET pid = ?1, host = ?2, acquired_at = ?3, heartbeat_at = ?3",
            params![std::process::id(), hostname(), now],
        )?;
        // Into the database file at once: a run that opens it under a new name reads the file,
        // not this name's log.
        self.checkpoint()?;
        Ok(HeldLock { _files: files })
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
        let files = match self.lock_files() {
            Ok((_, files)) => files,
            // A lock file that cannot be made (a read-only disk): no process can hold one there,
            // or, if it exists, looked at read-only (`flock` needs no write access).
            Err(StoreError::Open { cause, .. }) if cause.raw_os_error() == Some(30) => {
                let ours =
                    lock_path(&std::fs::canonicalize(&self.path).unwrap_or_else(|_| self.path.clone()));
                let mut files: Vec<File> = File::open(lock_path(&self.path)).into_iter().collect();
                files.extend(self.lock_file_of_another_name(&ours));
                files
            }
            Err(e) => return Err(e),
        };
        match try_lock_all(&files) {
            Ok(()) => {
                for file in &files {
                    let _ = file.unlock();
                }
                Ok(false)
            }
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
    fn a_state_renamed_while_a_run_holds_it_is_held_under_its_new_name() {
        let dir = tempfile::tempdir().unwrap();
        let (path, moved) = (dir.path().join("state.db"), dir.path().join("moved.db"));
        let mut first = Store::open(&path).unwrap();
        let held = first.acquire_lock(Duration::ZERO, |_| panic!("nobody holds it")).unwrap();
        // Its pages in the database file, as a run keeps them every two seconds.
        first.checkpoint().unwrap();
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
        let mut original = Store::open(&path).unwrap();
        let _held = original.acquire_lock(Duration::ZERO, |_| panic!("nobody holds it")).unwrap();
        original.checkpoint().unwrap();
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
