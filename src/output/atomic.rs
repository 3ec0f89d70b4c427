//! Files that appear whole or not at all (the README's "What comes out"): written to a temporary
//! file in the directory the gate cleared (held open since: a directory swapped meanwhile cannot
//! redirect the write), flushed to disk, then renamed over the target. Created mode 0600, because
//! every file this tool writes about customers holds personal data. An output that is a terminal,
//! a pipe or a device (`--summary /dev/stdout`) is written into as it is, never replaced. And
//! every CSV cell is written so that a spreadsheet can never take it for a formula.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, Mode, OFlags};

use crate::gate::{Cleared, Place};

/// Why an output file could not be written. The cause is the `source`, which the fatal error
/// printer (`{:#}`) shows after the message.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {}", .path.display())]
pub struct OutputError {
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

/// Temporary files being written now, each by its directory (held open) and name: a process
/// leaving at once ([`remove_unfinished`]) removes them, as their drops would have.
static UNFINISHED: std::sync::Mutex<Vec<(std::os::fd::OwnedFd, OsString)>> =
    std::sync::Mutex::new(Vec::new());

fn unfinished() -> std::sync::MutexGuard<'static, Vec<(std::os::fd::OwnedFd, OsString)>> {
    UNFINISHED.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Removes every temporary file still being written, for a process about to leave without
/// finishing them (a second Ctrl-C): none is left behind holding customers' details.
pub fn remove_unfinished() {
    for (dir, name) in unfinished().drain(..) {
        let _ = rustix::fs::unlinkat(&dir, name.as_os_str(), AtFlags::empty());
    }
}

/// A temporary file in a cleared directory: removed when dropped, unless moved into place.
#[derive(Debug)]
struct Temp {
    cleared: Cleared,
    name: OsString,
    armed: bool,
}

impl Temp {
    /// A new file, mode 0600, beside `cleared`'s target; `open`: also opened to write.
    fn new(cleared: &Cleared) -> io::Result<(Temp, File)> {
        let place = cleared.place();
        loop {
            let name =
                OsString::from(format!("{}{:016x}.part", crate::store::WRITING, rand::random::<u64>()));
            match rustix::fs::openat(
                place.dir(),
                name.as_os_str(),
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o600),
            ) {
                Ok(fd) => {
                    // Made before it is listed: a failure to list it removes it (its drop).
                    let (temp, file) = (Temp { cleared: cleared.clone(), name, armed: true }, File::from(fd));
                    unfinished().push((rustix::io::dup(place.dir())?, temp.name.clone()));
                    return Ok((temp, file));
                }
                Err(rustix::io::Errno::EXIST) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// A path to the temporary file, for a writer that opens files itself (SQLite): through the
    /// open directory where the system offers that (`/proc/self/fd`), else its resolved path.
    fn path(&self) -> PathBuf {
        use std::os::fd::AsRawFd as _;
        let place = self.cleared.place();
        let through_fd = PathBuf::from(format!("/proc/self/fd/{}", place.dir().as_raw_fd()));
        if through_fd.is_dir() { through_fd.join(&self.name) } else { place.dir_path().join(&self.name) }
    }

    /// Renames the file over its target, and makes the rename durable.
    fn into_place(mut self) -> io::Result<()> {
        let place = self.cleared.place();
        rustix::fs::renameat(place.dir(), self.name.as_os_str(), place.dir(), place.name())?;
        self.armed = false;
        self.forget();
        // The rename is durable once the directory is; not every filesystem lets us sync it.
        let _ = rustix::fs::fsync(place.dir());
        Ok(())
    }

    /// No longer among the [`UNFINISHED`].
    fn forget(&self) {
        unfinished().retain(|(_, name)| *name != self.name);
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        if self.armed {
            let _ = rustix::fs::unlinkat(self.cleared.place().dir(), self.name.as_os_str(), AtFlags::empty());
            self.forget();
        }
    }
}

/// Where an [`AtomicFile`] writes.
#[derive(Debug)]
enum Target {
    /// A temporary file renamed over the target on commit.
    Renamed(Temp),
    /// A terminal, a pipe or a device, written into.
    InPlace,
}

/// A file being written in the target's directory, renamed into place by [`AtomicFile::commit`].
/// Dropped without a commit, it leaves nothing behind.
#[derive(Debug)]
pub struct AtomicFile {
    path: PathBuf,
    /// Written through the plain file, so errors are the operating system's own.
    writer: BufWriter<File>,
    target: Target,
}

impl AtomicFile {
    pub fn create(cleared: &Cleared) -> Result<AtomicFile, OutputError> {
        let path = cleared.path();
        let err = |source| OutputError { path: path.to_owned(), source };
        let place: &Place = cleared.place();
        let (file, target) = if place.is_special() {
            (place.open_special().map_err(err)?, Target::InPlace)
        } else {
            let (temp, file) = Temp::new(cleared).map_err(err)?;
            (file, Target::Renamed(temp))
        };
        Ok(AtomicFile { path: path.to_owned(), writer: BufWriter::with_capacity(128 * 1024, file), target })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Makes the file readable by every user (mode 0644) instead of its owner only: for a file
    /// that holds no personal data and that another user's service reads (the metrics file, read
    /// by node_exporter). A terminal or pipe keeps its own mode.
    pub fn readable_by_all(&mut self) -> io::Result<()> {
        use std::os::unix::fs::PermissionsExt as _;
        match self.target {
            Target::Renamed(_) => {
                self.writer.get_ref().set_permissions(std::fs::Permissions::from_mode(0o644))
            }
            Target::InPlace => Ok(()),
        }
    }

    /// Flushes, syncs and renames the file into place (a terminal or pipe: flushes).
    pub fn commit(self) -> Result<(), OutputError> {
        let path = self.path;
        let err = |source| OutputError { path: path.clone(), source };
        let file = self.writer.into_inner().map_err(|e| err(e.into_error()))?;
        match self.target {
            Target::InPlace => Ok(()),
            Target::Renamed(temp) => {
                file.sync_all().map_err(err)?;
                drop(file);
                temp.into_place().map_err(err)
            }
        }
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writer.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.writer.flush()
    }
}

/// Writes the file `cleared` with what `fill` writes into an empty file at the path it is given
/// (another program's writer: SQLite's `VACUUM INTO`, which takes an empty file), atomically as [`AtomicFile`] does: created
/// mode 0600 beside its target, synced, renamed into place. Returns the file's size.
pub fn write_file_with<E>(
    cleared: &Cleared,
    fill: impl FnOnce(&Path) -> Result<(), E>,
) -> Result<u64, anyhow::Error>
where
    E: std::error::Error + Send + Sync + 'static,
{
    let path = cleared.path();
    let err = |source| OutputError { path: path.to_owned(), source };
    if cleared.place().is_special() {
        return Err(
            err(io::Error::other("a database file cannot be written to a terminal, pipe or device")).into()
        );
    }
    let (temp, file) = Temp::new(cleared).map_err(err)?;
    // The other writer fills the empty file, mode 0600 from the start: were it to make the file
    // itself, the umask would decide who may read it.
    drop(file);
    let at = temp.path();
    fill(&at)?;
    let file = File::open(&at).map_err(err)?;
    file.sync_all().map_err(err)?;
    let size = file.metadata().map_err(err)?.len();
    drop(file);
    temp.into_place().map_err(err)?;
    Ok(size)
}

/// Moves a file written elsewhere in the same file system (an upload as it arrived) over
/// `cleared`'s target, through the directory the gate cleared.
pub fn move_into_place(from: tempfile::TempPath, cleared: &Cleared) -> Result<(), OutputError> {
    let err = |source| OutputError { path: cleared.path().to_owned(), source };
    let place = cleared.place();
    if place.is_special() {
        return Err(err(io::Error::other("it is a terminal, pipe or device")));
    }
    rustix::fs::renameat(rustix::fs::CWD, from.as_os_str(), place.dir(), place.name())
        .map_err(|e| err(e.into()))?;
    // Moved: nothing left to remove.
    let _ = from.keep();
    let _ = rustix::fs::fsync(place.dir());
    Ok(())
}

/// A cell a spreadsheet would run as a formula gets a leading `'`, which Excel and LibreOffice show
/// as text: one that starts with a tab or CR, or whose first visible character
/// is `=`, `+`, `-` or `@`. Looking past leading whitespace matters: LibreOffice's import can trim
/// it ("Trim spaces") and so can a clerk's edit, and either turns ` =HYPERLINK(…)` into a live
/// formula. The full-width forms (`＝`, `＋`, `－`, `＠`) count too, defensively: a spreadsheet
/// that folds character widths reads them as the ASCII ones.
pub fn safe_cell(cell: &str) -> std::borrow::Cow<'_, str> {
    let padding =
        |c: &char| c.is_whitespace() || matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}');
    let first_visible = cell.chars().find(|c| !padding(c));
    let control_first = matches!(cell.as_bytes().first(), Some(b'\t' | b'\r'));
    if control_first
        || matches!(
            first_visible,
            Some('=' | '+' | '-' | '@' | '\u{FF1D}' | '\u{FF0B}' | '\u{FF0D}' | '\u{FF20}')
        )
    {
        format!("'{cell}").into()
    } else {
        cell.into()
    }
}

/// A CSV file written atomically, every cell made safe.
#[derive(Debug)]
pub struct CsvFile {
    writer: csv::Writer<AtomicFile>,
}

impl CsvFile {
    /// `bom`: start with a UTF-8 byte-order mark, so that Excel reads non-ASCII text right in files
    /// meant to be opened by a clerk.
    pub fn create(cleared: &Cleared, bom: bool) -> Result<CsvFile, OutputError> {
        let path = cleared.path();
        let mut file = AtomicFile::create(cleared)?;
        if bom {
            file.write_all("\u{feff}".as_bytes())
                .map_err(|source| OutputError { path: path.to_owned(), source })?;
        }
        Ok(CsvFile { writer: csv::WriterBuilder::new().flexible(true).from_writer(file) })
    }

    pub fn path(&self) -> &Path {
        self.writer.get_ref().path()
    }

    pub fn write_row<'a>(&mut self, cells: impl IntoIterator<Item = &'a str>) -> Result<(), OutputError> {
        for cell in cells {
            self.writer.write_field(safe_cell(cell).as_bytes()).map_err(|e| self.error(e))?;
        }
        self.writer.write_record(None::<&[u8]>).map_err(|e| self.error(e))
    }

    pub fn commit(self) -> Result<(), OutputError> {
        let path = self.path().to_owned();
        let file = self.writer.into_inner().map_err(|e| OutputError { path, source: e.into_error() })?;
        file.commit()
    }

    fn error(&self, e: csv::Error) -> OutputError {
        OutputError { path: self.path().to_owned(), source: io::Error::other(e) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::cleared_for_test;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn formula_cells_are_neutralised() {
        for evil in ["=HYPERLINK(\"http://x\")", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\tx", "\rx"] {
            assert!(safe_cell(evil).starts_with('\''), "{evil}");
        }
        assert_eq!(safe_cell("Ravi"), "Ravi");
        assert_eq!(safe_cell(""), "");
        // Whitespace or invisible characters before the formula do not hide it.
        for hidden in
            [" =1+1", "  +cmd|' /C calc'!A0", "\u{a0}-2+3", "\u{200b}@SUM(A1)", "\n=1", "\u{FF1D}1+1"]
        {
            assert_eq!(safe_cell(hidden), format!("'{hidden}"), "{hidden:?}");
        }
        assert_eq!(safe_cell("  Ravi Kumar"), "  Ravi Kumar");
        assert_eq!(safe_cell("D'Souza = 1"), "D'Souza = 1");
    }

    #[test]
    fn appears_only_on_commit_with_private_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        let mut csv = CsvFile::create(&cleared_for_test(&path).unwrap(), false).unwrap();
        csv.write_row(["a", "=1"]).unwrap();
        assert!(!path.exists());
        csv.commit().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a,'=1\n");
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn dropped_without_commit_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        drop(CsvFile::create(&cleared_for_test(&path).unwrap(), true).unwrap());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_directory_or_missing_parent_is_no_place_to_write() {
        let dir = tempfile::tempdir().unwrap();
        assert!(cleared_for_test(dir.path()).is_err());
        assert!(cleared_for_test(&dir.path().join("no/such/dir/x.csv")).is_err());
    }

    #[test]
    fn a_directory_renamed_and_replaced_by_a_link_meanwhile_gets_nothing_of_the_write() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        std::fs::write(dir.path().join("customers.csv"), "the customers").unwrap();
        let cleared = cleared_for_test(&sub.join("customers.csv")).unwrap();
        // After the check, `sub` becomes a link to the directory holding the customer file.
        std::fs::rename(&sub, dir.path().join("sub.orig")).unwrap();
        std::os::unix::fs::symlink(dir.path(), &sub).unwrap();
        let mut file = AtomicFile::create(&cleared).unwrap();
        file.write_all(b"results").unwrap();
        file.commit().unwrap();
        assert_eq!(std::fs::read_to_string(dir.path().join("customers.csv")).unwrap(), "the customers");
        assert_eq!(std::fs::read_to_string(dir.path().join("sub.orig/customers.csv")).unwrap(), "results");
    }

    #[test]
    fn a_device_is_written_into_never_replaced() {
        let cleared = cleared_for_test(Path::new("/dev/null")).unwrap();
        let mut file = AtomicFile::create(&cleared).unwrap();
        file.write_all(b"{}").unwrap();
        file.commit().unwrap();
        use std::os::unix::fs::FileTypeExt as _;
        assert!(std::fs::metadata("/dev/null").unwrap().file_type().is_char_device());
    }
}
