//! One validated [`Settings`] from three sources, in order of precedence: command-line flags, the
//! environment (clap reads both), the config file (`cibil-bulk.toml`), then the defaults. Every
//! value is checked here, with an error that names the flag or the config key, so the rest of the
//! program receives only typed, valid settings. Opens no file but the config file.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::NaiveDate;
use clap::ValueEnum;
use serde::Deserialize;

use crate::cli::{
    Cli, Command, DateOrderArg, EncodingArg, InputArgs, LogFormatArg, SandboxArgs, ValidateArgs,
};
use crate::input::{Field, ProbeOptions, TextEncoding};
use crate::sandbox::SandboxConfig;
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
    Sandbox(SandboxSettings),
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

/// `cibil-bulk sandbox`: where to listen and how the simulated vendor behaves.
#[derive(Debug, Clone)]
pub struct SandboxSettings {
    pub listen: SocketAddr,
    pub config: SandboxConfig,
}

/// Where `cibil-bulk sandbox` listens without `--listen`: loopback only, so a rehearsal is never
/// reachable from the network.
pub const DEFAULT_SANDBOX_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 8080);

/// A setting that cannot be used; nothing has been read or sent.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read the config file {}: {source}", .path.display())]
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
    #[error(
        "the fault rates add up to {sum} ({flags}): each request meets at most one fault, so \
         together they must stay within 1"
    )]
    FaultRates { flags: String, sum: f64 },
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
            Command::Sandbox(args) => CommandSettings::Sandbox(sandbox_settings(args)?),
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

fn sandbox_settings(args: &SandboxArgs) -> Result<SandboxSettings, SettingsError> {
    let listen = match &args.listen {
        Some(text) => parse_listen(text).ok_or_else(|| SettingsError::Invalid {
            origin: "--listen".into(),
            value: text.clone(),
            expected: "an address such as 127.0.0.1:8080, localhost:8080 or a port alone such as 8080",
        })?,
        None => DEFAULT_SANDBOX_LISTEN,
    };
    let duration = |flag: &str, text: &Option<String>| -> Result<Duration, SettingsError> {
        match text {
            Some(text) => parse_duration(text).ok_or_else(|| SettingsError::Invalid {
                origin: flag.into(),
                value: text.clone(),
                expected: "a duration such as 50ms, 2s or 1.5s",
            }),
            None => Ok(Duration::ZERO),
        }
    };
    let rates = [
        ("--error-rate", args.error_rate),
        ("--throttle-rate", args.throttle_rate),
        ("--hang-rate", args.hang_rate),
        ("--reset-rate", args.reset_rate),
        ("--garbage-rate", args.garbage_rate),
    ];
    for (flag, rate) in rates {
        if let Some(rate) = rate.filter(|r| !(0.0..=1.0).contains(r)) {
            return Err(SettingsError::Invalid {
                origin: flag.into(),
                value: rate.to_string(),
                expected: "a share of requests between 0 and 1, such as 0.05 for 5%",
            });
        }
    }
    if args.rate_limit == Some(0) {
        return Err(SettingsError::Invalid {
            origin: "--rate-limit".into(),
            value: "0".into(),
            expected: "a number of requests a second of at least 1 (leave it out for no limit)",
        });
    }
    let config = SandboxConfig {
        latency: duration("--latency", &args.latency)?,
        jitter: duration("--jitter", &args.jitter)?,
        error_rate: args.error_rate.unwrap_or(0.0),
        throttle_rate: args.throttle_rate.unwrap_or(0.0),
        hang_rate: args.hang_rate.unwrap_or(0.0),
        reset_rate: args.reset_rate.unwrap_or(0.0),
        garbage_rate: args.garbage_rate.unwrap_or(0.0),
        rate_limit: args.rate_limit,
        seed: args.seed,
        numeric_cibil_id: args.numeric_cibil_id,
        ..SandboxConfig::default()
    };
    if let Err(crate::sandbox::SandboxConfigError::RatesAboveOne { sum }) = config.check() {
        let flags = rates.iter().filter(|(_, r)| r.is_some_and(|r| r > 0.0)).map(|(f, _)| *f);
        return Err(SettingsError::FaultRates { flags: flags.collect::<Vec<_>>().join(" + "), sum });
    }
    Ok(SandboxSettings { listen, config })
}

/// `IP:PORT`, `[IPv6]:PORT`, `localhost:PORT` or a bare `PORT` (on 127.0.0.1). No name lookup:
/// settings open no sockets.
pub fn parse_listen(text: &str) -> Option<SocketAddr> {
    let text = text.trim();
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Some(addr);
    }
    let port = text.strip_prefix("localhost:").unwrap_or(text);
    port.parse::<u16>().ok().map(|port| SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port))
}

/// A duration as people write it: one or more `<number><unit>` parts, the number possibly
/// decimal, the unit one of `ns`, `us`, `ms`, `s`, `m`, `h` (`50ms`, `2s`, `1.5s`, `1m30s`); `0`
/// alone is zero. Hand-written rather than `humantime`, which takes no decimals and is twenty
/// lines' worth of dependency.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text == "0" {
        return Some(Duration::ZERO);
    }
    if text.is_empty() {
        return None;
    }
    let mut rest = text;
    let mut total = 0.0f64;
    while !rest.is_empty() {
        let number_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let (number, tail) = rest.split_at(number_end);
        let unit_end = tail.find(|c: char| !c.is_alphabetic()).unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_end);
        if number.is_empty() || number.starts_with('.') || number.ends_with('.') {
            return None;
        }
        let seconds_per_unit = match unit {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += number.parse::<f64>().ok()? * seconds_per_unit;
        rest = tail;
    }
    Duration::try_from_secs_f64(total).ok()
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
        let CommandSettings::Validate(v) = Settings::resolve_in(&cli, dir.path(), today())?.command else {
            panic!("not the validate command");
        };
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

    fn sandbox(args: &[&str]) -> Result<SandboxSettings, SettingsError> {
        let cli = Cli::try_parse_from([&["cibil-bulk", "sandbox"], args].concat()).unwrap();
        match Settings::resolve_in(&cli, Path::new("/nonexistent"), today())?.command {
            CommandSettings::Sandbox(s) => Ok(s),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn sandbox_defaults_are_loopback_and_fault_free() {
        let s = sandbox(&[]).unwrap();
        assert_eq!(s.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(s.config, SandboxConfig::default());
    }

    #[test]
    fn sandbox_flags_reach_the_config() {
        let s = sandbox(&[
            "--listen",
            "9000",
            "--latency",
            "1.5s",
            "--jitter",
            "10ms",
            "--error-rate",
            "0.05",
            "--throttle-rate",
            "0.02",
            "--hang-rate",
            "0.01",
            "--reset-rate",
            "0.01",
            "--garbage-rate",
            "0.01",
            "--rate-limit",
            "20",
            "--seed",
            "7",
            "--numeric-cibil-id",
        ])
        .unwrap();
        assert_eq!(s.listen, "127.0.0.1:9000".parse().unwrap());
        let c = &s.config;
        assert_eq!((c.latency, c.jitter), (Duration::from_millis(1500), Duration::from_millis(10)));
        assert_eq!(
            (c.error_rate, c.throttle_rate, c.hang_rate, c.reset_rate, c.garbage_rate),
            (0.05, 0.02, 0.01, 0.01, 0.01)
        );
        assert_eq!((c.rate_limit, c.seed, c.numeric_cibil_id), (Some(20), Some(7), true));
        assert_eq!(c.registration_id, crate::sandbox::SANDBOX_REGISTRATION_ID);
    }

    #[test]
    fn bad_sandbox_flags_name_the_flag() {
        for (args, start) in [
            (&["--error-rate", "2"][..], "--error-rate: \"2\""),
            (&["--hang-rate=-0.1"][..], "--hang-rate: \"-0.1\""),
            (&["--garbage-rate", "NaN"][..], "--garbage-rate: \"NaN\""),
            (&["--latency", "50"][..], "--latency: \"50\""),
            (&["--jitter", "fast"][..], "--jitter: \"fast\""),
            (&["--listen", "example.com:80"][..], "--listen: \"example.com:80\""),
            (&["--rate-limit", "0"][..], "--rate-limit: \"0\""),
        ] {
            let err = sandbox(args).unwrap_err().to_string();
            assert!(err.starts_with(start), "{args:?}: {err}");
        }
        let err = sandbox(&["--error-rate", "0.5", "--reset-rate", "0.75"]).unwrap_err().to_string();
        assert!(err.contains("add up to 1.25") && err.contains("(--error-rate + --reset-rate)"), "{err}");
    }

    #[test]
    fn durations_as_people_write_them() {
        let ms = Duration::from_millis;
        for (text, expected) in [
            ("50ms", ms(50)),
            ("2s", ms(2000)),
            ("1.5s", ms(1500)),
            ("0", ms(0)),
            ("0s", ms(0)),
            ("1m30s", ms(90_000)),
            (" 250us ", Duration::from_micros(250)),
            ("1h", Duration::from_secs(3600)),
        ] {
            assert_eq!(parse_duration(text), Some(expected), "{text}");
        }
        for text in ["", "50", "ms", "5 s", "1.s", ".5s", "-1s", "1d", "1.2.3s", "5sec"] {
            assert_eq!(parse_duration(text), None, "{text}");
        }
    }

    #[test]
    fn listen_addresses() {
        assert_eq!(parse_listen("127.0.0.1:0"), Some("127.0.0.1:0".parse().unwrap()));
        assert_eq!(parse_listen("[::1]:8080"), Some("[::1]:8080".parse().unwrap()));
        assert_eq!(parse_listen("localhost:81"), Some("127.0.0.1:81".parse().unwrap()));
        assert_eq!(parse_listen("0.0.0.0:8080"), Some("0.0.0.0:8080".parse().unwrap()));
        assert_eq!(parse_listen("localhost"), None);
        assert_eq!(parse_listen("65536"), None);
    }
}
