//! What an OpenDocument spreadsheet's `content.xml` expands to. Its rows and cells carry repeat
//! counts (`table:number-rows-repeated`, `table:number-columns-repeated`): one cell of text
//! repeated across 16,384 columns of a million rows is a few bytes of XML and, as calamine reads
//! it (every sheet, at open, each repeat a copy), terabytes. This scan reads the XML as a stream
//! and adds up, per table, the rows and grid calamine will build and the text it will copy,
//! following its caps (1,048,576 rows, 16,384 columns), and refuses before calamine opens it.
//! Where the scan and calamine could differ, the scan counts more, never less.

use std::io::{BufReader, Cursor};

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};
use zip::ZipArchive;

use super::{Budget, Span, WorkbookRefusal};

/// calamine's caps on an OpenDocument sheet.
const MAX_ROWS: u64 = 1_048_576;
const MAX_COLUMNS: u64 = 16_384;

/// The table being read, and the row and cell within it.
#[derive(Debug, Default)]
struct Table {
    name: String,
    /// Rows so far, repeats expanded.
    rows: u64,
    span: Span,
    /// Cells as calamine first collects them, before expanding row repeats.
    collected: u64,
    text: u64,
    row: Option<Row>,
}

#[derive(Debug, Default)]
struct Row {
    repeats: u64,
    /// Columns so far, repeats expanded (capped as calamine caps them).
    columns: u64,
    /// Columns up to the last one with something in it.
    width: u64,
    text: u64,
    cell: Option<Cell>,
}

#[derive(Debug, Default)]
struct Cell {
    repeats: u64,
    filled: bool,
    text: u64,
}

pub(super) fn check_content(bytes: &[u8], budget: &mut Budget) -> Result<(), WorkbookRefusal> {
    let Ok(mut archive) = ZipArchive::new(Cursor::new(bytes)) else { return Ok(()) };
    let Ok(content) = archive.by_name("content.xml") else { return Ok(()) };
    let mut reader = Reader::from_reader(BufReader::new(content));
    // As calamine reads it, so that both see the same events.
    let config = reader.config_mut();
    config.check_end_names = false;
    config.trim_text(false);
    config.check_comments = false;
    config.expand_empty_elements = true;

    let mut buf = Vec::new();
    let mut table: Option<Table> = None;
    loop {
        buf.clear();
        // XML calamine cannot parse is calamine's to report.
        let Ok(event) = reader.read_event_into(&mut buf) else { return Ok(()) };
        match event {
            Event::Eof => return Ok(()),
            Event::Start(e) => match e.name().as_ref() {
                "table:table" => {
                    let name = attribute(&e, "table:name").unwrap_or_default();
                    table = Some(Table { name, ..Table::default() });
                }
                "table:table-row" => {
                    let Some(table) = table.as_mut() else { continue };
                    let Some(repeats) = count(&e, "table:number-rows-repeated") else { return Ok(()) };
                    table.row = Some(Row { repeats, ..Row::default() });
                }
                "table:table-cell" | "table:covered-table-cell" => {
                    let Some(row) = table.as_mut().and_then(|t| t.row.as_mut()) else { continue };
                    let Some(repeats) = count(&e, "table:number-columns-repeated") else { return Ok(()) };
                    let mut cell = Cell { repeats, ..Cell::default() };
                    for attribute in e.attributes().with_checks(false).flatten() {
                        match attribute.key.as_ref() {
                            "office:value"
                            | "office:string-value"
                            | "office:date-value"
                            | "office:time-value"
                            | "office:boolean-value"
                            | "table:formula" => {
                                cell.filled = true;
                                cell.text += attribute.value.len() as u64;
                            }
                            "office:value-type" if attribute.value.as_ref() == "string" => cell.filled = true,
                            _ => {}
                        }
                    }
                    row.cell = Some(cell);
                }
                _ => {}
            },
            Event::Text(text) => add_text(&mut table, text.len() as u64),
            Event::CData(text) => add_text(&mut table, text.len() as u64),
            // An entity or character reference is at most four bytes of UTF-8.
            Event::GeneralRef(_) => add_text(&mut table, 4),
            Event::End(e) => match e.name().as_ref() {
                "table:table-cell" | "table:covered-table-cell" => {
                    if let Some(row) = table.as_mut().and_then(|t| t.row.as_mut()) {
                        end_cell(row, budget)?;
                    }
                }
                "table:table-row" => {
                    if let Some(table) = table.as_mut() {
                        end_row(table, budget)?;
                    }
                }
                "table:table" => {
                    if let Some(table) = table.take() {
                        budget.sheet(
                            table.span.rows(),
                            table.span.area().max(table.collected),
                            &table.name,
                        )?;
                        let name = &table.name;
                        budget.text(table.text, || format!("sheet \"{name}\""))?;
                    }
                }
                _ => {}
            },
            _ => {}
        }
    }
}

fn add_text(table: &mut Option<Table>, len: u64) {
    if let Some(cell) = table.as_mut().and_then(|t| t.row.as_mut()).and_then(|r| r.cell.as_mut()) {
        cell.text += len;
        cell.filled |= len > 0;
    }
}

fn end_cell(row: &mut Row, budget: &Budget) -> Result<(), WorkbookRefusal> {
    let Some(cell) = row.cell.take() else { return Ok(()) };
    // calamine stops a row at its 16,384th column.
    let repeats = cell.repeats.min(MAX_COLUMNS.saturating_sub(row.columns));
    row.columns += repeats;
    if cell.filled && repeats > 0 {
        budget.cell_text(cell.text, || "a cell of its content.xml".to_owned())?;
        row.width = row.columns;
        row.text = row.text.saturating_add(cell.text.saturating_mul(repeats));
    }
    Ok(())
}

fn end_row(table: &mut Table, budget: &Budget) -> Result<(), WorkbookRefusal> {
    let Some(row) = table.row.take() else { return Ok(()) };
    // calamine stops a sheet at its 1,048,576th row.
    let repeats = row.repeats.min(MAX_ROWS.saturating_sub(table.rows));
    if row.width > 0 && repeats > 0 {
        table.span.see_rows(table.rows, table.rows + repeats - 1, 0, row.width - 1);
        table.collected = table.collected.saturating_add(row.width);
        table.text = table.text.saturating_add(row.text.saturating_mul(repeats));
        // A sheet already past the bounds need not be read to its end.
        let limits = budget.limits();
        if table.span.rows() > limits.max_sheet_rows
            || table.span.area() > limits.max_cells
            || table.text > limits.max_text_bytes
        {
            let mut alone = Budget::new(limits);
            alone.sheet(table.span.rows(), table.span.area(), &table.name)?;
            let name = &table.name;
            alone.text(table.text, || format!("sheet \"{name}\""))?;
        }
    }
    table.rows += repeats;
    Ok(())
}

/// A repeat count: 1 when absent, `None` when it is not a number (calamine refuses the file).
fn count(element: &BytesStart<'_>, key: &str) -> Option<u64> {
    match element.attributes().with_checks(false).flatten().find(|a| a.key.as_ref() == key) {
        None => Some(1),
        Some(a) => a.value.parse().ok(),
    }
}

fn attribute(element: &BytesStart<'_>, key: &str) -> Option<String> {
    let found = element.attributes().with_checks(false).flatten().find(|a| a.key.as_ref() == key)?;
    Some(found.value.into_owned())
}
