//! Arbitrary bytes as a customer file, read as `validate` reads it: the probe (hash, encoding,
//! delimiter), the header line, then every row through the field rules. Nothing may panic, rows
//! come out in order of their physical lines, and a row too long to keep has no cells.
#![no_main]

use std::io::Write as _;

use arbitrary::{Arbitrary, Unstructured};
use cibil_bulk::input::{Field, ProbeOptions, RawRow, RowReader, SheetOptions, TextEncoding, probe};
use cibil_bulk::validate::{Rules, check_row};
use libfuzzer_sys::fuzz_target;

fn options(u: &mut Unstructured<'_>) -> arbitrary::Result<ProbeOptions> {
    let encoding = match u8::arbitrary(u)? % 6 {
        0 => Some(TextEncoding::Utf8),
        1 => Some(TextEncoding::Utf16Le),
        2 => Some(TextEncoding::Utf16Be),
        3 => Some(TextEncoding::Windows1252),
        _ => None,
    };
    let delimiter = match u8::arbitrary(u)? % 6 {
        0 => Some(b';'),
        1 => Some(b'\t'),
        2 => Some(b'|'),
        _ => None,
    };
    Ok(ProbeOptions { encoding, delimiter })
}

fuzz_target!(|data: &[u8]| {
    // The first two bytes choose the options; the rest is the file.
    let mut u = Unstructured::new(data.get(..2).unwrap_or_default());
    let Ok(options) = options(&mut u) else { return };
    let file_bytes = data.get(2..).unwrap_or_default();

    let mut file = tempfile::NamedTempFile::new().expect("a temporary file");
    file.write_all(file_bytes).expect("write the file");
    let Ok(probe) = probe(file.path(), options) else { return };
    let rules = Rules::new(chrono::NaiveDate::from_ymd_opt(2026, 11, 25).expect("a date"));
    for required in [&[][..], &rules.required_fields()[..], &[Field::Pan][..]] {
        let mut reader = match RowReader::open(file.path(), &probe, &[], required, &SheetOptions::default()) {
            Ok(reader) => reader,
            Err(e) => {
                let _ = e.to_string();
                continue;
            }
        };
        let columns = reader.columns().clone();
        let (mut row, mut last) = (RawRow::default(), reader.header_line());
        loop {
            match reader.read_row(&mut row) {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => {
                    let _ = e.to_string();
                    break;
                }
            }
            assert!(row.line > last, "line {} after line {last}", row.line);
            last = row.oversized.map_or(row.line, |o| o.last_line.max(row.line));
            if row.oversized.is_some() {
                assert!(row.cells.is_empty());
            }
            let checked = check_row(&row, &columns, &rules);
            assert_eq!(checked.is_valid(), checked.errors().next().is_none() && checked.customer.is_some());
            for v in &checked.violations {
                let _ = (v.message(), v.masked_message());
            }
        }
    }
});
