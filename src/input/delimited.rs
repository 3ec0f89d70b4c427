//! Rows out of a delimited text file (CSV, `;`-separated, tab-separated), streamed: the file is
//! decoded to UTF-8 on the fly when it is not UTF-8 already, every line ending becomes `\n` (so
//! that line numbers count CR-only files too), and each record keeps the physical line it starts on.
//!
//! Records are parsed with `csv-core` into buffers of our own rather than by `csv::Reader`, which
//! keeps a whole record in memory however long it is. A record longer than
//! [`MAX_RECORD_BYTES`] in the file is skipped to its end in constant memory and handed out as a
//! row without cells, marked [`Oversized`], which validation rejects: one bad row, not a file
//! that cannot be read, and not a process that runs out of memory. The usual cause is a cell
//! that opens a quote and never closes it, which makes the rest of the file one cell.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use csv::StringRecord;
use csv_core::ReadRecordResult;
use encoding_rs_io::DecodeReaderBytesBuilder;

use super::probe::{Probe, TextEncoding};
use super::{InputError, Oversized, RawRow};

/// The longest record, in bytes of the file, that is read: far above any customer row (eight
/// fields of at most a few dozen characters, plus whatever columns a spreadsheet carries), and
/// low enough that memory stays flat whatever the file holds. A spreadsheet's cell holds at most
/// 32,767 characters (Excel's limit), so only a broken file reaches it.
pub const MAX_RECORD_BYTES: u64 = 1024 * 1024;

/// How much of the file is read at a time.
const BUFFER: usize = 64 * 1024;

pub(crate) struct DelimitedRows {
    input: Box<dyn Read + Send>,
    parser: csv_core::Reader,
    buf: Box<[u8]>,
    /// `buf[pos..len]` is read but not yet parsed.
    pos: usize,
    len: usize,
    eof: bool,
    /// The record being parsed: its fields' bytes, one after another, and where each field ends.
    fields: Vec<u8>,
    ends: Vec<usize>,
    path: PathBuf,
}

impl std::fmt::Debug for DelimitedRows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DelimitedRows").field("path", &self.path).finish_non_exhaustive()
    }
}

/// Where a record lies in the file.
struct Span {
    line: u64,
    oversized: Option<Oversized>,
}

impl DelimitedRows {
    pub(crate) fn open(path: &Path, probe: &Probe) -> Result<DelimitedRows, InputError> {
        let read_err = |source| InputError::Read { path: path.to_owned(), source };
        let mut file = File::open(path).map_err(read_err)?;
        let text: Box<dyn Read + Send> = if probe.encoding == TextEncoding::Utf8 && probe.utf8_valid {
            // Already UTF-8: skip the BOM and read the bytes as they are.
            io::copy(&mut (&mut file).take(probe.bom_len as u64), &mut io::sink()).map_err(read_err)?;
            Box::new(file)
        } else {
            // Transcoded (invalid sequences become U+FFFD, which validation then rejects by name).
            Box::new(
                DecodeReaderBytesBuilder::new()
                    .encoding(Some(probe.encoding.encoding_rs()))
                    .strip_bom(true)
                    .build(file),
            )
        };
        Ok(DelimitedRows {
            input: Box::new(UnixLineEndings::new(text)),
            parser: csv_core::ReaderBuilder::new().delimiter(probe.delimiter).build(),
            buf: vec![0; BUFFER].into_boxed_slice(),
            pos: 0,
            len: 0,
            eof: false,
            fields: vec![0; 4 * 1024],
            ends: vec![0; 64],
            path: path.to_owned(),
        })
    }

    /// Reads the next record that is not blank into `row`; `false` at the end of the file.
    pub(crate) fn read_row(&mut self, row: &mut RawRow) -> Result<bool, InputError> {
        loop {
            let span = self
                .read_record(&mut row.cells)
                .map_err(|source| InputError::Read { path: self.path.clone(), source })?;
            let Some(span) = span else {
                return Ok(false);
            };
            row.line = span.line;
            row.oversized = span.oversized;
            if row.oversized.is_some() || !is_blank(&row.cells) {
                return Ok(true);
            }
        }
    }

    /// Refills the buffer once everything in it is parsed; `false` at the end of the input.
    fn fill(&mut self) -> io::Result<bool> {
        if self.pos < self.len {
            return Ok(true);
        }
        if self.eof {
            return Ok(false);
        }
        (self.pos, self.len) = (0, 0);
        loop {
            match self.input.read(&mut self.buf) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.len = n;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Parses the next record into `cells`: its span, or `None` at the end of the file.
    fn read_record(&mut self, cells: &mut StringRecord) -> io::Result<Option<Span>> {
        cells.clear();
        // The parser skips empty lines before a record without saying so; skipping them here
        // instead lets the record's line be the one its first byte is on.
        while self.fill()? {
            let blank = self.buf[self.pos..self.len].iter().take_while(|&&b| b == b'\n').count();
            self.pos += blank;
            self.parser.set_line(self.parser.line() + blank as u64);
            if self.pos < self.len {
                break;
            }
        }
        let line = self.parser.line();
        let (mut out, mut n_ends, mut consumed, mut ended_on_newline) = (0, 0, 0u64, false);
        let mut oversized = false;
        loop {
            self.fill()?;
            let input = &self.buf[self.pos..self.len];
            let (result, n_in, n_out, n_end) =
                self.parser.read_record(input, &mut self.fields[out..], &mut self.ends[n_ends..]);
            if n_in > 0 {
                ended_on_newline = input[n_in - 1] == b'\n';
            }
            self.pos += n_in;
            consumed += n_in as u64;
            out += n_out;
            n_ends += n_end;
            oversized |= consumed > MAX_RECORD_BYTES;
            match result {
                ReadRecordResult::InputEmpty => {}
                // Past the limit, what is parsed is dropped, so the buffers stop growing.
                ReadRecordResult::OutputFull | ReadRecordResult::OutputEndsFull if oversized => {
                    (out, n_ends) = (0, 0);
                }
                ReadRecordResult::OutputFull => self.fields.resize(self.fields.len() * 2, 0),
                ReadRecordResult::OutputEndsFull => self.ends.resize(self.ends.len() * 2, 0),
                ReadRecordResult::Record if oversized => {
                    let last_line = self.parser.line() - u64::from(ended_on_newline);
                    return Ok(Some(Span {
                        line,
                        oversized: Some(Oversized { bytes: consumed, last_line }),
                    }));
                }
                ReadRecordResult::Record => {
                    self.push_fields(out, n_ends, cells);
                    return Ok(Some(Span { line, oversized: None }));
                }
                ReadRecordResult::End => return Ok(None),
            }
        }
    }
}

impl DelimitedRows {
    /// Moves the record just parsed (`out` bytes, `n_ends` fields) into `cells`. The text is
    /// UTF-8 (checked by the probe, or transcoded), so it is checked once for the whole record;
    /// a file changed since the probe read it gets U+FFFD for its bad bytes, not an error.
    fn push_fields(&self, out: usize, n_ends: usize, cells: &mut StringRecord) {
        let ends = &self.ends[..n_ends];
        let mut start = 0;
        match std::str::from_utf8(&self.fields[..out]) {
            // Fields end where the file had an ASCII delimiter, so every end is a char boundary.
            Ok(text) => {
                for &end in ends {
                    cells.push_field(text.get(start..end).unwrap_or_default());
                    start = end;
                }
            }
            Err(_) => {
                for &end in ends {
                    cells.push_field(&String::from_utf8_lossy(&self.fields[start..end]));
                    start = end;
                }
            }
        }
    }
}

/// Excel leaves rows of bare delimiters (`,,,,`) below the data: they are not rows.
fn is_blank(record: &StringRecord) -> bool {
    record.iter().all(|cell| super::clean(cell).is_empty())
}

/// Turns `\r\n` and a lone `\r` (old Mac exports) into `\n`.
struct UnixLineEndings<R> {
    inner: R,
    /// The previous read ended on `\r`, so a `\n` that starts this one belongs to it.
    after_cr: bool,
}

impl<R: Read> UnixLineEndings<R> {
    fn new(inner: R) -> Self {
        UnixLineEndings { inner, after_cr: false }
    }
}

impl<R: Read> Read for UnixLineEndings<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let n = self.inner.read(buf)?;
            if n == 0 {
                return Ok(0);
            }
            let data = &mut buf[..n];
            if !self.after_cr && !data.contains(&b'\r') {
                return Ok(n);
            }
            let mut written = 0;
            for i in 0..n {
                let b = data[i];
                if b == b'\n' && self.after_cr {
                    self.after_cr = false;
                    continue;
                }
                self.after_cr = b == b'\r';
                data[written] = if self.after_cr { b'\n' } else { b };
                written += 1;
            }
            // A read that held only the `\n` of a `\r\n` gives nothing: read on rather than
            // report the end of the file.
            if written > 0 {
                return Ok(written);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads through a reader that hands out `step` bytes at a time, to cross every boundary.
    fn convert(input: &[u8], step: usize) -> Vec<u8> {
        struct Trickle<'a>(&'a [u8], usize);
        impl Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = self.1.min(buf.len()).min(self.0.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut out = Vec::new();
        UnixLineEndings::new(Trickle(input, step)).read_to_end(&mut out).unwrap();
        out
    }

    /// Every record of `bytes`: its line, its cells, and whether it was too long to keep.
    fn records(bytes: &[u8]) -> Vec<(u64, Vec<String>, Option<Oversized>)> {
        use std::io::Write as _;
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(bytes).unwrap();
        let probe = super::super::probe(file.path(), Default::default()).unwrap();
        let mut rows = DelimitedRows::open(file.path(), &probe).unwrap();
        let (mut row, mut out) = (RawRow::default(), Vec::new());
        while rows.read_row(&mut row).unwrap() {
            out.push((row.line, row.cells.iter().map(str::to_owned).collect(), row.oversized));
        }
        out
    }

    #[test]
    fn rows_keep_their_physical_line_across_blank_lines() {
        let found = records(b"h1,h2\n\n\na,b\n\"x\ny\",c\n,,\n\r\n\rd,e");
        let lines: Vec<(u64, Vec<String>)> = found.into_iter().map(|(l, c, _)| (l, c)).collect();
        assert_eq!(
            lines,
            [
                (1, vec!["h1".to_owned(), "h2".to_owned()]),
                (4, vec!["a".to_owned(), "b".to_owned()]),
                (5, vec!["x\ny".to_owned(), "c".to_owned()]),
                (10, vec!["d".to_owned(), "e".to_owned()]),
            ]
        );
    }

    #[test]
    fn a_record_over_the_limit_is_one_row_without_cells_and_reading_goes_on() {
        let limit = usize::try_from(MAX_RECORD_BYTES).unwrap();
        let mut bytes = b"name,notes\nRavi,short\nAsha,\"".to_vec();
        // A quoted cell over the limit, with line breaks in it (lines 3 to 5).
        bytes.extend(std::iter::repeat_n(b'x', limit));
        bytes.extend_from_slice(b"\n\nx\"\nMira,fine\n");
        let found = records(&bytes);
        assert_eq!(found.len(), 4);
        assert_eq!((found[1].0, found[1].2), (2, None));
        let (line, cells, oversized) = &found[2];
        assert_eq!((*line, cells.len()), (3, 0));
        let oversized = oversized.expect("marked as too long");
        assert_eq!(oversized.last_line, 5);
        assert!(oversized.bytes > MAX_RECORD_BYTES);
        assert_eq!(found[3], (6, vec!["Mira".to_owned(), "fine".to_owned()], None));

        // Just under the limit, a record is read whole.
        let mut bytes = b"name,notes\nRavi,".to_vec();
        bytes.extend(std::iter::repeat_n(b'y', limit - 6));
        let found = records(&bytes);
        assert_eq!((found[1].1[1].len(), found[1].2), (limit - 6, None));
    }

    #[test]
    fn an_unclosed_quote_makes_the_rest_of_the_file_one_oversized_row() {
        let mut bytes = b"name,notes\nRavi,\"oops\n".to_vec();
        for i in 0..60_000 {
            bytes.extend_from_slice(format!("Row{i},some notes here\n").as_bytes());
        }
        let found = records(&bytes);
        assert_eq!(found.len(), 2);
        assert_eq!((found[1].0, found[1].2.map(|o| o.last_line)), (2, Some(60_002)));
    }

    #[test]
    fn every_line_ending_becomes_lf() {
        for step in [1, 2, 3, 64] {
            assert_eq!(convert(b"a\r\nb\rc\nd\r", step), b"a\nb\nc\nd\n", "step {step}");
            assert_eq!(convert(b"\r\n\r\n", step), b"\n\n", "step {step}");
            assert_eq!(convert(b"\r\r\n", step), b"\n\n", "step {step}");
        }
    }
}
