//! What an Excel 97-2003 workbook (`.xls`) will make calamine do. calamine reads the compound
//! file's sector chains without checking them for loops (a directory chain that loops is read
//! forever, a stream chain that loops is read up to the length the file claims, which can be
//! 2^64), indexes its tables with unchecked numbers (a panic), and parses every sheet at open,
//! copying a shared string into each cell that points at it (ten thousand cells pointing at one
//! 100 KiB string are a gigabyte). This module walks the same structure the same way, bounded:
//! the chains calamine will follow, then the records of the workbook stream, counting the cells,
//! the grid and the text each sheet will expand to. Where it and calamine could differ, it counts
//! more, never less.

use super::{Budget, Span, WorkbookRefusal};

const SIGNATURE: &[u8] = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1";
const RESERVED_SECTORS: u32 = 0xFFFF_FFFA;
const DIFSECT: u32 = 0xFFFF_FFFC;
const ENDOFCHAIN: u32 = 0xFFFF_FFFE;
/// A stream shorter than this lives in the mini stream, in 64-byte sectors.
const MINI_STREAM_CUTOFF: u64 = 4096;
const MINI_SECTOR: usize = 64;
/// CONTINUE records one record may have before calamine's reading of them (each taken from the
/// front of a list) turns quadratic: 16,384 continuations carry a 128 MiB string table.
const MAX_CONTINUES: usize = 16_384;
/// A decoded character of a legacy string is at most this many bytes of UTF-8 for each of the
/// (up to two) bytes calamine decodes it from.
const UTF8_PER_SOURCE_BYTE: u64 = 3;

fn damaged(what: &str) -> WorkbookRefusal {
    WorkbookRefusal::Damaged(format!("its {what} is damaged"))
}

pub(super) fn check(bytes: &[u8], budget: &mut Budget) -> Result<(), WorkbookRefusal> {
    let Some(stream) = workbook_stream(bytes)? else { return Ok(()) };
    check_records(&stream, budget)
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

/// The compound file as calamine reads it: sector `id` is the `size` bytes after the header
/// (which takes one sector), cut short at the end of the file.
struct Sectors<'a> {
    bytes: &'a [u8],
    size: usize,
    /// The highest sector id calamine accepts.
    max_id: u64,
}

impl<'a> Sectors<'a> {
    /// Sector `id`: `None` past the highest id (calamine fails with an error of its own), an error
    /// for one that starts past the end of the file (calamine slices out of bounds on it).
    fn get(&self, id: u32) -> Result<Option<&'a [u8]>, WorkbookRefusal> {
        if u64::from(id) > self.max_id {
            return Ok(None);
        }
        let start = (id as usize + 1) * self.size;
        let end = (start + self.size).min(self.bytes.len());
        match self.bytes.get(start..end) {
            Some(sector) => Ok(Some(sector)),
            None if start == self.bytes.len() => Ok(Some(&[])),
            None => Err(damaged("sector list")),
        }
    }

    /// Follows the chain from `start` through `fats` until its end or `len` bytes, as calamine
    /// does, but refuses a chain that loops (longer than there are sectors) or leaves the table.
    /// `None`: calamine fails on it with an error of its own.
    fn chain(
        &self,
        start: u32,
        fats: &[u32],
        len: u64,
        what: &str,
    ) -> Result<Option<Vec<u8>>, WorkbookRefusal> {
        let mut out = Vec::new();
        let mut id = start;
        let mut steps = 0u64;
        while id != ENDOFCHAIN {
            steps += 1;
            if steps > self.max_id + 1 {
                return Err(damaged(what));
            }
            let Some(sector) = self.get(id)? else { return Ok(None) };
            let take = sector.len().min(usize::try_from(len - out.len() as u64).unwrap_or(usize::MAX));
            out.extend_from_slice(&sector[..take]);
            if out.len() as u64 >= len {
                break;
            }
            id = *fats.get(id as usize).ok_or_else(|| damaged(what))?;
        }
        Ok(Some(out))
    }
}

/// The bytes of the stream calamine parses ("Workbook", or "Book" for older files), read the way
/// it reads them; `None` when calamine would fail to open the file with an error of its own.
fn workbook_stream(bytes: &[u8]) -> Result<Option<Vec<u8>>, WorkbookRefusal> {
    if bytes.len() < 512 || !bytes.starts_with(SIGNATURE) {
        return Ok(None);
    }
    let size = match u16_at(bytes, 30) {
        Some(0x0009) => 512,
        Some(0x000C) => 4096,
        _ => return Ok(None),
    };
    if u16_at(bytes, 32) != Some(0x0006) || bytes.len() < size {
        return Ok(None);
    }
    let header = &bytes[..512];
    let version = u16_at(header, 26).unwrap_or(0);
    let dir_start = u32_at(header, 48).unwrap_or(ENDOFCHAIN);
    let mini_fat_start = u32_at(header, 60).unwrap_or(ENDOFCHAIN);
    let mini_fat_len = u64::from(u32_at(header, 64).unwrap_or(0));
    let difat_start = u32_at(header, 68).unwrap_or(ENDOFCHAIN);
    let max_id = (bytes.len() / size) as u64;
    let sectors = Sectors { bytes, size, max_id };

    // The sectors that hold the allocation table: 109 in the header, more in a chain.
    let mut difat: Vec<u32> = header[76..512].chunks_exact(4).filter_map(|c| u32_at(c, 0)).collect();
    let mut id = difat_start;
    let mut steps = 0u64;
    while id < RESERVED_SECTORS {
        steps += 1;
        if steps > max_id + 1 {
            return Ok(None); // calamine stops this chain itself
        }
        let Some(sector) = sectors.get(id)? else { return Ok(None) };
        // calamine asserts that a table sector is whole numbers (a file cut short is not).
        if sector.len() % 4 != 0 {
            return Err(damaged("sector allocation table"));
        }
        difat.extend(sector.chunks_exact(4).filter_map(|c| u32_at(c, 0)));
        let Some(next) = difat.pop() else { return Ok(None) };
        id = next;
    }
    // Each table sector is read into the table as often as it is listed: a file lists each once,
    // so a list longer than the file has sectors would multiply the file in memory.
    let table_sectors: Vec<u32> = difat.into_iter().filter(|id| *id < DIFSECT).collect();
    if table_sectors.len() as u64 > max_id + 1 {
        return Err(damaged("sector allocation table"));
    }
    let mut fats = Vec::new();
    for id in table_sectors {
        let Some(sector) = sectors.get(id)? else { return Ok(None) };
        if sector.len() % 4 != 0 {
            return Err(damaged("sector allocation table"));
        }
        fats.extend(sector.chunks_exact(4).filter_map(|c| u32_at(c, 0)));
    }

    let Some(directory) = sectors.chain(dir_start, &fats, u64::MAX, "directory")? else { return Ok(None) };
    let entries: Vec<&[u8]> = directory.chunks_exact(128).collect();
    let entry_start = |e: &[u8]| u32_at(e, 116).unwrap_or(ENDOFCHAIN);
    let entry_len = |e: &[u8]| {
        if size == 512 { u64::from(u32_at(e, 120).unwrap_or(0)) } else { u64_at(e, 120).unwrap_or(0) }
    };
    let Some(root) = entries.first() else { return Ok(None) };
    if version != 3 && entry_start(root) == ENDOFCHAIN {
        return Ok(None);
    }
    let (mini_fats, mini_stream) = if mini_fat_len > 0 {
        let Some(mini_stream) = sectors.chain(entry_start(root), &fats, entry_len(root), "mini stream")?
        else {
            return Ok(None);
        };
        let table_len = mini_fat_len.saturating_mul(size as u64);
        let Some(table) = sectors.chain(mini_fat_start, &fats, table_len, "mini stream's table")? else {
            return Ok(None);
        };
        if table.len() % 4 != 0 {
            return Err(damaged("mini stream's table"));
        }
        (table.chunks_exact(4).filter_map(|c| u32_at(c, 0)).collect::<Vec<_>>(), mini_stream)
    } else {
        (Vec::new(), Vec::new())
    };

    let name_of = |e: &[u8]| -> String {
        let units: Vec<u16> = e[..64].chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
        let name = String::from_utf16_lossy(&units);
        name.split('\0').next().unwrap_or_default().to_owned()
    };
    let Some(entry) = ["Workbook", "Book"]
        .iter()
        .find_map(|wanted| entries.iter().find(|e| name_of(e).eq_ignore_ascii_case(wanted)))
    else {
        return Ok(None);
    };
    let (start, len) = (entry_start(entry), entry_len(entry));
    if len < MINI_STREAM_CUTOFF {
        // Mini sectors past the mini stream make calamine read on into the file at random.
        let mut out = Vec::new();
        let mut id = start;
        let mut steps = 0usize;
        while id != ENDOFCHAIN {
            steps += 1;
            if steps > mini_stream.len() / MINI_SECTOR + 1 {
                return Err(damaged("mini stream"));
            }
            let at = (id as usize).saturating_mul(MINI_SECTOR);
            let sector = match mini_stream.get(at..) {
                Some(rest) if !rest.is_empty() => &rest[..rest.len().min(MINI_SECTOR)],
                _ => return Err(damaged("mini stream")),
            };
            let take = sector.len().min(len as usize - out.len());
            out.extend_from_slice(&sector[..take]);
            if out.len() as u64 >= len {
                break;
            }
            id = *mini_fats.get(id as usize).ok_or_else(|| damaged("mini stream"))?;
        }
        Ok(Some(out))
    } else {
        sectors.chain(start, &fats, len, "workbook stream")
    }
}

/// One record and the CONTINUE records after it, as calamine groups them.
struct Record<'a> {
    kind: u16,
    data: &'a [u8],
    continues: Vec<&'a [u8]>,
}

/// The records from the start of `stream`; stops (as calamine fails) at a truncated one.
fn records(stream: &[u8]) -> impl Iterator<Item = Result<Record<'_>, WorkbookRefusal>> {
    let mut rest = stream;
    std::iter::from_fn(move || {
        let kind = u16_at(rest, 0)?;
        let len = usize::from(u16_at(rest, 2)?);
        let data = rest.get(4..4 + len)?;
        rest = &rest[4 + len..];
        let mut continues = Vec::new();
        while rest.len() > 4 && u16_at(rest, 0) == Some(0x003C) {
            let len = usize::from(u16_at(rest, 2)?);
            continues.push(rest.get(4..4 + len)?);
            rest = &rest[4 + len..];
            if continues.len() > MAX_CONTINUES {
                return Some(Err(damaged("record list (one record continued too many times)")));
            }
        }
        Some(Ok(Record { kind, data, continues }))
    })
}

/// A BoundSheet8's sheet name (a one-byte length, a flag, then Latin-1 or UTF-16), for messages.
fn sheet_name(data: &[u8]) -> String {
    let chars = usize::from(data.get(6).copied().unwrap_or(0));
    let wide = data.get(7).is_some_and(|flags| flags & 0x1 != 0);
    let rest = data.get(8..).unwrap_or_default();
    let name = if wide {
        let units: Vec<u16> =
            rest.chunks_exact(2).take(chars).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
        String::from_utf16_lossy(&units)
    } else {
        rest.iter().take(chars).map(|&b| char::from(b)).collect()
    };
    name.chars().filter(|c| !c.is_control()).collect()
}

/// The sizes (in bytes of UTF-8, at most) of the shared strings, walked as calamine reads them;
/// `None` where calamine fails on them.
fn shared_string_sizes(record: &Record<'_>) -> Result<Option<Vec<u64>>, WorkbookRefusal> {
    let damaged_table = || damaged("shared string table");
    let Some(mut data) = record.data.get(8..) else { return Ok(None) };
    let mut continues = record.continues.iter();
    let mut sizes = Vec::new();
    loop {
        if data.is_empty() {
            match continues.next() {
                Some(next) => data = next,
                None => return Ok(Some(sizes)),
            }
            if data.is_empty() {
                sizes.push(0);
                continue;
            }
        }
        if data.len() < 3 {
            return Ok(None);
        }
        let chars = u64::from(u16_at(data, 0).unwrap_or(0));
        let flags = data[2];
        data = &data[3..];
        let mut skip = 0u64;
        if flags & 0x8 != 0 {
            skip = skip.saturating_add(4 * u64::from(u16_at(data, 0).ok_or_else(damaged_table)?));
            data = &data[2..];
        }
        if flags & 0x4 != 0 {
            // calamine reads the length as signed and widens it: a negative one skips past the end.
            let len = u32_at(data, 0).ok_or_else(damaged_table)? as i32;
            skip = skip.saturating_add(len as usize as u64);
            data = &data[4..];
        }
        let mut high_byte = flags & 0x1 != 0;
        let mut left = chars;
        while left > 0 {
            let width = if high_byte { 2 } else { 1 };
            let taken = left.min((data.len() / width) as u64);
            data = &data[taken as usize * width..];
            left -= taken;
            if left > 0 {
                let Some(next) = continues.next() else { return Ok(None) };
                let (&flag, rest) = next.split_first().ok_or_else(damaged_table)?;
                high_byte = flag & 0x1 != 0;
                data = rest;
            }
        }
        // Every character is decoded from two bytes at most.
        sizes.push(chars * 2 * UTF8_PER_SOURCE_BYTE);
        while skip > 0 {
            if data.is_empty() {
                let Some(next) = continues.next() else { return Ok(None) };
                data = next;
                continue;
            }
            let step = skip.min(data.len() as u64);
            data = &data[step as usize..];
            skip -= step;
        }
    }
}

/// The workbook's records: its string table, then each sheet's cells, as calamine collects them.
fn check_records(stream: &[u8], budget: &mut Budget) -> Result<(), WorkbookRefusal> {
    let mut strings: Vec<u64> = Vec::new();
    let mut sheets: Vec<(usize, String)> = Vec::new();
    for record in records(stream) {
        let record = record?;
        // Records calamine reads a number from without looking at their length first.
        let read_unchecked = match record.kind {
            0x0809 | 0x002F | 0x0042 | 0x0022 => 2,
            _ => 0,
        };
        if record.data.len() < read_unchecked {
            return Err(damaged("record list (a record too short for its kind)"));
        }
        match record.kind {
            // BoundSheet8: where a sheet's records start, and its name.
            0x0085 => {
                let data = record.data;
                if data.len() < 6 {
                    return Err(damaged("sheet list"));
                }
                let at = u32_at(data, 0).unwrap_or(0) as usize;
                if at > stream.len() {
                    return Err(damaged("sheet list"));
                }
                sheets.push((at, sheet_name(data)));
            }
            0x00FC => {
                let Some(sizes) = shared_string_sizes(&record)? else { return Ok(()) };
                budget.text(sizes.iter().sum(), || "its shared strings".to_owned())?;
                strings = sizes;
            }
            0x000A => break,
            _ => {}
        }
    }
    for (at, name) in &sheets {
        if !check_sheet(&stream[*at..], &strings, name, budget)? {
            return Ok(());
        }
    }
    Ok(())
}

/// One sheet's records, from its start to its end record (or the stream's). `false` where calamine
/// fails on them.
fn check_sheet(
    stream: &[u8],
    strings: &[u64],
    name: &str,
    budget: &mut Budget,
) -> Result<bool, WorkbookRefusal> {
    let mut span = Span::default();
    let mut text = 0u64;
    let mut formula_at = (0u64, 0u64);
    let (mut seen_start, mut depth) = (false, 0usize);
    let place = || format!("sheet \"{name}\"");
    for record in records(stream) {
        let record = record?;
        let data = record.data;
        if depth > 0 {
            match record.kind {
                0x0809 => depth += 1,
                0x000A => depth -= 1,
                _ => {}
            }
            continue;
        }
        let at = || Some((u64::from(u16_at(data, 0)?), u64::from(u16_at(data, 2)?)));
        match record.kind {
            0x0809 if seen_start => depth += 1,
            0x0809 => seen_start = true,
            // Dimensions: calamine reserves room for the grid they claim before any cell.
            0x0200 => {
                let (first, last, left, right) = match data.len() {
                    10 => (
                        u32::from(u16_at(data, 0).unwrap_or(0)),
                        u32::from(u16_at(data, 2).unwrap_or(0)),
                        u32::from(u16_at(data, 4).unwrap_or(0)),
                        u32::from(u16_at(data, 6).unwrap_or(0)),
                    ),
                    14 | 16 => (
                        u32_at(data, 0).unwrap_or(0),
                        u32_at(data, 4).unwrap_or(0),
                        u32::from(u16_at(data, 8).unwrap_or(0)),
                        u32::from(u16_at(data, 10).unwrap_or(0)),
                    ),
                    _ => return Ok(false),
                };
                let left = if left > 0xFF || right < left { 0 } else { left };
                let (end_row, end_column) =
                    if last >= 1 && right >= 1 { (last - 1, right - 1) } else { (first, left) };
                // calamine's arithmetic, wrapping as its release build does.
                let rows = u64::from(end_row.wrapping_sub(first).wrapping_add(1));
                let columns = u64::from(end_column.wrapping_sub(left).wrapping_add(1));
                Budget::new(budget.limits()).sheet(0, rows.saturating_mul(columns), name)?;
            }
            // Number, BoolErr, RK: a cell without text.
            0x0203 | 0x0205 | 0x027E => {
                let Some((row, column)) = at() else { return Ok(false) };
                span.see(row, column);
            }
            // Label, RString: a cell and its string.
            0x0204 | 0x00D6 => {
                let Some((row, column)) = at() else { return Ok(false) };
                span.see(row, column);
                let len = data.len() as u64 * UTF8_PER_SOURCE_BYTE;
                budget.cell_text(len, || format!("a cell of sheet \"{name}\""))?;
                text += len;
            }
            // String: the text a formula computed, for the formula's cell.
            0x0207 => {
                span.see(formula_at.0, formula_at.1);
                let len = data.len() as u64 * UTF8_PER_SOURCE_BYTE;
                budget.cell_text(len, || format!("a cell of sheet \"{name}\""))?;
                text += len;
            }
            // LabelSst: a cell given a copy of a shared string.
            0x00FD => {
                if data.len() < 10 {
                    return Ok(false);
                }
                let Some((row, column)) = at() else { return Ok(false) };
                if let Some(&len) = strings.get(u32_at(data, 6).unwrap_or(u32::MAX) as usize) {
                    budget.cell_text(len, || format!("a cell of sheet \"{name}\""))?;
                    span.see(row, column);
                    text += len;
                }
            }
            // MulRk: a run of cells in one row.
            0x00BD => {
                if data.len() < 6 {
                    return Ok(false);
                }
                let (row, first) = (u16_at(data, 0).unwrap_or(0), u16_at(data, 2).unwrap_or(0));
                let last = u16_at(data, data.len() - 2).unwrap_or(0);
                let expected = 6 + 6 * usize::from(last.wrapping_sub(first).wrapping_add(1));
                if data.len() != expected {
                    return Ok(false);
                }
                let cells = (data.len() as u64 - 6) / 6;
                if cells > 0 {
                    span.see_rows(
                        u64::from(row),
                        u64::from(row),
                        u64::from(first),
                        u64::from(first) + cells - 1,
                    );
                }
            }
            // MergeCells: calamine reads as many areas as the count says, whatever the length.
            0x00E5 => {
                let count = usize::from(u16_at(data, 0).unwrap_or(0));
                if data.len() < 2 + 8 * count {
                    return Err(damaged(&format!("list of merged cells in sheet \"{name}\"")));
                }
            }
            // Formula: its cell, and the formula's text (each token is at most a few characters).
            0x0006 => {
                if data.len() < 20 {
                    return Ok(false);
                }
                let Some((row, column)) = at() else { return Ok(false) };
                formula_at = (row, column);
                span.see(row, column);
                text += 8 * data.len() as u64 + 64;
            }
            0x000A => break,
            _ => {}
        }
        if text > budget.limits().max_text_bytes || span.area() > budget.limits().max_cells {
            break;
        }
    }
    budget.sheet(span.rows(), span.area(), name)?;
    budget.text(text, place)?;
    Ok(true)
}
