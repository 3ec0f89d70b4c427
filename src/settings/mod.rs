//! One validated [`Settings`] from four layers, in order of precedence: command-line flags, the
//! environment (clap reads both, and says which), the config file (`cibil-bulk.toml`), then the
//! defaults (named constants, the same ones `--help` shows). The layering is written once, in
//! [`Layers`]: every value knows its [`Origin`], and every error about a value names it — the flag,
//! the environment variable or the config file's key — so the user knows what to change. The rest
//! of the program receives only typed, valid settings. Opens no file but the config file.
//!
//! `config` holds the config file's schema, loading and redaction; `input`, `run` and `sandbox`
//! the settings of the commands; `parse` the parsers of values as people write them.

mod config;
mod input;
mod parse;
mod run;
mod sandbox;
mod serve;

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::NaiveDate;

pub use crate::output::show_duration;
pub use config::DEFAULT_CONFIG;
pub use input::InputSettings;
pub use parse::{parse_duration, parse_listen, show_size};
pub use run::{RunExitPaths, RunSettings};
pub use sandbox::SandboxSettings;
pub use serve::{
    DEFAULT_MAX_UPLOAD, DEFAULT_SERVE_LISTEN, SESSION_LIFETIME, ServeSettings, TokenAction, TokensSettings,
    UserAction, UsersSettings,
};

use crate::cli::{Cli, Command, Given, LogFormatArg, Sources, StateArgs};
use crate::input::Field;
use crate::output::{LogFormat, LogSettings};
use config::ConfigFile;

/// The state database when `--state` is not given.
pub const DEFAULT_STATE: &str = "cibil-bulk.db";
/// The state database of `--sandbox` runs: registrations made against the simulator must never
/// be taken for real ones.
pub const DEFAULT_SANDBOX_STATE: &str = "cibil-bulk.sandbox.db";
/// Environment variables holding the merchant's credentials.
pub const ENV_REGISTRATION_ID: &str = "AOPAY_REGISTRATION_ID";
pub const ENV_COMPANY_CODE: &str = "AOPAY_COMPANY_CODE";
/// Where `cibil-bulk sandbox` listens without `--listen`: loopback only, so a rehearsal is never
/// reachable from the network.
pub const DEFAULT_SANDBOX_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 8080);

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
    Backup(BackupSettings),
    Sandbox(SandboxSettings),
    Serve(Box<ServeSettings>),
    Users(UsersSettings),
    Tokens(TokensSettings),
    /// `cibil-bulk completions SHELL`.
    Completions(clap_complete::Shell),
    /// `cibil-bulk man`.
    Man,
}

#[derive(Debug, Clone)]
pub struct ValidateSettings {
    pub input: InputSettings,
    /// The state database `run` would use here: `validate` never opens it, and no output of
    /// its may replace it.
    pub state: PathBuf,
    pub errors: Option<PathBuf>,
    pub report: Option<PathBuf>,
    pub summary: Option<PathBuf>,
    /// The config file in use (or the default name one would have): no output may replace it.
    pub config: PathBuf,
}

#[derive(Debug, Clone)]
pub struct StatusSettings {
    pub state: PathBuf,
    pub run: Option<String>,
    /// The config file in use (or the default name one would have): never a state's companion.
    pub config: PathBuf,
}

#[derive(Debug, Clone)]
pub struct PurgeSettings {
    pub state: PathBuf,
    pub older_than: Duration,
    /// The config file in use (or the default name one would have): never a state's companion.
    pub config: PathBuf,
}

#[derive(Debug, Clone)]
pub struct BackupSettings {
    pub state: PathBuf,
    pub dest: PathBuf,
    /// The config file in use (or the default name one would have): no output may replace it.
    pub config: PathBuf,
}

#[derive(Debug, Clone)]
pub struct ExportSettings {
    pub state: PathBuf,
    pub run: String,
    pub results: PathBuf,
    pub errors: Option<PathBuf>,
    /// The config file in use (or the default name one would have): no output may replace it.
    pub config: PathBuf,
}

/// India's time: UTC+5:30 all year (no daylight saving), the vendor's and CIBIL's.
pub const INDIA: chrono::FixedOffset = match chrono::FixedOffset::east_opt(5 * 3600 + 30 * 60) {
    Some(offset) => offset,
    None => panic!("India's offset is a valid one"),
};

/// Today in India: the date a customer's age is judged on, whatever the machine's own time zone,
/// so that the same customer is not 17 on one machine and 18 on another at the same instant.
pub fn today() -> NaiveDate {
    day_in_india(chrono::Utc::now())
}

/// The date in India at the instant `at`.
pub fn day_in_india(at: chrono::DateTime<chrono::Utc>) -> NaiveDate {
    at.with_timezone(&INDIA).date_naive()
}

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Typed on the command line: `--rate`.
    Flag(String),
    /// Read from an environment variable: `CIBIL_BULK_RATE`.
    Env(String),
    /// A key of the config file: `cibil-bulk.toml`, `[run] rate`.
    Config { file: PathBuf, key: String },
    /// Nothing set it.
    Default,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Flag(flag) => f.write_str(flag),
            Origin::Env(name) => write!(f, "{name} (environment)"),
            Origin::Config { file, key } => write!(f, "{} {key}", file.display()),
            Origin::Default => f.write_str("the default"),
        }
    }
}

impl From<&Given> for Origin {
    fn from(given: &Given) -> Origin {
        match given {
            Given::Flag(flag) => Origin::Flag(flag.clone()),
            Given::Env(name) => Origin::Env(name.clone()),
        }
    }
}

/// A value, and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sourced<T> {
    pub value: T,
    pub origin: Origin,
}

/// The layers of one command's settings: what was given on the command line (or in the
/// environment), and the config file. The one place precedence is decided.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Layers<'a> {
    sources: &'a Sources,
    config_path: &'a Path,
}

impl<'a> Layers<'a> {
    /// The setting whose clap argument is named `name` (the config file's key under `[section]`
    /// has the same name): the flag or its environment variable when given, else the config
    /// file's value, else none. clap's own default for the flag is never taken here: the
    /// default is the caller's, after every layer.
    pub fn pick<T>(
        &self,
        section: &str,
        name: &str,
        flag: Option<T>,
        config: Option<T>,
    ) -> Option<Sourced<T>> {
        if let (Some(given), Some(value)) = (self.sources.given(name), flag) {
            return Some(Sourced { value, origin: given.into() });
        }
        config.map(|value| Sourced { value, origin: self.config_key(section, name) })
    }

    /// As [`Layers::pick`], then `parse` checks the value; `default` when no layer has it. A
    /// value `parse` refuses is an error naming its origin and what was `expected`.
    pub fn resolve<T: fmt::Display, U>(
        &self,
        (section, name): (&str, &str),
        flag: Option<T>,
        config: Option<T>,
        default: U,
        expected: &'static str,
        parse: impl FnOnce(&T) -> Option<U>,
    ) -> Result<U, SettingsError> {
        match self.pick(section, name, flag, config) {
            Some(picked) => picked.parse(expected, parse).map(|s| s.value),
            None => Ok(default),
        }
    }

    /// The origin of a config file's key.
    pub fn config_key(&self, section: &str, name: &str) -> Origin {
        Origin::Config { file: self.config_path.to_owned(), key: format!("[{section}] {name}") }
    }

    pub fn config_path(&self) -> &'a Path {
        self.config_path
    }
}

impl<T: fmt::Display> Sourced<T> {
    /// The value parsed by `parse`, keeping its origin; refused as not `expected`, naming it.
    pub fn parse<U>(
        self,
        expected: &'static str,
        parse: impl FnOnce(&T) -> Option<U>,
    ) -> Result<Sourced<U>, SettingsError> {
        match parse(&self.value) {
            Some(value) => Ok(Sourced { value, origin: self.origin }),
            None => Err(self.invalid(expected)),
        }
    }

    /// The error for this value, which is not `expected`.
    pub fn invalid(&self, expected: &'static str) -> SettingsError {
        SettingsError::Invalid { origin: self.origin.clone(), value: self.value.to_string(), expected }
    }
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
    #[error(transparent)]
    Untrusted(#[from] crate::private_file::Untrusted),
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
    Map { origin: Origin, value: String },
    #[error("{origin}: \"{value}\" is not {expected}")]
    Invalid { origin: Origin, value: String, expected: &'static str },
    #[error(
        "no AOPay credentials: set {ENV_REGISTRATION_ID} and {ENV_COMPANY_CODE} in the environment, \
         or registration_id and company_code under [aopay] in the config file ({config}). To try \
         the tool without them, run with --sandbox or --dry-run"
    )]
    NoCredentials { config: String },
    #[error(
        "{origin}: {url} is plain http:// to another machine: credentials and customers' data \
         would cross the network unencrypted. Use https://, or pass --allow-insecure-http if this \
         is really wanted"
    )]
    InsecureEndpoint { origin: Origin, url: String },
    #[error(
        "{origin}: the endpoint {url} was given with a user name or password in it (user:...@host), \
         which would be printed, logged and stored with every run, and were not used. AOPay's \
         credentials go in {ENV_REGISTRATION_ID} and {ENV_COMPANY_CODE} (or [aopay] in a config \
         file only you can read); a gateway's key goes in [aopay.headers]"
    )]
    EndpointCredentials { origin: Origin, url: String },
    #[error(
        "{origin}: the endpoint's address holds the RegistrationID, the CompanyCode or a value of \
         [aopay.headers], and an address is printed, logged and kept with every run. AOPay takes \
         the credentials in the request body only, from {ENV_REGISTRATION_ID} and \
         {ENV_COMPANY_CODE} (or [aopay] in a config file only you can read), and a gateway its key \
         in a header: give the address without them, like {}",
        crate::api::PRODUCTION_ENDPOINT
    )]
    CredentialInEndpoint { origin: Origin },
    /// Another error, as it is said, which repeated a credential given for another setting: the
    /// credential masked in it.
    #[error("{0}")]
    Masked(String),
    /// An error that repeats a credential in disguise (spaced out, its signs changed), where it
    /// cannot be masked alone: said in its place.
    #[error(
        "a value given for a setting holds the RegistrationID, the CompanyCode or a value of \
         [aopay.headers], and is not repeated here. Check what the command line, the environment \
         (CIBIL_BULK_*, AOPAY_*) and the config file give: the credentials belong in \
         {ENV_REGISTRATION_ID} and {ENV_COMPANY_CODE}, or under [aopay] in the config file, only"
    )]
    CredentialGivenElsewhere,
    #[error(
        "the fault rates add up to {sum} ({flags}): each request meets at most one fault, so \
         together they must stay within 1"
    )]
    FaultRates { flags: String, sum: f64 },
}

impl SettingsError {
    /// This error as it may be shown: when it repeats a credential (a value given for another
    /// setting that was one, pasted in the wrong place), with that credential masked.
    fn without(self, secrets: &crate::api::SecretMask) -> SettingsError {
        let said = self.to_string();
        match without_credentials(&said, secrets) {
            Some(Some(masked)) => SettingsError::Masked(masked),
            Some(None) => SettingsError::CredentialGivenElsewhere,
            None => self,
        }
    }
}

/// `said` without the credentials it repeats: `None` when it repeats none; the text with each
/// masked where it was written as given; `Some(None)` when one is there in disguise.
fn without_credentials(said: &str, secrets: &crate::api::SecretMask) -> Option<Option<String>> {
    if !secrets.holds(said) {
        return None;
    }
    let masked = secrets.masked_as_written(said);
    Some((!secrets.holds(&masked)).then_some(masked))
}

fn field_names() -> String {
    Field::ALL.iter().map(|f| f.name()).collect::<Vec<_>>().join(", ")
}

impl Settings {
    /// Merges flags and environment (already in `cli`) with the config file and the defaults.
    pub fn resolve(cli: &Cli) -> Result<Settings, SettingsError> {
        Settings::resolve_in(cli, Path::new("."), today(), &|name| std::env::var(name).ok())
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
        let (config, config_path) = config::load(cli.global.config.as_deref(), dir)
            .map_err(|error| error.without(&run::secrets_given(&ConfigFile::default(), env)))?;
        let layers = Layers { sources: &cli.sources, config_path: &config_path };
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
        let secrets = run::secrets_given(&config, env);
        let command = Settings::command(cli, &config, layers, today, env, &mut warnings)
            .map_err(|error| error.without(&secrets))?;
        Ok(Settings { log, command, warnings })
    }

    /// The settings of the command `cli` names.
    fn command(
        cli: &Cli,
        config: &ConfigFile,
        layers: Layers<'_>,
        today: NaiveDate,
        env: &dyn Fn(&str) -> Option<String>,
        warnings: &mut Vec<String>,
    ) -> Result<CommandSettings, SettingsError> {
        Ok(match &cli.command {
            Command::Validate(args) => CommandSettings::Validate(ValidateSettings {
                input: input::settings(&args.input.file, &args.input.read, &config.input, layers, today)?,
                state: env("CIBIL_BULK_STATE")
                    .map(PathBuf::from)
                    .or_else(|| config.run.state.clone())
                    .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE)),
                errors: args.errors.clone(),
                report: args.output.clone(),
                summary: args.summary.clone(),
                config: layers.config_path().to_path_buf(),
            }),
            Command::Run(args) => {
                CommandSettings::Run(Box::new(run::settings(args, config, layers, today, env, warnings)?))
            }
            Command::Status(args) => CommandSettings::Status(StatusSettings {
                state: state_path(&args.state, config, layers, false),
                run: args.run.clone(),
                config: layers.config_path().to_path_buf(),
            }),
            Command::Export(args) => CommandSettings::Export(ExportSettings {
                state: state_path(&args.state, config, layers, false),
                run: args.run.clone(),
                results: args.output.clone(),
                errors: args.errors.clone(),
                config: layers.config_path().to_path_buf(),
            }),
            Command::Purge(args) => CommandSettings::Purge(PurgeSettings {
                state: state_path(&args.state, config, layers, false),
                older_than: Sourced {
                    value: args.older_than.clone(),
                    origin: Origin::Flag("--older-than".into()),
                }
                .parse("an age like 30d, 12h or 0", |text| parse_duration(text))?
                .value,
                config: layers.config_path().to_path_buf(),
            }),
            Command::Backup(args) => CommandSettings::Backup(BackupSettings {
                state: state_path(&args.state, config, layers, false),
                dest: args.dest.clone(),
                config: layers.config_path().to_path_buf(),
            }),
            Command::Sandbox(args) => CommandSettings::Sandbox(sandbox::settings(args, layers)?),
            Command::Serve(args) => CommandSettings::Serve(Box::new(serve::serve_settings(
                args, config, layers, today, env, warnings,
            )?)),
            Command::Users(args) => CommandSettings::Users(serve::users_settings(args, config, layers)?),
            Command::Tokens(args) => CommandSettings::Tokens(serve::tokens_settings(args, config, layers)?),
            Command::Completions(args) => CommandSettings::Completions(args.shell),
            Command::Man => CommandSettings::Man,
        })
    }
}

/// A command line clap refused, as it may be said: a credential from the environment given as
/// another value (`CIBIL_BULK_CONCURRENCY` set to the company code) is masked in what clap
/// repeats of it. Help and the version pass as they are.
pub fn usage_error_without_credentials(
    error: clap::Error,
    env: &dyn Fn(&str) -> Option<String>,
) -> clap::Error {
    if !error.use_stderr() {
        return error;
    }
    let secrets = run::secrets_given(&ConfigFile::default(), env);
    let said = error.render().to_string();
    let said = match without_credentials(&said, &secrets) {
        None => return error,
        Some(Some(masked)) => masked,
        Some(None) => format!("{}\n", SettingsError::CredentialGivenElsewhere),
    };
    clap::Error::raw(error.kind(), said.strip_prefix("error: ").unwrap_or(&said))
}

/// For a `run` whose settings cannot be resolved (a value refused, a config file that does not
/// parse): the files it writes on every exit, as far as the command line, its environment and
/// the config file (when it can be read) name them, so that the usage error is recorded there.
pub fn run_exit_paths(cli: &Cli) -> Option<RunExitPaths> {
    let Command::Run(args) = &cli.command else { return None };
    let (config, config_path) =
        config::load(cli.global.config.as_deref(), Path::new(".")).unwrap_or_else(|_| {
            let named = cli.global.config.clone().unwrap_or_else(|| Path::new(".").join(DEFAULT_CONFIG));
            (ConfigFile::default(), named)
        });
    let layers = Layers { sources: &cli.sources, config_path: &config_path };
    Some(RunExitPaths {
        input: args.input.file.clone(),
        state: state_path(&args.state, &config, layers, args.sandbox),
        config: config_path.clone(),
        summary: args.summary.clone(),
        metrics_file: run::metrics_file(&args.metrics, &config, layers, &mut Vec::new()),
    })
}

/// The state database: `--state`, `[run] state`, or the default (the sandbox's own with
/// `--sandbox`).
fn state_path(args: &StateArgs, config: &ConfigFile, layers: Layers<'_>, sandbox: bool) -> PathBuf {
    let default = if sandbox { DEFAULT_SANDBOX_STATE } else { DEFAULT_STATE };
    layers
        .pick("run", "state", Some(args.state.clone()), config.run.state.clone())
        .map_or_else(|| PathBuf::from(default), |s| s.value)
}

#[cfg(test)]
mod tests;
