//! The settings of `cibil-bulk serve`, and of `users` and `tokens`, which say who may use it.
//! `serve` reads how to send and how to judge a file exactly as `run` does (the same flags, the
//! same config keys, the same environment), so that a file sent through the page meets the rules
//! and the limits a file run from the terminal meets.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use chrono::NaiveDate;

use super::config::ConfigFile;
use super::parse::{parse_duration, parse_listen, parse_size};
use super::{Layers, Origin, SettingsError, state_path};
use crate::api::ApiSettings;
use crate::cli::{
    AccessStateArgs, RoleArg, ScopeArg, ServeArgs, TokensAction, TokensArgs, UsersAction, UsersArgs,
};
use crate::engine::EngineSettings;
use crate::settings::InputSettings;
use crate::store::{Role, Scope};

/// Where `serve` listens without `--listen`: this machine only. Listening on the network is the
/// operator's explicit choice, normally behind a reverse proxy that brings TLS.
pub const DEFAULT_SERVE_LISTEN: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 8080);
/// The largest upload accepted without `--max-upload`: 50 MB is a workbook of several hundred
/// thousand customers, far more than a day's onboarding.
pub const DEFAULT_MAX_UPLOAD: u64 = 50_000_000;
/// How long a login lasts: a working day, and a little more.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(10 * 3600);

/// `cibil-bulk serve`.
#[derive(Debug, Clone)]
pub struct ServeSettings {
    pub listen: SocketAddr,
    /// Send to the built-in simulator, with the sandbox state.
    pub sandbox: bool,
    /// Largest upload accepted, in bytes.
    pub max_upload: u64,
    pub state: PathBuf,
    /// With `sandbox`, the endpoint and credentials are the simulator's, set when it starts.
    pub api: ApiSettings,
    pub engine: EngineSettings,
    /// How every upload is read and judged; `path` is each upload's own.
    pub input: InputSettings,
    /// The run date was given (`CIBIL_BULK_TODAY`); otherwise each upload is judged on the day it
    /// arrives, as a server runs for many days.
    pub today_pinned: bool,
    pub session_lifetime: Duration,
    /// `--metrics-file`: written after every job.
    pub metrics_file: Option<PathBuf>,
    /// The config file in use (or the default name one would have): no output may replace it.
    pub config: PathBuf,
    /// How long customers' personal data is kept once a job ends (`--keep-personal-data`).
    pub keep_personal_data: Duration,
}

/// `cibil-bulk users ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsersSettings {
    pub state: PathBuf,
    pub action: UserAction,
    /// The config file in use (or the default name one would have): never a state's companion.
    pub config: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserAction {
    Add { name: String, password_stdin: bool, role: Role },
    Role { name: String, role: Role },
    List,
    Remove { name: String },
}

/// `cibil-bulk tokens ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokensSettings {
    pub state: PathBuf,
    pub action: TokenAction,
    /// The config file in use (or the default name one would have): never a state's companion.
    pub config: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenAction {
    Add { name: String, scopes: Vec<Scope> },
    List,
    Revoke { name: String },
}

/// How long the server keeps customers' personal data once a job ended, without
/// `--keep-personal-data`: a month, time enough to correct and resend a file.
pub const DEFAULT_KEEP_PERSONAL_DATA: Duration = Duration::from_secs(30 * 24 * 3600);

pub(super) fn serve_settings(
    args: &ServeArgs,
    config: &ConfigFile,
    layers: Layers<'_>,
    today: NaiveDate,
    env: &dyn Fn(&str) -> Option<String>,
    warnings: &mut Vec<String>,
) -> Result<ServeSettings, SettingsError> {
    // The flags have no config keys: a server's address and limits are its unit file's business.
    let listen = layers.resolve(
        ("serve", "listen"),
        Some(args.listen.clone()),
        None,
        DEFAULT_SERVE_LISTEN,
        "an address such as 127.0.0.1:8080, localhost:8080 or a port alone such as 8080",
        |text| parse_listen(text),
    )?;
    let max_upload = layers.resolve(
        ("serve", "max_upload"),
        Some(args.max_upload.clone()),
        None,
        DEFAULT_MAX_UPLOAD,
        "a size such as 50MB, 500kB or 1GiB (at least 1 KiB)",
        |text| parse_size(text),
    )?;
    // Read exactly as `run` reads them; each upload gets its own path.
    let input = super::input::settings(std::path::Path::new(""), &args.read, &config.input, layers, today)?;
    let today_pinned = layers.pick("input", "today", args.read.today.clone(), None).is_some();
    let (api, engine) = super::run::sending(&args.send, config, layers, env, !args.sandbox, warnings)?;
    let keep_personal_data = layers.resolve(
        ("serve", "keep_personal_data"),
        args.keep_personal_data.clone(),
        config.serve.keep_personal_data.clone(),
        DEFAULT_KEEP_PERSONAL_DATA,
        "an age like 30d or 12h, at least an hour",
        |text| parse_duration(text).filter(|d| *d >= Duration::from_secs(3600)),
    )?;
    Ok(ServeSettings {
        keep_personal_data,
        listen,
        sandbox: args.sandbox,
        max_upload,
        state: state_path(&args.state, config, layers, args.sandbox),
        api,
        engine,
        input,
        today_pinned,
        session_lifetime: SESSION_LIFETIME,
        metrics_file: super::run::metrics_file(&args.metrics, config, layers, warnings),
        config: layers.config_path().to_owned(),
    })
}

fn name(name: &str) -> Result<String, SettingsError> {
    crate::server::auth::check_name(name).map_err(|expected| SettingsError::Invalid {
        origin: Origin::Flag("NAME".into()),
        value: name.to_owned(),
        expected,
    })?;
    Ok(name.to_owned())
}

fn place(args: &AccessStateArgs, config: &ConfigFile, layers: Layers<'_>) -> PathBuf {
    state_path(&args.state, config, layers, args.sandbox)
}

pub(super) fn users_settings(
    args: &UsersArgs,
    config: &ConfigFile,
    layers: Layers<'_>,
) -> Result<UsersSettings, SettingsError> {
    let (state, action) = match &args.action {
        UsersAction::Add { name: n, password_stdin, admin, place: p } => {
            let role = if *admin { Role::Admin } else { Role::Clerk };
            (
                place(p, config, layers),
                UserAction::Add { name: name(n)?, password_stdin: *password_stdin, role },
            )
        }
        UsersAction::Role { name: n, role, place: p } => {
            let role = match role {
                RoleArg::Clerk => Role::Clerk,
                RoleArg::Admin => Role::Admin,
            };
            (place(p, config, layers), UserAction::Role { name: n.clone(), role })
        }
        UsersAction::List { place: p } => (place(p, config, layers), UserAction::List),
        UsersAction::Remove { name: n, place: p } => {
            (place(p, config, layers), UserAction::Remove { name: n.clone() })
        }
    };
    Ok(UsersSettings { state, action, config: layers.config_path().to_owned() })
}

pub(super) fn tokens_settings(
    args: &TokensArgs,
    config: &ConfigFile,
    layers: Layers<'_>,
) -> Result<TokensSettings, SettingsError> {
    let (state, action) = match &args.action {
        TokensAction::Add { name: n, scope, place: p } => {
            let mut scopes: Vec<Scope> = scope
                .iter()
                .map(|s| match s {
                    ScopeArg::Upload => Scope::Upload,
                    ScopeArg::Register => Scope::Register,
                    ScopeArg::ReadResults => Scope::ReadResults,
                    ScopeArg::AllUploads => Scope::AllUploads,
                })
                .collect();
            scopes.sort();
            scopes.dedup();
            (place(p, config, layers), TokenAction::Add { name: name(n)?, scopes })
        }
        TokensAction::List { place: p } => (place(p, config, layers), TokenAction::List),
        TokensAction::Revoke { name: n, place: p } => {
            (place(p, config, layers), TokenAction::Revoke { name: n.clone() })
        }
    };
    Ok(TokensSettings { state, action, config: layers.config_path().to_owned() })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::cli::Cli;
    use crate::settings::{CommandSettings, DEFAULT_SANDBOX_STATE, DEFAULT_STATE, Settings};

    fn resolve(args: &[&str]) -> Result<CommandSettings, SettingsError> {
        let cli = Cli::try_parse_args_from([&["cibil-bulk"], args].concat()).unwrap();
        let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
        Ok(Settings::resolve_in(&cli, Path::new("/nonexistent"), today, &|_| None)?.command)
    }

    #[test]
    fn users_and_tokens_name_their_state() {
        let CommandSettings::Users(users) = resolve(&["users", "add", "asha", "--password-stdin"]).unwrap()
        else {
            panic!()
        };
        assert_eq!(users.state, PathBuf::from(DEFAULT_STATE));
        assert_eq!(
            users.action,
            UserAction::Add { name: "asha".into(), password_stdin: true, role: Role::Clerk }
        );
        let CommandSettings::Users(users) = resolve(&["users", "list", "--sandbox"]).unwrap() else {
            panic!()
        };
        assert_eq!((users.state, users.action), (PathBuf::from(DEFAULT_SANDBOX_STATE), UserAction::List));
        let CommandSettings::Tokens(tokens) =
            resolve(&["tokens", "revoke", "nightly", "--state", "branch.db"]).unwrap()
        else {
            panic!()
        };
        assert_eq!(tokens.state, PathBuf::from("branch.db"));
        assert_eq!(tokens.action, TokenAction::Revoke { name: "nightly".into() });
    }

    fn serve(args: &[&str]) -> Result<ServeSettings, SettingsError> {
        match resolve(&[&["serve"], args].concat())? {
            CommandSettings::Serve(settings) => Ok(*settings),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn serve_listens_on_this_machine_and_reads_credentials_as_run_does() {
        let err = serve(&[]).unwrap_err();
        assert!(matches!(err, SettingsError::NoCredentials { .. }), "{err}");
        let s = serve(&["--sandbox"]).unwrap();
        assert_eq!((s.listen, s.max_upload), (DEFAULT_SERVE_LISTEN, DEFAULT_MAX_UPLOAD));
        assert!(s.listen.ip().is_loopback());
        assert_eq!(s.state, PathBuf::from(DEFAULT_SANDBOX_STATE));
        assert!(s.sandbox && !s.today_pinned);
        assert_eq!(s.session_lifetime, SESSION_LIFETIME);
    }

    #[test]
    fn serve_takes_runs_flags_and_its_own() {
        let s = serve(&[
            "--sandbox",
            "--listen",
            "0.0.0.0:9000",
            "--max-upload",
            "2MiB",
            "--rate",
            "5/s",
            "--concurrency",
            "3",
            "--min-age",
            "21",
            "--map",
            "pancard=PAN Number",
            "--today",
            "2026-01-02",
        ])
        .unwrap();
        assert_eq!(s.listen, "0.0.0.0:9000".parse().unwrap());
        assert_eq!(s.max_upload, 2 * 1024 * 1024);
        assert_eq!((s.engine.rate.to_string(), s.engine.concurrency.get()), ("5/s".to_owned(), 3));
        assert_eq!(s.input.min_age, 21);
        assert_eq!(s.input.map.len(), 1);
        assert!(s.today_pinned);
        assert_eq!(s.input.today, chrono::NaiveDate::from_ymd_opt(2026, 1, 2).unwrap());
        for (args, start) in [
            (&["--max-upload", "50 parsecs"][..], "--max-upload: \"50 parsecs\""),
            (&["--max-upload", "10"][..], "--max-upload: \"10\""),
            (&["--listen", "example.com:80"][..], "--listen: \"example.com:80\""),
            (&["--rate", "fast"][..], "--rate: \"fast\""),
        ] {
            let err = serve(&[&["--sandbox"], args].concat()).unwrap_err().to_string();
            assert!(err.starts_with(start), "{args:?}: {err}");
        }
    }

    #[test]
    fn a_name_that_cannot_be_shown_safely_is_refused() {
        let err = resolve(&["users", "add", "<b>x</b>"]).unwrap_err().to_string();
        assert!(err.starts_with("NAME: \"<b>x</b>\" is not a name of 1 to 64"), "{err}");
        assert!(resolve(&["tokens", "add", "two words", "--scope", "upload"]).is_err());
    }
}
