//! The files a command reads or keeps are never overwritten by the files it writes. Before a single
//! row is read or sent, every output path is resolved as the kernel will resolve it — symlinks
//! followed, and an existing file known by its device and inode, so that a hard link or a second
//! name cannot hide it — and refused when it is the customer file, the state database or one of its
//! companions (`-wal`, `-shm`, `.lock`), or another output of the same command. Then each output is
//! checked to be writable: a full or read-only disk is better found now than after the run.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

use crate::store::{lock_path, sibling};

/// A file a command must leave alone: what it is, to the user, and where.
pub type Kept<'a> = (&'static str, &'a Path);

/// The state database and its companions, which no output may replace.
pub fn state_files(state: &Path) -> Vec<(&'static str, PathBuf)> {
    vec![
        ("the state database", state.to_owned()),
        ("the state database's write-ahead log", sibling(state, "-wal")),
        ("the state database's shared memory", sibling(state, "-shm")),
        ("the state database's lock file", lock_path(state)),
    ]
}

/// How the kernel will find a path: the file it is now (device and inode), if it exists, and the
/// place a write will land (its directory resolved, and its final symlink followed).
#[derive(Debug, PartialEq, Eq)]
struct Identity {
    inode: Option<(u64, u64)>,
    place: Option<PathBuf>,
}

impl Identity {
    fn of(path: &Path) -> Identity {
        let inode = std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()));
        Identity { inode, place: place(path) }
    }

    fn same_as(&self, other: &Identity) -> bool {
        (self.inode.is_some() && self.inode == other.inode)
            || (self.place.is_some() && self.place == other.place)
    }
}

/// Where a write to `path` lands: the path itself resolved when it exists (symlinks followed);
/// else a dangling symlink's target; else its directory resolved, with its name.
fn place(path: &Path) -> Option<PathBuf> {
    if let Ok(real) = path.canonicalize() {
        return Some(real);
    }
    let parent = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    if let Ok(target) = std::fs::read_link(path) {
        return place(&parent.join(target));
    }
    Some(parent.canonicalize().ok()?.join(path.file_name()?))
}

/// Refuses an output (`--flag`, path) that resolves to a file in `kept` or to another output, and
/// one that cannot be written.
pub fn guard_outputs(kept: &[Kept<'_>], outputs: &[(&str, &Path)]) -> anyhow::Result<()> {
    let kept: Vec<(&str, &Path, Identity)> =
        kept.iter().map(|(what, p)| (*what, *p, Identity::of(p))).collect();
    let mut seen: Vec<(&str, Identity)> = Vec::new();
    for (flag, path) in outputs {
        let identity = Identity::of(path);
        if let Some((what, kept_path, _)) = kept.iter().find(|(_, _, k)| k.same_as(&identity)) {
            bail!(
                "{flag} {} is {what} ({}): writing it would destroy it. Choose another name for the \
                 output; nothing was read or sent",
                path.display(),
                kept_path.display()
            );
        }
        if let Some((other, _)) = seen.iter().find(|(_, s)| s.same_as(&identity)) {
            bail!("{other} and {flag} both name {}: give each output its own file", path.display());
        }
        crate::output::check_writable(path).with_context(|| format!("{flag} cannot be written"))?;
        seen.push((flag, identity));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_output_may_not_be_a_kept_file_by_any_name() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("in.csv"), "x").unwrap();
        std::fs::write(d.join("state.db"), "x").unwrap();
        std::os::unix::fs::symlink(d.join("in.csv"), d.join("link.csv")).unwrap();
        std::fs::hard_link(d.join("state.db"), d.join("other-name.db")).unwrap();
        std::os::unix::fs::symlink(d.join("gone.csv"), d.join("dangling.csv")).unwrap();
        let state = d.join("state.db");
        let files = state_files(&state);
        let mut kept: Vec<Kept<'_>> = files.iter().map(|(w, p)| (*w, p.as_path())).collect();
        let input = d.join("in.csv");
        kept.push(("the customer file", &input));
        let refused =
            |output: PathBuf| guard_outputs(&kept, &[("--output", &output)]).map_err(|e| e.to_string());
        for (output, what) in [
            (d.join("in.csv"), "the customer file"),
            (d.join("link.csv"), "the customer file"),
            (d.join("sub/../in.csv"), "the customer file"),
            (d.join("state.db"), "the state database"),
            (d.join("other-name.db"), "the state database"),
            (d.join("state.db-wal"), "write-ahead log"),
            (d.join("state.db.lock"), "lock file"),
        ] {
            std::fs::create_dir_all(d.join("sub")).unwrap();
            let err = refused(output.clone()).unwrap_err();
            assert!(err.contains(what), "{}: {err}", output.display());
        }
        assert!(refused(d.join("results.csv")).is_ok());
        // A dangling symlink writes where it points.
        let target = d.join("gone.csv");
        let err = guard_outputs(&kept, &[("--output", &d.join("dangling.csv")), ("--errors", &target)])
            .unwrap_err()
            .to_string();
        assert!(err.contains("--output and --errors both name"), "{err}");
    }
}
