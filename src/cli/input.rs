//! The customer file, how to read it and which rules judge it: shared by every command that reads
//! one.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::{settings, validate};

/// The customer file, how to read it and which rules judge it.
#[derive(Debug, Args)]
pub struct InputArgs {
    /// The customer file: an Excel or OpenDocument workbook (.xlsx, .xlsm, .xls, .ods), or CSV
    /// (comma, semicolon or tab separated; UTF-8, UTF-16 or Windows-1252).
    ///
    /// Example: customers.xlsx
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    #[command(flatten)]
    pub read: ReadArgs,
}

/// How to read a customer file and which rules judge it: shared by every command that reads one.
#[derive(Debug, Args)]
#[command(next_help_heading = "Reading the file")]
pub struct ReadArgs {
    /// Read a column as a field when its header is not one of the known names (repeatable).
    /// Fields: first_name, middle_name, last_name, pancard, date_of_birth, email_id,
    /// mobile_number, order_id.
    ///
    /// Example: --map pancard="PAN Number" --map mobile_number="Cust Phone"
    #[arg(long = "map", value_name = "FIELD=HEADER")]
    pub map: Vec<String>,

    /// Day/month order of dates like 05/06/1990. Without it, DD/MM/YYYY is assumed and a file
    /// whose dates prove otherwise is stopped before anything is sent.
    ///
    /// Example: --date-order mdy
    #[arg(long, env = "CIBIL_BULK_DATE_ORDER", value_name = "ORDER")]
    pub date_order: Option<DateOrderArg>,

    /// Youngest age accepted on the run date.
    ///
    /// Example: --min-age 21
    #[arg(long, env = "CIBIL_BULK_MIN_AGE", value_name = "YEARS", default_value_t = validate::DEFAULT_MIN_AGE)]
    pub min_age: u32,

    /// Read bare numbers like 36526 in the date column as Excel dates (36526 = 01/01/2000).
    ///
    /// Example: --excel-dates
    #[arg(long, env = "CIBIL_BULK_EXCEL_DATES", num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub excel_dates: Option<bool>,

    /// Accept rows without an e-mail address (the file may also lack the column).
    ///
    /// Example: --email-optional
    #[arg(long, env = "CIBIL_BULK_EMAIL_OPTIONAL", num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub email_optional: Option<bool>,

    /// Read the file in this encoding instead of detecting it (UTF-8 and UTF-16 are recognised by
    /// their byte-order mark; other non-UTF-8 files are read as Windows-1252).
    ///
    /// Example: --encoding windows-1252
    #[arg(long, env = "CIBIL_BULK_ENCODING", value_name = "ENCODING")]
    pub encoding: Option<EncodingArg>,

    /// Column separator, instead of detecting it from the header line: ',' ';' or 'tab'.
    ///
    /// Example: --delimiter ';'
    #[arg(long, env = "CIBIL_BULK_DELIMITER", value_name = "CHAR")]
    pub delimiter: Option<String>,

    /// For a workbook: the sheet to read, by its name or its position (1 = the first tab)
    /// [default: the first visible sheet with data].
    ///
    /// Example: --sheet "New Customers"
    #[arg(long, env = "CIBIL_BULK_SHEET", value_name = "NAME|NUMBER")]
    pub sheet: Option<String>,

    /// The header's row below a title block: as the sheet numbers it in a workbook, as a text
    /// editor numbers lines in a CSV file [default: in a workbook, the first row among the top 50
    /// that names every required column; in a CSV file, the first line that is not blank].
    ///
    /// Example: --header-row 4
    #[arg(long, env = "CIBIL_BULK_HEADER_ROW", value_name = "ROW")]
    pub header_row: Option<u32>,

    /// For a workbook: the most rows a sheet may have (and five cells a row on average) before it
    /// is refused unread, so that a file made to exhaust memory cannot.
    ///
    /// Example: --max-workbook-rows 5000000
    #[arg(long, env = "CIBIL_BULK_MAX_WORKBOOK_ROWS", value_name = "N", default_value_t = crate::input::MAX_SHEET_ROWS)]
    pub max_workbook_rows: u64,

    /// For a workbook: the most it may unpack to (and the most text it may hold) before it is
    /// refused unread.
    ///
    /// Example: --max-workbook-size 1GiB
    #[arg(long, env = "CIBIL_BULK_MAX_WORKBOOK_SIZE", value_name = "SIZE", default_value_t = settings::show_size(crate::input::MAX_UNPACKED_BYTES))]
    pub max_workbook_size: String,

    /// The run date that ages are measured on, as YYYY-MM-DD [default: today]. For reproducing
    /// an earlier run's verdicts.
    #[arg(long, env = "CIBIL_BULK_TODAY", value_name = "DATE", hide = true)]
    pub today: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DateOrderArg {
    /// DD/MM/YYYY
    Dmy,
    /// MM/DD/YYYY
    Mdy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EncodingArg {
    #[value(name = "utf-8", alias = "utf8")]
    Utf8,
    #[value(name = "utf-16le", alias = "utf16le")]
    Utf16le,
    #[value(name = "utf-16be", alias = "utf16be")]
    Utf16be,
    #[value(name = "windows-1252", alias = "cp1252", alias = "latin1")]
    Windows1252,
}
