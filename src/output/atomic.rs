//! Files that appear whole or not at all (the README's "What comes out"): written to a temporary
//! file beside the target, flushed to disk, then renamed over it. Created mode 0600, because every
//! file this tool writes about customers holds personal data. And every CSV cell is written so that
//! a spreadsheet can never take it for a formula.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use tempfile::TempPath;

use crate::gate::Cleared;

/// Why an output file could not be written. The cause is the `source`, which the fatal error
/// printer (`{:#}`) shows after the message.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {}", .path.display())]
pub struct OutputError {
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

/// An error creating the temporary file, without the temporary file's name that `tempfile` adds:
/// the user knows the file by its real name, which [`OutputError`] gives.
fn plain(error: io::Error) -> io::Error {
    match error.raw_os_error() {
        Some(code) => io::Error::from_raw_os_error(code),
        None => io::Error::from(error.kind()),
    }
}

/// A file being written in the target's directory, renamed into place by [`AtomicFile::commit`].
/// Dropped without a commit, it leaves nothing behind.
#[derive(Debug)]
pub struct AtomicFile {
    path: PathBuf,
    /// Written through the plain file, so errors are the operating system's own.
    writer: BufWriter<File>,
    /// Removes the temporary file if it is never committed.
    temp: TempPath,
}

impl AtomicFile {
    pub fn create(cleared: &Cleared) -> Result<AtomicFile, OutputError> {
        let path = cleared.path();
        let err = |source| OutputError { path: path.to_owned(), source };
        if path.is_dir() {
            return Err(err(io::Error::new(io::ErrorKind::IsADirectory, "it is a directory")));
        }
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        // tempfile creates the file with mode 0600 on Unix.
        let temp = tempfile::Builder::new()
            .prefix(".cibil-bulk-")
            .suffix(".part")
            .tempfile_in(dir)
            .map_err(|e| err(plain(e)))?;
        let (file, temp) = temp.into_parts();
        Ok(AtomicFile { path: path.to_owned(), writer: BufWriter::with_capacity(128 * 1024, file), temp })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Makes the file readable by every user (mode 0644) instead of its owner only: for a file
    /// that holds no personal data and that another user's service reads (the metrics file, read
    /// by node_exporter).
    pub fn readable_by_all(&mut self) -> io::Result<()> {
        use std::os::unix::fs::PermissionsExt as _;
        self.writer.get_ref().set_permissions(std::fs::Permissions::from_mode(0o644))
    }

    /// Flushes, syncs and renames the file into place.
    pub fn commit(self) -> Result<(), OutputError> {
        let path = self.path;
        let err = |source| OutputError { path: path.clone(), source };
        let file = self.writer.into_inner().map_err(|e| err(e.into_error()))?;
        file.sync_all().map_err(err)?;
        drop(file);
        self.temp.persist(&path).map_err(|e| err(e.error))?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            // The rename is durable once the directory is; not every filesystem lets us sync it.
            let _ = File::open(dir).and_then(|d| d.sync_all());
        }
        Ok(())
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
/// (another program's writer: SQLite's `VACUUM INTO`), atomically as [`AtomicFile`] does: created
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
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let temp = tempfile::Builder::new()
        .prefix(".cibil-bulk-")
        .suffix(".part")
        .tempfile_in(dir)
        .map_err(|e| err(plain(e)))?
        .into_temp_path();
    fill(&temp)?;
    let file = File::open(&temp).map_err(err)?;
    file.sync_all().map_err(err)?;
    let size = file.metadata().map_err(err)?.len();
    drop(file);
    temp.persist(path).map_err(|e| err(e.error))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let _ = File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(size)
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
        let mut csv = CsvFile::create(&cleared_for_test(&path), false).unwrap();
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
        drop(CsvFile::create(&cleared_for_test(&path), true).unwrap());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_directory_or_missing_parent_is_an_error_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let err = AtomicFile::create(&cleared_for_test(dir.path())).unwrap_err();
        assert!(err.to_string().contains(&dir.path().display().to_string()));
        assert!(AtomicFile::create(&cleared_for_test(&dir.path().join("no/such/dir/x.csv"))).is_err());
    }
}
