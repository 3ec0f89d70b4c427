//! Workbooks built to exhaust memory (issue 13, item 4), through the real binary with its peak
//! memory measured, and through the guard an upload will pass (`input::check_workbook`, on
//! bytes): an `.xlsx` whose sheet inflates to 512 MiB (honest about it, or lying), a cell of
//! 2 MiB, an `.ods` that repeats one cell across a sheet, an `.xls` that points sixty thousand
//! cells at one long string, and `.xls` files whose sector chains loop. Each is refused with exit
//! 2 and a message naming what was too big, in a few MiB of memory; a genuine `.xls` still reads.
//!
//! The bombs are written as streams (a MiB at a time), so the tests stay small in memory too.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::{HEADER, TODAY};
use cibil_bulk::input::{
    self, Limit, ProbeOptions, RawRow, RowReader, SheetOptions, WorkbookKind, WorkbookLimits, WorkbookRefusal,
};
use zip::write::SimpleFileOptions;

/// The bound every test holds the binary to: far above what a refusal needs (a few MiB), far
/// below what reading any of these bombs takes (gigabytes).
const PEAK_LIMIT_KIB: u64 = 256 * 1024;

const MIB: u64 = 1024 * 1024;

/// What one measured run of the binary did.
#[derive(Debug)]
struct Measured {
    code: Option<i32>,
    stderr: String,
    /// The process's peak resident memory, from the kernel's own high-water mark.
    peak_kib: u64,
}

/// Runs `cibil-bulk args` in `dir`, reading its peak resident memory (`VmHWM`) as it runs: the
/// kernel keeps the high-water mark, so polling every few milliseconds misses none of it but the
/// last moments before exit.
fn measured(dir: &Path, args: &[&str]) -> Measured {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cibil-bulk"))
        .args(args)
        .current_dir(dir)
        .env("CIBIL_BULK_TODAY", TODAY)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start cibil-bulk");
    let status_file = format!("/proc/{}/status", child.id());
    let stderr = child.stderr.take().expect("its stderr");
    let reader = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let started = std::time::Instant::now();
    let mut peak_kib = 0;
    let code = loop {
        if let Ok(status) = std::fs::read_to_string(&status_file) {
            let hwm = status.lines().find_map(|l| l.strip_prefix("VmHWM:"));
            if let Some(kib) = hwm.and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok()) {
                peak_kib = peak_kib.max(kib);
            }
        }
        if let Some(status) = child.try_wait().expect("wait for cibil-bulk") {
            break status.code();
        }
        if started.elapsed() > Duration::from_secs(120) || peak_kib > 4 * PEAK_LIMIT_KIB {
            // Far past the bound: no need to let it take the machine's memory to prove it.
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    Measured { code, stderr: reader.join().unwrap_or_default(), peak_kib }
}

#[track_caller]
fn assert_refused(run: &Measured, message: &str) {
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(run.stderr.contains(message), "stderr lacks {message:?}: {run:?}");
    assert!(run.stderr.contains("No customer workbook comes near that"), "{run:?}");
    assert!(run.peak_kib < PEAK_LIMIT_KIB, "peak memory {} MiB: {run:?}", run.peak_kib / 1024);
}

const CONTENT_TYPES: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#;
const RELS: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#;
const WORKBOOK: &str = r#"<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Customers" sheetId="1" r:id="rId1"/></sheets></workbook>"#;
const WORKBOOK_RELS: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#;
const SHEET_PART: &str = "xl/worksheets/sheet1.xml";

fn text_cell(text: &str) -> String {
    format!("<c t=\"inlineStr\"><is><t>{text}</t></is></c>")
}

fn header_row() -> String {
    format!("<row>{}</row>", HEADER.split(',').map(text_cell).collect::<String>())
}

/// An `.xlsx` at `path` with one sheet, "Customers": the header row, then whatever `rows`
/// writes into the sheet's data (streamed into the deflater, never held whole).
fn write_xlsx(path: &Path, rows: impl FnOnce(&mut dyn Write)) {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).expect("create the workbook"));
    let options = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(1));
    for (name, text) in [
        ("[Content_Types].xml", CONTENT_TYPES),
        ("_rels/.rels", RELS),
        ("xl/workbook.xml", WORKBOOK),
        ("xl/_rels/workbook.xml.rels", WORKBOOK_RELS),
    ] {
        zip.start_file(name, options).unwrap();
        zip.write_all(text.as_bytes()).unwrap();
    }
    zip.start_file(SHEET_PART, options).unwrap();
    write!(
        zip,
        r#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>{}"#,
        header_row()
    )
    .unwrap();
    rows(&mut zip);
    zip.write_all(b"</sheetData></worksheet>").unwrap();
    zip.finish().unwrap();
}

/// Rows of the same customer until the sheet's data is `bytes` long.
fn customer_rows(bytes: u64) -> impl FnOnce(&mut dyn Write) {
    move |out| {
        let row = format!(
            "<row>{}</row>",
            crate::common::customer(1).split(',').map(text_cell).collect::<String>()
        );
        let chunk = row.repeat((MIB as usize) / row.len());
        let mut written = 0u64;
        while written < bytes {
            out.write_all(chunk.as_bytes()).unwrap();
            written += chunk.len() as u64;
        }
    }
}

/// Sets the size `part` declares it inflates to, in its local header and in the central
/// directory, to `size`: the archive then lies about it.
fn declare_size(path: &Path, part: &str, size: u32) {
    let mut bytes = std::fs::read(path).unwrap();
    let u32_at = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
    let u16_at = |b: &[u8], at: usize| usize::from(u16::from_le_bytes(b[at..at + 2].try_into().unwrap()));
    let mut patched = 0;
    let mut at = 0;
    while let Some(found) = bytes[at..].windows(4).position(|w| w == b"PK\x01\x02") {
        let entry = at + found;
        let name_len = u16_at(&bytes, entry + 28);
        if &bytes[entry + 46..entry + 46 + name_len] == part.as_bytes() {
            bytes[entry + 24..entry + 28].copy_from_slice(&size.to_le_bytes());
            let local = u32_at(&bytes, entry + 42) as usize;
            bytes[local + 22..local + 26].copy_from_slice(&size.to_le_bytes());
            patched += 1;
        }
        at = entry + 4;
    }
    assert_eq!(patched, 1, "{part} found once in the central directory");
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn an_xlsx_whose_sheet_inflates_to_512_mib_is_refused_in_little_memory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bomb.xlsx");
    write_xlsx(&path, customer_rows(512 * MIB));
    assert!(std::fs::metadata(&path).unwrap().len() < 16 * MIB);
    for command in ["validate", "run"] {
        let mut args = vec![command, "bomb.xlsx"];
        if command == "run" {
            args.push("--dry-run");
        }
        let run = measured(dir.path(), &args);
        assert_refused(
            &run,
            "bomb.xlsx is refused before it is read: its part xl/worksheets/sheet1.xml unpacks to more than 256 MiB",
        );
    }
}

#[test]
fn an_xlsx_that_lies_about_its_size_is_stopped_while_inflating() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("liar.xlsx");
    write_xlsx(&path, customer_rows(512 * MIB));
    declare_size(&path, SHEET_PART, 4096);
    let run = measured(dir.path(), &["validate", "liar.xlsx"]);
    let lie = "its part xl/worksheets/sheet1.xml inflates to more than the 4 KiB it declares";
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(
        run.stderr.contains(&format!("liar.xlsx cannot be read as an Excel workbook ({lie})")),
        "{run:?}"
    );
    assert!(run.peak_kib < PEAK_LIMIT_KIB, "peak memory {} MiB: {run:?}", run.peak_kib / 1024);

    // The guard an upload passes, on the bytes alone, says the same.
    let bytes = std::fs::read(&path).unwrap();
    let refusal = input::check_workbook(&bytes, WorkbookKind::OfficeOpenXml, &WorkbookLimits::default());
    assert_eq!(refusal, Err(WorkbookRefusal::Damaged(lie.to_owned())));
}

#[test]
fn a_cell_of_2_mib_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cell.xlsx");
    write_xlsx(&path, |out| {
        let row = crate::common::customer(1).replace("Ravi", &"R".repeat(2 * MIB as usize));
        write!(out, "<row>{}</row>", row.split(',').map(text_cell).collect::<String>()).unwrap();
    });
    let run = measured(dir.path(), &["validate", "cell.xlsx"]);
    assert_refused(&run, "its part xl/worksheets/sheet1.xml holds more than 1 MiB of text in one piece");
}

/// An OpenDocument spreadsheet whose `content.xml` holds the header row and then `rows` (XML).
fn write_ods(path: &Path, rows: &str) {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let stored = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    zip.start_file("mimetype", stored).unwrap();
    zip.write_all(b"application/vnd.oasis.opendocument.spreadsheet").unwrap();
    zip.start_file("META-INF/manifest.xml", stored).unwrap();
    zip.write_all(br#"<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2"><manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/><manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>"#).unwrap();
    zip.start_file("content.xml", SimpleFileOptions::default()).unwrap();
    let cell = |text: &str| {
        format!(r#"<table:table-cell office:value-type="string"><text:p>{text}</text:p></table:table-cell>"#)
    };
    let header: String = HEADER.split(',').map(cell).collect();
    write!(
        zip,
        r#"<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2"><office:body><office:spreadsheet><table:table table:name="Customers"><table:table-row>{header}</table:table-row>{rows}</table:table></office:spreadsheet></office:body></office:document-content>"#
    )
    .unwrap();
    zip.finish().unwrap();
}

#[test]
fn an_ods_that_repeats_one_cell_across_a_sheet_is_refused_in_little_memory() {
    let dir = tempfile::tempdir().unwrap();
    // Two thousand rows of 16,384 copies of one cell: 33 million cells from 1 KiB of XML.
    write_ods(
        &dir.path().join("repeat.ods"),
        r#"<table:table-row table:number-rows-repeated="2000"><table:table-cell office:value-type="string" table:number-columns-repeated="16384"><text:p>Ravi</text:p></table:table-cell></table:table-row>"#,
    );
    let run = measured(dir.path(), &["validate", "repeat.ods"]);
    assert_refused(
        &run,
        "repeat.ods is refused before it is read: sheet \"Customers\" holds more than 10000000 cells",
    );
}

#[test]
fn an_ods_within_the_limits_still_reads() {
    let dir = tempfile::tempdir().unwrap();
    let cell = |text: String| {
        format!(r#"<table:table-cell office:value-type="string"><text:p>{text}</text:p></table:table-cell>"#)
    };
    let rows: String = (0..3)
        .map(|i| {
            format!(
                "<table:table-row>{}</table:table-row>",
                crate::common::customer(i).split(',').map(|c| cell(c.to_owned())).collect::<String>()
            )
        })
        .collect();
    write_ods(&dir.path().join("fine.ods"), &rows);
    let bytes = std::fs::read(dir.path().join("fine.ods")).unwrap();
    let run = crate::common::Test::new().file("fine.ods", bytes).args(["validate", "fine.ods"]).run();
    run.code(0).stdout_contains("fine.ods: 3 rows");
}

/// One BIFF8 record.
fn record(kind: u16, data: &[u8]) -> Vec<u8> {
    let len = u16::try_from(data.len()).expect("a record's length fits in 16 bits");
    [&kind.to_le_bytes()[..], &len.to_le_bytes(), data].concat()
}

/// A BIFF8 BOF record: of the workbook's globals (`0x0005`) or of a worksheet (`0x0010`).
fn bof(kind: u16) -> Vec<u8> {
    let mut data = vec![0u8; 16];
    data[..2].copy_from_slice(&0x0600u16.to_le_bytes());
    data[2..4].copy_from_slice(&kind.to_le_bytes());
    record(0x0809, &data)
}

/// The workbook stream of an `.xls` with one sheet, "Customers": a shared string table of
/// `strings` (Latin-1), then cells at (row, column) given a copy of shared string `index`.
fn biff(strings: &[String], cells: impl Iterator<Item = (u16, u16, u32)>) -> Vec<u8> {
    let mut sst = Vec::new();
    sst.extend((strings.len() as u32).to_le_bytes());
    sst.extend((strings.len() as u32).to_le_bytes());
    for s in strings {
        sst.extend((s.len() as u16).to_le_bytes());
        sst.push(0);
        sst.extend(s.as_bytes());
    }
    let name = b"Customers";
    let bound_sheet = |at: u32| {
        let mut data = at.to_le_bytes().to_vec();
        data.extend([0, 0, name.len() as u8, 0]);
        data.extend(name);
        record(0x0085, &data)
    };
    let globals_len = [
        bof(0x0005),
        record(0x0042, &1200u16.to_le_bytes()),
        bound_sheet(0),
        record(0x00FC, &sst),
        record(0x000A, &[]),
    ]
    .iter()
    .map(Vec::len)
    .sum::<usize>();
    let mut stream = [
        bof(0x0005),
        record(0x0042, &1200u16.to_le_bytes()),
        bound_sheet(globals_len as u32),
        record(0x00FC, &sst),
        record(0x000A, &[]),
    ]
    .concat();
    stream.extend(bof(0x0010));
    for (row, column, index) in cells {
        let mut data = Vec::with_capacity(10);
        data.extend(row.to_le_bytes());
        data.extend(column.to_le_bytes());
        data.extend(0u16.to_le_bytes());
        data.extend(index.to_le_bytes());
        stream.extend(record(0x00FD, &data));
    }
    stream.extend(record(0x000A, &[]));
    // Streams under 4 KiB live in the mini stream: this builder writes the plain kind only.
    stream.resize(stream.len().max(4096), 0);
    stream
}

const SECTOR: usize = 512;
const ENDOFCHAIN: u32 = 0xFFFF_FFFE;
const FREESECT: u32 = 0xFFFF_FFFF;

/// The sector a compound file's allocation table holds entry `id` in, and where in it.
fn fat_entry(id: u32) -> (usize, usize) {
    (id as usize / (SECTOR / 4), id as usize % (SECTOR / 4))
}

/// A compound file (what an `.xls` is) holding `stream` as "Workbook": the allocation table's
/// sectors first, then the directory's, then the stream's, in 512-byte sectors.
fn compound_file(stream: &[u8]) -> Vec<u8> {
    let data_sectors = stream.len().div_ceil(SECTOR) as u32;
    let mut fat_sectors = 1u32;
    while (fat_sectors + 1 + data_sectors) as usize > fat_sectors as usize * SECTOR / 4 {
        fat_sectors += 1;
    }
    assert!(fat_sectors <= 109, "the header's list of table sectors is enough");
    let directory = fat_sectors;
    let first = directory + 1;
    let mut fat = vec![FREESECT; fat_sectors as usize * SECTOR / 4];
    for id in 0..fat_sectors {
        fat[id as usize] = 0xFFFF_FFFD;
    }
    fat[directory as usize] = ENDOFCHAIN;
    for i in 0..data_sectors {
        fat[(first + i) as usize] = if i + 1 == data_sectors { ENDOFCHAIN } else { first + i + 1 };
    }

    let mut header = vec![0u8; SECTOR];
    header[..8].copy_from_slice(b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1");
    header[24..26].copy_from_slice(&0x003Eu16.to_le_bytes());
    header[26..28].copy_from_slice(&3u16.to_le_bytes());
    header[28..30].copy_from_slice(&0xFFFEu16.to_le_bytes());
    header[30..32].copy_from_slice(&9u16.to_le_bytes());
    header[32..34].copy_from_slice(&6u16.to_le_bytes());
    header[44..48].copy_from_slice(&fat_sectors.to_le_bytes());
    header[48..52].copy_from_slice(&directory.to_le_bytes());
    header[56..60].copy_from_slice(&4096u32.to_le_bytes());
    header[60..64].copy_from_slice(&ENDOFCHAIN.to_le_bytes());
    header[68..72].copy_from_slice(&ENDOFCHAIN.to_le_bytes());
    for (i, slot) in header[76..].chunks_exact_mut(4).enumerate() {
        let id = if (i as u32) < fat_sectors { i as u32 } else { FREESECT };
        slot.copy_from_slice(&id.to_le_bytes());
    }

    let entry = |name: &str, kind: u8, child: u32, start: u32, size: u32| {
        let mut e = vec![0u8; 128];
        let units: Vec<u16> = name.encode_utf16().chain([0]).collect();
        for (i, u) in units.iter().enumerate() {
            e[2 * i..2 * i + 2].copy_from_slice(&u.to_le_bytes());
        }
        e[64..66].copy_from_slice(&((units.len() * 2) as u16).to_le_bytes());
        e[66] = kind;
        e[67] = 1;
        e[68..72].copy_from_slice(&FREESECT.to_le_bytes());
        e[72..76].copy_from_slice(&FREESECT.to_le_bytes());
        e[76..80].copy_from_slice(&child.to_le_bytes());
        e[116..120].copy_from_slice(&start.to_le_bytes());
        e[120..124].copy_from_slice(&size.to_le_bytes());
        e
    };
    let mut directory_sector = entry("Root Entry", 5, 1, ENDOFCHAIN, 0);
    directory_sector.extend(entry("Workbook", 2, FREESECT, first, stream.len() as u32));
    directory_sector.resize(SECTOR, 0);

    let mut file = header;
    file.extend(fat.iter().flat_map(|id| id.to_le_bytes()));
    file.extend(directory_sector);
    file.extend(stream);
    file.resize(SECTOR * (1 + (first + data_sectors) as usize), 0);
    file
}

/// Points allocation-table entry `id` of `file` (built by [`compound_file`]) at `next`.
fn set_fat(file: &mut [u8], id: u32, next: u32) {
    let (sector, slot) = fat_entry(id);
    let at = SECTOR * (1 + sector) + 4 * slot;
    file[at..at + 4].copy_from_slice(&next.to_le_bytes());
}

fn header_strings() -> Vec<String> {
    HEADER.split(',').map(str::to_owned).collect()
}

#[test]
fn a_genuine_xls_reads_through_the_guard() {
    let mut strings = header_strings();
    strings.extend(crate::common::customer(1).split(',').map(str::to_owned));
    let cells = (0..6u16).map(|c| (0, c, u32::from(c))).chain((0..6u16).map(|c| (1, c, 6 + u32::from(c))));
    let file = compound_file(&biff(&strings, cells));
    assert_eq!(input::check_workbook(&file, WorkbookKind::LegacyExcel, &WorkbookLimits::default()), Ok(()));

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fine.xls");
    std::fs::write(&path, &file).unwrap();
    let probe = input::probe(&path, ProbeOptions::default()).unwrap();
    assert_eq!(probe.workbook, Some(WorkbookKind::LegacyExcel));
    let mut reader = RowReader::open(&path, &probe, &[], &[], &SheetOptions::default()).unwrap();
    let mut row = RawRow::default();
    assert!(reader.read_row(&mut row).unwrap());
    assert_eq!((row.line, row.cells.get(2)), (2, Some(crate::common::pan(1).as_str())));
    assert!(!reader.read_row(&mut row).unwrap());
}

#[test]
fn an_xls_that_copies_one_long_string_into_many_cells_is_refused_in_little_memory() {
    // Sixty thousand cells given a copy of one 60,000-character string: 3.6 GB from 1 MB.
    let mut strings = header_strings();
    strings.push("x".repeat(60_000));
    let header = (0..6u16).map(|c| (0, c, u32::from(c)));
    let copies = (1..=60_000u16).map(|row| (row, 0, 6));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("copies.xls"), compound_file(&biff(&strings, header.chain(copies))))
        .unwrap();
    let run = measured(dir.path(), &["validate", "copies.xls"]);
    assert_refused(
        &run,
        "copies.xls is refused before it is read: sheet \"Customers\" holds more than 256 MiB of text",
    );
}

#[test]
fn an_xls_whose_sector_chains_loop_is_damaged_not_read_forever() {
    let strings = header_strings();
    let stream = biff(&strings, (0..6u16).map(|c| (0, c, u32::from(c))));
    let file = compound_file(&stream);
    let fat_sectors = u32::from_le_bytes(file[44..48].try_into().unwrap());
    let directory = fat_sectors;
    let first = directory + 1;
    let last = first + stream.len().div_ceil(SECTOR) as u32 - 1;
    let limits = WorkbookLimits::default();

    // The directory's chain leads back to itself: calamine reads it without end.
    let mut looping_directory = file.clone();
    set_fat(&mut looping_directory, directory, directory);
    // The stream's chain loops, and its entry claims 4 GiB: calamine reads round it to that size.
    let mut looping_stream = file.clone();
    set_fat(&mut looping_stream, last, first);
    let size_at = SECTOR * (1 + directory as usize) + 128 + 120;
    looping_stream[size_at..size_at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    // The chain names a sector past the end of the allocation table: calamine indexes it unchecked.
    let mut outside = file.clone();
    set_fat(&mut outside, first, (fat_sectors as usize * SECTOR / 4) as u32 + 1);
    outside.resize(outside.len() + SECTOR * (SECTOR / 4), 0);

    for (what, bytes, message) in [
        ("a looping directory", looping_directory, "its directory is damaged"),
        ("a looping stream", looping_stream, "its workbook stream is damaged"),
        ("a chain out of the table", outside, "its workbook stream is damaged"),
    ] {
        let refusal = input::check_workbook(&bytes, WorkbookKind::LegacyExcel, &limits);
        assert_eq!(refusal, Err(WorkbookRefusal::Damaged(message.to_owned())), "{what}");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("loop.xls"), &bytes).unwrap();
        let run = measured(dir.path(), &["validate", "loop.xls"]);
        assert_eq!(run.code, Some(2), "{what}: {run:?}");
        assert!(
            run.stderr.contains(&format!("loop.xls cannot be read as an Excel 97-2003 workbook ({message})")),
            "{what}: {run:?}"
        );
        assert!(run.peak_kib < PEAK_LIMIT_KIB, "{what}: {run:?}");
    }
}

/// Damaged `.xls` files like those the fuzzer found (fuzz/fuzz_targets/read_workbook.rs), on which
/// calamine panics: each is a damaged workbook, said as such, with no crash report on the terminal.
#[test]
fn an_xls_cut_short_is_damaged_not_a_crash() {
    let file = compound_file(&biff(&header_strings(), (0..6u16).map(|c| (0, c, u32::from(c)))));
    // The header, then one byte of the first table sector: a table of no whole entries.
    let table_cut = file[..SECTOR + 1].to_vec();
    // The header says the table is in sector 1, which starts past the end of what is left.
    let mut sector_gone = file[..SECTOR + 100].to_vec();
    sector_gone[76..80].copy_from_slice(&1u32.to_le_bytes());
    for (bytes, problem) in
        [(table_cut, "its sector allocation table is damaged"), (sector_gone, "its sector list is damaged")]
    {
        let refusal = input::check_workbook(&bytes, WorkbookKind::LegacyExcel, &WorkbookLimits::default());
        assert_eq!(refusal, Err(WorkbookRefusal::Damaged(problem.to_owned())));
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("cut.xls"), &bytes).unwrap();
        let run = measured(dir.path(), &["validate", "cut.xls"]);
        assert_eq!(run.code, Some(2), "{run:?}");
        let message = format!("cut.xls cannot be read as an Excel 97-2003 workbook ({problem})");
        assert!(run.stderr.contains(&message), "{run:?}");
        assert!(!run.stderr.contains("panicked"), "{run:?}");
    }
}

/// A shared string whose lengths are all at their maximum (found by fuzzing): the guard's count
/// of what to skip saturates, and the reader reports the damage.
#[test]
fn a_shared_string_of_impossible_lengths_is_the_readers_to_report() {
    let mut sst = vec![1, 0, 0, 0, 1, 0, 0, 0];
    sst.extend([1, 0, 0x0C, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, b'x']);
    let stream = [bof(0x0005), record(0x00FC, &sst), record(0x000A, &[])].concat();
    let mut padded = stream.clone();
    padded.resize(4096, 0);
    let file = compound_file(&padded);
    assert_eq!(input::check_workbook(&file, WorkbookKind::LegacyExcel, &WorkbookLimits::default()), Ok(()));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("strings.xls"), &file).unwrap();
    let run = measured(dir.path(), &["validate", "strings.xls"]);
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(run.stderr.contains("strings.xls cannot be read as an Excel 97-2003 workbook"), "{run:?}");
}

/// The library's own reading of a small sheet, under limits lowered to just below what it holds.
#[test]
fn each_limit_refuses_a_sheet_over_it_and_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("small.xlsx");
    write_xlsx(&path, |out| {
        for i in 0..30 {
            let cells: String = crate::common::customer(i).split(',').map(text_cell).collect();
            write!(out, "<row>{cells}</row>").unwrap();
        }
    });
    let probe = input::probe(&path, ProbeOptions::default()).unwrap();
    let open = |limits: WorkbookLimits| {
        RowReader::open(&path, &probe, &[], &[], &SheetOptions { limits, ..SheetOptions::default() })
    };
    assert!(open(WorkbookLimits::default()).is_ok());
    let base = WorkbookLimits::default();
    for (limits, limit, message) in [
        (
            WorkbookLimits { max_sheet_rows: 30, ..base },
            Limit::SheetRows,
            "sheet \"Customers\" has more than 30 rows",
        ),
        (
            WorkbookLimits { max_cells: 150, ..base },
            Limit::Cells,
            "sheet \"Customers\" holds more than 150 cells",
        ),
        (
            WorkbookLimits { max_cell_bytes: 12, ..base },
            Limit::CellBytes,
            "cell Customers!D1 holds more than 12 bytes of text",
        ),
        (
            WorkbookLimits { max_text_bytes: 1000, ..base },
            Limit::TextBytes,
            "sheet \"Customers\" holds more than 1000 bytes of text",
        ),
    ] {
        let error = open(limits).unwrap_err();
        let input::InputError::WorkbookTooBig {
            refusal: WorkbookRefusal::TooBig { limit: found, .. }, ..
        } = &error
        else {
            panic!("{limit:?}: {error}");
        };
        assert_eq!(*found, limit);
        assert!(error.to_string().contains(message), "{limit:?}: {error}");
    }
    // What the archive's parts unpack to.
    let error = open(WorkbookLimits { max_unpacked_bytes: 4096, ..base }).unwrap_err().to_string();
    assert!(error.contains("small.xlsx is refused before it is read: its part xl/worksheets/sheet1.xml unpacks to more than 4 KiB"), "{error}");
    // The message says which setting raises the bound it met.
    assert!(error.contains("raise the limit with --max-workbook-size"), "{error}");
    let error = open(WorkbookLimits { max_sheet_rows: 2, ..base }).unwrap_err().to_string();
    assert!(error.contains("raise the limit with --max-workbook-rows"), "{error}");
}

/// A workbook written by a program that puts formulas in cells and never computes them (no
/// saved value): such a cell is said to be an unsaved formula, not an empty cell the clerk would
/// look at and find filled.
#[test]
fn a_formula_without_a_saved_value_is_named_as_such_not_as_empty() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("generated.xlsx");
    write_xlsx(&path, |out| {
        let mut cells: Vec<String> = crate::common::customer(1).split(',').map(text_cell).collect();
        // The e-mail column: a formula, and no <v> holding its value.
        cells[4] = "<c><f>LOWER(A2)&amp;\"@example.com\"</f></c>".to_owned();
        write!(out, "<row>{}</row>", cells.concat()).unwrap();
    });
    let run = measured(dir.path(), &["validate", "generated.xlsx", "--output", "report.csv"]);
    assert_eq!(run.code, Some(1), "{run:?}");
    let report = std::fs::read_to_string(dir.path().join("report.csv")).unwrap();
    assert!(report.contains("cell.formula_unsaved") && report.contains("never saved"), "{report}");
    assert!(!report.contains("email.missing"), "{report}");
}
