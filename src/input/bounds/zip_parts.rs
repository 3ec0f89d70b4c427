//! The parts of a zip workbook (`.xlsx`, `.ods`): what they declare they inflate to, then what
//! they really inflate to, each inflated through a counter into nothing and stopped at the bound,
//! so that a lying archive costs a buffer, never its claim. The XML parts are scanned on the way
//! for their longest text or tag: an XML reader holds each one whole, so one 2 GiB text is a
//! 2 GiB buffer before any cell exists. The bound is the cell bound (a text is a cell's, or a
//! piece of one), but never less than [`MIN_MARKUP_RUN`], which tags need.

use std::io::{Cursor, Read as _};

use zip::ZipArchive;

use super::{Limit, WorkbookLimits, WorkbookRefusal, too_big};

/// The piece of a part inflated at a time.
const CHUNK: usize = 64 * 1024;
/// The longest text or tag allowed whatever the cell bound: a sound part's tags (a sheet's root
/// element with its namespaces, a defined name's formula) run to a few KiB.
const MIN_MARKUP_RUN: u64 = 64 * 1024;

pub(super) fn check(bytes: &[u8], limits: &WorkbookLimits) -> Result<(), WorkbookRefusal> {
    // The same zip reader calamine uses: an archive it cannot open, calamine cannot either.
    let Ok(mut archive) = ZipArchive::new(Cursor::new(bytes)) else { return Ok(()) };
    let allowed = limits.max_unpacked_bytes;
    let longest_run = limits.max_cell_bytes.max(MIN_MARKUP_RUN);

    // What the parts say first: an honest bomb is refused without inflating a byte.
    let mut declared = 0u64;
    for index in 0..archive.len() {
        let Ok(part) = archive.by_index_raw(index) else { continue };
        declared = declared.saturating_add(part.size());
        if declared > allowed {
            return Err(too_big(Limit::UnpackedBytes, allowed, place(&part.name().unwrap_or_default())));
        }
    }

    // What they really inflate to.
    let mut left = allowed;
    let mut buffer = vec![0u8; CHUNK];
    for index in 0..archive.len() {
        // A part that cannot be inflated (encrypted, an unknown method, damaged) is calamine's
        // to report, if it needs that part at all.
        let Ok(mut part) = archive.by_index(index) else { continue };
        let name = part.name().map(|n| n.into_owned()).unwrap_or_default();
        let declared = part.size();
        let mut markup = is_markup(&name).then(MarkupRuns::default);
        let mut inflated = 0u64;
        loop {
            // Reads stop at the declared size, then ask for one byte more: the read that finds
            // more than was declared fails with all the declared bytes counted.
            let want = declared.saturating_sub(inflated).clamp(1, CHUNK as u64) as usize;
            let n = match part.read(&mut buffer[..want]) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                // The zip reader stops a part at the size it declared: a part with more to give
                // lied about its size, which no spreadsheet program does.
                Err(_) if inflated >= declared => {
                    return Err(WorkbookRefusal::Damaged(format!(
                        "its part {name} inflates to more than the {} it declares",
                        super::bytes(declared)
                    )));
                }
                // Damaged data past this point: what was inflated is counted, the rest is the
                // reader's to report if it reads this part.
                Err(_) => break,
            };
            inflated += n as u64;
            left = left
                .checked_sub(n as u64)
                .ok_or_else(|| too_big(Limit::UnpackedBytes, allowed, place(&name)))?;
            if let Some(runs) = &mut markup {
                runs.feed(&buffer[..n]);
                if runs.longest > longest_run {
                    return Err(too_big(Limit::CellBytes, longest_run, place(&name)));
                }
            }
        }
    }
    Ok(())
}

fn place(name: &str) -> String {
    format!("its part {name}")
}

/// XML, which an XML reader buffers a text or a tag at a time.
fn is_markup(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    [".xml", ".rels", ".vml"].iter().any(|ext| name.ends_with(ext))
}

/// The longest run of bytes between two `<` or `>`: the longest text or tag of the XML.
#[derive(Debug, Default)]
struct MarkupRuns {
    current: u64,
    longest: u64,
}

impl MarkupRuns {
    fn feed(&mut self, bytes: &[u8]) {
        let mut rest = bytes;
        while let Some(at) = rest.iter().position(|b| matches!(b, b'<' | b'>')) {
            self.longest = self.longest.max(self.current + at as u64);
            self.current = 0;
            rest = &rest[at + 1..];
        }
        self.current += rest.len() as u64;
        self.longest = self.longest.max(self.current);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_run_spans_pieces() {
        let mut runs = MarkupRuns::default();
        runs.feed(b"<a>12");
        runs.feed(b"345</a><b x=\"1234567\"/>");
        assert_eq!(runs.longest, 14); // `b x="1234567"/`
        runs.feed(b"x".repeat(20).as_slice());
        runs.feed(b"y".repeat(20).as_slice());
        assert_eq!(runs.longest, 40);
    }
}
