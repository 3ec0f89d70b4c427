//! `cibil-bulk validate` end to end: the real binary on files as spreadsheets write them (every
//! encoding, delimiter and line end), checked by its exit status, its terminal output and the
//! files it writes. The rules themselves are unit-tested beside their code; these tests prove
//! what a clerk and a cron job see.

use crate::common::{Csv, HEADER, Test, customer, lines, mobile, pan};

/// The header of [`HEADER`] files, as the errors file repeats it after its `error` column.
const ERRORS_HEADER: [&str; 7] =
    ["error", "first_name", "last_name", "pancard", "date_of_birth", "email_id", "mobile_number"];

fn utf16(text: &str, big_endian: bool) -> Vec<u8> {
    let bytes = |unit: u16| if big_endian { unit.to_be_bytes() } else { unit.to_le_bytes() };
    text.encode_utf16().flat_map(bytes).collect()
}

/// A row for `i` whose first name is `René`, with `é` written as `#` for the caller to encode.
fn rene(i: u32) -> String {
    format!("Ren#,Kumar,{},31/01/1985,c{i}@example.com,{}", pan(i), mobile(i))
}

// ---------------------------------------------------------------------------------------------
// Encodings and delimiters

#[test]
fn utf8_with_a_bom_reads_its_first_header() {
    let text =
        lines(&[HEADER, &customer(1), "Ravi,Kumar,FRS23456,31/01/1985,r@example.com,9876543210"], "\r\n");
    let run = Test::new()
        .file("c.csv", [b"\xEF\xBB\xBF", text.as_bytes()].concat())
        .args(["validate", "c.csv", "--errors", "e.csv", "--summary", "s.json"])
        .run();
    run.code(1).stdout_contains("c.csv: 2 rows (UTF-8, comma-separated)");
    // The BOM is not part of the first header, here or in the errors file.
    let errors = run.csv("e.csv");
    assert_eq!(errors.headers, ERRORS_HEADER);
    assert_eq!(errors.error_lines(), [3]);
    assert!(errors.error_of(3).contains("pancard \"FRS23456\" is not a valid PAN"), "{errors:?}");
    assert_eq!(run.json("s.json")["encoding"], "UTF-8");
}

#[test]
fn windows_1252_is_read_as_such_with_one_warning_naming_the_line() {
    for ending in ["\n", "\r\n", "\r"] {
        let text = lines(&[HEADER, &customer(1), &rene(2), &customer(3)], ending);
        let bytes: Vec<u8> = text.bytes().map(|b| if b == b'#' { 0xE9 } else { b }).collect();
        let run = Test::new().file("c.csv", bytes).args(["validate", "c.csv", "--errors", "e.csv"]).run();
        run.code(1)
            .stdout_contains("c.csv: 3 rows (Windows-1252, comma-separated)")
            .stdout_contains("contains 'é' (U+00E9)")
            .stderr_contains("c.csv is not UTF-8 (line 3 is the first line that is not)")
            .stderr_contains("Windows-1252");
        assert_eq!(run.stderr.matches("warning:").count(), 1, "{ending:?}: {}", run.stderr);

        let errors = run.csv("e.csv");
        assert_eq!(errors.error_lines(), [3], "{ending:?}");
        assert!(errors.error_of(3).contains("'é'"), "{}", errors.error_of(3));
        // Decoded right, and written back as UTF-8.
        assert_eq!(errors.record_of(3)[1], "René");
    }
}

#[test]
fn a_utf8_bom_over_windows_1252_bytes_is_read_as_utf8_with_one_warning() {
    let text = lines(&[HEADER, &customer(1), &rene(2)], "\r\n");
    let latin: Vec<u8> = text.bytes().map(|b| if b == b'#' { 0xE9 } else { b }).collect();
    let run = Test::new()
        .file("c.csv", [&b"\xEF\xBB\xBF"[..], &latin].concat())
        .args(["validate", "c.csv", "--errors", "e.csv"])
        .run();
    run.code(1)
        .stdout_contains("(UTF-8, comma-separated)")
        .stderr_contains("c.csv is read as UTF-8, but line 3 is the first of its lines that is not")
        .stderr_contains("--encoding windows-1252");
    assert_eq!(run.stderr.matches("warning:").count(), 1, "{}", run.stderr);
    assert_eq!(run.csv("e.csv").record_of(3)[1], "Ren\u{FFFD}");
}

#[test]
fn utf16_with_a_bom_in_either_byte_order() {
    let text = lines(
        &[&HEADER.replace(',', "\t"), &customer(1).replace(',', "\t"), &rene(2).replace(',', "\t")],
        "\r\n",
    )
    .replace('#', "é");
    for (big_endian, bom, label) in [(false, [0xFF, 0xFE], "UTF-16LE"), (true, [0xFE, 0xFF], "UTF-16BE")] {
        let run = Test::new()
            .file("c.csv", [&bom[..], &utf16(&text, big_endian)].concat())
            .args(["validate", "c.csv", "--errors", "e.csv", "--output", "r.csv"])
            .run();
        run.code(1).stdout_contains(&format!("c.csv: 2 rows ({label}, tab-separated)")).stderr_is_empty();
        let errors = run.csv("e.csv");
        assert_eq!(errors.headers, ERRORS_HEADER, "{label}");
        assert_eq!(errors.record_of(3)[1], "René", "{label}");
        assert!(errors.error_of(3).contains("'é'"), "{label}");
        let report = run.csv("r.csv");
        assert_eq!(report.at_line(2, "pancard"), pan(1), "{label}");
        assert_eq!(report.at_line(2, "mobile_number"), mobile(1), "{label}");
    }
}

#[test]
fn utf16_without_a_bom_is_named_and_read_when_forced() {
    let text = lines(&[HEADER, &customer(1)], "\r\n");
    let run = Test::new().file("c.csv", utf16(&text, false)).args(["validate", "c.csv"]).run();
    run.code(2).stderr_contains("looks like UTF-16LE text").stderr_contains("--encoding utf-16le");

    let run = Test::new()
        .file("c.csv", utf16(&text, true))
        .args(["validate", "c.csv", "--encoding", "utf-16be"])
        .run();
    run.code(0).stdout_contains("c.csv: 1 row (UTF-16BE, comma-separated)");
}

#[test]
fn semicolon_and_tab_are_sniffed_from_the_header() {
    for (separator, word) in [(";", "semicolon"), ("\t", "tab")] {
        let row =
            |i: u32, remark: &str| format!("{}{separator}{remark}", customer(i).replace(',', separator));
        let header = format!("{}{separator}Remarks", HEADER.replace(',', separator));
        let text = lines(&[&header, &row(1, "Pune"), &row(2, "\"Pune, MH; near the station\"")], "\r\n");
        let run = Test::new().file("c.csv", text).args(["validate", "c.csv", "--output", "r.csv"]).run();
        run.code(0).stdout_contains(&format!("c.csv: 2 rows (UTF-8, {word}-separated)"));
        assert_eq!(run.csv("r.csv").column("pancard"), [pan(1), pan(2)], "{word}");
    }
}

#[test]
fn a_csv_header_below_a_title_block_is_found_with_header_row() {
    // A report exported with a title and a date above the columns; its delimiter is the header's.
    let text = lines(
        &[
            "Customers of branch 12",
            "exported 2026-11-25",
            "",
            &HEADER.replace(',', ";"),
            &customer(1).replace(',', ";"),
            &customer(2).replace(',', ";"),
        ],
        "\r\n",
    );
    let run = Test::new().file("c.csv", &text).args(["validate", "c.csv", "--header-row", "4"]).run();
    run.code(0).stdout_contains("c.csv: 2 rows");
    // Lines are named as a text editor numbers them, title block included.
    let bad = text.replacen(&pan(2), "NOTAPAN", 1);
    let run = Test::new().file("c.csv", &bad).args(["validate", "c.csv", "--header-row", "4"]).run();
    run.code(1).stdout_contains("line 6");
    // A line past the end, or a blank one, is said as such.
    let run = Test::new().file("c.csv", &text).args(["validate", "c.csv", "--header-row", "40"]).run();
    run.code(2).stderr_contains("--header-row 40 is past the end of the file");
    let run = Test::new().file("c.csv", &text).args(["validate", "c.csv", "--header-row", "3"]).run();
    run.code(2).stderr_contains("--header-row 3 is a blank line");
}

#[test]
fn the_delimiter_flag_forces_a_separator() {
    let text = lines(&[&HEADER.replace(',', "|"), &customer(1).replace(',', "|")], "\n");
    // Not sniffed: the whole line is one column.
    Test::new()
        .file("c.csv", &text)
        .args(["validate", "c.csv"])
        .run()
        .code(2)
        .stderr_contains("no column for");
    Test::new()
        .file("c.csv", &text)
        .args(["validate", "c.csv", "--delimiter", "|"])
        .run()
        .code(0)
        .stdout_contains("c.csv: 1 row (UTF-8, '|'-separated)");
    // And from the environment, as a cron job sets it.
    Test::new()
        .file("c.csv", &text)
        .args(["validate", "c.csv"])
        .env("CIBIL_BULK_DELIMITER", "|")
        .run()
        .code(0);
}

#[test]
fn the_encoding_flag_forces_an_encoding() {
    let text = lines(&[HEADER, &rene(1)], "\n");
    let latin: Vec<u8> = text.bytes().map(|b| if b == b'#' { 0xE9 } else { b }).collect();
    // Chosen, so nothing to warn about.
    let run = Test::new()
        .file("c.csv", &latin)
        .args(["validate", "c.csv", "--encoding", "windows-1252", "--errors", "e.csv"])
        .run();
    run.code(1).stderr_is_empty().stdout_contains("(Windows-1252, comma-separated)");
    assert_eq!(run.csv("e.csv").record_of(2)[1], "René");
    // The same from the environment, by an alias.
    let run = Test::new()
        .file("c.csv", &latin)
        .args(["validate", "c.csv"])
        .env("CIBIL_BULK_ENCODING", "cp1252")
        .run();
    run.code(1).stderr_is_empty();

    // A UTF-8 file forced to Windows-1252 is read that way: the choice beats detection.
    let run = Test::new()
        .file("c.csv", text.replace('#', "é"))
        .args(["validate", "c.csv", "--encoding", "windows-1252", "--errors", "e.csv"])
        .run();
    run.code(1).stdout_contains("(Windows-1252, comma-separated)");
    assert_eq!(run.csv("e.csv").record_of(2)[1], "RenÃ©");
}

// ---------------------------------------------------------------------------------------------
// Line ends, quoting, blank lines, ragged rows

#[test]
fn every_line_end_gives_the_same_verdicts_and_physical_line_numbers() {
    let header = format!("{HEADER},remarks");
    let text = [
        header.as_str(),
        &format!("{},\"Pune, MH\nnear the station\"", customer(1)), // lines 2-3
        &format!("X1,Kumar,{},31/01/1985,c2@example.com,{},", pan(2), mobile(2)), // 4: bad name
        "",                                                         // 5
        ",,,,,,",                                                   // 6: Excel's empty row
        &format!("{},", customer(3)),                               // 7
        &format!("Ravi,Kumar,{},31/01/1985,c4@example.com,123,\"a, b\nc\"", pan(4)), // 8-9: bad mobile
        &format!("{},", customer(5)),                               // 10
        ",,,,,,",
        " , ,,,,,",
        "",
    ]
    .join("\n");
    let mut errors_files = Vec::new();
    for ending in ["\n", "\r\n", "\r"] {
        let run = Test::new()
            .file("c.csv", text.replace('\n', ending))
            .args(["validate", "c.csv", "--errors", "e.csv", "--output", "r.csv"])
            .run();
        run.code(1).stdout_contains("c.csv: 5 rows");
        let errors = run.csv("e.csv");
        assert_eq!(errors.error_lines(), [4, 8], "{ending:?}");
        // The quoted cell keeps its comma and its line break.
        assert_eq!(errors.record_of(8)[7], "a, b\nc", "{ending:?}");
        let report = run.csv("r.csv");
        assert_eq!(report.column("line"), ["2", "4", "7", "8", "10"], "{ending:?}");
        assert_eq!(report.column("status"), ["valid", "invalid", "valid", "invalid", "valid"]);
        errors_files.push(run.bytes("e.csv"));
    }
    assert!(errors_files.windows(2).all(|w| w[0] == w[1]), "the errors files differ by line end");
}

#[test]
fn ragged_rows_are_row_errors_and_the_rest_of_the_file_is_read() {
    let header = format!("{HEADER},remarks");
    let short = format!("Ravi,Kumar,{},31/01/1985,c2@example.com", pan(2));
    let text = lines(
        &[
            &header,
            &format!("{},ok", customer(1)),
            &short,                              // 3: 5 cells of 7
            &format!("{},Pune,MH", customer(3)), // 4: 8 cells of 7
            &format!("{},,", customer(4)),       // 5: a trailing empty cell is fine
            &format!("{},fine", customer(5)),    // 6
        ],
        "\r\n",
    );
    let run = Test::new()
        .file("c.csv", text)
        .args(["validate", "c.csv", "--errors", "e.csv", "--output", "r.csv"])
        .run();
    run.code(1).stdout_contains("c.csv: 5 rows").stdout_contains("row.columns");
    let errors = run.csv("e.csv");
    assert_eq!(errors.error_lines(), [3, 4]);
    assert!(errors.error_of(3).contains("This line has 5 cells but the header has 7 columns"), "{errors:?}");
    assert!(errors.error_of(4).contains("This line has 8 cells but the header has 7 columns"), "{errors:?}");
    // Written back as they were, short or long.
    assert_eq!(errors.record_of(3)[1..], short.split(',').collect::<Vec<_>>());
    assert_eq!(errors.record_of(4).last().map(String::as_str), Some("MH"));
    assert_eq!(run.csv("r.csv").column("status"), ["valid", "invalid", "invalid", "valid", "valid"]);
}

// ---------------------------------------------------------------------------------------------
// Headers

const TAX_ID_HEADER: &str = "First Name,Surname,Tax Id,DOB,Email,Phone";

#[test]
fn a_missing_column_lists_what_was_found_and_expected_and_suggests_map() {
    let text = lines(&[TAX_ID_HEADER, &customer(1)], "\n");
    let run = Test::new().file("c.csv", text).args(["validate", "c.csv", "--errors", "e.csv"]).run();
    run.code(2)
        .stderr_contains("c.csv, line 1 (the header): no column for pancard.")
        .stderr_contains(r#"headers found: "First Name", "Surname", "Tax Id", "DOB", "Email", "Phone""#)
        .stderr_contains(
            "pancard (or: pan, pan no, pan number, pan card, pancard no, permanent account number)",
        )
        .stderr_contains(r#"--map pancard="Your Header""#);
    assert_eq!(run.listing(), ["c.csv"]);
}

#[test]
fn two_columns_for_one_field_stop_the_file() {
    let text = lines(&["First Name,Surname,PAN,PAN No,DOB,Email,Phone", &customer(1)], "\n");
    Test::new()
        .file("c.csv", text)
        .args(["validate", "c.csv"])
        .run()
        .code(2)
        .stderr_contains(r#""PAN" and "PAN No" could both be pancard"#)
        .stderr_contains(r#"--map pancard="PAN""#);
}

#[test]
fn map_reads_a_column_under_its_own_header() {
    let bad = format!("Ravi,Kumar,FRS23456,31/01/1985,r@example.com,{}", mobile(2));
    let text = lines(&[TAX_ID_HEADER, &customer(1), &bad], "\n");
    let run = Test::new()
        .file("c.csv", text)
        .args(["validate", "c.csv", "--map", "pancard=\"Tax Id\"", "--errors", "e.csv", "--output", "r.csv"])
        .run();
    run.code(1);
    assert_eq!(run.csv("r.csv").at_line(2, "pancard"), pan(1));
    let errors = run.csv("e.csv");
    assert_eq!(errors.headers[..4], ["error", "First Name", "Surname", "Tax Id"]);
    // Messages name the column as the file does.
    assert!(errors.error_of(3).contains("Tax Id \"FRS23456\" is not a valid PAN"), "{errors:?}");
}

#[test]
fn map_to_a_header_the_file_lacks_is_named() {
    let text = lines(&[TAX_ID_HEADER, &customer(1)], "\n");
    Test::new()
        .file("c.csv", text)
        .args(["validate", "c.csv", "--map", "pancard=Tax Number"])
        .run()
        .code(2)
        .stderr_contains(r#"--map pancard="Tax Number" names a column the file does not have"#)
        .stderr_contains(r#""Tax Id""#);
}

#[test]
fn a_file_without_its_header_line_is_told_so_without_showing_the_customer() {
    let text = lines(&[&customer(1), &customer(2)], "\n");
    let run = Test::new().file("c.csv", text).args(["validate", "c.csv"]).run();
    run.code(2)
        .stderr_contains("no column for first_name")
        .stderr_contains("looks like a customer's details, not column names")
        .terminal_lacks(&pan(1))
        .terminal_lacks(&mobile(1))
        .terminal_lacks("c1@example.com")
        .terminal_lacks("31/01/1985")
        // The name beside them is the customer's too.
        .terminal_lacks("\"Ravi\"")
        .terminal_lacks("Kumar")
        .terminal_lacks("--map");
}

// ---------------------------------------------------------------------------------------------
// Date order

/// Line 2 and 4 can only be month-first; line 3 fits either order.
fn month_first_file() -> String {
    let row = |i: u32, dob: &str| format!("Ravi,Kumar,{},{dob},c{i}@example.com,{}", pan(i), mobile(i));
    lines(&[HEADER, &row(1, "01/31/1985"), &row(2, "05/06/1985"), &row(3, "12/25/1990")], "\r\n")
}

#[test]
fn a_month_first_column_stops_the_file_and_writes_nothing() {
    let run = Test::new()
        .file("c.csv", month_first_file())
        .args(["validate", "c.csv", "--errors", "e.csv", "--output", "r.csv", "--summary", "s.json"])
        .run();
    run.code(2)
        .stderr_contains("2 rows of date_of_birth have a second part above 12 (lines 2, 4)")
        .stderr_contains("run again with --date-order mdy");
    // Not even a temporary file is left.
    assert_eq!(run.listing(), ["c.csv"]);
}

#[test]
fn a_column_mixing_both_orders_stops_the_file_and_offers_a_choice() {
    let row = |i: u32, dob: &str| format!("Ravi,Kumar,{},{dob},c{i}@example.com,{}", pan(i), mobile(i));
    let text = lines(&[HEADER, &row(1, "01/31/1985"), &row(2, "25/06/1985")], "\n");
    let run = Test::new().file("c.csv", text).args(["validate", "c.csv", "--errors", "e.csv"]).run();
    run.code(2)
        .stderr_contains("1 row of date_of_birth has a second part above 12 (line 2)")
        .stderr_contains("1 row has a first part above 12 (line 3)")
        .stderr_contains("mixes both orders")
        .stderr_contains("--date-order mdy");
    assert_eq!(run.listing(), ["c.csv"]);
}

#[test]
fn date_order_mdy_reads_the_month_first_file() {
    for run in [
        Test::new().file("c.csv", month_first_file()).args([
            "validate",
            "c.csv",
            "--date-order",
            "mdy",
            "--output",
            "r.csv",
        ]),
        Test::new()
            .file("c.csv", month_first_file())
            .args(["validate", "c.csv", "--output", "r.csv"])
            .env("CIBIL_BULK_DATE_ORDER", "mdy"),
    ] {
        let run = run.run();
        run.code(0).stdout_contains("ready to send         3");
        assert_eq!(run.csv("r.csv").column("date_of_birth"), ["31/01/1985", "06/05/1985", "25/12/1990"]);
    }
}

#[test]
fn date_order_dmy_given_makes_month_first_rows_row_errors() {
    let run = Test::new()
        .file("c.csv", month_first_file())
        .args(["validate", "c.csv", "--date-order", "dmy", "--errors", "e.csv"])
        .run();
    run.code(1).stdout_contains("dob.order");
    let errors = run.csv("e.csv");
    assert_eq!(errors.error_lines(), [2, 4]);
    assert!(
        errors.error_of(2).contains("\"01/31/1985\" cannot be DD/MM/YYYY: 31 is not a month"),
        "{errors:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// The files written

#[test]
fn formula_cells_are_neutralised_in_the_errors_file_and_the_report() {
    let header = format!("{HEADER},order_id,@notes");
    // Quoted as CSV: the cell is =HYPERLINK("http://x","y").
    let hyperlink = r#""=HYPERLINK(""http://x"",""y"")""#;
    let text = lines(
        &[
            &header,
            &format!(
                "{hyperlink},Kumar,{},31/01/1985,c1@example.com,{},,+cmd|' /C calc'!A0",
                pan(1),
                mobile(1)
            ),
            &format!("Ravi,Kumar,{},31/01/1985,c2@example.com,-1+2,,@SUM(A1)", pan(2)),
            &format!("{},-12,=1+1", customer(3)),
        ],
        "\n",
    );
    let run = Test::new()
        .file("c.csv", text)
        .args(["validate", "c.csv", "--errors", "e.csv", "--output", "r.csv"])
        .run();
    run.code(1);
    let errors = run.csv("e.csv");
    assert_eq!(errors.headers.last().map(String::as_str), Some("'@notes"));
    assert_eq!(errors.record_of(2)[1], "'=HYPERLINK(\"http://x\",\"y\")");
    assert_eq!(errors.record_of(2)[8], "'+cmd|' /C calc'!A0");
    assert_eq!(errors.record_of(3)[6], "'-1+2");
    assert_eq!(errors.record_of(3)[8], "'@SUM(A1)");
    for record in &errors.rows {
        assert!(record.iter().all(|cell| !cell.starts_with(['=', '+', '-', '@'])), "{record:?}");
    }
    let report = run.csv("r.csv");
    assert_eq!(report.at_line(4, "order_id"), "'-12");
    for record in &report.rows {
        assert!(record.iter().all(|cell| !cell.starts_with(['=', '+', '-', '@'])), "{record:?}");
    }
}

#[test]
fn the_errors_file_keeps_the_original_columns_behind_an_error_column() {
    let header = "Sr No,First Name,Middle Name,Surname,PAN No,DOB,Mobile No,E-mail ID,Branch";
    let bad = "2,Sunita ,Devi,Sharma,bqsps4821l ,1990-03-02 00:00:00,9.87654E+09,sunita@example.in,Mumbai";
    let text = lines(
        &[header, &format!("1,Ravi,,Kumar,{},31/01/1985,'{},c1@example.com,Pune", pan(1), mobile(1)), bad],
        "\r\n",
    );
    let run = Test::new()
        .file("c.csv", text)
        .args(["validate", "c.csv", "--errors", "e.csv", "--output", "r.csv", "--summary", "s.json"])
        .run();
    run.code(1);
    let bytes = run.bytes("e.csv");
    assert!(bytes.starts_with(b"\xEF\xBB\xBFerror,"), "{:?}", String::from_utf8_lossy(&bytes[..20]));
    let errors = run.csv("e.csv");
    assert_eq!(errors.headers, ["error"].into_iter().chain(header.split(',')).collect::<Vec<_>>());
    // The cells as typed, spaces and all, for the clerk to correct.
    assert_eq!(errors.record_of(3)[1..], bad.split(',').collect::<Vec<_>>());
    assert!(errors.error_of(3).starts_with("line 3: Mobile No \"9.87654E+09\" is in scientific notation"));
    for file in ["e.csv", "r.csv", "s.json"] {
        assert_eq!(run.mode(file), 0o600, "{file}");
    }
    // Only the clerk's files carry an unmasked value.
    run.terminal_lacks("9.87654E+09");
}

#[test]
fn an_errors_file_checked_again_gets_its_error_column_replaced() {
    let bad_email = format!("Ravi,Kumar,{},31/01/1985,ravi@@example.com,{}", pan(2), mobile(2));
    let bad_pan = format!("Ravi,Kumar,FRS23456,31/01/1985,c3@example.com,{}", mobile(3));
    let text = lines(&[HEADER, &customer(1), &bad_email, &bad_pan], "\n");
    let first = Test::new().file("c.csv", text).args(["validate", "c.csv", "--errors", "e.csv"]).run();
    first.code(1);
    let errors = first.csv("e.csv");

    let again = Test::new()
        .file("e.csv", first.bytes("e.csv"))
        .args(["validate", "e.csv", "--errors", "e2.csv"])
        .run();
    again.code(1).stdout_contains("e.csv: 2 rows");
    let errors2 = again.csv("e2.csv");
    assert_eq!(errors2.headers, ERRORS_HEADER);
    // Lines of the file checked now; the customer's cells unchanged.
    assert_eq!(errors2.error_lines(), [2, 3]);
    assert_eq!(
        errors2.rows.iter().map(|r| &r[1..]).collect::<Vec<_>>(),
        errors.rows.iter().map(|r| &r[1..]).collect::<Vec<_>>()
    );
}

#[test]
fn summary_json_has_stable_keys() {
    let text = lines(
        &[
            HEADER,
            &customer(1),
            &customer(1),
            &format!("Ravi,Kumar,{},31/01/1985,c2@example.com,{}", pan(2), mobile(1)),
            "Ravi,Kumar,FRS23456,31/01/1985,c3@example.com,9.87654E+09",
        ],
        "\n",
    );
    let sha256: String = {
        use sha2::Digest;
        sha2::Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
    };
    let run = Test::new()
        .file("c.csv", &text)
        .args(["validate", "c.csv", "--errors", "e.csv", "--output", "r.csv", "--summary", "s.json"])
        .run();
    run.code(1);
    let json = run.json("s.json");
    let keys: Vec<&str> = json.as_object().expect("an object").keys().map(String::as_str).collect();
    let mut expected = [
        "command",
        "file",
        "sha256",
        "encoding",
        "rows",
        "valid",
        "invalid",
        "duplicate",
        "rows_with_warnings",
        "problems",
        "warnings",
        "files",
        "exit_code",
    ];
    let mut keys_sorted = keys.clone();
    keys_sorted.sort_unstable();
    expected.sort_unstable();
    assert_eq!(keys_sorted, expected);
    assert_eq!(json["command"], "validate");
    assert_eq!(json["file"], "c.csv");
    assert_eq!(json["sha256"], sha256.as_str());
    assert_eq!(json["encoding"], "UTF-8");
    assert_eq!(json["rows"], 4);
    assert_eq!(json["valid"], 2);
    assert_eq!(json["invalid"], 1);
    assert_eq!(json["duplicate"], 1);
    assert_eq!(json["rows_with_warnings"], 1);
    assert_eq!(json["exit_code"], 1);
    assert_eq!(json["files"], serde_json::json!({ "errors": "e.csv", "report": "r.csv" }));
    let codes: Vec<&str> =
        json["problems"].as_array().unwrap().iter().map(|p| p["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["mobile.scientific", "pan.format"]);
    let problem = &json["problems"][0];
    assert_eq!(problem["count"], 1);
    assert_eq!(problem["lines"], serde_json::json!([5]));
    assert_eq!(json["warnings"][0]["code"], "mobile.shared");
    // Examples are masked: the summary is for scripts and their logs.
    assert!(!problem["example"].as_str().unwrap().contains("9.87654E+09"), "{problem}");
}

// ---------------------------------------------------------------------------------------------
// Within the file

#[test]
fn the_same_pan_twice_is_a_duplicate_not_an_error() {
    let text = lines(&[HEADER, &customer(1), &customer(2), &customer(1)], "\n");
    let run = Test::new().file("c.csv", text).args(["validate", "c.csv", "--output", "r.csv"]).run();
    run.code(0).stdout_contains("duplicates            1");
    let report = run.csv("r.csv");
    assert_eq!(report.column("status"), ["valid", "valid", "duplicate"]);
    assert_eq!(report.at_line(4, "duplicate_of"), "2");
}

#[test]
fn an_invalid_row_does_not_make_a_later_one_a_duplicate() {
    let invalid = format!("Ravi,Kumar,{},31/01/1985,not-an-address,{}", pan(1), mobile(1));
    let text = lines(&[HEADER, &invalid, &customer(1)], "\n");
    let run = Test::new().file("c.csv", text).args(["validate", "c.csv", "--output", "r.csv"]).run();
    run.code(1);
    assert_eq!(run.csv("r.csv").column("status"), ["invalid", "valid"]);
}

#[test]
fn a_repeated_order_id_is_a_row_error() {
    let text = lines(
        &[
            &format!("{HEADER},order_id"),
            &format!("{},ORD-1", customer(1)),
            &format!("{},ORD-1", customer(2)),
        ],
        "\n",
    );
    let run = Test::new().file("c.csv", text).args(["validate", "c.csv", "--errors", "e.csv"]).run();
    run.code(1).stdout_contains("order_id.repeat");
    let errors = run.csv("e.csv");
    assert_eq!(errors.error_lines(), [3]);
    assert!(errors.error_of(3).contains("order_id \"ORD-1\" is also the order id of line 2"), "{errors:?}");
}

#[test]
fn a_mobile_shared_by_different_pans_is_only_a_warning() {
    let shared = format!("Ravi,Kumar,{},31/01/1985,c2@example.com,{}", pan(2), mobile(1));
    let text = lines(&[HEADER, &customer(1), &shared], "\n");
    let run = Test::new()
        .file("c.csv", text)
        .args(["validate", "c.csv", "--output", "r.csv", "--summary", "s.json"])
        .run();
    run.code(0).stdout_contains("with warnings         1").stdout_contains("mobile.shared");
    let report = run.csv("r.csv");
    assert_eq!(report.column("status"), ["valid", "valid"]);
    assert!(report.at_line(3, "warnings").contains("is also the mobile number of line 2"));
    assert_eq!(run.json("s.json")["rows_with_warnings"], 1);
}

// ---------------------------------------------------------------------------------------------
// Exit codes

#[test]
fn every_row_valid_is_0_and_some_invalid_is_1() {
    Test::new()
        .file("c.csv", lines(&[HEADER, &customer(1), &customer(2)], "\n"))
        .args(["validate", "c.csv"])
        .run()
        .code(0);
    let bad = format!("Ravi,Kumar,{},31/01/1985,c2@example.com,12345", pan(2));
    Test::new()
        .file("c.csv", lines(&[HEADER, &customer(1), &bad], "\n"))
        .args(["validate", "c.csv"])
        .run()
        .code(1)
        .stdout_contains("run again with --errors to-fix.csv");
}

#[test]
fn files_that_cannot_be_used_exit_2_and_write_nothing() {
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01".to_vec();
    let cases: [(&str, Vec<u8>, &str); 7] = [
        ("photo.csv", png, "photo.csv is a PNG image, not a customer file"),
        ("book.csv", b"PK\x03\x04\x14\0\x06\0".to_vec(), "book.csv is a ZIP archive (but not a spreadsheet)"),
        (
            "state.csv",
            b"SQLite format 3\0\x10\0\x02\x02".to_vec(),
            "state.csv is a binary file, not a customer file",
        ),
        ("empty.csv", Vec::new(), "empty.csv is empty"),
        ("bom.csv", b"\xEF\xBB\xBF".to_vec(), "bom.csv has no header line"),
        ("blank.csv", b"\r\n  \r\n".to_vec(), "blank.csv has no header line"),
        ("commas.csv", b",,,,\r\n,,,,\r\n".to_vec(), "commas.csv has no header line"),
    ];
    for (name, bytes, message) in cases {
        let run = Test::new()
            .file(name, bytes)
            .args(["validate", name, "--errors", "e.csv", "--output", "r.csv", "--summary", "s.json"])
            .run();
        run.code(2).stderr_contains(message);
        assert_eq!(run.listing(), [name]);
    }

    Test::new()
        .dir("d.csv")
        .args(["validate", "d.csv"])
        .run()
        .code(2)
        .stderr_contains("d.csv is a directory");

    let run = Test::new().args(["validate", "missing.csv", "--errors", "e.csv"]).run();
    run.code(2).stderr_contains("error: cannot read missing.csv: No such file or directory");
    // The cause is said once, not repeated by each layer.
    assert_eq!(run.stderr.matches("No such file").count(), 1, "{}", run.stderr);
    assert!(run.listing().is_empty());
}

#[test]
fn a_stray_nul_below_the_header_is_a_row_error_not_a_binary_file() {
    let damaged = customer(1).replacen("Ravi", "Ra\0vi", 1);
    let text = lines(&[HEADER, &damaged, &customer(2)], "\r\n");
    let run = Test::new().file("c.csv", text).args(["validate", "c.csv", "--errors", "e.csv"]).run();
    run.code(1).stdout_contains("c.csv: 2 rows").stdout_contains("invisible control character (U+0000)");
    assert_eq!(run.csv("e.csv").error_lines(), [2]);
}

#[test]
fn a_header_only_file_has_zero_rows_and_exits_0() {
    // Decided: zero rows is not an error (a nightly export of a quiet day), but it is said.
    for text in [format!("{HEADER}\r\n"), HEADER.to_owned(), format!("{HEADER}\n,,,,,\n\n")] {
        let run = Test::new()
            .file("c.csv", text)
            .args(["validate", "c.csv", "--errors", "e.csv", "--summary", "s.json"])
            .run();
        run.code(0)
            .stdout_contains("c.csv: 0 rows")
            .stdout_contains("No rows to fix")
            .stderr_contains("c.csv has a header line but no rows below it");
        assert_eq!(run.json("s.json")["rows"], 0);
        let errors = run.csv("e.csv");
        assert_eq!(errors.headers, ERRORS_HEADER);
        assert!(errors.rows.is_empty(), "{errors:?}");
    }
}

#[test]
fn an_output_naming_the_input_is_refused_and_the_input_is_untouched() {
    let text =
        lines(&[HEADER, &customer(1), "Ravi,Kumar,FRS23456,31/01/1985,r@example.com,9876543210"], "\n");
    // `None`: the input's absolute path.
    for (flag, path) in [
        ("--errors", Some("c.csv")),
        ("--errors", Some("./c.csv")),
        ("--output", Some("c.csv")),
        ("--summary", Some("c.csv")),
        ("--errors", None),
    ] {
        let test = Test::new().file("c.csv", &text);
        let path = path.map_or_else(|| test.path("c.csv").into_os_string(), Into::into);
        let run = test.args(["validate", "c.csv"]).arg(flag).arg(&path).run();
        run.code(2).stderr_contains("is the customer file");
        assert_eq!(run.bytes("c.csv"), text.as_bytes(), "{flag} {path:?}");
        assert_eq!(run.listing(), ["c.csv"]);
    }
}

// ---------------------------------------------------------------------------------------------
// Personal data

#[test]
fn the_terminal_never_shows_a_pan_mobile_or_email_from_the_file() {
    let header = format!("{HEADER},order_id");
    let rows = [
        format!("{},ORD-1", customer(1)),
        // Same mobile, other PAN: a warning that names the mobile.
        format!("Ravi,Kumar,{},31/01/1985,c2@example.com,{},", pan(2), mobile(1)),
        // PAN's surname letter differs: a warning that names the PAN.
        format!("Ravi,Sharma,{},31/01/1985,c3@example.com,{},", pan(3), mobile(3)),
        format!("Ravi,Kumar,AAACK1234F,31/01/1985,c4@example.com,{},", mobile(4)),
        format!("Ravi,Kumar,{},31/01/1985,ravi.kumar@@example.com,{},", pan(5), mobile(5)),
        format!("Ravi,Kumar,{},31/01/1985,c6@example.com,98765 4321x,", pan(6)),
        format!("Ravi,Kumar,{},31/01/1985,c7@example.com,+1 415 555 0123,", pan(7)),
        format!("{},ORD-1", customer(8)),
        format!("Ravi,Kumar,FRS23456,31/01/1985,c9@example.com,{},", mobile(9)),
        format!("Ravi,Kumar,{},31/01/1985,c10@example.com,9999999999,", pan(10)),
        format!("{},", customer(1)),
        format!("Ravi,Kumar,{},31/01/1985,,{},", pan(11), mobile(11)),
    ];
    let text = lines(&[&header].into_iter().chain(rows.iter()).map(String::as_str).collect::<Vec<_>>(), "\n");
    let secrets: Vec<String> = [
        (1..=11).map(pan).collect::<Vec<_>>(),
        (1..=11).map(mobile).collect(),
        (1..=10).map(|i| format!("c{i}@example.com")).collect(),
        vec![
            "AAACK1234F".into(),
            "ravi.kumar@@example.com".into(),
            "98765 4321x".into(),
            "+1 415 555 0123".into(),
            "FRS23456".into(),
            "9999999999".into(),
        ],
    ]
    .concat();

    for verbosity in [None, Some("-v"), Some("-vv")] {
        let run = Test::new()
            .file("c.csv", &text)
            .args(["validate", "c.csv", "--errors", "e.csv", "--output", "r.csv", "--summary", "s.json"])
            .args(verbosity)
            .run();
        run.code(1).stdout_contains("Problems").stdout_contains("Warnings");
        for secret in &secrets {
            run.terminal_lacks(secret);
        }
        // The clerk's file has the real values to correct.
        let errors = String::from_utf8(run.bytes("e.csv")).unwrap();
        for value in ["AAACK1234F", "ravi.kumar@@example.com", "98765 4321x", "FRS23456", &pan(8)] {
            assert!(errors.contains(value), "{value} missing from the errors file");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Size

#[test]
fn a_large_generated_file_validates_with_the_right_counts() {
    const ROWS: u32 = 20_000;
    let mut text = format!("{HEADER}\r\n");
    for i in 0..ROWS {
        let row = if i % 1000 == 999 {
            format!("Ravi,Kumar,{},31/01/1985,no-at-sign,{}", pan(i), mobile(i)) // invalid
        } else if i % 2500 == 1 && i > 1 {
            customer(i - 1) // the same customer as the row above: a duplicate
        } else {
            customer(i)
        };
        text.push_str(&row);
        text.push_str("\r\n");
    }
    let run = Test::new()
        .file("big.csv", text)
        .args(["validate", "big.csv", "--errors", "e.csv", "--output", "r.csv", "--summary", "s.json"])
        .run();
    run.code(1);
    let json = run.json("s.json");
    assert_eq!(json["rows"], ROWS);
    assert_eq!(json["invalid"], 20);
    assert_eq!(json["duplicate"], 7);
    assert_eq!(json["valid"], ROWS - 27);
    assert_eq!(json["rows_with_warnings"], 0);
    // Line = row index + 2 (the header is line 1).
    let expected: Vec<u64> = (0..u64::from(ROWS)).filter(|i| i % 1000 == 999).map(|i| i + 2).collect();
    assert_eq!(run.csv("e.csv").error_lines(), expected);
    let report = run.csv("r.csv");
    assert_eq!(report.rows.len(), ROWS as usize);
    assert_eq!(report.at_line(2503, "status"), "duplicate");
    assert_eq!(report.at_line(2503, "duplicate_of"), "2502");
}

// ---------------------------------------------------------------------------------------------
// Snapshots of the sample a clerk would try first

#[test]
fn messy_export_snapshots() {
    let run = Test::new()
        .file("messy-export.csv", include_bytes!("../../samples/messy-export.csv"))
        .args(["validate", "messy-export.csv", "--errors", "errors.csv", "--output", "report.csv"])
        .run();
    run.code(1).stderr_is_empty();
    insta::assert_snapshot!("messy_export_stdout", run.stdout);

    let errors = String::from_utf8(run.bytes("errors.csv")).expect("UTF-8");
    let errors = errors.strip_prefix('\u{feff}').expect("the errors file starts with a BOM");
    insta::assert_snapshot!("messy_export_errors", errors);
    // Read as CSV, too: a snapshot accepted by mistake must still keep the errors file's shape.
    let parsed = Csv::parse(errors.as_bytes());
    assert_eq!(parsed.error_lines(), [3, 8, 9, 10, 12]);

    let report = String::from_utf8(run.bytes("report.csv")).expect("UTF-8");
    insta::assert_snapshot!("messy_export_report", report);
}

#[test]
fn a_setting_is_named_by_where_it_came_from_flag_environment_or_config_file() {
    let file = lines(&[HEADER, &customer(1)], "\n");
    let run = Test::new().file("c.csv", &file).args(["validate", "c.csv", "--min-age", "200"]).run();
    run.code(2).stderr_contains("--min-age: \"200\" is not an age between 0 and 120");
    let run =
        Test::new().file("c.csv", &file).env("CIBIL_BULK_MIN_AGE", "200").args(["validate", "c.csv"]).run();
    run.code(2).stderr_contains("CIBIL_BULK_MIN_AGE (environment): \"200\"").terminal_lacks("--min-age");
    let run = Test::new()
        .file("c.csv", &file)
        .file("cibil-bulk.toml", "[input]\nmin_age = 200\n")
        .args(["validate", "c.csv"])
        .run();
    run.code(2).stderr_contains("cibil-bulk.toml [input] min_age: \"200\"").terminal_lacks("--min-age");
    // The flag wins over the environment, which wins over the file.
    let run = Test::new()
        .file("c.csv", &file)
        .file("cibil-bulk.toml", "[input]\nmin_age = 200\n")
        .env("CIBIL_BULK_MIN_AGE", "150")
        .args(["validate", "c.csv"])
        .run();
    run.code(2).stderr_contains("CIBIL_BULK_MIN_AGE (environment): \"150\"");
    let run = Test::new()
        .file("c.csv", &file)
        .file("cibil-bulk.toml", "[input]\nmin_age = 200\n")
        .env("CIBIL_BULK_MIN_AGE", "150")
        .args(["validate", "c.csv", "--min-age", "21"])
        .run();
    run.code(0);
}
