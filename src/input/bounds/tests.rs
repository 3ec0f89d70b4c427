//! The guard's arithmetic and its messages; the formats themselves are built and refused in
//! tests/it/workbook_bombs.rs, through the same public guard an upload will pass.

use super::*;

#[test]
fn amounts_read_as_people_write_them() {
    assert_eq!(bytes(256 * 1024 * 1024), "256 MiB");
    assert_eq!(bytes(4096), "4 KiB");
    assert_eq!(bytes(1000), "1000 bytes");
}

#[test]
fn cells_add_up_across_the_sheets_a_reader_loads_together() {
    let limits = WorkbookLimits { max_cells: 100, max_sheet_rows: 10, ..WorkbookLimits::default() };
    let mut budget = Budget::new(&limits);
    assert_eq!(budget.sheet(10, 60, "One"), Ok(()));
    let refusal = budget.sheet(5, 50, "Two").unwrap_err();
    assert_eq!(
        refusal.to_string(),
        "the workbook (all its sheets, which are read together) holds more than 100 cells"
    );
    let refusal = Budget::new(&limits).sheet(11, 11, "Long").unwrap_err();
    assert_eq!(refusal.to_string(), "sheet \"Long\" has more than 10 rows");
}

#[test]
fn a_span_covers_the_rows_and_columns_between_its_cells() {
    let mut span = Span::default();
    assert_eq!((span.rows(), span.area()), (0, 0));
    span.see(4, 2);
    span.see(9, 7);
    assert_eq!((span.rows(), span.area()), (6, 36));
    span.see_rows(0, 1_048_575, 0, 16_383);
    assert_eq!(span.area(), 1_048_576 * 16_384);
}

#[test]
fn a_file_larger_than_the_bound_is_refused_before_anything_is_unpacked() {
    let limits = WorkbookLimits { max_unpacked_bytes: 1000, ..WorkbookLimits::default() };
    let refusal = check_workbook(&[0u8; 1001], WorkbookKind::LegacyExcel, &limits).unwrap_err();
    assert_eq!(refusal.to_string(), "the file is larger than 1000 bytes");
    assert_eq!(check_workbook(&[0u8; 1000], WorkbookKind::LegacyExcel, &limits), Ok(()));
}
