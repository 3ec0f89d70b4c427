//! One validated [`Settings`] from three sources, in order of precedence: command-line flags, the
//! environment (clap reads both), the config file (`cibil-bulk.toml`), then the defaults. Every
//! value is checked here, with an error that names the flag or the config key, so the rest of the
//! program receives only typed, valid settings. Opens no file but the config file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use clap::ValueEnum;
use serde::Deserialize;

use crate::cli::{Cli, Command, DateOrderArg, EncodingArg, InputArgs, LogFormatArg, ValidateArgs};
use crate::input::{Field, ProbeOptions, TextEncoding};
use crate::validate::{DateOrder, Rules};

/// The config file read when `--config` is not given and it exists in the working directory.
pub const DEFAULT_CONFIG: &str = "cibil-bulk.toml";

#[derive(Debug, Clone)]
pub struct Settings {
    pub log: LogSettings,
    pub command: CommandSettings,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogSettings {
    /// -1 quiet, 0 normal, 1+ verbose.
    pub verbosity: i8,
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub enum CommandSettings {
    Validate(ValidateSettings),
}

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
}

impl InputSettings {
    /// The validation rules for a file whose content hash is `sha256_hex`.
    pub fn rules(&self, sha256_hex: &str) -> Rules {
        Rules {
            date_order: self.date_order,
            date_order_explicit: self.date_order_explicit,
            excel_dates: self.excel_dates,
            min_age: self.min_age,
            today: self.today,
            email_required: self.email_required,
            order_id_prefix: sha256_hex.chars().take(16).collect(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ValidateSettings {
    pub input: InputSettings,
    pub errors: Option<PathBuf>,
    pub report: Option<PathBuf>,
    pub summary: Option<PathBuf>,
}

/// A setting that cannot be used; nothing has been read or sent.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    // The cause is the `source`, which `{:#}` prints after the message: not repeated here.
    #[error("cannot read the config file {}", .path.display())]
    ConfigRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {}: {message}", .path.display())]
    ConfigParse { path: PathBuf, message: String },
    #[error(
        "{origin}: \"{value}\" is not FIELD=HEADER with a known field ({}); example: --map pancard=\"PAN Number\"",
        field_names()
    )]
    Map { origin: String, value: String },
    #[error("{origin}: \"{value}\" is not {expected}")]
    Invalid { origin: String, value: String, expected: &'static str },
}

fn field_names() -> String {
    Field::ALL.iter().map(|f| f.name()).collect::<Vec<_>>().join(", ")
}

/// The config file's shape. Unknown keys are refused, so a typo is an error instead of a setting
/// silently ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct ConfigFile {
    input: InputConfig,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct InputConfig {
    date_order: Option<DateOrder>,
    min_age: Option<u32>,
    excel_dates: Option<bool>,
    email_required: Option<bool>,
    encoding: Option<String>,
    delimiter: Option<String>,
    /// field = "Header"
    map: BTreeMap<String, String>,
}

impl Settings {
    /// Merges flags and environment (already in `cli`) with the config file and the defaults.
    pub fn resolve(cli: &Cli) -> Result<Settings, SettingsError> {
        Settings::resolve_in(cli, Path::new("."), chrono::Local::now().date_naive())
    }

    /// As [`Settings::resolve`], looking for the default config file in `dir`, on `today`.
    pub fn resolve_in(cli: &Cli, dir: &Path, today: NaiveDate) -> Result<Settings, SettingsError> {
        let (config, config_path) = load_config(cli.global.config.as_deref(), dir)?;
        let log = LogSettings {
            verbosity: if cli.global.quiet {
                -1
            } else {
                i8::try_from(cli.global.verbose).unwrap_or(i8::MAX)
            },
            format: match cli.global.log_format {
                Some(LogFormatArg::Json) => LogFormat::Json,
                _ => LogFormat::Text,
            },
        };
        let command = match &cli.command {
            Command::Validate(args) => {
                CommandSettings::Validate(validate_settings(args, &config, &config_path, today)?)
            }
        };
        Ok(Settings { log, command })
    }
}

fn load_config(explicit: Option<&Path>, dir: &Path) -> Result<(ConfigFile, PathBuf), SettingsError> {
    let path = match explicit {
        Some(path) => path.to_owned(),
        None => {
            let default = dir.join(DEFAULT_CONFIG);
            if !default.is_file() {
                return Ok((ConfigFile::default(), default));
            }
            default
        }
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|source| SettingsError::ConfigRead { path: path.clone(), source })?;
    let config = toml::from_str(&text)
        .map_err(|e| SettingsError::ConfigParse { path: path.clone(), message: e.to_string() })?;
    Ok((config, path))
}

fn validate_settings(
    args: &ValidateArgs,
    config: &ConfigFile,
    config_path: &Path,
    today: NaiveDate,
) -> Result<ValidateSettings, SettingsError> {
    Ok(ValidateSettings {
        input: input_settings(&args.input, &config.input, config_path, today)?,
        errors: args.errors.clone(),
        report: args.output.clone(),
        summary: args.summary.clone(),
    })
}

fn input_settings(
    args: &InputArgs,
    config: &InputConfig,
    config_path: &Path,
    today: NaiveDate,
) -> Result<InputSettings, SettingsError> {
    let in_config = |key: &str| format!("{} [input] {key}", config_path.display());

    // Config entries first, then flags, so that a flag replaces the config's entry for its field.
    let mut map: Vec<(Field, String)> = Vec::new();
    let entries =
        config.map.iter().map(|(field, header)| (in_config("map"), field.clone(), header.clone())).chain(
            args.map.iter().map(|raw| {
                let (field, header) = raw.split_once('=').unwrap_or((raw.as_str(), ""));
                ("--map".to_owned(), field.to_owned(), header.to_owned())
            }),
        );
    for (origin, field_name, header) in entries {
        let header = header.trim().trim_matches('"').to_owned();
        let field = Field::parse(&field_name)
            .filter(|_| !header.is_empty())
            .ok_or_else(|| SettingsError::Map { origin, value: format!("{field_name}={header}") })?;
        map.retain(|(f, _)| *f != field);
        map.push((field, header));
    }

    let (date_order, date_order_explicit) = match (args.date_order, config.date_order) {
        (Some(DateOrderArg::Dmy), _) => (DateOrder::Dmy, true),
        (Some(DateOrderArg::Mdy), _) => (DateOrder::Mdy, true),
        (None, Some(order)) => (order, true),
        (None, None) => (DateOrder::Dmy, false),
    };

    let encoding = match (args.encoding, &config.encoding) {
        (Some(e), _) => Some(e),
        (None, Some(text)) => {
            Some(EncodingArg::from_str(text, true).map_err(|_| SettingsError::Invalid {
                origin: in_config("encoding"),
                value: text.clone(),
                expected: "an encoding: utf-8, utf-16le, utf-16be or windows-1252",
            })?)
        }
        (None, None) => None,
    }
    .map(|e| match e {
        EncodingArg::Utf8 => TextEncoding::Utf8,
        EncodingArg::Utf16le => TextEncoding::Utf16Le,
        EncodingArg::Utf16be => TextEncoding::Utf16Be,
        EncodingArg::Windows1252 => TextEncoding::Windows1252,
    });

    let delimiter = match (&args.delimiter, &config.delimiter) {
        (Some(text), _) => Some(parse_delimiter(text, "--delimiter".into())?),
        (None, Some(text)) => Some(parse_delimiter(text, in_config("delimiter"))?),
        (None, None) => None,
    };

    let today = match &args.today {
        Some(text) => NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| SettingsError::Invalid {
            origin: "CIBIL_BULK_TODAY".into(),
            value: text.clone(),
            expected: "a date as YYYY-MM-DD",
        })?,
        None => today,
    };

    let min_age = args.min_age.or(config.min_age).unwrap_or(18);
    if min_age > 120 {
        return Err(SettingsError::Invalid {
            origin: "--min-age".into(),
            value: min_age.to_string(),
            expected: "an age between 0 and 120",
        });
    }

    Ok(InputSettings {
        path: args.file.clone(),
        map,
        probe: ProbeOptions { encoding, delimiter },
        date_order,
        date_order_explicit,
        excel_dates: args.excel_dates.or(config.excel_dates).unwrap_or(false),
        min_age,
        email_required: args
            .email_optional
            .map(|optional| !optional)
            .or(config.email_required)
            .unwrap_or(true),
        today,
    })
}

fn parse_delimiter(text: &str, origin: String) -> Result<u8, SettingsError> {
    match text {
        "tab" | "\\t" | "\t" => Ok(b'\t'),
        t if t.len() == 1 && t.is_ascii() && !t.contains(['"', '\r', '\n']) => Ok(t.as_bytes()[0]),
        _ => Err(SettingsError::Invalid {
            origin,
            value: text.to_owned(),
            expected: "one character such as ',' ';' '|' or the word tab",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 25).unwrap()
    }

    fn resolve(args: &[&str], config: Option<&str>) -> Result<InputSettings, SettingsError> {
        let dir = tempfile::tempdir().unwrap();
        if let Some(text) = config {
            std::fs::write(dir.path().join(DEFAULT_CONFIG), text).unwrap();
        }
        let cli = Cli::try_parse_from([&["cibil-bulk", "validate", "f.csv"], args].concat()).unwrap();
        let CommandSettings::Validate(v) = Settings::resolve_in(&cli, dir.path(), today())?.command;
        Ok(v.input)
    }

    #[test]
    fn defaults() {
        let s = resolve(&[], None).unwrap();
        assert_eq!(
            (s.date_order, s.date_order_explicit, s.min_age, s.email_required),
            (DateOrder::Dmy, false, 18, true)
        );
        assert_eq!(s.probe, ProbeOptions::default());
        assert_eq!(s.today, today());
    }

    #[test]
    fn flags_override_the_config_file() {
        let config = "[input]\nmin_age = 21\ndate_order = \"mdy\"\ndelimiter = \";\"\n[input.map]\npancard = \"PAN Number\"\nmobile = \"Phone 1\"\n";
        let s = resolve(&[], Some(config)).unwrap();
        assert_eq!((s.min_age, s.date_order, s.date_order_explicit), (21, DateOrder::Mdy, true));
        assert_eq!(s.probe.delimiter, Some(b';'));
        assert_eq!(s.map, vec![(Field::Mobile, "Phone 1".into()), (Field::Pan, "PAN Number".into())]);

        let s = resolve(
            &["--min-age", "25", "--date-order", "dmy", "--map", "pan=Tax Id", "--delimiter", "tab"],
            Some(config),
        )
        .unwrap();
        assert_eq!((s.min_age, s.date_order), (25, DateOrder::Dmy));
        assert_eq!(s.probe.delimiter, Some(b'\t'));
        assert_eq!(s.map, vec![(Field::Mobile, "Phone 1".into()), (Field::Pan, "Tax Id".into())]);
    }

    #[test]
    fn booleans_and_encodings() {
        let s = resolve(&["--email-optional", "--excel-dates", "--encoding", "cp1252"], None).unwrap();
        assert!(!s.email_required && s.excel_dates);
        assert_eq!(s.probe.encoding, Some(TextEncoding::Windows1252));
        let s = resolve(&["--email-optional=false"], Some("[input]\nemail_required = false\n")).unwrap();
        assert!(s.email_required);
    }

    #[test]
    fn bad_values_name_their_origin() {
        let err = resolve(&["--map", "colour=Red"], None).unwrap_err().to_string();
        assert!(err.starts_with("--map: \"colour=Red\""), "{err}");
        let err = resolve(&["--map", "pancard"], None).unwrap_err().to_string();
        assert!(err.contains("FIELD=HEADER"), "{err}");
        let err = resolve(&["--delimiter", "ab"], None).unwrap_err().to_string();
        assert!(err.starts_with("--delimiter: \"ab\""), "{err}");
        let err = resolve(&[], Some("[input]\nmin_agee = 3\n")).unwrap_err().to_string();
        assert!(err.contains("cibil-bulk.toml") && err.contains("min_agee"), "{err}");
        let err = resolve(&[], Some("[input]\nencoding = \"ebcdic\"\n")).unwrap_err().to_string();
        assert!(err.contains("[input] encoding: \"ebcdic\""), "{err}");
        assert!(resolve(&["--min-age", "200"], None).is_err());
    }

    #[test]
    fn an_explicit_config_file_must_exist() {
        let cli = Cli::try_parse_from(["cibil-bulk", "validate", "f.csv", "--config", "/nonexistent/c.toml"])
            .unwrap();
        let err = Settings::resolve_in(&cli, Path::new("."), today()).unwrap_err();
        assert!(matches!(err, SettingsError::ConfigRead { .. }));
    }
}
