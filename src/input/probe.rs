//! A first look at a customer file, before any row is read: its SHA-256 (the identity of a run),
//! whether it is a spreadsheet workbook, a text file or neither — by its content, not its name —
//! and for text its encoding and delimiter. One streaming pass over the bytes; nothing is kept but
//! counters.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::InputError;

/// The text encodings a customer file may arrive in (the README, "The customer file").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextEncoding {
    Utf8,
    Utf16Le,
    Utf16Be,
    Windows1252,
}

impl TextEncoding {
    pub fn label(self) -> &'static str {
        match self {
            TextEncoding::Utf8 => "UTF-8",
            TextEncoding::Utf16Le => "UTF-16LE",
            TextEncoding::Utf16Be => "UTF-16BE",
            TextEncoding::Windows1252 => "Windows-1252",
        }
    }

    pub(crate) fn encoding_rs(self) -> &'static encoding_rs::Encoding {
        match self {
            TextEncoding::Utf8 => encoding_rs::UTF_8,
            TextEncoding::Utf16Le => encoding_rs::UTF_16LE,
            TextEncoding::Utf16Be => encoding_rs::UTF_16BE,
            TextEncoding::Windows1252 => encoding_rs::WINDOWS_1252,
        }
    }
}

/// How the file is to be read, as far as the user chose.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProbeOptions {
    pub encoding: Option<TextEncoding>,
    pub delimiter: Option<u8>,
    /// The header's line (`--header-row`), below a title block: its delimiter is the file's.
    pub header_line: Option<u32>,
}

/// The spreadsheet formats read directly, told apart by their first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkbookKind {
    /// Office Open XML: `.xlsx`, `.xlsm` (a ZIP with `xl/` parts).
    OfficeOpenXml,
    /// OpenDocument: `.ods` (a ZIP whose first entry names the spreadsheet media type).
    OpenDocument,
    /// Excel 97–2003: `.xls` (an OLE compound file).
    LegacyExcel,
}

impl WorkbookKind {
    pub fn label(self) -> &'static str {
        match self {
            WorkbookKind::OfficeOpenXml => "Excel workbook",
            WorkbookKind::OpenDocument => "OpenDocument spreadsheet",
            WorkbookKind::LegacyExcel => "Excel 97-2003 workbook",
        }
    }
}

/// What the first pass learned about a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Probe {
    pub sha256: [u8; 32],
    pub size: u64,
    /// Set for a workbook; the text fields below then keep their defaults.
    pub workbook: Option<WorkbookKind>,
    pub encoding: TextEncoding,
    /// Bytes of byte-order mark at the start (0 when none).
    pub bom_len: usize,
    /// Set when the file is not valid UTF-8 and has no BOM, so it is read as Windows-1252: the
    /// physical line of the first byte that is not UTF-8, for the one warning the user gets.
    pub fallback_from_line: Option<u64>,
    /// Set when the file is read as UTF-8 (its BOM says so, or --encoding does) but is not valid
    /// UTF-8: the line of the first bad byte. Such bytes read as U+FFFD, so the user is told once
    /// where, rather than meeting a `�` in some names.
    pub invalid_utf8_from_line: Option<u64>,
    /// The whole file was checked to be valid UTF-8, so it can be read without transcoding.
    pub utf8_valid: bool,
    pub delimiter: u8,
}

impl Probe {
    /// Hex of the content hash, the identity of a run.
    pub fn sha256_hex(&self) -> String {
        self.sha256.iter().map(|b| format!("{b:02x}")).collect()
    }
}

const CHUNK: usize = 256 * 1024;
/// How much of the start of the file is decoded to find the header line and its delimiter.
const HEAD: usize = 64 * 1024;

/// Whether the file at `path` is a spreadsheet workbook, by its first bytes alone (false when it
/// cannot be read): what a command names its outputs after before the file is read through.
pub fn is_workbook(path: &Path) -> bool {
    let mut head = Vec::with_capacity(HEAD);
    File::open(path).and_then(|f| f.take(HEAD as u64).read_to_end(&mut head)).is_ok()
        && workbook_kind(&head).is_some()
}

pub fn probe(path: &Path, options: ProbeOptions) -> Result<Probe, InputError> {
    let read_err = |source| InputError::Read { path: path.to_owned(), source };
    let mut file = File::open(path).map_err(read_err)?;
    if file.metadata().map_err(read_err)?.is_dir() {
        return Err(InputError::NotAFile { path: path.to_owned() });
    }

    let mut hasher = Sha256::new();
    let mut head: Vec<u8> = Vec::with_capacity(HEAD);
    let mut size = 0u64;
    let mut utf8 = Utf8Scan::default();
    // A chunk-sized buffer whose first bytes may hold an incomplete UTF-8 sequence carried over
    // from the previous chunk.
    // Each read lands after the bytes of a UTF-8 sequence left incomplete by the previous one.
    let mut buf = vec![0u8; 4 + CHUNK];
    let mut carry = 0usize;
    loop {
        let n = file.read(&mut buf[carry..carry + CHUNK]).map_err(read_err)?;
        if n == 0 {
            if carry > 0 {
                utf8.truncated();
            }
            break;
        }
        let data = &buf[carry..carry + n];
        hasher.update(data);
        if head.len() < HEAD {
            let take = (HEAD - head.len()).min(n);
            head.extend_from_slice(&data[..take]);
        }
        size += n as u64;
        let total = carry + n;
        let incomplete = utf8.scan(&buf[..total]);
        buf.copy_within(total - incomplete..total, 0);
        carry = incomplete;
    }

    if size == 0 {
        return Err(InputError::Empty { path: path.to_owned() });
    }
    if let Some(kind) = workbook_kind(&head) {
        return Ok(Probe {
            sha256: hasher.finalize().into(),
            size,
            workbook: Some(kind),
            encoding: TextEncoding::Utf8,
            bom_len: 0,
            fallback_from_line: None,
            invalid_utf8_from_line: None,
            utf8_valid: false,
            delimiter: b',',
        });
    }
    if let Some(kind) = binary_kind(&head) {
        return Err(InputError::NotText { path: path.to_owned(), kind });
    }

    let (bom_encoding, bom_len) = match encoding_rs::Encoding::for_bom(&head) {
        Some((enc, len)) if enc == encoding_rs::UTF_8 => (Some(TextEncoding::Utf8), len),
        Some((enc, len)) if enc == encoding_rs::UTF_16LE => (Some(TextEncoding::Utf16Le), len),
        Some((_, len)) => (Some(TextEncoding::Utf16Be), len),
        None => (None, 0),
    };
    // NUL bytes in the first line mean binary data (or UTF-16/32 text), unless the text is
    // UTF-16 marked by its BOM or named with --encoding (Excel's "Unicode Text" has a BOM; some
    // exporters leave it out). A text file whose header line is clean but which has a stray NUL
    // further down is a damaged export: the damage stays in its rows, as row errors, rather than
    // costing the clerk the whole file.
    let forced_utf16 = matches!(options.encoding, Some(TextEncoding::Utf16Le | TextEncoding::Utf16Be));
    let first_line = head
        .split(|&b| b == b'\n' || b == b'\r')
        .find(|line| !line.iter().all(u8::is_ascii_whitespace))
        .unwrap_or_default();
    if bom_encoding.is_none() && !forced_utf16 && first_line.contains(&0) {
        if let Some(encoding) = utf16_without_bom(&head) {
            return Err(InputError::Utf16WithoutBom { path: path.to_owned(), encoding });
        }
        return Err(InputError::NotText { path: path.to_owned(), kind: "binary file" });
    }
    let (encoding, fallback_from_line) = match (options.encoding, bom_encoding) {
        (Some(forced), _) => (forced, None),
        (None, Some(found)) => (found, None),
        (None, None) if utf8.valid() => (TextEncoding::Utf8, None),
        (None, None) => (TextEncoding::Windows1252, utf8.first_invalid_line),
    };
    let bom_len = if bom_encoding == Some(encoding) { bom_len } else { 0 };
    let invalid_utf8_from_line = if encoding == TextEncoding::Utf8 { utf8.first_invalid_line } else { None };

    let (text, _) = encoding.encoding_rs().decode_without_bom_handling(&head[bom_len..]);
    // Split on `\r` too: in a CR-only file (old Mac exports) `lines()` would see one long line.
    // The header line given (as a text editor numbers lines: a CR LF is one line end), if it is
    // within the start read; else the first that is not blank. The reader says what is wrong
    // with a line given that is not a header.
    let given = options.header_line.and_then(|n| {
        let unix = text.replace("\r\n", "\n");
        unix.split(['\r', '\n']).nth(n as usize - 1).filter(|l| !l.trim().is_empty()).map(str::to_owned)
    });
    let header_line =
        given.or_else(|| text.split(['\r', '\n']).find(|l| !l.trim().is_empty()).map(str::to_owned));
    let Some(header_line) = header_line else {
        return Err(InputError::NoHeader { path: path.to_owned() });
    };
    let delimiter = options.delimiter.unwrap_or_else(|| sniff_delimiter(&header_line));

    Ok(Probe {
        sha256: hasher.finalize().into(),
        size,
        workbook: None,
        encoding,
        bom_len,
        fallback_from_line,
        invalid_utf8_from_line,
        utf8_valid: utf8.valid(),
        delimiter,
    })
}

/// The SHA-256 of a file's content, to tell whether it changed since [`probe`] read it.
pub fn sha256_of(path: &Path) -> Result<[u8; 32], InputError> {
    let read_err = |source| InputError::Read { path: path.to_owned(), source };
    let mut file = File::open(path).map_err(read_err)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = file.read(&mut buf).map_err(read_err)?;
        if n == 0 {
            return Ok(hasher.finalize().into());
        }
        hasher.update(&buf[..n]);
    }
}

/// Streaming UTF-8 validation that remembers the line of the first invalid byte.
#[derive(Debug, Default)]
struct Utf8Scan {
    invalid: bool,
    lines_before: u64,
    /// The last byte counted was `\r`, so a `\n` that follows it ends no new line.
    after_cr: bool,
    first_invalid_line: Option<u64>,
}

impl Utf8Scan {
    /// Scans `bytes`; returns how many bytes at the end start a sequence that the next chunk
    /// completes.
    fn scan(&mut self, bytes: &[u8]) -> usize {
        if self.invalid {
            return 0;
        }
        match std::str::from_utf8(bytes) {
            Ok(_) => {
                self.count_lines(bytes);
                0
            }
            Err(e) => {
                self.count_lines(&bytes[..e.valid_up_to()]);
                if e.error_len().is_some() {
                    self.mark_invalid();
                    0
                } else {
                    bytes.len() - e.valid_up_to()
                }
            }
        }
    }

    /// The file ends inside a multi-byte sequence.
    fn truncated(&mut self) {
        if !self.invalid {
            self.mark_invalid();
        }
    }

    /// Counts line ends as the reader does (`\n`, `\r\n` and a lone `\r` are one each), so the
    /// line named in the warning is the physical line the rows are numbered by.
    fn count_lines(&mut self, bytes: &[u8]) {
        if !self.after_cr && !bytes.contains(&b'\r') {
            self.lines_before += bytes.iter().filter(|&&b| b == b'\n').count() as u64;
            return;
        }
        for &b in bytes {
            if b == b'\r' || (b == b'\n' && !self.after_cr) {
                self.lines_before += 1;
            }
            self.after_cr = b == b'\r';
        }
    }

    fn mark_invalid(&mut self) {
        self.invalid = true;
        self.first_invalid_line = Some(self.lines_before + 1);
    }

    fn valid(&self) -> bool {
        !self.invalid
    }
}

/// Recognises files that are plainly not CSV by their first bytes, so the user hears "this is a
/// PNG image" rather than a list of missing columns.
fn binary_kind(head: &[u8]) -> Option<&'static str> {
    const MAGIC: [(&[u8], &str); 6] = [
        (b"\x89PNG", "PNG image"),
        (b"\xFF\xD8\xFF", "JPEG image"),
        (b"%PDF", "PDF document"),
        (b"PK\x03\x04", "ZIP archive (but not a spreadsheet)"),
        (b"PK\x05\x06", "ZIP archive"),
        (b"\x1F\x8B", "gzip archive"),
    ];
    MAGIC.iter().find(|(magic, _)| head.starts_with(magic)).map(|(_, kind)| *kind)
}

/// A workbook by its first bytes. An OLE compound file is taken for an `.xls` (a `.doc` is one
/// too: reading it as a workbook then fails with a clear message). A ZIP is a spreadsheet when
/// its first local entries name Office Open XML's `xl/` parts or OpenDocument's spreadsheet type.
fn workbook_kind(head: &[u8]) -> Option<WorkbookKind> {
    const OLE: &[u8] = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1";
    if head.starts_with(OLE) {
        return Some(WorkbookKind::LegacyExcel);
    }
    if !head.starts_with(b"PK\x03\x04") {
        return None;
    }
    let contains = |needle: &[u8]| head.windows(needle.len()).any(|w| w == needle);
    if contains(b"application/vnd.oasis.opendocument.spreadsheet") {
        Some(WorkbookKind::OpenDocument)
    } else if contains(b"xl/") {
        Some(WorkbookKind::OfficeOpenXml)
    } else {
        None
    }
}

/// Recognises UTF-16 text without a byte-order mark by its NUL bytes: in text that is mostly
/// ASCII (a header line always is), every other byte is 0 — the second of each pair in
/// little-endian, the first in big-endian.
fn utf16_without_bom(head: &[u8]) -> Option<TextEncoding> {
    let sample = &head[..head.len().min(1024) & !1];
    let pairs = sample.len() / 2;
    if pairs < 4 {
        return None;
    }
    let zeros = |offset: usize| sample.iter().skip(offset).step_by(2).filter(|&&b| b == 0).count();
    let (even, odd) = (zeros(0), zeros(1));
    // Nine in ten pairs have their zero on one side and almost none on the other.
    let mostly = |n: usize| n * 10 >= pairs * 9;
    let hardly = |n: usize| n * 10 <= pairs;
    match (mostly(odd) && hardly(even), mostly(even) && hardly(odd)) {
        (true, _) => Some(TextEncoding::Utf16Le),
        (_, true) => Some(TextEncoding::Utf16Be),
        _ => None,
    }
}

/// European Excel writes `;`, some exports use tabs: whichever of `,` `;` tab occurs most in the
/// header line (outside quotes) is the delimiter; `,` when none does.
fn sniff_delimiter(header_line: &str) -> u8 {
    let mut counts = [0usize; 3];
    let mut quoted = false;
    for b in header_line.bytes() {
        match b {
            b'"' => quoted = !quoted,
            b',' if !quoted => counts[0] += 1,
            b';' if !quoted => counts[1] += 1,
            b'\t' if !quoted => counts[2] += 1,
            _ => {}
        }
    }
    let candidates = [b',', b';', b'\t'];
    let best = (0..3).max_by_key(|&i| (counts[i], std::cmp::Reverse(i))).unwrap_or(0);
    if counts[best] == 0 { b',' } else { candidates[best] }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn probe_bytes(bytes: &[u8]) -> Result<Probe, InputError> {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(bytes).unwrap();
        probe(file.path(), ProbeOptions::default())
    }

    #[test]
    fn plain_utf8_with_and_without_bom() {
        let p = probe_bytes(b"pan,dob\nA,B\n").unwrap();
        assert_eq!((p.encoding, p.bom_len, p.delimiter), (TextEncoding::Utf8, 0, b','));
        let p = probe_bytes(b"\xEF\xBB\xBFpan;dob\r\nA;B\r\n").unwrap();
        assert_eq!((p.encoding, p.bom_len, p.delimiter), (TextEncoding::Utf8, 3, b';'));
    }

    #[test]
    fn utf16_is_found_by_its_bom() {
        let text: Vec<u8> = "pan\tdob\n".encode_utf16().flat_map(u16::to_le_bytes).collect();
        let p = probe_bytes(&[&[0xFF, 0xFE][..], &text].concat()).unwrap();
        assert_eq!((p.encoding, p.bom_len, p.delimiter), (TextEncoding::Utf16Le, 2, b'\t'));
    }

    #[test]
    fn non_utf8_falls_back_to_windows_1252_and_says_where() {
        let p = probe_bytes(b"name,pan\nRavi,X\nRen\xE9,Y\n").unwrap();
        assert_eq!(p.encoding, TextEncoding::Windows1252);
        assert_eq!(p.fallback_from_line, Some(3));
    }

    #[test]
    fn the_fallback_line_counts_every_kind_of_line_end() {
        for (bytes, line) in [
            (&b"name,pan\rRavi,X\rRen\xE9,Y\r"[..], 3),
            (b"name,pan\r\nRavi,X\r\n\r\nRen\xE9,Y\r\n", 4),
            (b"name,pan\n\rRavi,X\nRen\xE9,Y\n", 4),
        ] {
            let p = probe_bytes(bytes).unwrap();
            assert_eq!(p.fallback_from_line, Some(line), "{}", String::from_utf8_lossy(bytes));
        }
    }

    #[test]
    fn a_file_read_as_utf8_that_is_not_says_where() {
        let p = probe_bytes(b"\xEF\xBB\xBFname,pan\r\nRavi,X\r\nRen\xE9,Y\r\n").unwrap();
        assert_eq!(
            (p.encoding, p.fallback_from_line, p.invalid_utf8_from_line),
            (TextEncoding::Utf8, None, Some(3))
        );
        assert_eq!(probe_bytes(b"\xEF\xBB\xBFname\r\nRen\xC3\xA9\r\n").unwrap().invalid_utf8_from_line, None);
        assert_eq!(probe_bytes(b"name\nRen\xE9\n").unwrap().invalid_utf8_from_line, None);
    }

    #[test]
    fn a_cr_only_file_sniffs_its_header_line_alone() {
        let p = probe_bytes(b"pan;dob\rA,1;B,2\rC,3;D,4\rE,5;F,6\r").unwrap();
        assert_eq!(p.delimiter, b';');
    }

    #[test]
    fn utf16_without_a_bom_is_named_or_read_when_forced() {
        let text: Vec<u8> = "pan,dob\nA,B\n".encode_utf16().flat_map(u16::to_le_bytes).collect();
        let err = probe_bytes(&text).unwrap_err();
        assert!(matches!(err, InputError::Utf16WithoutBom { encoding: TextEncoding::Utf16Le, .. }), "{err}");
        assert!(err.to_string().contains("--encoding utf-16le"), "{err}");
        let big: Vec<u8> = "pan,dob\nA,B\n".encode_utf16().flat_map(u16::to_be_bytes).collect();
        assert!(matches!(
            probe_bytes(&big),
            Err(InputError::Utf16WithoutBom { encoding: TextEncoding::Utf16Be, .. })
        ));

        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(&text).unwrap();
        let forced =
            ProbeOptions { encoding: Some(TextEncoding::Utf16Le), delimiter: None, header_line: None };
        let p = probe(file.path(), forced).unwrap();
        assert_eq!((p.encoding, p.bom_len, p.delimiter), (TextEncoding::Utf16Le, 0, b','));
    }

    #[test]
    fn a_multibyte_character_split_across_chunks_is_still_utf8() {
        let mut bytes = b"name\n".to_vec();
        bytes.resize(CHUNK - 1, b'a');
        bytes.extend_from_slice("é\n".as_bytes());
        let p = probe_bytes(&bytes).unwrap();
        assert_eq!(p.encoding, TextEncoding::Utf8);
        assert_eq!(p.size, bytes.len() as u64);
    }

    #[test]
    fn a_file_cut_inside_a_character_is_not_utf8() {
        let p = probe_bytes(b"name\nRen\xC3").unwrap();
        assert_eq!(p.encoding, TextEncoding::Windows1252);
    }

    #[test]
    fn not_csv_files_are_named() {
        assert!(matches!(probe_bytes(b""), Err(InputError::Empty { .. })));
        assert!(matches!(probe_bytes(b"\xEF\xBB\xBF"), Err(InputError::NoHeader { .. })));
        assert!(matches!(probe_bytes(b"\r\n\r\n  \n"), Err(InputError::NoHeader { .. })));
        let png = probe_bytes(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR");
        assert!(matches!(png, Err(InputError::NotText { kind: "PNG image", .. })));
        let bin = probe_bytes(b"abc\0def");
        assert!(matches!(bin, Err(InputError::NotText { kind: "binary file", .. })));
        let bin = probe_bytes(b"\r\n\x7fELF\x02\x01\x01\0\0\0\n");
        assert!(matches!(bin, Err(InputError::NotText { kind: "binary file", .. })));
    }

    #[test]
    fn a_nul_below_a_clean_header_line_is_left_to_the_rows() {
        let p = probe_bytes(b"name,pan\nRa\0vi,X\n").unwrap();
        assert_eq!(p.encoding, TextEncoding::Utf8);
    }

    #[test]
    fn hash_is_of_the_whole_content() {
        let p = probe_bytes(b"abc").unwrap();
        assert_eq!(p.sha256_hex(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn delimiter_sniffing_ignores_quoted_separators() {
        assert_eq!(sniff_delimiter("\"Name, full\";PAN;DOB"), b';');
        assert_eq!(sniff_delimiter("name"), b',');
        assert_eq!(sniff_delimiter("a,b;c,d"), b',');
    }
}
