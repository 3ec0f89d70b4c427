//! Spreadsheets in and out: workbooks read directly (typed cells, title blocks, sheets), the
//! annotated errors workbook read back, and the generator of `samples/customers.xlsx` and
//! `samples/customers.ods` — the samples are made here, from `samples/customers.csv`, so no binary
//! is committed that nobody can regenerate. `UPDATE_SAMPLES=1 cargo test --test it workbook::` writes
//! them; otherwise the test checks the committed ones hold what the generator makes.

use std::collections::BTreeMap;
use std::io::{Cursor, Read as _};
use std::path::{Path, PathBuf};

use calamine::{Data, Reader as _};
use cibil_bulk::input::{self, ProbeOptions, RawRow, RowReader, SheetChoice, SheetOptions};
use cibil_bulk::validate::{Applicant, Rules, check_row};
use rust_xlsxwriter::{ExcelDateTime, Format, Formula, Workbook};

const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/samples");
const TITLE: &str = "Acme Finance Ltd - new customers for CIBIL registration";

/// The rows of `samples/customers.csv`, header first.
fn sample_rows() -> Vec<Vec<String>> {
    let mut reader =
        csv::ReaderBuilder::new().has_headers(false).from_path(format!("{SAMPLES}/customers.csv")).unwrap();
    reader.records().map(|r| r.unwrap().iter().map(str::to_owned).collect()).collect()
}

/// The headers a clerk's workbook would have.
const HEADERS: [&str; 9] = [
    "First Name",
    "Middle Name",
    "Surname",
    "PAN No",
    "Date of Birth",
    "E-mail",
    "Mobile No",
    "Branch",
    "Internal Notes",
];

fn dmy(text: &str) -> Option<(u16, u8, u8)> {
    let mut parts = text.split('/');
    let (d, m, y) = (parts.next()?.parse().ok()?, parts.next()?.parse().ok()?, parts.next()?.parse().ok()?);
    Some((y, m, d))
}

/// `samples/customers.xlsx`: a title block above the header, dates typed as dates, mobiles typed
/// as numbers, a hidden column, a formula, an empty row in the middle, and a second sheet.
fn build_xlsx() -> Vec<u8> {
    let rows = sample_rows();
    let mut workbook = Workbook::new();
    let date = Format::new().set_num_format("dd/mm/yyyy");
    let bold = Format::new().set_bold();
    let sheet = workbook.add_worksheet().set_name("Customers").unwrap();
    sheet.write_string_with_format(0, 0, TITLE, &bold).unwrap();
    sheet.write_string(1, 0, "Exported 25/11/2026 - all branches").unwrap();
    for (c, h) in HEADERS.iter().enumerate() {
        sheet.write_string_with_format(3, c as u16, *h, &bold).unwrap();
    }
    let mut r = 4u32;
    for (i, cells) in rows.iter().skip(1).enumerate() {
        if i == 20 {
            r += 1; // an empty row in the middle
        }
        for (c, cell) in cells.iter().enumerate() {
            let c = c as u16;
            match c {
                4 => match dmy(cell) {
                    Some((y, m, d)) => {
                        sheet
                            .write_date_with_format(r, c, ExcelDateTime::from_ymd(y, m, d).unwrap(), &date)
                            .unwrap();
                    }
                    None => {
                        sheet.write_string(r, c, cell).unwrap();
                    }
                },
                6 if cell.chars().all(|ch| ch.is_ascii_digit()) && !cell.is_empty() => {
                    sheet.write_number(r, c, cell.parse::<f64>().unwrap()).unwrap();
                }
                5 if i == 2 => {
                    // A formula whose last computed value is the address.
                    let formula =
                        Formula::new(format!("=LOWER(\"{}\")", cell.to_uppercase())).set_result(cell);
                    sheet.write_formula(r, c, formula).unwrap();
                }
                _ => {
                    sheet.write_string(r, c, cell).unwrap();
                }
            }
        }
        sheet.write_string(r, 8, format!("checked by desk {}", i % 4 + 1)).unwrap();
        r += 1;
    }
    sheet.set_column_hidden(8).unwrap();
    sheet.set_column_width(0, 14).unwrap();
    let notes = workbook.add_worksheet().set_name("Notes").unwrap();
    notes
        .write_string(0, 0, "Customers on the first sheet; PAN and mobile as the customer gave them.")
        .unwrap();
    workbook.save_to_buffer().unwrap()
}

/// `samples/customers.ods`: the same customers, dates as dates and mobiles as numbers.
fn build_ods() -> Vec<u8> {
    use spreadsheet_ods::{Sheet, WorkBook};
    let rows = sample_rows();
    let mut book = WorkBook::new_empty();
    let mut sheet = Sheet::new("Customers");
    sheet.set_value(0, 0, TITLE);
    for (c, h) in HEADERS.iter().take(8).enumerate() {
        sheet.set_value(2, c as u32, *h);
    }
    for (i, cells) in rows.iter().skip(1).enumerate() {
        let r = i as u32 + 3;
        for (c, cell) in cells.iter().enumerate() {
            let c = c as u32;
            match (c, dmy(cell)) {
                (4, Some((y, m, d))) => sheet.set_value(
                    r,
                    c,
                    chrono::NaiveDate::from_ymd_opt(y.into(), m.into(), d.into()).unwrap(),
                ),
                (6, _) if cell.chars().all(|ch| ch.is_ascii_digit()) && !cell.is_empty() => {
                    sheet.set_value(r, c, cell.parse::<f64>().unwrap())
                }
                _ => sheet.set_value(r, c, cell.as_str()),
            }
        }
    }
    book.push_sheet(sheet);
    spreadsheet_ods::write_ods_buf(&mut book, Vec::new()).unwrap()
}

/// Every sheet's cells, for comparing workbooks by content (their bytes hold timestamps).
fn contents(bytes: Vec<u8>) -> BTreeMap<String, Vec<Vec<String>>> {
    let mut workbook = calamine::open_workbook_auto_from_rs(Cursor::new(bytes)).unwrap();
    let names = workbook.sheet_names();
    names
        .into_iter()
        .map(|name| {
            let range = workbook.worksheet_range(&name).unwrap();
            let rows = range.rows().map(|r| r.iter().map(|c| format!("{c:?}")).collect()).collect();
            (name, rows)
        })
        .collect()
}

#[test]
fn the_samples_are_what_the_generator_makes() {
    for (name, built) in [("customers.xlsx", build_xlsx()), ("customers.ods", build_ods())] {
        let path = format!("{SAMPLES}/{name}");
        if std::env::var_os("UPDATE_SAMPLES").is_some() {
            std::fs::write(&path, &built).unwrap();
            continue;
        }
        let committed = std::fs::read(&path).unwrap_or_else(|_| {
            panic!("{path} is missing: run UPDATE_SAMPLES=1 cargo test --test it workbook::")
        });
        assert_eq!(
            contents(committed),
            contents(built),
            "{name} is stale: run UPDATE_SAMPLES=1 cargo test --test it workbook::"
        );
    }
}

fn rules() -> Rules {
    Rules::new(chrono::NaiveDate::from_ymd_opt(2026, 11, 25).unwrap())
}

/// Every row of `path` as the tool reads it: (row number, the values it would send or the codes
/// of what is wrong).
fn read(path: &Path, sheet: SheetOptions) -> Vec<(u64, Result<Applicant, Vec<&'static str>>)> {
    let probe = input::probe(path, ProbeOptions::default()).unwrap();
    let rules = rules();
    let mut reader = RowReader::open(path, &probe, &[], &rules.required_fields(), &sheet).unwrap();
    let columns = reader.columns().clone();
    let mut row = RawRow::default();
    let mut out = Vec::new();
    while reader.read_row(&mut row).unwrap() {
        let checked = check_row(&row, &columns, &rules);
        let verdict = match &checked.customer {
            Some(c) => Ok(Applicant { order_id: String::new(), ..Applicant::from(c) }),
            None => Err(checked.errors().map(|v| v.code).collect()),
        };
        out.push((row.line, verdict));
    }
    out
}

fn verdicts(
    rows: Vec<(u64, Result<Applicant, Vec<&'static str>>)>,
) -> Vec<Result<Applicant, Vec<&'static str>>> {
    rows.into_iter().map(|(_, v)| v).collect()
}

#[test]
fn every_format_reads_as_the_csv_does() {
    let csv = verdicts(read(Path::new(&format!("{SAMPLES}/customers.csv")), SheetOptions::default()));
    assert_eq!(csv.len(), 50);
    for name in ["customers.xlsx", "customers.ods"] {
        let path = PathBuf::from(format!("{SAMPLES}/{name}"));
        assert_eq!(verdicts(read(&path, SheetOptions::default())), csv, "{name}");
    }
    // Detected by content: the same workbook under another name reads the same.
    let dir = tempfile::tempdir().unwrap();
    for fake in ["customers.csv", "customers.xlsm", "customers"] {
        let renamed = dir.path().join(fake);
        std::fs::copy(format!("{SAMPLES}/customers.xlsx"), &renamed).unwrap();
        assert_eq!(verdicts(read(&renamed, SheetOptions::default())), csv, "{fake}");
    }
}

#[test]
fn rows_are_numbered_as_the_sheet_shows_them() {
    let rows = read(Path::new(&format!("{SAMPLES}/customers.xlsx")), SheetOptions::default());
    // Header on row 4; the first customer on row 5; an empty row 25 skipped.
    assert_eq!(rows[0].0, 5);
    assert_eq!(rows[19].0, 24);
    assert_eq!(rows[20].0, 26);
}

#[test]
fn typed_cells_arrive_as_typed() {
    let rows = read(Path::new(&format!("{SAMPLES}/customers.xlsx")), SheetOptions::default());
    let first = rows[0].1.as_ref().unwrap();
    assert_eq!(first.mobile_number, "9149709400", "a numeric mobile is its digits, not 9.1497E+09");
    assert_eq!(first.date_of_birth, "22/03/1981", "a date cell is that date");
    assert_eq!(first.pancard, "ORHPH0606Q");
    let formula = rows[2].1.as_ref().unwrap();
    assert_eq!(formula.email_id, "aditya.banerjee@example.com", "a formula gives its computed value");
}

/// A small workbook made by the test.
fn workbook(build: impl FnOnce(&mut Workbook)) -> tempfile::NamedTempFile {
    let mut workbook = Workbook::new();
    build(&mut workbook);
    let file = tempfile::Builder::new().suffix(".xlsx").tempfile().unwrap();
    std::fs::write(file.path(), workbook.save_to_buffer().unwrap()).unwrap();
    file
}

fn write_rows(sheet: &mut rust_xlsxwriter::Worksheet, first_row: u32, rows: &[&[&str]]) {
    for (r, cells) in rows.iter().enumerate() {
        for (c, cell) in cells.iter().enumerate() {
            sheet.write_string(first_row + r as u32, c as u16, *cell).unwrap();
        }
    }
}

const HEADER: &[&str] = &["first_name", "last_name", "pancard", "date_of_birth", "email_id", "mobile_number"];
const RAVI: &[&str] = &["Ravi", "Kumar", "ABCPK1234F", "31/01/1985", "r@example.com", "9876543210"];

#[test]
fn sheets_are_chosen_by_name_or_number_and_a_wrong_name_lists_them() {
    let file = workbook(|wb| {
        write_rows(wb.add_worksheet().set_name("Summary").unwrap(), 0, &[&["Totals only"]]);
        write_rows(wb.add_worksheet().set_name("New Customers").unwrap(), 0, &[HEADER, RAVI]);
    });
    let by_name = SheetOptions {
        sheet: Some(SheetChoice::Name("new customers".into())),
        header_row: None,
        ..SheetOptions::default()
    };
    assert_eq!(read(file.path(), by_name).len(), 1);
    let by_number =
        SheetOptions { sheet: Some(SheetChoice::Position(2)), header_row: None, ..SheetOptions::default() };
    assert_eq!(read(file.path(), by_number)[0].0, 2);

    let probe = input::probe(file.path(), ProbeOptions::default()).unwrap();
    let wrong = SheetOptions {
        sheet: Some(SheetChoice::Name("Customers".into())),
        header_row: None,
        ..SheetOptions::default()
    };
    let err = RowReader::open(file.path(), &probe, &[], &rules().required_fields(), &wrong)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no sheet \"Customers\"") && err.contains("\"Summary\", \"New Customers\""),
        "{err}"
    );
    // Without a choice, a cover sheet without the required columns is not taken for the
    // customers: the sheet that has them is named, as the one to choose.
    let err = RowReader::open(file.path(), &probe, &[], &rules().required_fields(), &SheetOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("sheet \"Summary\"")
            && err.contains("--sheet \"New Customers\"")
            && !err.contains("--header-row"),
        "{err}"
    );
}

#[test]
fn a_header_below_a_title_block_is_found_or_named() {
    let file = workbook(|wb| {
        let sheet = wb.add_worksheet();
        write_rows(sheet, 0, &[&["Branch report"], &[], &["Prepared by", "desk 3"]]);
        write_rows(sheet, 5, &[HEADER, RAVI]);
    });
    let rows = read(file.path(), SheetOptions::default());
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].0, 7);
    let exact = SheetOptions { sheet: None, header_row: Some(6), ..SheetOptions::default() };
    assert_eq!(read(file.path(), exact)[0].0, 7);
    let probe = input::probe(file.path(), ProbeOptions::default()).unwrap();
    let outside = SheetOptions { sheet: None, header_row: Some(99), ..SheetOptions::default() };
    let err = RowReader::open(file.path(), &probe, &[], &rules().required_fields(), &outside)
        .unwrap_err()
        .to_string();
    assert!(err.contains("--header-row 99"), "{err}");
}

#[test]
fn merged_cells_fill_their_area() {
    let file = workbook(|wb| {
        let sheet = wb.add_worksheet();
        let header = [HEADER, &["branch"]].concat();
        write_rows(
            sheet,
            0,
            &[&header, RAVI, &["Asha", "Kumar", "ABCPK1235F", "01/02/1990", "a@example.com", "9876543211"]],
        );
        sheet.merge_range(1, 6, 2, 6, "Pune", &Format::new()).unwrap();
    });
    let probe = input::probe(file.path(), ProbeOptions::default()).unwrap();
    let mut reader =
        RowReader::open(file.path(), &probe, &[], &rules().required_fields(), &SheetOptions::default())
            .unwrap();
    let mut row = RawRow::default();
    let mut branches = Vec::new();
    while reader.read_row(&mut row).unwrap() {
        branches.push(row.cells.get(6).unwrap().to_owned());
    }
    assert_eq!(branches, vec!["Pune", "Pune"]);
}

#[test]
fn corrupt_workbooks_are_file_level_errors() {
    let dir = tempfile::tempdir().unwrap();
    let whole = build_xlsx();
    let truncated = dir.path().join("truncated.xlsx");
    std::fs::write(&truncated, &whole[..whole.len() / 2]).unwrap();
    let png = dir.path().join("photo.xlsx");
    std::fs::write(&png, b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR").unwrap();
    for path in [&truncated, &png] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_cibil-bulk"))
            .args(["validate", path.to_str().unwrap()])
            .env("CIBIL_BULK_TODAY", crate::common::TODAY)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(path.file_name().unwrap().to_str().unwrap()), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

/// The parts of an `.xlsx` (it is a ZIP of XML files), for what calamine does not read: notes
/// and formats.
fn part(bytes: &[u8], name: &str) -> String {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    let mut text = String::new();
    archive.by_name(name).unwrap_or_else(|_| panic!("no {name}")).read_to_string(&mut text).unwrap();
    text
}

#[test]
fn the_errors_workbook_marks_exactly_the_offending_cells() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(format!("{SAMPLES}/customers.xlsx"), dir.path().join("customers.xlsx")).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cibil-bulk"))
        .current_dir(dir.path())
        .args(["validate", "customers.xlsx", "--errors", "to-fix.xlsx"])
        .env("CIBIL_BULK_TODAY", crate::common::TODAY)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("Excel workbook, sheet \"Customers\"") && stdout.contains("Customers!R"),
        "{stdout}"
    );

    let bytes = std::fs::read(dir.path().join("to-fix.xlsx")).unwrap();
    let mut book = calamine::open_workbook_auto_from_rs(Cursor::new(bytes.clone())).unwrap();
    let range = book.worksheet_range("To fix").unwrap();
    let rows: Vec<Vec<String>> = range
        .rows()
        .map(|r| r.iter().map(|c| if let Data::String(s) = c { s.clone() } else { c.to_string() }).collect())
        .collect();
    assert_eq!(rows[0][0], "error");
    assert_eq!(&rows[0][1..], &HEADERS[..]);
    assert_eq!(rows.len(), 7, "six rows to fix and the header");
    // The company PAN row: the original values untouched, the message naming the cell's row.
    let company = rows.iter().find(|r| r[4] == "AAACR5678K").expect("the company PAN row");
    assert!(
        company[0].starts_with("Customers!R11: PAN No \"AAACR5678K\" is the PAN of a company"),
        "{company:?}"
    );
    assert_eq!(company[7], "6037623895", "a numeric mobile comes back as its digits");

    // Notes on exactly the offending cells: one per row to fix, on the column at fault.
    let comments = part(&bytes, "xl/comments1.xml");
    let refs: Vec<&str> =
        comments.split("<comment ref=\"").skip(1).map(|s| &s[..s.find('"').unwrap()]).collect();
    let mut expected = Vec::new();
    for (i, row) in rows.iter().enumerate().skip(1) {
        let column = match row[0].split(": ").nth(1).unwrap_or("") {
            m if m.starts_with("PAN No") => 'E',
            m if m.starts_with("Date of Birth") => 'F',
            m if m.starts_with("E-mail") => 'G',
            m if m.starts_with("Mobile No") => 'H',
            m if m.starts_with("First Name") => 'B',
            other => panic!("unexpected message {other}"),
        };
        expected.push(format!("{column}{}", i + 1));
    }
    let mut refs: Vec<String> = refs.iter().map(|s| s.to_string()).collect();
    refs.sort();
    expected.sort();
    assert_eq!(refs, expected);
    assert!(comments.contains("is the PAN of a company"), "the note says what is wrong");

    // PAN and mobile columns are Text, so the next save keeps them as typed.
    let sheet = part(&bytes, "xl/worksheets/sheet1.xml");
    let styles = part(&bytes, "xl/styles.xml");
    assert!(
        styles.contains("formatCode=\"@\"") || styles.contains("numFmtId=\"49\""),
        "a Text format exists"
    );
    for column in [5, 8] {
        assert!(
            sheet.contains(&format!("<col min=\"{column}\" max=\"{column}\"")),
            "column {column} has a format\n{sheet}"
        );
    }
    assert!(sheet.contains("<autoFilter"), "an autofilter");
    assert!(sheet.contains("state=\"frozen\""), "a frozen header row");
}

#[test]
fn a_workbook_runs_end_to_end_and_answers_in_a_workbook() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(format!("{SAMPLES}/customers.xlsx"), dir.path().join("customers.xlsx")).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cibil-bulk"))
        .current_dir(dir.path())
        .args(["run", "customers.xlsx", "--sandbox", "--rate", "1000/s"])
        .env("CIBIL_BULK_TODAY", crate::common::TODAY)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let mut results =
        calamine::open_workbook_auto(dir.path().join("customers.sandbox-results.xlsx")).unwrap();
    let range = results.worksheet_range("Results").unwrap();
    let statuses: Vec<String> = range.rows().skip(1).map(|r| r[2].to_string()).collect();
    assert_eq!(statuses.len(), 50);
    assert_eq!(statuses.iter().filter(|s| *s == "registered").count(), 43);
    let mut errors = calamine::open_workbook_auto(dir.path().join("customers.sandbox-errors.xlsx")).unwrap();
    assert_eq!(errors.worksheet_range("To fix").unwrap().height(), 7);
    // The same content as CSV, on request.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cibil-bulk"))
        .current_dir(dir.path())
        .args(["export", "customers.xlsx", "--state", "cibil-bulk.sandbox.db", "--output", "results.csv"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let csv_rows = csv::Reader::from_path(dir.path().join("results.csv")).unwrap().records().count();
    assert_eq!(csv_rows, 50);
}
