//! The one gate every file the program writes passes. A command declares, before a single row is
//! read or sent, the files it keeps (the customer file, the state database and its companions,
//! the config file in use) and the files it will write (results, errors, summary, metrics, an
//! export, a backup, the server's files), and [`Gate::clear`] checks them all at once: each path
//! is resolved as the kernel will resolve it — symlinks followed, `dir/../` spellings folded, an
//! existing file known by its device and inode so that a hard link or a second name cannot hide
//! it — and every file named has one role: an output that is a kept file or another output is
//! refused, as are two kept files that are one (a state whose lock file is the config file), and
//! an output that cannot be written (a directory, a missing or read-only directory). The check is
//! all or nothing: a refused command gets no [`Cleared`] at all, so it writes nothing, not even
//! the summary it was asked for.
//!
//! [`Cleared`] is the only key to writing: `output::AtomicFile` (through which every output file
//! is written) and the state's backup take one, and only this module can make one. A write that
//! skipped the check does not compile.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::store::{lock_path, sibling};

/// A path the gate cleared for writing: not a kept file, not another output of the command,
/// and writable when it was checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cleared {
    path: PathBuf,
}

impl Cleared {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Why the gate refused a command's outputs. Nothing was read, sent or written.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Refused {
    #[error(
        "{name} {} is {what} ({}): writing it would destroy it. Choose another name for the \
         output; nothing was read, sent or written",
        .path.display(), .kept.display()
    )]
    Kept { name: String, path: PathBuf, what: &'static str, kept: PathBuf },
    #[error(
        "{first} and {second} both name {}: give each output its own file; nothing was read, sent \
         or written",
        .path.display()
    )]
    Twice { first: String, second: String, path: PathBuf },
    #[error("{name} {} cannot be written ({why}); nothing was read, sent or written", .path.display())]
    NotWritable { name: String, path: PathBuf, why: String },
    #[error(
        "{} is both {first} and {second}: give each its own file; nothing was read, sent or written",
        .path.display()
    )]
    TwoRoles { first: &'static str, second: &'static str, path: PathBuf },
}

/// What one command keeps, against which its outputs are checked.
#[derive(Debug, Default)]
pub struct Gate {
    kept: Vec<Kept>,
    /// Two kept files are one (the state is the customer file, its lock file the config file):
    /// the command is refused whatever its outputs.
    refused: Option<Refused>,
}

#[derive(Debug)]
struct Kept {
    what: &'static str,
    path: PathBuf,
    identity: Identity,
}

impl Gate {
    pub fn new() -> Gate {
        Gate::default()
    }

    /// A file no output may replace, and no other kept file may be: `what` names it to the user.
    pub fn keep(mut self, what: &'static str, path: &Path) -> Gate {
        let identity = Identity::of(path);
        if let Some(other) = self.kept.iter().find(|k| k.identity.same_as(&identity)) {
            self.refused.get_or_insert(Refused::TwoRoles {
                first: other.what,
                second: what,
                path: path.to_owned(),
            });
        }
        self.kept.push(Kept { what, path: path.to_owned(), identity });
        self
    }

    /// The state database and its companions (`-wal`, `-shm`, `.lock`), which the store writes:
    /// none of them may be the customer file or the config file either.
    pub fn keep_state(self, state: &Path) -> Gate {
        self.keep("the state database", state)
            .keep("the state database's write-ahead log", &sibling(state, "-wal"))
            .keep("the state database's shared memory", &sibling(state, "-shm"))
            .keep("the state database's lock file", &lock_path(state))
    }

    /// The config file in use, if there is one.
    pub fn keep_config(self, config: Option<&Path>) -> Gate {
        match config {
            Some(config) => self.keep("the config file", config),
            None => self,
        }
    }

    /// Checks every output at once (`name`, the flag or what it is, and its path, if the command
    /// writes it): all are cleared, or none.
    pub fn clear<const N: usize>(
        &self,
        outputs: [(&str, Option<&Path>); N],
    ) -> Result<[Option<Cleared>; N], Refused> {
        if let Some(refused) = &self.refused {
            return Err(refused.clone());
        }
        let mut seen: Vec<(&str, Identity)> = Vec::new();
        for (name, path) in outputs.iter().filter_map(|(name, path)| Some((*name, (*path)?))) {
            let identity = Identity::of(path);
            if let Some(kept) = self.kept.iter().find(|k| k.identity.same_as(&identity)) {
                return Err(Refused::Kept {
                    name: name.to_owned(),
                    path: path.to_owned(),
                    what: kept.what,
                    kept: kept.path.clone(),
                });
            }
            if let Some((first, _)) = seen.iter().find(|(_, s)| s.same_as(&identity)) {
                return Err(Refused::Twice {
                    first: (*first).to_owned(),
                    second: name.to_owned(),
                    path: path.to_owned(),
                });
            }
            writable(path).map_err(|why| Refused::NotWritable {
                name: name.to_owned(),
                path: path.to_owned(),
                why,
            })?;
            seen.push((name, identity));
        }
        Ok(outputs.map(|(_, path)| path.map(|p| Cleared { path: p.to_owned() })))
    }

    /// A command that writes no output of its own (it reads, or writes only the state): its kept
    /// files are checked for one role each.
    pub fn check(&self) -> Result<(), Refused> {
        self.clear([]).map(drop)
    }

    /// One output: [`Gate::clear`] of a single file.
    pub fn clear_one(&self, name: &str, path: &Path) -> Result<Cleared, Refused> {
        let [cleared] = self.clear([(name, Some(path))])?;
        Ok(cleared.unwrap_or_else(|| unreachable!("a path given is cleared or refused")))
    }
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
        Identity { inode, place: place(path, 0) }
    }

    fn same_as(&self, other: &Identity) -> bool {
        (self.inode.is_some() && self.inode == other.inode)
            || (self.place.is_some() && self.place == other.place)
    }
}

/// Where a write to `path` lands: the path itself resolved when it exists (symlinks followed);
/// else a dangling symlink's target (followed a bounded number of times, as the kernel does);
/// else its directory resolved, with its name.
fn place(path: &Path, depth: u8) -> Option<PathBuf> {
    if let Ok(real) = path.canonicalize() {
        return Some(real);
    }
    let parent = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    if let Ok(target) = std::fs::read_link(path) {
        return if depth < 40 { place(&parent.join(target), depth + 1) } else { None };
    }
    Some(parent.canonicalize().ok()?.join(path.file_name()?))
}

/// Whether a file could be written at `path` now: not a directory, and its directory exists and
/// takes a new file (not read-only, not full). Leaves nothing behind.
fn writable(path: &Path) -> Result<(), String> {
    if path.is_dir() {
        return Err("it is a directory".to_owned());
    }
    if path.file_name().is_none() {
        return Err("it names no file".to_owned());
    }
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    tempfile::Builder::new().prefix(".cibil-bulk-").suffix(".part").tempfile_in(dir).map(drop).map_err(|e| {
        match e.raw_os_error() {
            // The temporary file's name that `tempfile` adds means nothing to the user.
            Some(code) => std::io::Error::from_raw_os_error(code).to_string(),
            None => e.kind().to_string(),
        }
    })
}

/// A path cleared without a check, for tests of the writers themselves.
#[cfg(test)]
pub fn cleared_for_test(path: &Path) -> Cleared {
    Cleared { path: path.to_owned() }
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
        std::fs::write(d.join("cibil-bulk.toml"), "x").unwrap();
        std::os::unix::fs::symlink(d.join("in.csv"), d.join("link.csv")).unwrap();
        std::fs::hard_link(d.join("state.db"), d.join("other-name.db")).unwrap();
        std::os::unix::fs::symlink(d.join("gone.csv"), d.join("dangling.csv")).unwrap();
        std::fs::create_dir_all(d.join("sub")).unwrap();
        let gate = Gate::new()
            .keep_state(&d.join("state.db"))
            .keep("the customer file", &d.join("in.csv"))
            .keep_config(Some(&d.join("cibil-bulk.toml")));
        for (output, what) in [
            (d.join("in.csv"), "the customer file"),
            (d.join("link.csv"), "the customer file"),
            (d.join("sub/../in.csv"), "the customer file"),
            (d.join("state.db"), "the state database"),
            (d.join("other-name.db"), "the state database"),
            (d.join("state.db-wal"), "write-ahead log"),
            (d.join("sub/../state.db-shm"), "shared memory"),
            (d.join("state.db.lock"), "lock file"),
            (d.join("cibil-bulk.toml"), "the config file"),
        ] {
            let err = gate.clear_one("--output", &output).unwrap_err().to_string();
            assert!(err.contains(what), "{}: {err}", output.display());
        }
        assert!(gate.clear_one("--output", &d.join("results.csv")).is_ok());
        // Every file named has one role: the state may not be the customer file, nor its lock file
        // the config file, whatever the outputs.
        let err = Gate::new()
            .keep("the customer file", &d.join("in.csv"))
            .keep_state(&d.join("link.csv"))
            .clear_one("--output", &d.join("results.csv"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("both the customer file and the state database"), "{err}");
        let err = Gate::new()
            .keep_config(Some(&d.join("sub/../state.db.lock")))
            .keep_state(&d.join("state.db"))
            .clear([])
            .unwrap_err()
            .to_string();
        assert!(err.contains("both the config file and the state database's lock file"), "{err}");
        // A dangling symlink writes where it points.
        let err = gate
            .clear([("--output", Some(&d.join("dangling.csv"))), ("--errors", Some(&d.join("gone.csv")))])
            .unwrap_err()
            .to_string();
        assert!(err.contains("--output and --errors both name"), "{err}");
        // Nothing to write is nothing to check.
        let [a, b] = gate.clear([("--summary", None), ("--output", Some(&d.join("r.csv")))]).unwrap();
        assert!(a.is_none() && b.is_some_and(|c| c.path() == d.join("r.csv")));
    }

    #[test]
    fn an_output_that_cannot_be_written_is_refused_before_anything_is_done() {
        let dir = tempfile::tempdir().unwrap();
        let gate = Gate::new();
        for path in [dir.path().to_owned(), dir.path().join("no/such/dir/x.csv")] {
            let err = gate.clear_one("--output", &path).unwrap_err();
            assert!(matches!(err, Refused::NotWritable { .. }), "{}: {err}", path.display());
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "the check leaves nothing behind");
    }

    #[test]
    fn a_symlink_loop_is_not_followed_for_ever() {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(dir.path().join("b"), dir.path().join("a")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("a"), dir.path().join("b")).unwrap();
        // Writing through the loop fails; the gate must simply end.
        let _ = Gate::new().clear_one("--output", &dir.path().join("a"));
    }
}
