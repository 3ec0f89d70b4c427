//! One validated [`Settings`] from three sources, in order of precedence: command-line flags, the
//! environment (clap reads both), the config file (`cibil-bulk.toml`), then the defaults. Every
//! value is checked here, with an error that names the flag or the config key, so the rest of the
//! program receives only typed, valid settings. Opens no file but the config file.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::num::{NonZeroU32, NonZeroUsize};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::NaiveDate;
use clap::ValueEnum;
use serde::Deserialize;

use crate::api::{ApiSettings, Credentials, Method, PRODUCTION_ENDPOINT};
use crate::cli::{
    Cli, Command, DateOrderArg, EncodingArg, ExportArgs, InputArgs, LogFormatArg, MethodArg, PurgeArgs,
    RunArgs, SandboxArgs, StateArgs, StatusArgs, ValidateArgs,
};
use crate::engine::{EngineSettings, Rate};
use crate::input::{Field, ProbeOptions, SheetChoice, SheetOptions, TextEncoding};
use crate::output::{LogFormat, LogSettings};
use crate::sandbox::SandboxConfig;
use crate::validate::{DateOrder, Rules};

mod serve;
pub use serve::{
    DEFAULT_MAX_UPLOAD, DEFAULT_SERVE_LISTEN, SESSION_LIFETIME, ServeSettings, TokenAction, TokensSettings,
    UserAction, UsersSettings,
};

/// The config file read when `--config` is not given and it exists in the working directory.
pub const DEFAULT_CONFIG: &str = "cibil-bulk.toml";
/// The state database when `--state` is not given.
pub const DEFAULT_STATE: &str = "cibil-bulk.db";
/// The state database of `--sandbox` runs: registrations made against the simulator must never
/// be taken for real ones.
pub const DEFAULT_SANDBOX_STATE: &str = "cibil-bulk.sandbox.db";
/// Environment variables holding the merchant's credentials.
pub const ENV_REGISTRATION_ID: &str = "AOPAY_REGISTRATION_ID";
pub const ENV_COMPANY_CODE: &str = "AOPAY_COMPANY_CODE";

#[derive(Debug, Clone)]
pub struct Settings {
    pub log: LogSettings,
    pub command: CommandSettings,
    /// Things the user should hear about the settings themselves (said once, at start).
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone)]
pub enum CommandSettings {
    Validate(ValidateSettings),
    Run(Box<RunSettings>),
    Status(StatusSettings),
    Export(ExportSettings),
    Purge(PurgeSettings),
    Sandbox(SandboxSettings),
    Users(UsersSettings),
    Tokens(TokensSettings),
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
    /// For workbooks: which sheet, and where its header is.
    pub sheet: SheetOptions,
}

impl InputSettings {
    /// The validation rules for a file whose content hash is `sha256_hex` (rows named as lines
    /// until the reader says otherwise).
    pub fn rules(&self, sha256_hex: &str) -> Rules {
        Rules {
            date_order: self.date_order,
            date_order_explicit: self.date_order_explicit,
            excel_dates: self.excel_dates,
            min_age: self.min_age,
            today: self.today,
            email_required: self.email_required,
            order_id_prefix: sha256_hex.chars().take(16).collect(),
            locator: crate::input::Locator::Lines,
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

#[derive(Debug, Clone)]
pub struct RunSettings {
    pub input: InputSettings,
    pub state: PathBuf,
    /// `--output`, when given; see [`RunSettings::outputs`].
    pub results: Option<PathBuf>,
    /// `--errors`, when given.
    pub errors: Option<PathBuf>,
    pub summary: Option<PathBuf>,
    /// With `--sandbox`, the endpoint and credentials are the simulator's, set when it starts.
    pub api: ApiSettings,
    pub engine: EngineSettings,
    pub dry_run: bool,
    pub sandbox: bool,
}

#[derive(Debug, Clone)]
pub struct StatusSettings {
    pub state: PathBuf,
    pub run: Option<String>,
}

#[derive(Debug, Clone)]
pub struct PurgeSettings {
    pub state: PathBuf,
    pub older_than: Duration,
}

#[derive(Debug, Clone)]
pub struct ExportSettings {
    pub state: PathBuf,
    pub run: String,
    pub results: PathBuf,
    pub errors: Option<PathBuf>,
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
        "{flag}: credentials are never taken from the command line, where other users of this \
         machine can read them (ps, shell history). Set {ENV_REGISTRATION_ID} and \
         {ENV_COMPANY_CODE} in the environment, or registration_id and company_code under \
         [aopay] in a config file only you can read. The value given was not used; on a shared \
         machine, treat it as seen"
    )]
    CredentialsOnCommandLine { flag: &'static str },
    #[error(
        "{origin}: \"{value}\" is not FIELD=HEADER with a known field ({}); example: --map pancard=\"PAN Number\"",
        field_names()
    )]
    Map { origin: String, value: String },
    #[error("{origin}: \"{value}\" is not {expected}")]
    Invalid { origin: String, value: String, expected: &'static str },
    #[error(
        "no AOPay credentials: set {ENV_REGISTRATION_ID} and {ENV_COMPANY_CODE} in the environment, \
         or registration_id and company_code under [aopay] in the config file ({config}). To try \
         the tool without them, run with --sandbox or --dry-run"
    )]
    NoCredentials { config: String },
    #[error(
        "--endpoint {0} is plain http:// to another machine: credentials and customers' data would \
         cross the network unencrypted. Use https://, or pass --allow-insecure-http if this is \
         really wanted"
    )]
    InsecureEndpoint(String),
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
    aopay: AopayConfig,
    run: RunConfig,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct AopayConfig {
    endpoint: Option<String>,
    method: Option<String>,
    timeout: Option<String>,
    connect_timeout: Option<String>,
    registration_id: Option<String>,
    company_code: Option<String>,
    omit_empty_middle_name: Option<bool>,
    allow_insecure_http: Option<bool>,
    /// Extra request headers, e.g. an API gateway's key.
    headers: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RunConfig {
    state: Option<PathBuf>,
    rate: Option<String>,
    burst: Option<u32>,
    concurrency: Option<u32>,
    max_attempts: Option<u32>,
    max_consecutive_failures: Option<u32>,
    max_retry_after: Option<String>,
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
    /// For workbooks: a sheet's name, or its position as a number.
    sheet: Option<SheetConfig>,
    header_row: Option<u32>,
    /// field = "Header"
    map: BTreeMap<String, String>,
}

/// `sheet = "Customers"` or `sheet = 2`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum SheetConfig {
    Name(String),
    Position(usize),
}

impl Settings {
    /// Merges flags and environment (already in `cli`) with the config file and the defaults.
    pub fn resolve(cli: &Cli) -> Result<Settings, SettingsError> {
        Settings::resolve_in(cli, Path::new("."), chrono::Local::now().date_naive(), &|name| {
            std::env::var(name).ok()
        })
    }

    /// As [`Settings::resolve`], looking for the default config file in `dir`, on `today`, with
    /// `env` for the variables clap does not read (the credentials).
    pub fn resolve_in(
        cli: &Cli,
        dir: &Path,
        today: NaiveDate,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Settings, SettingsError> {
        if cli.global.registration_id.is_some() {
            return Err(SettingsError::CredentialsOnCommandLine { flag: "--registration-id" });
        }
        if cli.global.company_code.is_some() {
            return Err(SettingsError::CredentialsOnCommandLine { flag: "--company-code" });
        }
        let (config, config_path) = load_config(cli.global.config.as_deref(), dir)?;
        let mut warnings = Vec::new();
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
            Command::Run(args) => CommandSettings::Run(Box::new(run_settings(
                args,
                &config,
                &config_path,
                today,
                env,
                &mut warnings,
            )?)),
            Command::Status(args) => CommandSettings::Status(status_settings(args, &config)),
            Command::Export(args) => CommandSettings::Export(export_settings(args, &config)),
            Command::Purge(args) => CommandSettings::Purge(purge_settings(args, &config)?),
            Command::Sandbox(args) => CommandSettings::Sandbox(sandbox_settings(args)?),
            Command::Users(args) => CommandSettings::Users(serve::users_settings(args, &config)?),
            Command::Tokens(args) => CommandSettings::Tokens(serve::tokens_settings(args, &config)?),
        };
        Ok(Settings { log, command, warnings })
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
        .map_err(|e| SettingsError::ConfigParse { path: path.clone(), message: config_error(&text, &e) })?;
    Ok((config, path))
}

/// Where and what is wrong in a config file, without the excerpt of it that the TOML error's own
/// text shows: the file holds the credentials, and the line at fault may be theirs. On a line of
/// `[aopay]` that may hold a secret (the credentials, an extra header's value) even the parser's
/// message is left out, as it can quote the value (``invalid type: integer `1045` ``).
fn config_error(text: &str, error: &toml::de::Error) -> String {
    let Some(span) = error.span() else {
        return error.message().to_owned();
    };
    let before = text.get(..span.start).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    let section = before
        .lines()
        .filter_map(|l| l.trim().strip_prefix('[')?.split(']').next())
        .next_back()
        .unwrap_or_default()
        .trim();
    let line_text = text.lines().nth(line - 1).unwrap_or_default();
    let key = line_text.split('=').next().unwrap_or_default().trim().trim_matches('"');
    const PLAIN_AOPAY_KEYS: [&str; 6] =
        ["endpoint", "method", "timeout", "connect_timeout", "omit_empty_middle_name", "allow_insecure_http"];
    let secret = (section.starts_with("aopay") && !PLAIN_AOPAY_KEYS.contains(&key))
        || ["registration_id", "company_code"].contains(&key);
    if secret {
        let section = if section.starts_with("aopay") { section } else { "aopay" };
        format!(
            "line {line}: {key} cannot be read (the details are not shown, as they could quote a \
             secret): it must be a quoted string under [{section}], like {key} = \"...\""
        )
    } else {
        format!("line {line}, column {column}: {}", error.message())
    }
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

    let sheet = match (&args.sheet, &config.sheet) {
        (Some(text), _) => Some(sheet_choice(text)),
        (None, Some(SheetConfig::Name(name))) => Some(SheetChoice::Name(name.clone())),
        (None, Some(SheetConfig::Position(n))) => Some(SheetChoice::Position(*n)),
        (None, None) => None,
    };
    let header_row = args.header_row.or(config.header_row);
    if header_row == Some(0) {
        return Err(SettingsError::Invalid {
            origin: "--header-row".into(),
            value: "0".into(),
            expected: "a row number as the sheet shows it, from 1",
        });
    }

    Ok(InputSettings {
        sheet: SheetOptions { sheet, header_row },
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

fn state_path(args: &StateArgs, config: &ConfigFile, sandbox: bool) -> PathBuf {
    args.state
        .clone()
        .or_else(|| config.run.state.clone())
        .unwrap_or_else(|| PathBuf::from(if sandbox { DEFAULT_SANDBOX_STATE } else { DEFAULT_STATE }))
}

fn status_settings(args: &StatusArgs, config: &ConfigFile) -> StatusSettings {
    StatusSettings { state: state_path(&args.state, config, false), run: args.run.clone() }
}

fn purge_settings(args: &PurgeArgs, config: &ConfigFile) -> Result<PurgeSettings, SettingsError> {
    let older_than = parse_duration(&args.older_than).ok_or_else(|| SettingsError::Invalid {
        origin: "--older-than".into(),
        value: args.older_than.clone(),
        expected: "an age like 30d, 12h or 0",
    })?;
    Ok(PurgeSettings { state: state_path(&args.state, config, false), older_than })
}

fn export_settings(args: &ExportArgs, config: &ConfigFile) -> ExportSettings {
    ExportSettings {
        state: state_path(&args.state, config, false),
        run: args.run.clone(),
        results: args.output.clone(),
        errors: args.errors.clone(),
    }
}

/// `customers.csv` → `customers.results.csv`, beside it.
fn beside(input: &Path, suffix: &str, extension: &str) -> PathBuf {
    let stem = input.file_stem().map_or_else(|| "customers".into(), |s| s.to_string_lossy().into_owned());
    input.with_file_name(format!("{stem}.{suffix}.{extension}"))
}

impl RunSettings {
    /// The results and errors files: as given, or beside the input — workbooks for a workbook, so
    /// that the clerk gets the answer in the medium they sent (CSV stays a `--output x.csv` away).
    /// A `--sandbox` rehearsal writes `…sandbox-results…`, never to be taken for the real ones.
    pub fn outputs(&self, input_is_workbook: bool) -> (PathBuf, PathBuf) {
        let extension = if input_is_workbook { "xlsx" } else { "csv" };
        let prefix = if self.sandbox { "sandbox-" } else { "" };
        (
            self.results
                .clone()
                .unwrap_or_else(|| beside(&self.input.path, &format!("{prefix}results"), extension)),
            self.errors
                .clone()
                .unwrap_or_else(|| beside(&self.input.path, &format!("{prefix}errors"), extension)),
        )
    }
}

fn run_settings(
    args: &RunArgs,
    config: &ConfigFile,
    config_path: &Path,
    today: NaiveDate,
    env: &dyn Fn(&str) -> Option<String>,
    warnings: &mut Vec<String>,
) -> Result<RunSettings, SettingsError> {
    let input = input_settings(&args.input, &config.input, config_path, today)?;
    let key = |section: &str, key: &str| format!("{} [{section}] {key}", config_path.display());

    let rate = match (&args.rate, &config.run.rate) {
        (Some(text), _) => parse_rate(text, "--rate".into())?,
        (None, Some(text)) => parse_rate(text, key("run", "rate"))?,
        (None, None) => {
            Rate { requests: NonZeroU32::new(10).unwrap_or(NonZeroU32::MIN), per: Duration::from_secs(1) }
        }
    };
    let number = |flag: Option<u32>, file: Option<u32>, name: &str, default: u32, max: u32| {
        let (value, origin) = match (flag, file) {
            (Some(v), _) => (v, format!("--{}", name.replace('_', "-"))),
            (None, Some(v)) => (v, key("run", name)),
            (None, None) => (default, String::new()),
        };
        NonZeroU32::new(value).filter(|v| v.get() <= max).ok_or(SettingsError::Invalid {
            origin,
            value: value.to_string(),
            expected: "a whole number in range (burst, attempts: 1-100000; concurrency: 1-1024)",
        })
    };
    let concurrency = number(args.concurrency, config.run.concurrency, "concurrency", 8, 1024)?;
    let burst = number(args.burst, config.run.burst, "burst", 1, 100_000)?;
    let max_attempts = number(args.max_attempts, config.run.max_attempts, "max_attempts", 5, 100)?;
    let max_consecutive_failures = number(
        args.max_consecutive_failures,
        config.run.max_consecutive_failures,
        "max_consecutive_failures",
        20,
        100_000,
    )?;

    let duration = |flag: &Option<String>,
                    file: &Option<String>,
                    flag_name: &str,
                    name: &str,
                    default: Duration| {
        match (flag, file) {
            (Some(text), _) => duration_setting(text, flag_name.into()),
            (None, Some(text)) => duration_setting(text, key("aopay", name)),
            (None, None) => Ok(default),
        }
    };
    let timeout =
        duration(&args.timeout, &config.aopay.timeout, "--timeout", "timeout", Duration::from_secs(30))?;
    let connect_timeout =
        duration(&None, &config.aopay.connect_timeout, "", "connect_timeout", Duration::from_secs(10))?;
    let max_retry_after = match (&args.max_retry_after, &config.run.max_retry_after) {
        (Some(text), _) => duration_setting(text, "--max-retry-after".into())?,
        (None, Some(text)) => duration_setting(text, key("run", "max_retry_after"))?,
        (None, None) => Duration::from_secs(300),
    };

    let method = match (args.method, &config.aopay.method) {
        (Some(MethodArg::Get), _) => Method::Get,
        (Some(MethodArg::Post), _) => Method::Post,
        (None, Some(text)) => match text.to_ascii_lowercase().as_str() {
            "get" => Method::Get,
            "post" => Method::Post,
            _ => {
                return Err(SettingsError::Invalid {
                    origin: key("aopay", "method"),
                    value: text.clone(),
                    expected: "get or post",
                });
            }
        },
        (None, None) => Method::Get,
    };

    let allow_insecure = args.allow_insecure_http || config.aopay.allow_insecure_http.unwrap_or(false);
    let (endpoint_text, origin) = match (&args.endpoint, &config.aopay.endpoint) {
        (Some(url), _) => (url.clone(), "--endpoint".to_owned()),
        (None, Some(url)) => (url.clone(), key("aopay", "endpoint")),
        (None, None) => (PRODUCTION_ENDPOINT.to_owned(), String::new()),
    };
    let endpoint = parse_endpoint(&endpoint_text, origin, allow_insecure)?;

    let from_config = |value: &Option<String>| value.clone().filter(|v| !v.trim().is_empty());
    let registration_id = env(ENV_REGISTRATION_ID)
        .filter(|v| !v.trim().is_empty())
        .or_else(|| from_config(&config.aopay.registration_id));
    let company_code = env(ENV_COMPANY_CODE)
        .filter(|v| !v.trim().is_empty())
        .or_else(|| from_config(&config.aopay.company_code));
    if config.aopay.registration_id.is_some() || config.aopay.company_code.is_some() {
        warn_if_readable_by_others(config_path, warnings);
    }
    let credentials = match (registration_id, company_code) {
        (Some(registration_id), Some(company_code)) => Credentials { registration_id, company_code },
        // The sandbox brings its own; a dry run sends nothing.
        _ if args.sandbox || args.dry_run => {
            Credentials { registration_id: String::new(), company_code: String::new() }
        }
        _ => return Err(SettingsError::NoCredentials { config: config_path.display().to_string() }),
    };

    let mut engine =
        EngineSettings::new(NonZeroUsize::new(concurrency.get() as usize).unwrap_or(NonZeroUsize::MIN), rate);
    engine.burst = burst;
    engine.max_attempts = max_attempts;
    engine.max_consecutive_failures = max_consecutive_failures;
    engine.max_retry_after = max_retry_after;
    engine.shutdown_grace = timeout + Duration::from_secs(5);

    let api = ApiSettings {
        endpoint,
        method,
        timeout,
        connect_timeout,
        headers: config.aopay.headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        omit_empty_middle_name: config.aopay.omit_empty_middle_name.unwrap_or(false),
        credentials,
        pool_size: engine.concurrency.get(),
    };
    Ok(RunSettings {
        state: state_path(&args.state, config, args.sandbox),
        input,
        results: args.output.clone(),
        errors: args.errors.clone(),
        summary: args.summary.clone(),
        api,
        engine,
        dry_run: args.dry_run,
        sandbox: args.sandbox,
    })
}

/// `10/s`, `600/m`, `36000/h`, or a bare number of requests per second.
fn parse_rate(text: &str, origin: String) -> Result<Rate, SettingsError> {
    let bad = || SettingsError::Invalid {
        origin: origin.clone(),
        value: text.to_owned(),
        expected: "a rate like 10/s, 600/m or 36000/h (whole requests, at least 1)",
    };
    let (count, unit) = text.trim().split_once('/').unwrap_or((text.trim(), "s"));
    let per = match unit.trim().to_ascii_lowercase().as_str() {
        "s" | "sec" | "second" => Duration::from_secs(1),
        "m" | "min" | "minute" => Duration::from_secs(60),
        "h" | "hour" => Duration::from_secs(3600),
        _ => return Err(bad()),
    };
    let requests =
        count.trim().parse::<u32>().ok().and_then(NonZeroU32::new).filter(|n| n.get() <= 1_000_000);
    Ok(Rate { requests: requests.ok_or_else(bad)?, per })
}

/// A duration setting: more than zero, at most a day.
fn duration_setting(text: &str, origin: String) -> Result<Duration, SettingsError> {
    parse_duration(text).filter(|d| !d.is_zero() && *d <= Duration::from_secs(24 * 3600)).ok_or(
        SettingsError::Invalid {
            origin,
            value: text.to_owned(),
            expected: "a duration like 30s, 500ms, 1.5s or 2m (more than zero, at most a day)",
        },
    )
}

/// An https:// URL, or http:// to this machine (the sandbox), or http:// anywhere when allowed.
fn parse_endpoint(text: &str, origin: String, allow_insecure: bool) -> Result<reqwest::Url, SettingsError> {
    let url = reqwest::Url::parse(text.trim())
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
    let Some(url) = url else {
        return Err(SettingsError::Invalid {
            origin,
            value: text.to_owned(),
            expected: "an http(s) URL like https://api.aopay.co.in/api/AOP/CibilScore/registeration",
        });
    };
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    if url.scheme() == "http" && !loopback && !allow_insecure {
        return Err(SettingsError::InsecureEndpoint(text.to_owned()));
    }
    Ok(url)
}

/// Credentials in a file others can read are credentials others have.
fn warn_if_readable_by_others(path: &Path, warnings: &mut Vec<String>) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        warnings.push(format!(
            "{} holds AOPay credentials and other users can read it: chmod 600 {}",
            path.display(),
            path.display()
        ));
    }
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
/// decimal, the unit one of `ns`, `us`, `ms`, `s`, `m`, `h`, `d` (`50ms`, `2s`, `1.5s`, `1m30s`, `30d`); `0`
/// alone is zero. Hand-written rather than `humantime::parse_duration` (used for display), which
/// takes no decimals.
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
            "d" => 86_400.0,
            _ => return None,
        };
        total += number.parse::<f64>().ok()? * seconds_per_unit;
        rest = tail;
    }
    Duration::try_from_secs_f64(total).ok()
}

/// A sheet's position when the text is a number (`2`), its name otherwise.
fn sheet_choice(text: &str) -> SheetChoice {
    match text.trim().parse::<usize>() {
        Ok(n) => SheetChoice::Position(n),
        Err(_) => SheetChoice::Name(text.to_owned()),
    }
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
        let CommandSettings::Validate(v) =
            Settings::resolve_in(&cli, dir.path(), today(), &|_| None)?.command
        else {
            panic!("not validate")
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
    fn credentials_on_the_command_line_are_refused_without_being_echoed() {
        for args in [
            &["--registration-id", "AOP-554"][..],
            &["--registration-id=AOP-554"],
            &["--RegistrationID", "AOP-554"],
            &["--company-code", "AOP-554"],
            &["--company_code=AOP-554"],
        ] {
            let err = resolve_run(args, None, &CREDS).unwrap_err();
            assert!(matches!(err, SettingsError::CredentialsOnCommandLine { .. }), "{args:?}: {err}");
            let text = err.to_string();
            assert!(!text.contains("AOP-554") && text.contains(ENV_REGISTRATION_ID), "{text}");
        }
        // On any command, not only `run`.
        let cli =
            Cli::try_parse_from(["cibil-bulk", "validate", "x.csv", "--company-code", "CMP1045"]).unwrap();
        let err = Settings::resolve_in(&cli, Path::new("."), today(), &|_| None).unwrap_err();
        assert!(!err.to_string().contains("CMP1045"), "{err}");
    }

    #[test]
    fn config_errors_never_quote_a_secret() {
        for (text, secret) in [
            ("[aopay]\nregistration_id = AOP-554\n", "AOP-554"),
            ("[aopay]\ncompany_code = 1045\n", "1045"),
            ("[aopay]\nregistration_id = \"AOP-554\"\ncompany_code = \"CMP1045\n", "CMP1045"),
            ("[aopay.headers]\nX-Api-Key = 918273\n", "918273"),
            ("[run]\nregistration_id = \"AOP-554\"\n", "AOP-554"),
        ] {
            let err = resolve(&[], Some(text)).unwrap_err().to_string();
            let line = text.lines().position(|l| l.contains(secret)).unwrap_or_default() + 1;
            assert!(err.contains(&format!("line {line}:")) && !err.contains(secret), "{text:?}: {err}");
        }
        // Elsewhere the parser's message is kept, with where it is.
        let err = resolve(&[], Some("[run]\nrate = 5s\n")).unwrap_err().to_string();
        assert!(err.contains("line 2, column 8: string values must be quoted"), "{err}");
    }

    #[test]
    fn the_example_config_file_is_valid() {
        let text = include_str!("../samples/cibil-bulk.example.toml");
        let config: ConfigFile = toml::from_str(text).expect("the example parses");
        assert_eq!(config.run.rate.as_deref(), Some("10/s"));
        let uncommented: String = text
            .lines()
            .map(|l| l.strip_prefix("# ").filter(|l| l.contains(" = ")).unwrap_or(l))
            .collect::<Vec<_>>()
            .join("\n");
        toml::from_str::<ConfigFile>(&uncommented).expect("the commented-out keys are valid too");
    }

    #[test]
    fn rates_durations_and_endpoints() {
        let rate = parse_rate("600/m", "x".into()).unwrap();
        assert_eq!((rate.requests.get(), rate.per), (600, Duration::from_secs(60)));
        assert_eq!(parse_rate("25", "x".into()).unwrap().per_second(), 25.0);
        for bad in ["0/s", "-1/s", "ten/s", "5/fortnight", "2.5/s", ""] {
            assert!(parse_rate(bad, "--rate".into()).is_err(), "{bad}");
        }
        assert_eq!(duration_setting("30s", "x".into()).unwrap(), Duration::from_secs(30));
        assert_eq!(duration_setting("500ms", "x".into()).unwrap(), Duration::from_millis(500));
        assert_eq!(duration_setting("1.5s", "x".into()).unwrap(), Duration::from_millis(1500));
        assert_eq!(duration_setting("2m", "x".into()).unwrap(), Duration::from_secs(120));
        for bad in ["0s", "0", "forever", "-3s", "3 days", "NaNs", "2d"] {
            assert!(duration_setting(bad, "x".into()).is_err(), "{bad}");
        }
        assert!(parse_endpoint("https://api.aopay.co.in/x", "x".into(), false).is_ok());
        assert!(parse_endpoint("http://127.0.0.1:8080/x", "x".into(), false).is_ok());
        assert!(parse_endpoint("http://localhost:8080/x", "x".into(), false).is_ok());
        assert!(matches!(
            parse_endpoint("http://api.aopay.co.in/x", "x".into(), false),
            Err(SettingsError::InsecureEndpoint(_))
        ));
        assert!(parse_endpoint("http://api.aopay.co.in/x", "x".into(), true).is_ok());
        assert!(parse_endpoint("ftp://x/y", "x".into(), true).is_err());
        assert!(parse_endpoint("not a url", "x".into(), true).is_err());
    }

    fn resolve_run(
        args: &[&str],
        config: Option<&str>,
        env: &[(&str, &str)],
    ) -> Result<(RunSettings, Vec<String>), SettingsError> {
        let dir = tempfile::tempdir().unwrap();
        if let Some(text) = config {
            std::fs::write(dir.path().join(DEFAULT_CONFIG), text).unwrap();
        }
        let cli = Cli::try_parse_from([&["cibil-bulk", "run", "in/customers.csv"], args].concat()).unwrap();
        let env = |name: &str| env.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string());
        let settings = Settings::resolve_in(&cli, dir.path(), today(), &env)?;
        let CommandSettings::Run(run) = settings.command else { panic!("not run") };
        Ok((*run, settings.warnings))
    }

    const CREDS: [(&str, &str); 2] = [(ENV_REGISTRATION_ID, "AOP-554"), (ENV_COMPANY_CODE, "CMP1045")];

    #[test]
    fn run_defaults_and_credentials_from_the_environment() {
        let (run, _) = resolve_run(&[], None, &CREDS).unwrap();
        assert_eq!(run.api.credentials.registration_id, "AOP-554");
        assert_eq!(run.api.endpoint.as_str(), PRODUCTION_ENDPOINT);
        assert_eq!((run.api.method, run.api.timeout), (Method::Get, Duration::from_secs(30)));
        assert_eq!((run.engine.concurrency.get(), run.engine.rate.to_string()), (8, "10/s".to_owned()));
        assert_eq!(run.state, PathBuf::from(DEFAULT_STATE));
        assert_eq!(
            run.outputs(false),
            (PathBuf::from("in/customers.results.csv"), PathBuf::from("in/customers.errors.csv"))
        );
        assert_eq!(
            run.outputs(true),
            (PathBuf::from("in/customers.results.xlsx"), PathBuf::from("in/customers.errors.xlsx"))
        );
    }

    #[test]
    fn no_credentials_is_an_error_unless_nothing_real_is_sent() {
        let err = resolve_run(&[], None, &[]).unwrap_err();
        assert!(matches!(err, SettingsError::NoCredentials { .. }));
        assert!(err.to_string().contains(ENV_REGISTRATION_ID));
        let (run, _) = resolve_run(&["--sandbox"], None, &[]).unwrap();
        assert_eq!(run.state, PathBuf::from(DEFAULT_SANDBOX_STATE));
        assert_eq!(
            run.outputs(false),
            (
                PathBuf::from("in/customers.sandbox-results.csv"),
                PathBuf::from("in/customers.sandbox-errors.csv")
            )
        );
        assert!(resolve_run(&["--dry-run"], None, &[]).is_ok());
    }

    #[test]
    fn run_settings_from_the_config_file_and_flags() {
        let config = "[aopay]\nregistration_id = \"AOP-9\"\ncompany_code = \"CMP9\"\nmethod = \"post\"\ntimeout = \"45s\"\n\
                      [aopay.headers]\nX-Api-Key = \"k\"\n[run]\nrate = \"120/m\"\nconcurrency = 4\nstate = \"branch.db\"\n";
        let (run, warnings) = resolve_run(&["--concurrency", "16"], Some(config), &[]).unwrap();
        assert_eq!(run.api.credentials.company_code, "CMP9");
        assert_eq!((run.api.method, run.api.timeout), (Method::Post, Duration::from_secs(45)));
        assert_eq!(run.api.headers, vec![("X-Api-Key".to_owned(), "k".to_owned())]);
        assert_eq!((run.engine.rate.to_string(), run.engine.concurrency.get()), ("120/m".to_owned(), 16));
        assert_eq!(run.state, PathBuf::from("branch.db"));
        // The environment wins over the file.
        let (run, _) = resolve_run(&[], Some(config), &CREDS).unwrap();
        assert_eq!(run.api.credentials.registration_id, "AOP-554");
        // A config file with credentials that others can read is worth a warning.
        assert!(warnings.iter().any(|w| w.contains("chmod 600")), "{warnings:?}");
    }

    #[test]
    fn bad_run_values_name_their_origin() {
        let err = resolve_run(&["--concurrency", "0"], None, &CREDS).unwrap_err().to_string();
        assert!(err.starts_with("--concurrency: \"0\""), "{err}");
        let err = resolve_run(&["--rate", "fast"], None, &CREDS).unwrap_err().to_string();
        assert!(err.starts_with("--rate: \"fast\""), "{err}");
        let err = resolve_run(&["--endpoint", "http://10.0.0.5/x"], None, &CREDS).unwrap_err();
        assert!(matches!(err, SettingsError::InsecureEndpoint(_)));
        assert!(
            resolve_run(&["--endpoint", "http://10.0.0.5/x", "--allow-insecure-http"], None, &CREDS).is_ok()
        );
        let err = resolve_run(&[], Some("[run]\nburst = 0\n"), &CREDS).unwrap_err().to_string();
        assert!(err.contains("[run] burst"), "{err}");
    }

    #[test]
    fn an_explicit_config_file_must_exist() {
        let cli = Cli::try_parse_from(["cibil-bulk", "validate", "f.csv", "--config", "/nonexistent/c.toml"])
            .unwrap();
        let err = Settings::resolve_in(&cli, Path::new("."), today(), &|_| None).unwrap_err();
        assert!(matches!(err, SettingsError::ConfigRead { .. }));
    }

    fn sandbox(args: &[&str]) -> Result<SandboxSettings, SettingsError> {
        let cli = Cli::try_parse_from([&["cibil-bulk", "sandbox"], args].concat()).unwrap();
        match Settings::resolve_in(&cli, Path::new("/nonexistent"), today(), &|_| None)?.command {
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
            ("30d", Duration::from_secs(30 * 86_400)),
        ] {
            assert_eq!(parse_duration(text), Some(expected), "{text}");
        }
        for text in ["", "50", "ms", "5 s", "1.s", ".5s", "-1s", "1w", "1.2.3s", "5sec"] {
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
