//! Where the customer file is, how to read it and which rules judge it: shared by `validate`,
//! `run` and (for files that arrive later) the server.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use clap::ValueEnum as _;

use super::config::{InputConfig, SheetConfig};
use super::parse::{parse_delimiter, parse_size, sheet_choice};
use super::{Layers, Origin, SettingsError};
use crate::cli::{DateOrderArg, EncodingArg, ReadArgs};
use crate::input::{
    Field, MAX_CELLS, MAX_SHEET_ROWS, MAX_TEXT_BYTES, MAX_UNPACKED_BYTES, ProbeOptions, SheetChoice,
    SheetOptions, TextEncoding, WorkbookLimits,
};
use crate::output::Audience;
use crate::validate::{DEFAULT_MIN_AGE, DateOrder, Rules};

/// Where the customer file is and how to read and judge it.
#[derive(Debug, Clone)]
pub struct InputSettings {
    pub path: PathBuf,
    pub map: Vec<(Field, String)>,
    pub probe: ProbeOptions,
    pub date_order: DateOrder,
    pub date_order_explicit: bool,
    pub excel_dates: bool,
    pub min_age: u32,
    pub email_required: bool,
    pub today: NaiveDate,
    /// For workbooks: which sheet, and where its header is.
    pub sheet: SheetOptions,
    /// Who reads what the rules say about the rows: the command line's user (flags), or whoever
    /// uploads to the server (its pages' choices, and the team lead).
    pub audience: Audience,
}

impl InputSettings {
    /// The validation rules for the file (rows named as lines until the reader says otherwise).
    pub fn rules(&self) -> Rules {
        Rules {
            date_order: self.date_order,
            date_order_explicit: self.date_order_explicit,
            excel_dates: self.excel_dates,
            min_age: self.min_age,
            today: self.today,
            email_required: self.email_required,
            locator: crate::input::Locator::Lines,
        }
    }
}

pub(super) fn settings(
    path: &Path,
    args: &ReadArgs,
    config: &InputConfig,
    layers: Layers<'_>,
    today: NaiveDate,
) -> Result<InputSettings, SettingsError> {
    let key = |name| ("input", name);

    // Config entries first, then flags, so that a flag replaces the config's entry for its field.
    let mut map: Vec<(Field, String)> = Vec::new();
    let entries = config
        .map
        .iter()
        .map(|(field, header)| (layers.config_key("input", "map"), field.clone(), header.clone()))
        .chain(args.map.iter().map(|raw| {
            let (field, header) = raw.split_once('=').unwrap_or((raw.as_str(), ""));
            (Origin::Flag("--map".into()), field.to_owned(), header.to_owned())
        }));
    for (origin, field_name, header) in entries {
        let header = header.trim().trim_matches('"').to_owned();
        let field = Field::parse(&field_name)
            .filter(|_| !header.is_empty())
            .ok_or_else(|| SettingsError::Map { origin, value: format!("{field_name}={header}") })?;
        map.retain(|(f, _)| *f != field);
        map.push((field, header));
    }

    // An order the user chose, anywhere, makes rows that contradict it row errors rather than a
    // reason to stop the whole file.
    let date_order = layers.pick(
        "input",
        "date_order",
        args.date_order.map(|order| match order {
            DateOrderArg::Dmy => DateOrder::Dmy,
            DateOrderArg::Mdy => DateOrder::Mdy,
        }),
        config.date_order,
    );

    let encoding = layers.resolve(
        key("encoding"),
        args.encoding.map(|e| e.to_possible_value().map_or_else(String::new, |v| v.get_name().to_owned())),
        config.encoding.clone(),
        None,
        "an encoding: utf-8, utf-16le, utf-16be or windows-1252",
        |text| {
            let encoding = match EncodingArg::from_str(text, true).ok()? {
                EncodingArg::Utf8 => TextEncoding::Utf8,
                EncodingArg::Utf16le => TextEncoding::Utf16Le,
                EncodingArg::Utf16be => TextEncoding::Utf16Be,
                EncodingArg::Windows1252 => TextEncoding::Windows1252,
            };
            Some(Some(encoding))
        },
    )?;

    let delimiter = layers.resolve(
        key("delimiter"),
        args.delimiter.clone(),
        config.delimiter.clone(),
        None,
        "one character such as ',' ';' '|' or the word tab",
        |text| parse_delimiter(text).map(Some),
    )?;

    let today =
        layers.resolve(key("today"), args.today.clone(), None, today, "a date as YYYY-MM-DD", |text| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
        })?;

    let min_age = layers.resolve(
        key("min_age"),
        Some(args.min_age),
        config.min_age,
        DEFAULT_MIN_AGE,
        "an age between 0 and 120",
        |age| (*age <= 120).then_some(*age),
    )?;

    let sheet = match layers.pick("input", "sheet", args.sheet.clone(), None) {
        Some(flag) => Some(sheet_choice(&flag.value)),
        None => match &config.sheet {
            Some(SheetConfig::Name(name)) => Some(SheetChoice::Name(name.clone())),
            Some(SheetConfig::Position(n)) => Some(SheetChoice::Position(*n)),
            None => None,
        },
    };
    let header_row = layers.resolve(
        key("header_row"),
        args.header_row,
        config.header_row,
        None,
        "a row number as the sheet shows it, from 1",
        |row| (*row > 0).then_some(Some(*row)),
    )?;

    let max_rows = layers.resolve(
        key("max_workbook_rows"),
        Some(args.max_workbook_rows),
        config.max_workbook_rows,
        MAX_SHEET_ROWS,
        "a number of rows of at least 1",
        |n| (*n > 0).then_some(*n),
    )?;
    let max_size = layers.resolve(
        key("max_workbook_size"),
        Some(args.max_workbook_size.clone()),
        config.max_workbook_size.clone(),
        MAX_UNPACKED_BYTES,
        "a size such as 256MiB, 1GiB or 512MB",
        |text| parse_size(text),
    )?;
    // One setting per thing a user can see (rows, bytes); the other bounds follow from them.
    let limits = WorkbookLimits {
        max_unpacked_bytes: max_size,
        max_text_bytes: max_size.max(MAX_TEXT_BYTES),
        max_sheet_rows: max_rows,
        max_cells: max_rows.saturating_mul(MAX_CELLS / MAX_SHEET_ROWS).max(MAX_CELLS),
        ..WorkbookLimits::default()
    };

    let excel_dates =
        layers.resolve(key("excel_dates"), args.excel_dates, config.excel_dates, false, "", |b| Some(*b))?;
    // The flag says "optional", the config key "required": one setting, two spellings.
    let email_required = match layers.pick("input", "email_optional", args.email_optional, None) {
        Some(optional) => !optional.value,
        None => config.email_required.unwrap_or(true),
    };

    Ok(InputSettings {
        sheet: SheetOptions { sheet, header_row, limits },
        path: path.to_owned(),
        map,
        probe: ProbeOptions { encoding, delimiter, header_line: header_row },
        date_order: date_order.as_ref().map_or(DateOrder::Dmy, |s| s.value),
        date_order_explicit: date_order.is_some(),
        excel_dates,
        min_age,
        email_required,
        today,
        audience: Audience::CommandLine,
    })
}
