//! The server's files about uploads, in one directory beside the state database
//! (`cibil-bulk.uploads/` beside `cibil-bulk.db`), mode 0700, every file 0600: each upload as it
//! arrived, and its errors and results files. Files are named by upload id alone, never by the
//! name the sender gave (which could be `../../etc/passwd`, or just clash): that name is only
//! shown, sanitised, and offered back as the name of a download. Every file written here passes
//! the gate first, as every output of a command does: the state, its companions, the config file
//! and the metrics file are never replaced, whatever the directory's name resolves to.

use std::io;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse as _, Response};
use tokio::io::AsyncWriteExt as _;

use crate::gate::{Cleared, Gate, Refused};

/// The files an upload has besides itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Every row with its status and cibil_id, then the file's own columns.
    Results,
    /// The rows to fix or retry, with the file's own columns and an error column.
    Errors,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Results => "results",
            Kind::Errors => "errors",
        }
    }
}

/// A file format of a download.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Xlsx,
    Csv,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::Xlsx => "xlsx",
            Format::Csv => "csv",
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Format::Csv => "text/csv; charset=utf-8",
        }
    }

    /// The format an upload's files come in: the medium it was sent in.
    pub fn of_upload(workbook: bool) -> Format {
        if workbook { Format::Xlsx } else { Format::Csv }
    }
}

/// The directory of uploads.
#[derive(Debug, Clone)]
pub struct Uploads {
    dir: PathBuf,
    /// What no file written here may replace.
    gate: Arc<Gate>,
}

/// A file written before its upload has an id: removed when dropped, unless kept.
#[derive(Debug)]
pub struct Scratch {
    temp: tempfile::TempPath,
    cleared: Cleared,
}

impl Scratch {
    pub fn cleared(&self) -> &Cleared {
        &self.cleared
    }

    /// Moves the file, written, to its place.
    pub fn keep_as(self, place: &Cleared) -> io::Result<()> {
        crate::output::move_into_place(self.temp, place).map_err(|e| e.source)
    }
}

impl Uploads {
    /// The directory beside the state database `state`, created (or tightened) to mode 0700;
    /// `gate` says what no file written there may replace.
    pub fn open(state: &Path, gate: Gate) -> io::Result<Uploads> {
        let dir = crate::store::uploads_dir(state);
        match std::fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => {}
            Err(e) => return Err(io::Error::new(e.kind(), format!("cannot create {}: {e}", dir.display()))),
        }
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
        std::os::unix::fs::OpenOptionsExt::mode(std::fs::OpenOptions::new().write(true), 0o600)
            .create(true)
            .truncate(false)
            .open(dir.join(crate::store::UPLOADS_MARK))?;
        remove_leftovers(&dir);
        Ok(Uploads { dir, gate: Arc::new(gate) })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Upload `id` as it arrived.
    pub fn original(&self, id: i64) -> PathBuf {
        self.dir.join(format!("{id}.upload"))
    }

    /// Upload `id`'s results or errors file in `format`, to read.
    pub fn file(&self, id: i64, kind: Kind, format: Format) -> PathBuf {
        self.dir.join(format!("{id}.{}.{}", kind.as_str(), format.extension()))
    }

    /// Upload `id`'s results or errors file in `format`, to write: cleared by the gate.
    pub fn writable(&self, id: i64, kind: Kind, format: Format) -> Result<Cleared, Refused> {
        self.gate.clear_one(&format!("upload {id}'s {} file", kind.as_str()), &self.file(id, kind, format))
    }

    /// Removes upload `id`'s errors files: checked again, it gets new ones, or none while it has
    /// questions for its uploader.
    pub fn forget_errors(&self, id: i64) -> io::Result<()> {
        for format in [Format::Xlsx, Format::Csv] {
            match std::fs::remove_file(self.file(id, Kind::Errors, format)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Keeps the file received for upload `id` as it arrived.
    pub fn keep_original(&self, incoming: tempfile::NamedTempFile, id: i64) -> Result<(), Refused> {
        let place = self.gate.clear_one(&format!("upload {id}"), &self.original(id))?;
        crate::output::move_into_place(incoming.into_temp_path(), &place).map_err(|e| Refused::NotWritable {
            name: format!("upload {id}"),
            path: place.path().to_owned(),
            why: e.source.to_string(),
        })
    }

    /// A new file for an upload on its way in, mode 0600; removed when dropped unless kept.
    pub fn incoming(&self) -> io::Result<tempfile::NamedTempFile> {
        tempfile::Builder::new().prefix(crate::store::INCOMING).suffix(".part").tempfile_in(&self.dir)
    }

    /// A file in `format` written before its upload has an id, removed when dropped.
    pub fn scratch(&self, format: Format) -> io::Result<Scratch> {
        let temp = tempfile::Builder::new()
            .prefix(crate::store::SCRATCH)
            .suffix(&format!(".{}", format.extension()))
            .tempfile_in(&self.dir)?
            .into_temp_path();
        let cleared = self.gate.clear_one("a file being checked", &temp).map_err(io::Error::other)?;
        Ok(Scratch { temp, cleared })
    }
}

/// A file field that went over the size allowed.
#[derive(Debug)]
pub enum Receive {
    TooLarge,
    Broken(String),
    Disk(io::Error),
}

/// Writes the multipart field `field` into `file`, refusing more than `limit` bytes. Returns the
/// size.
pub async fn receive(
    mut field: axum::extract::multipart::Field<'_>,
    file: std::fs::File,
    limit: u64,
) -> Result<u64, Receive> {
    let mut out = tokio::io::BufWriter::with_capacity(256 * 1024, tokio::fs::File::from_std(file));
    let mut size = 0u64;
    loop {
        let chunk = match field.chunk().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break,
            Err(e) if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(Receive::TooLarge);
            }
            Err(e) => return Err(Receive::Broken(e.body_text())),
        };
        size += chunk.len() as u64;
        if size > limit {
            return Err(Receive::TooLarge);
        }
        out.write_all(&chunk).await.map_err(Receive::Disk)?;
    }
    out.flush().await.map_err(Receive::Disk)?;
    out.into_inner().sync_all().await.map_err(Receive::Disk)?;
    Ok(size)
}

/// Files a server killed mid-way left behind: uploads on their way in, files being checked, files
/// being written. They hold customers' data that nothing refers to, so nothing would ever erase
/// them. Only the server, holding the state's run lock, writes here, so none is in use now.
fn remove_leftovers(dir: &Path) {
    for (path, e) in crate::store::remove_unfinished_uploads(dir, std::time::Duration::ZERO) {
        tracing::warn!("cannot remove {}, left by a server that stopped mid-way: {e}", path.display());
    }
}

/// The sender's name for a file, made safe to show and to offer back: its last path component,
/// without control characters or characters that file systems refuse, without the invisible
/// characters that reorder or hide text ([`crate::mask::is_invisible`]: `invoice\u{202E}xslx.exe`
/// would show as `invoiceexe.xlsx`), at most 100 characters (its extension kept), `upload` when
/// nothing is left.
pub fn display_name(raw: Option<&str>) -> String {
    let raw = raw.unwrap_or_default();
    let last = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last
        .chars()
        // The joiners (U+200C, U+200D) stay: Indian scripts need them to spell words.
        .filter(|c| matches!(c, '\u{200C}' | '\u{200D}') || !crate::mask::is_invisible(*c))
        .map(|c| {
            let refused = c.is_control()
                || matches!(c, '"' | '<' | '>' | ':' | '|' | '?' | '*' | '\u{2028}' | '\u{2029}');
            if refused { ' ' } else { c }
        })
        .collect();
    let cleaned = cleaned.split_whitespace().collect::<Vec<_>>().join(" ");
    let cleaned = cleaned.trim_matches(|c: char| c == '.' || c.is_whitespace());
    if cleaned.is_empty() {
        return "upload".to_owned();
    }
    const MOST: usize = 100;
    if cleaned.chars().count() <= MOST {
        return cleaned.to_owned();
    }
    let (stem, extension) = match cleaned.rsplit_once('.') {
        Some((stem, ext)) if ext.chars().count() <= 8 => (stem, format!(".{ext}")),
        _ => (cleaned, String::new()),
    };
    let keep = MOST - extension.chars().count();
    format!("{}{extension}", stem.chars().take(keep).collect::<String>())
}

/// `customers.xlsx` → `customers.results.xlsx`: the name a download is offered under.
pub fn download_name(display: &str, kind: Kind, format: Format) -> String {
    let stem = match display.rsplit_once('.') {
        Some((stem, _)) if !stem.is_empty() => stem,
        _ => display,
    };
    format!("{stem}.{}.{}", kind.as_str(), format.extension())
}

/// `Content-Disposition: attachment` naming the file: an ASCII fallback, and the real name
/// percent-encoded (RFC 6266, RFC 8187) for browsers, which all read it.
fn disposition(name: &str) -> HeaderValue {
    let ascii: String =
        name.chars().map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '_' }).collect();
    let ascii = ascii.replace(['"', '\\'], "_");
    let mut encoded = String::new();
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    HeaderValue::from_str(&format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}"))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

/// The file at `path` as a download called `name`, streamed. Never cached: it holds personal data.
pub async fn download(path: &Path, name: &str, format: Format) -> io::Result<Response> {
    let file = tokio::fs::File::open(path).await?;
    let length = file.metadata().await?.len();
    let body = Body::from_stream(tokio_util::io::ReaderStream::with_capacity(file, 64 * 1024));
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(format.content_type()));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    headers.insert(header::CONTENT_DISPOSITION, disposition(name));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sent_are_shown_safely() {
        assert_eq!(display_name(Some("customers.xlsx")), "customers.xlsx");
        assert_eq!(display_name(Some("../../etc/passwd")), "passwd");
        assert_eq!(display_name(Some("C:\\Users\\asha\\New customers.csv")), "New customers.csv");
        assert_eq!(display_name(Some("a\u{0}b\r\n<script>.csv")), "a b script .csv");
        assert_eq!(display_name(Some("..")), "upload");
        // Nothing that reorders or hides what the name says; the joiners Indian scripts need stay.
        assert_eq!(display_name(Some("invoice\u{202E}xslx.exe")), "invoicexslx.exe");
        for hidden in [
            '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}',
            '\u{200E}', '\u{200F}', '\u{061C}', '\u{200B}', '\u{FEFF}',
        ] {
            assert_eq!(display_name(Some(&format!("a{hidden}b.csv"))), "ab.csv", "{:?}", hidden);
        }
        assert_eq!(display_name(Some("क्\u{200D}ष.csv")), "क्\u{200D}ष.csv");
        assert_eq!(display_name(Some("a\u{2028}b.csv")), "a b.csv");
        assert_eq!(display_name(None), "upload");
        let long = format!("{}.xlsx", "x".repeat(300));
        let shown = display_name(Some(&long));
        assert!(shown.ends_with(".xlsx") && shown.chars().count() == 100, "{shown}");
    }

    #[test]
    fn downloads_are_named_after_the_upload() {
        assert_eq!(download_name("customers.xlsx", Kind::Results, Format::Xlsx), "customers.results.xlsx");
        assert_eq!(download_name("export", Kind::Errors, Format::Csv), "export.errors.csv");
        assert_eq!(
            disposition("Kunden ä.csv").to_str().unwrap(),
            "attachment; filename=\"Kunden _.csv\"; filename*=UTF-8''Kunden%20%C3%A4.csv"
        );
    }

    #[test]
    fn the_directory_is_private_and_beside_the_state() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("branch.db");
        let uploads = Uploads::open(&state, Gate::new().keep_state(&state)).unwrap();
        assert_eq!(uploads.dir(), dir.path().join("branch.uploads"));
        let mode = std::fs::metadata(uploads.dir()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        let incoming = uploads.incoming().unwrap();
        assert_eq!(incoming.as_file().metadata().unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(uploads.file(7, Kind::Results, Format::Xlsx), uploads.dir().join("7.results.xlsx"));
    }
}
