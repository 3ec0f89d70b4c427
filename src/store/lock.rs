//! One run at a time per state database (ARCHITECTURE.md, "Invariants"): a lock row holding the
//! owner's pid, host and a heartbeat. A lock whose owner is gone — its process no longer exists on
//! this host, or its heartbeat stopped — is taken over, and the caller is told so it can warn.

use std::time::Duration;

use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::{Store, StoreError, now_ms};

/// How often the owner refreshes its heartbeat.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(5);
/// A heartbeat older than this belongs to a process that is gone or hung.
pub const STALE_AFTER: Duration = Duration::from_secs(30);

/// Who holds (or held) the lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockOwner {
    pub pid: u32,
    pub host: String,
    /// How long ago the owner last proved it was alive.
    pub heartbeat_age: Duration,
}

/// The run lock, held until dropped: however the run ends — finished, aborted, or an error
/// halfway — the lock goes with it, through a connection of its own (the store may be gone).
#[derive(Debug)]
#[must_use = "the lock is released when this is dropped"]
pub struct HeldLock {
    path: std::path::PathBuf,
}

impl Drop for HeldLock {
    fn drop(&mut self) {
        // Never creates a database: if the file is gone, so is the lock.
        let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
        if let Ok(conn) = rusqlite::Connection::open_with_flags(&self.path, flags) {
            let _ = conn.busy_timeout(Duration::from_secs(5));
            let _ = conn.execute(
                "DELETE FROM lock WHERE id = 1 AND pid = ?1 AND host = ?2",
                params![std::process::id(), hostname()],
            );
        }
    }
}

impl Store {
    /// Takes the run lock for this process, held until the returned guard is dropped. Fails with
    /// [`StoreError::Locked`] while another live run holds it; tells of the previous owner when a
    /// stale lock was taken over.
    pub fn acquire_lock(&mut self) -> Result<(HeldLock, Option<LockOwner>), StoreError> {
        let (pid, host) = (std::process::id(), hostname());
        let now = now_ms();
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let existing: Option<(u32, String, i64)> = tx
            .query_row("SELECT pid, host, heartbeat_at FROM lock WHERE id = 1", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()?;
        let previous = match existing {
            Some((owner_pid, owner_host, heartbeat_at)) if !(owner_pid == pid && owner_host == host) => {
                let owner = LockOwner {
                    pid: owner_pid,
                    heartbeat_age: Duration::from_millis(u64::try_from(now - heartbeat_at).unwrap_or(0)),
                    host: owner_host,
                };
                if is_alive(&owner, &host) {
                    return Err(StoreError::Locked(owner));
                }
                Some(owner)
            }
            _ => None,
        };
        tx.execute(
            "INSERT INTO lock (id, pid, host, acquired_at, heartbeat_at) VALUES (1, ?1, ?2, ?3, ?3)
             ON CONFLICT (id) DO UPDATE SET pid = ?1, host = ?2, acquired_at = ?3, heartbeat_at = ?3",
            params![pid, host, now],
        )?;
        tx.commit()?;
        Ok((HeldLock { path: self.path.clone() }, previous))
    }

    /// Proves the owner is alive. Fails if the lock was taken over meanwhile.
    pub fn heartbeat(&self) -> Result<(), StoreError> {
        let updated = self.conn.execute(
            "UPDATE lock SET heartbeat_at = ?1 WHERE id = 1 AND pid = ?2 AND host = ?3",
            params![now_ms(), std::process::id(), hostname()],
        )?;
        if updated == 1 { Ok(()) } else { Err(StoreError::LockLost) }
    }
}

fn hostname() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}

/// A lock is live while its heartbeat is fresh and, on this host, its process exists.
fn is_alive(owner: &LockOwner, this_host: &str) -> bool {
    if owner.heartbeat_age >= STALE_AFTER {
        return false;
    }
    if owner.host != this_host {
        return true;
    }
    process_exists(owner.pid)
}

#[cfg(target_os = "linux")]
fn process_exists(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[cfg(not(target_os = "linux"))]
fn process_exists(_pid: u32) -> bool {
    // Without /proc, trust the heartbeat alone.
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let mut first = Store::open(&path).unwrap();
        let (held, previous) = first.acquire_lock().unwrap();
        assert_eq!(previous, None);
        first.heartbeat().unwrap();

        // Another live process on this host: pid 1 always exists.
        first.conn.execute("UPDATE lock SET pid = 1", []).unwrap();
        let mut second = Store::open(&path).unwrap();
        let Err(StoreError::Locked(owner)) = second.acquire_lock() else { panic!("not locked") };
        assert_eq!(owner.pid, 1);
        assert!(matches!(first.heartbeat(), Err(StoreError::LockLost)));

        // The same owner with a heartbeat gone stale is taken over.
        first.conn.execute("UPDATE lock SET heartbeat_at = heartbeat_at - 60000", []).unwrap();
        let (second_held, taken) = second.acquire_lock().unwrap();
        assert_eq!(taken.expect("took over").pid, 1);
        second.heartbeat().unwrap();
        drop(second_held);
        drop(held);
        assert_eq!(first.acquire_lock().unwrap().1, None, "dropping the guard released the lock");
    }

    #[test]
    fn a_dead_process_on_this_host_does_not_hold_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("state.db")).unwrap();
        let _held = store.acquire_lock().unwrap();
        // No process has pid 2^31 - 1 on Linux (pid_max is at most 2^22).
        store.conn.execute("UPDATE lock SET pid = 2147483647", []).unwrap();
        let (_held, previous) = store.acquire_lock().unwrap();
        assert_eq!(previous.expect("taken over").pid, 2_147_483_647);
    }

    #[test]
    fn a_lock_held_on_another_host_is_respected_while_its_heartbeat_is_fresh() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("state.db")).unwrap();
        let _held = store.acquire_lock().unwrap();
        store.conn.execute("UPDATE lock SET host = 'batch-02'", []).unwrap();
        assert!(matches!(store.acquire_lock(), Err(StoreError::Locked(o)) if o.host == "batch-02"));
    }
}
