//! Arbitrary bytes as a workbook (`.xlsx`, `.ods`, `.xls`: the probe says which, from the bytes),
//! read as `validate` reads one, within tight limits: the guard (`input::check_workbook`, on the
//! bytes an upload would give), then the sheet, then every row. Nothing may panic, no limit may
//! be exceeded by what is read (rows, cells, text per cell), the guard's verdict is the same twice,
//! and memory stays within the limits whatever the archive claims (run with -rss_limit_mb).
#![no_main]

use std::io::Write as _;

use cibil_bulk::input::{
    ProbeOptions, RawRow, RowReader, SheetOptions, WorkbookLimits, check_workbook, probe,
};
use libfuzzer_sys::fuzz_target;

/// Far below the defaults, so that a bomb the guard misses shows as memory, not as a slow run.
const LIMITS: WorkbookLimits = WorkbookLimits {
    max_unpacked_bytes: 16 * 1024 * 1024,
    max_sheet_rows: 20_000,
    max_cells: 200_000,
    max_cell_bytes: 64 * 1024,
    max_text_bytes: 8 * 1024 * 1024,
};

fuzz_target!(|data: &[u8]| {
    let mut file = tempfile::NamedTempFile::new().expect("a temporary file");
    file.write_all(data).expect("write the file");
    let Ok(probe) = probe(file.path(), ProbeOptions::default()) else { return };
    let Some(kind) = probe.workbook else { return };

    let verdict = check_workbook(data, kind, &LIMITS);
    assert_eq!(verdict, check_workbook(data, kind, &LIMITS), "the guard is not deterministic");
    if let Err(refusal) = &verdict {
        let _ = refusal.to_string();
    }

    let options = SheetOptions { limits: LIMITS, ..SheetOptions::default() };
    let mut reader = match RowReader::open(file.path(), &probe, &[], &[], &options) {
        Ok(reader) => reader,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    // Whatever the guard let through, the reading respects the limits.
    assert!(verdict.is_ok(), "read a workbook the guard refused: {verdict:?}");
    let (mut row, mut rows, mut last) = (RawRow::default(), 0u64, reader.header_line());
    loop {
        match reader.read_row(&mut row) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                let _ = e.to_string();
                break;
            }
        }
        assert!(row.line > last, "row {} after row {last}", row.line);
        last = row.line;
        rows += 1;
        assert!(rows <= LIMITS.max_sheet_rows, "{rows} rows read");
        for cell in row.cells.iter() {
            // Merged cells repeat a value, and numbers and dates are written out: a cell's text
            // is at most its value's, which the limit bounds, or a short rendering.
            assert!(cell.len() as u64 <= LIMITS.max_cell_bytes.max(64), "a cell of {} bytes", cell.len());
        }
    }
});
