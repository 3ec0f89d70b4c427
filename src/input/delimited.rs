//! Rows out of a delimited text file (CSV, `;`-separated, tab-separated), streamed: the file is
//! decoded to UTF-8 on the fly when it is not UTF-8 already, every line ending becomes `\n` (so
//! that line numbers count CR-only files too), and each record keeps the physical line it starts on.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use csv::StringRecord;
use encoding_rs_io::DecodeReaderBytesBuilder;

use super::probe::{Probe, TextEncoding};
use super::{InputError, RawRow};

pub(crate) struct DelimitedRows {
    reader: csv::Reader<Box<dyn Read + Send>>,
    path: PathBuf,
}

impl std::fmt::Debug for DelimitedRows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DelimitedRows").field("path", &self.path).finish_non_exhaustive()
    }
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
        let reader = csv::ReaderBuilder::new()
            .delimiter(probe.delimiter)
            .has_headers(false)
            .flexible(true)
            .buffer_capacity(64 * 1024)
            .from_reader(Box::new(UnixLineEndings::new(text)) as Box<dyn Read + Send>);
        Ok(DelimitedRows { reader, path: path.to_owned() })
    }

    /// Reads the next record that is not blank into `row`; `false` at the end of the file.
    pub(crate) fn read_row(&mut self, row: &mut RawRow) -> Result<bool, InputError> {
        loop {
            let more = self.reader.read_record(&mut row.cells).map_err(|e| {
                let line = e.position().map_or(0, |p| p.line());
                InputError::Parse { path: self.path.clone(), line, message: e.to_string() }
            })?;
            if !more {
                return Ok(false);
            }
            row.line = row.cells.position().map_or(0, |p| p.line());
            if !is_blank(&row.cells) {
                return Ok(true);
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

    #[test]
    fn every_line_ending_becomes_lf() {
        for step in [1, 2, 3, 64] {
            assert_eq!(convert(b"a\r\nb\rc\nd\r", step), b"a\nb\nc\nd\n", "step {step}");
            assert_eq!(convert(b"\r\n\r\n", step), b"\n\n", "step {step}");
            assert_eq!(convert(b"\r\r\n", step), b"\n\n", "step {step}");
        }
    }
}
