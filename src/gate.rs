//! The one gate every file the program writes passes. A command declares, before a single row is
//! read or sent, the files it keeps (the customer file, the state database and its companions
//! and the server's uploads beside it, the config file in use) and the files it will write
//! (results, errors, summary, metrics, an export, a backup, the server's files), and
//! [`Gate::clear`] checks them all at once. Each path is resolved as the kernel will resolve it —
//! symlinks followed, `dir/../` spellings folded — and a file is known by what it is, not by how it
//! is spelled: an existing file by its device and inode, a file still to be made by its
//! directory's device and inode and its name there, so that a hard link, a bind mount or a second
//! name cannot hide it. Every file named has one role: an output that is a kept file or another
//! output is refused, as are two kept files that are one (a state whose lock file is the config
//! file), an output inside a kept directory, an output that would replace a database (any SQLite
//! file — another state, another program's — but a copy `backup` made, or a companion of one) or
//! a kept content (the customer file of a run, moved or renamed since), and an output that cannot
//! be written (a directory, a disk device, a missing or read-only directory). The check is all or nothing: a refused command gets no
//! [`Cleared`] at all, so it writes nothing, not even the summary it was asked for.
//!
//! [`Cleared`] is the only key to writing: `output::AtomicFile` (through which every output file
//! is written) and the state's backup take one, and only this module can make one. It holds the
//! directory the file lands in open, as it was when cleared, so a directory renamed or replaced by
//! a symlink during a run cannot send the write elsewhere; and an output that is a terminal, a
//! pipe or `/dev/null` (`--summary /dev/stdout`) is written into, never replaced. A write that
//! skipped the check does not compile.

use std::ffi::OsString;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustix::fs::{Access, AtFlags, Mode, OFlags};

use crate::store::{
    UPLOADS_MARK, companion_of_a_database, is_a_backup, is_a_database, lock_path, sibling, uploads_dir,
};

/// A path the gate cleared for writing: not a kept file, not another output of the command,
/// and writable when it was checked.
#[derive(Debug, Clone)]
pub struct Cleared {
    /// As the user named it: what messages say.
    path: PathBuf,
    place: Arc<Place>,
}

impl PartialEq for Cleared {
    fn eq(&self, other: &Cleared) -> bool {
        self.path == other.path
    }
}

impl Eq for Cleared {}

impl Cleared {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where a write lands, as resolved when the path was cleared.
    pub fn place(&self) -> &Place {
        &self.place
    }
}

/// How long a write into a pipe waits for somebody to read it.
pub const PIPE_READER_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// Where a write to a path lands: its directory, held open since the path was cleared, and its
/// name there (a final symlink followed: writing through a link writes the file it names).
#[derive(Debug)]
pub struct Place {
    dir: OwnedFd,
    /// The directory, as it was resolved (for what needs a path, and for messages).
    dir_path: PathBuf,
    name: OsString,
    /// A terminal, a pipe or a device such as `/dev/null` (written into, never replaced): what it
    /// was when cleared (device and inode), for it is written only if the name still leads to it.
    special: Option<(u64, u64)>,
}

impl Place {
    /// The directory the file lands in, open.
    pub fn dir(&self) -> &OwnedFd {
        &self.dir
    }

    pub fn dir_path(&self) -> &Path {
        &self.dir_path
    }

    /// The file's name in [`Place::dir`].
    pub fn name(&self) -> &std::ffi::OsStr {
        &self.name
    }

    /// Whether the file is a terminal, a pipe or a character device, to be written into in place.
    pub fn is_special(&self) -> bool {
        self.special.is_some()
    }

    /// Opens the terminal, pipe or device this place was cleared for, to write into it — only if
    /// its name still leads to that very file (not one swapped in since, by a link or a rename).
    /// A pipe nobody reads yet is waited for, up to [`PIPE_READER_WAIT`].
    pub fn open_special(&self) -> std::io::Result<std::fs::File> {
        let deadline = std::time::Instant::now() + PIPE_READER_WAIT;
        let fd = loop {
            let opened = rustix::fs::openat(
                &self.dir,
                &self.name,
                OFlags::WRONLY | OFlags::NOCTTY | OFlags::CLOEXEC | OFlags::NONBLOCK,
                Mode::empty(),
            );
            match opened {
                Ok(fd) => break fd,
                Err(rustix::io::Errno::NXIO) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                Err(rustix::io::Errno::NXIO) => {
                    return Err(std::io::Error::other(format!(
                        "nobody read the pipe for {} s",
                        PIPE_READER_WAIT.as_secs()
                    )));
                }
                Err(e) => return Err(e.into()),
            }
        };
        let now = rustix::fs::fstat(&fd)?;
        if self.special != Some((now.st_dev, now.st_ino)) {
            return Err(std::io::Error::other(
                "it is no longer the terminal, pipe or device it was when the command began: nothing was written to it",
            ));
        }
        rustix::fs::fcntl_setfl(&fd, OFlags::empty())?;
        Ok(std::fs::File::from(fd))
    }

    /// Resolves `path` as a write to it will land.
    fn of(path: &Path) -> std::io::Result<Place> {
        use std::os::unix::fs::FileTypeExt as _;
        let open_dir = |dir: &Path| {
            rustix::fs::open(dir, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
        };
        // What the path is now, every link followed as the kernel follows them (`/dev/stdout`'s
        // to a pipe included, which no path names).
        if let Ok(found) = std::fs::metadata(path) {
            let kind = found.file_type();
            if kind.is_dir() {
                return Err(refusal("it is a directory"));
            }
            if kind.is_block_device() {
                return Err(refusal("it is a disk device"));
            }
            if kind.is_socket() {
                return Err(refusal("it is a socket"));
            }
            if kind.is_char_device() || kind.is_fifo() {
                use std::os::unix::fs::MetadataExt as _;
                // Opened through its own name when written: the link followed then, as now.
                let dir_path = match path.parent() {
                    Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
                    _ => PathBuf::from("."),
                };
                let name = path.file_name().ok_or_else(|| refusal("it names no file"))?.to_owned();
                return Ok(Place {
                    dir: open_dir(&dir_path)?,
                    dir_path,
                    name,
                    special: Some((found.dev(), found.ino())),
                });
            }
        }
        let (dir_path, name) = landing(path, 0)?;
        Ok(Place { dir: open_dir(&dir_path)?, dir_path, name, special: None })
    }

    /// The directory's device and inode, and the name: a file that does not exist yet, known
    /// whatever the spelling of its directory (a symlink, a bind mount).
    fn key(&self) -> Option<(u64, u64, OsString)> {
        let stat = rustix::fs::fstat(&self.dir).ok()?;
        Some((stat.st_dev, stat.st_ino, self.name.clone()))
    }
}

fn refusal(why: &str) -> std::io::Error {
    std::io::Error::other(why.to_owned())
}

/// The directory a write to `path` lands in (resolved) and the name there: a final symlink
/// followed as the kernel does (a bounded number of times); `.` and `..` name no file.
fn landing(path: &Path, depth: u8) -> std::io::Result<(PathBuf, OsString)> {
    let parent = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        if depth >= 40 {
            return Err(refusal("too many levels of symbolic links"));
        }
        return landing(&parent.join(std::fs::read_link(path)?), depth + 1);
    }
    let name = match path.file_name() {
        Some(name) if !path.as_os_str().as_bytes().ends_with(b"/") => name.to_owned(),
        _ => return Err(refusal("it names no file")),
    };
    Ok((parent.canonicalize()?, name))
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
        "{name} {} is a database{}: writing it would destroy it (another state, or another \
         program's?). Choose another name for the output; nothing was read, sent or written",
        .path.display(), .of.as_ref().map(|of| format!("'s companion (of {})", of.display())).unwrap_or_default()
    )]
    Database { name: String, path: PathBuf, of: Option<PathBuf> },
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
    /// Directories no output may be written into: `(what, path)`.
    kept_dirs: Vec<(&'static str, PathBuf)>,
    /// Contents no output may replace, wherever the file now is: `(what, SHA-256 in hex)`.
    kept_contents: Vec<(&'static str, String)>,
    /// Whether an output may replace a copy `backup` made (`backup` over last night's).
    backups_replaceable: bool,
    /// Whether outputs may go into a server's uploads directory (the server's own, into its own).
    writes_uploads: bool,
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
    /// The same file kept twice in the same role (two runs of one customer file) is kept once.
    pub fn keep(mut self, what: &'static str, path: &Path) -> Gate {
        let identity = Identity::of(path);
        if let Some(other) = self.kept.iter().find(|k| k.identity.same_as(&identity)) {
            if other.what == what {
                return self;
            }
            self.refused.get_or_insert(Refused::TwoRoles {
                first: other.what,
                second: what,
                path: path.to_owned(),
            });
        }
        self.kept.push(Kept { what, path: path.to_owned(), identity });
        self
    }

    /// The customer files of `runs`: where each run last read its file (or, for a run recorded
    /// before the state kept that, the path it was given) and, wherever it was moved or renamed
    /// to since, by its content.
    pub fn keep_runs_files<'r>(self, runs: impl IntoIterator<Item = &'r crate::store::RunRecord>) -> Gate {
        const WHAT: &str = "the customer file of a run";
        runs.into_iter().fold(self, |gate, run| {
            let place = run.input_place.clone().unwrap_or_else(|| PathBuf::from(&run.input_path));
            gate.keep_content(WHAT, &run.input_sha256).keep(WHAT, &place)
        })
    }

    /// A content no output may replace, by its SHA-256 (hex): the customer file of a run, found
    /// wherever it was moved or renamed to since.
    pub fn keep_content(mut self, what: &'static str, sha256_hex: &str) -> Gate {
        self.kept_contents.push((what, sha256_hex.to_ascii_lowercase()));
        self
    }

    /// A directory no output may be written into.
    pub fn keep_dir(mut self, what: &'static str, dir: &Path) -> Gate {
        self.kept_dirs.push((what, dir.to_owned()));
        self
    }

    /// The state database and its companions (`-wal`, `-shm`, `.lock`), which the store writes,
    /// and the server's uploads beside it (the files clerks sent, their results): none of them
    /// may be an output, the customer file or the config file.
    pub fn keep_state(self, state: &Path) -> Gate {
        self.keep_state_files(state).keep_dir("the server's uploads", &uploads_dir(state))
    }

    /// [`Gate::keep_state`] for the server's own uploads, which it writes into.
    pub fn keep_state_writing_uploads(self, state: &Path) -> Gate {
        Gate { writes_uploads: true, ..self.keep_state_files(state) }
    }

    fn keep_state_files(self, state: &Path) -> Gate {
        self.keep("the state database", state)
            .keep("the state database's write-ahead log", &sibling(state, "-wal"))
            .keep("the state database's shared memory", &sibling(state, "-shm"))
            .keep("the state database's rollback journal", &sibling(state, "-journal"))
            .keep("the state database's lock file", &lock_path(state))
    }

    /// The config file in use, if there is one.
    pub fn keep_config(self, config: Option<&Path>) -> Gate {
        match config {
            Some(config) => self.keep("the config file", config),
            None => self,
        }
    }

    /// Lets an output replace a copy `backup` made (never a state): `backup DEST` over last
    /// night's.
    pub fn replacing_backups(mut self) -> Gate {
        self.backups_replaceable = true;
        self
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
        let mut places = Vec::new();
        for (name, path) in outputs.iter().filter_map(|(name, path)| Some((*name, (*path)?))) {
            let not_writable =
                |why: String| Refused::NotWritable { name: name.to_owned(), path: path.to_owned(), why };
            let place = Place::of(path).map_err(|e| not_writable(plain(&e)))?;
            let identity = Identity::of_place(path, &place);
            if let Some(kept) = self.kept.iter().find(|k| k.identity.same_as(&identity)) {
                return Err(Refused::Kept {
                    name: name.to_owned(),
                    path: path.to_owned(),
                    what: kept.what,
                    kept: kept.path.clone(),
                });
            }
            // Any server's uploads, whichever state it keeps.
            if !self.writes_uploads
                && !place.is_special()
                && rustix::fs::statat(&place.dir, UPLOADS_MARK, AtFlags::SYMLINK_NOFOLLOW).is_ok()
            {
                return Err(Refused::Kept {
                    name: name.to_owned(),
                    path: path.to_owned(),
                    what: "a server's uploads",
                    kept: place.dir_path.clone(),
                });
            }
            let dir = rustix::fs::fstat(&place.dir).ok().map(|s| (s.st_dev, s.st_ino));
            // Known by what they are when the outputs are checked (the server makes its uploads
            // directory as it starts).
            let inside = |kept: &Path| {
                (dir.is_some() && inode(kept) == dir)
                    // Or another name of a file in it (a hard link).
                    || identity.inode.is_some()
                        && std::fs::read_dir(kept)
                            .into_iter()
                            .flatten()
                            .filter_map(Result::ok)
                            .any(|entry| inode(&entry.path()) == identity.inode)
            };
            if let Some((what, kept)) = self.kept_dirs.iter().find(|(_, kept)| inside(kept)) {
                return Err(Refused::Kept {
                    name: name.to_owned(),
                    path: path.to_owned(),
                    what,
                    kept: kept.clone(),
                });
            }
            // Two outputs into one terminal, pipe or device are written into, one after the
            // other: nothing is replaced.
            if let Some((first, _)) = seen.iter().find(|(_, s)| !place.is_special() && s.same_as(&identity)) {
                return Err(Refused::Twice {
                    first: (*first).to_owned(),
                    second: name.to_owned(),
                    path: path.to_owned(),
                });
            }
            if !place.is_special() {
                self.check_content(name, path, &place)?;
            }
            writable(&place).map_err(not_writable)?;
            seen.push((name, identity));
            places.push(Arc::new(place));
        }
        let mut places = places.into_iter();
        Ok(outputs.map(|(_, path)| {
            path.map(|p| Cleared {
                path: p.to_owned(),
                place: places.next().unwrap_or_else(|| unreachable!("one place per path cleared")),
            })
        }))
    }

    /// Refuses an output that would replace a database (or a companion of one), or a kept content.
    fn check_content(&self, name: &str, path: &Path, place: &Place) -> Result<(), Refused> {
        let target = place.dir_path.join(&place.name);
        if let Some(of) = companion_of_a_database(&target) {
            return Err(Refused::Database { name: name.to_owned(), path: path.to_owned(), of: Some(of) });
        }
        let exists = target.is_file();
        if exists && is_a_database(&target) && !(self.backups_replaceable && is_a_backup(&target)) {
            return Err(Refused::Database { name: name.to_owned(), path: path.to_owned(), of: None });
        }
        if exists && !self.kept_contents.is_empty() {
            let hash = sha256_hex(&target);
            if let Some((what, _)) = self.kept_contents.iter().find(|(_, h)| hash.as_deref() == Some(h)) {
                return Err(Refused::Kept {
                    name: name.to_owned(),
                    path: path.to_owned(),
                    what,
                    kept: target.clone(),
                });
            }
        }
        Ok(())
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

/// An error as the user should read it: the operating system's words, without a path.
fn plain(error: &std::io::Error) -> String {
    match error.raw_os_error() {
        Some(code) => std::io::Error::from_raw_os_error(code).to_string(),
        None => error.to_string(),
    }
}

/// The SHA-256 of the file at `path`, in hex, as a run records its customer file's; `None` when
/// it cannot be read.
fn sha256_hex(path: &Path) -> Option<String> {
    let hash = crate::input::sha256_of(path).ok()?;
    Some(hash.iter().map(|b| format!("{b:02x}")).collect())
}

/// How the kernel will find a path: the file it is now (device and inode), if it exists, and the
/// place a write will land (its directory's device and inode, and its name there).
#[derive(Debug, PartialEq, Eq)]
struct Identity {
    inode: Option<(u64, u64)>,
    place: Option<(u64, u64, OsString)>,
}

impl Identity {
    fn of(path: &Path) -> Identity {
        match Place::of(path) {
            Ok(place) => Identity::of_place(path, &place),
            Err(_) => Identity { inode: inode(path), place: None },
        }
    }

    fn of_place(path: &Path, place: &Place) -> Identity {
        Identity { inode: inode(path), place: place.key() }
    }

    fn same_as(&self, other: &Identity) -> bool {
        (self.inode.is_some() && self.inode == other.inode)
            || (self.place.is_some() && self.place == other.place)
    }
}

fn inode(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// Whether a file could be written at `place` now. A terminal, pipe or device: writable by this
/// user. Otherwise its directory takes a new file (not read-only, not full); nothing is left
/// behind.
fn writable(place: &Place) -> Result<(), String> {
    if place.is_special() {
        return rustix::fs::accessat(&place.dir, &place.name, Access::WRITE_OK, AtFlags::EACCESS)
            .map_err(|e| plain(&e.into()));
    }
    let probe = format!("{}{:016x}.probe", crate::store::WRITING, rand::random::<u64>());
    let created = rustix::fs::openat(
        &place.dir,
        probe.as_str(),
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    );
    match created {
        Ok(file) => {
            drop(file);
            let _ = rustix::fs::unlinkat(&place.dir, probe.as_str(), AtFlags::empty());
            Ok(())
        }
        Err(rustix::io::Errno::EXIST) => Ok(()),
        Err(e) => Err(plain(&e.into())),
    }
}

/// A path cleared without a check, for tests of the writers themselves.
#[cfg(test)]
pub fn cleared_for_test(path: &Path) -> std::io::Result<Cleared> {
    Ok(Cleared { path: path.to_owned(), place: Arc::new(Place::of(path)?) })
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
    fn no_output_replaces_a_database_or_its_companion_but_backup_its_own_copy() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let state = crate::store::Store::open(&d.join("prod.db")).unwrap();
        state.backup_into(&d.join("copy.db")).unwrap();
        drop(state);
        let gate = Gate::new();
        for output in ["prod.db", "prod.db-wal", "prod.db-shm", "prod.db.lock", "prod.db-journal", "copy.db"]
        {
            let err = gate.clear_one("--output", &d.join(output)).unwrap_err();
            assert!(matches!(err, Refused::Database { .. }), "{output}: {err}");
        }
        // A database whose pages are all in its log yet: its own file is empty.
        std::fs::write(d.join("fresh.db"), "").unwrap();
        std::fs::write(d.join("fresh.db-wal"), [0x37, 0x7f, 0x06, 0x82, 0, 0x2d, 0xe2, 0x18]).unwrap();
        let err = gate.clear_one("--output", &d.join("fresh.db")).unwrap_err();
        assert!(matches!(err, Refused::Database { .. }), "{err}");
        std::fs::write(d.join("notes.txt"), "").unwrap();
        std::fs::write(d.join("notes.txt-wal"), "not a log").unwrap();
        assert!(gate.clear_one("--output", &d.join("notes.txt")).is_ok());
        // `backup` may replace a copy it made, never a state.
        let backup = Gate::new().replacing_backups();
        assert!(backup.clear_one("DEST", &d.join("copy.db")).is_ok());
        assert!(backup.clear_one("DEST", &d.join("prod.db")).is_err());
        // A copy read (`status`) is still a backup; one a run goes on with is a state again.
        let mut copy = crate::store::Store::open(&d.join("copy.db")).unwrap();
        assert!(backup.clear_one("DEST", &d.join("copy.db")).is_ok());
        drop(copy.acquire_lock(std::time::Duration::ZERO, |_| {}).unwrap());
        drop(copy);
        assert!(backup.clear_one("DEST", &d.join("copy.db")).is_err());
        // So is one given people or tokens (restored for a server), or anything else changed.
        let state = crate::store::Store::open(&d.join("prod.db")).unwrap();
        state.backup_into(&d.join("restored.db")).unwrap();
        let restored = crate::store::Store::open(&d.join("restored.db")).unwrap();
        assert!(backup.clear_one("DEST", &d.join("restored.db")).is_ok(), "read only: a backup still");
        restored.add_user("asha", "$argon2id$x", crate::store::Role::Admin).unwrap();
        drop(restored);
        assert!(backup.clear_one("DEST", &d.join("restored.db")).is_err());
    }

    #[test]
    fn a_kept_content_is_found_under_any_name_and_a_kept_directory_takes_no_output() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("renamed.csv"), "the customers").unwrap();
        std::fs::write(d.join("edited.csv"), "the customers, edited").unwrap();
        let sha = crate::input::sha256_of(&d.join("renamed.csv")).unwrap();
        let hex: String = sha.iter().map(|b| format!("{b:02x}")).collect();
        let gate = Gate::new().keep_content("the customer file of the run", &hex).keep_state(&d.join("s.db"));
        let err = gate.clear_one("--output", &d.join("renamed.csv")).unwrap_err().to_string();
        assert!(err.contains("the customer file of the run"), "{err}");
        assert!(gate.clear_one("--output", &d.join("edited.csv")).is_ok());
        std::fs::create_dir(d.join("s.uploads")).unwrap();
        let err = gate.clear_one("--output", &d.join("s.uploads/1.upload")).unwrap_err().to_string();
        assert!(err.contains("the server's uploads"), "{err}");
        assert!(
            Gate::new()
                .keep_state_writing_uploads(&d.join("s.db"))
                .clear_one("x", &d.join("s.uploads/1.csv"))
                .is_ok()
        );
    }

    #[test]
    fn a_terminal_or_pipe_is_written_into_and_other_special_files_are_refused() {
        let cleared = Gate::new().clear_one("--summary", Path::new("/dev/null")).unwrap();
        assert!(cleared.place().is_special());
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        assert!(Gate::new().clear_one("--summary", &fifo).unwrap().place().is_special());
        let socket = std::os::unix::net::UnixListener::bind(dir.path().join("socket")).unwrap();
        let err = Gate::new().clear_one("--summary", &dir.path().join("socket")).unwrap_err().to_string();
        assert!(err.contains("socket"), "{err}");
        drop(socket);
    }

    #[test]
    fn no_command_writes_into_any_servers_uploads_but_that_server() {
        let dir = tempfile::tempdir().unwrap();
        let uploads = dir.path().join("elsewhere.uploads");
        std::fs::create_dir(&uploads).unwrap();
        std::fs::write(uploads.join(UPLOADS_MARK), "").unwrap();
        // Another state's command: refused, for a file there or one still to be made.
        for name in ["1.upload", "9.results.csv"] {
            let gate = Gate::new().keep_state(&dir.path().join("mine.db"));
            let err = gate.clear_one("--output", &uploads.join(name)).unwrap_err().to_string();
            assert!(err.contains("a server's uploads"), "{err}");
        }
        // The server of that folder writes there.
        let server = Gate::new().keep_state_writing_uploads(&dir.path().join("elsewhere.db"));
        assert!(server.clear_one("--output", &uploads.join("9.results.csv")).is_ok());
    }

    #[test]
    fn a_pipe_swapped_for_another_file_after_the_check_is_never_written() {
        let dir = tempfile::tempdir().unwrap();
        let (fifo, kept) = (dir.path().join("out"), dir.path().join("state.db"));
        std::fs::write(&kept, "the ledger").unwrap();
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        let cleared = Gate::new().clear_one("--output", &fifo).unwrap();
        // Read, it is written into.
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
        };
        let mut file = cleared.place().open_special().unwrap();
        std::io::Write::write_all(&mut file, b"results").unwrap();
        drop(file);
        assert_eq!(reader.join().unwrap(), "results");
        // Swapped for a link to a kept file (a hard link, then a symlink): refused, untouched.
        std::fs::remove_file(&fifo).unwrap();
        std::fs::hard_link(&kept, &fifo).unwrap();
        let err = cleared.place().open_special().unwrap_err().to_string();
        assert!(err.contains("no longer"), "{err}");
        std::fs::remove_file(&fifo).unwrap();
        std::os::unix::fs::symlink(&kept, &fifo).unwrap();
        assert!(cleared.place().open_special().is_err());
        assert_eq!(std::fs::read_to_string(&kept).unwrap(), "the ledger");
    }

    #[test]
    fn files_still_to_be_made_are_one_through_a_bind_mount() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("b")).unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["--bind", &d.to_string_lossy(), &d.join("b").to_string_lossy()])
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            // Mounting needs root (.ci/run's tests run as root): tests/it/gate.rs tries it too.
            return;
        }
        let refused = Gate::new().keep_state(&d.join("b/st.db")).clear_one("--output", &d.join("st.db"));
        let twice =
            Gate::new().clear([("--output", Some(&d.join("o.csv"))), ("--errors", Some(&d.join("b/o.csv")))]);
        let _ = std::process::Command::new("umount").arg(d.join("b")).status();
        assert!(matches!(refused, Err(Refused::Kept { .. })), "{refused:?}");
        assert!(matches!(twice, Err(Refused::Twice { .. })), "{twice:?}");
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
