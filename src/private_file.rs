//! Files that hold the merchant's credentials or customers' personal data — the state database, its
//! lock file, the config file — and who may control them. As ssh's `StrictModes` and git's
//! `safe.directory` do: a file owned by another user (root's own files aside, when root runs the
//! tool) or writable by group or others is refused, because whoever can write it can read every
//! PAN it will hold, or point the run at a server of theirs. A file of ours that others can merely
//! read is tightened to 0600, and the caller says so once.

use std::fs::Metadata;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// A file that must not be used as it is: another user controls it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Untrusted {
    #[error(
        "{what} {} belongs to another user (uid {owner}), who could read or change what it holds: \
         use a file of your own, or have its owner give it to you (chown {} {})",
        .path.display(), .user, .path.display()
    )]
    OtherOwner { what: &'static str, path: PathBuf, owner: u32, user: u32 },
    #[error(
        "{what} {} can be written by other users (mode {mode:03o}), who could read or change what \
         it holds: chmod 600 {} if it is yours and unchanged, or replace it",
        .path.display(), .path.display()
    )]
    Writable { what: &'static str, path: PathBuf, mode: u32 },
}

/// What [`check`] did to a file it accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked {
    /// Private already, or absent.
    Private,
    /// Other users could read it: it is now mode 0600.
    Tightened { was: u32 },
}

/// Refuses `path` (named `what` in messages) when another user owns it or others can write it.
/// An absent file is fine.
pub fn refuse_untrusted(what: &'static str, path: &Path) -> Result<(), Untrusted> {
    match std::fs::metadata(path) {
        Ok(meta) => judge(what, path, &meta, current_uid()),
        Err(_) => Ok(()),
    }
}

/// As [`refuse_untrusted`], and tightens the file to 0600 when others can read it: for files of
/// personal data. An absent file is fine: it will be created private.
pub fn check(what: &'static str, path: &Path) -> Result<Checked, Untrusted> {
    let Ok(meta) = std::fs::metadata(path) else { return Ok(Checked::Private) };
    judge(what, path, &meta, current_uid())?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 == 0 {
        return Ok(Checked::Private);
    }
    match std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o700)) {
        Ok(()) => Ok(Checked::Tightened { was: mode }),
        // Root's own file, not ours to change, or a read-only disk: readable is not writable.
        Err(_) => Ok(Checked::Private),
    }
}

/// Whether a file with `meta` may be trusted by the user `uid`: theirs, or root's (root can read
/// every file anyway), and writable by neither group nor others.
fn judge(what: &'static str, path: &Path, meta: &Metadata, uid: u32) -> Result<(), Untrusted> {
    let owner = meta.uid();
    if owner != uid && owner != 0 {
        return Err(Untrusted::OtherOwner { what, path: path.to_owned(), owner, user: uid });
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o022 != 0 {
        return Err(Untrusted::Writable { what, path: path.to_owned(), mode });
    }
    Ok(())
}

/// The user running the tool.
pub fn current_uid() -> u32 {
    // The owner of a file this process creates is its effective uid; /proc/self is ours.
    std::fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(mode: u32) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, "x").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        (dir, path)
    }

    #[test]
    fn private_files_pass_readable_ones_are_tightened_writable_ones_refused() {
        let (_dir, path) = file(0o600);
        assert_eq!(check("the state database", &path), Ok(Checked::Private));
        let (_dir, path) = file(0o644);
        assert_eq!(check("the state database", &path), Ok(Checked::Tightened { was: 0o644 }));
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        for mode in [0o666, 0o620, 0o602, 0o660] {
            let (_dir, path) = file(mode);
            let err = check("the config file", &path).unwrap_err();
            assert!(matches!(err, Untrusted::Writable { .. }), "{mode:o}");
            assert!(err.to_string().contains("chmod 600"), "{err}");
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                mode,
                "left as it was"
            );
        }
        assert_eq!(check("x", Path::new("/nonexistent/f")), Ok(Checked::Private));
    }

    #[test]
    fn a_file_of_another_user_is_refused_roots_is_not() {
        let (_dir, path) = file(0o600);
        let meta = std::fs::metadata(&path).unwrap();
        let me = meta.uid();
        assert!(judge("the state database", &path, &meta, me).is_ok());
        // Seen by someone else: not theirs.
        let seen_by_another = judge("the state database", &path, &meta, me + 1);
        if me == 0 {
            // Root's own files are trusted by everyone.
            assert!(seen_by_another.is_ok());
        } else {
            let err = seen_by_another.unwrap_err();
            assert!(matches!(err, Untrusted::OtherOwner { .. }), "{err}");
            assert!(err.to_string().contains("belongs to another user"), "{err}");
        }
    }
}
