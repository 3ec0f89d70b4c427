//! `cibil-bulk run`: the customer file, the state, the output files, and how to send — the
//! endpoint, the merchant's credentials, the rate and the patience — which every command that
//! registers customers shares ([`sending`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::NaiveDate;

use super::config::{ConfigFile, warn_if_readable_by_others};
use super::parse::{
    DURATION_EXPECTED, RATE_EXPECTED, bounded_duration, count_up_to, parse_duration, parse_endpoint,
    parse_rate,
};
use super::{
    ENV_COMPANY_CODE, ENV_REGISTRATION_ID, InputSettings, Layers, Origin, SettingsError, Sourced, state_path,
};
use crate::api::{
    ApiSettings, Credentials, DEFAULT_CONNECT_TIMEOUT, DEFAULT_METHOD, DEFAULT_TIMEOUT, Method,
    PRODUCTION_ENDPOINT, SecretMask,
};
use crate::cli::{MetricsArgs, RunArgs, SendArgs};
use crate::engine::{
    DEFAULT_BURST, DEFAULT_CONCURRENCY, DEFAULT_MAX_ATTEMPTS, DEFAULT_MAX_CONSECUTIVE_FAILURES,
    DEFAULT_MAX_RETRY_AFTER, DEFAULT_RATE, DEFAULT_RATE_MODE, EngineSettings, RateMode,
};
use crate::store::DEFAULT_LOCK_WAIT;

#[derive(Debug, Clone)]
pub struct RunSettings {
    pub input: InputSettings,
    pub state: PathBuf,
    /// `--output`, when given; see [`RunSettings::outputs`].
    pub results: Option<PathBuf>,
    /// `--errors`, when given.
    pub errors: Option<PathBuf>,
    pub summary: Option<PathBuf>,
    /// `--metrics-file`: written on every exit, as the summary is.
    pub metrics_file: Option<PathBuf>,
    /// With `--sandbox`, the endpoint and credentials are the simulator's, set when it starts.
    pub api: ApiSettings,
    pub engine: EngineSettings,
    /// How long to wait for another run holding the state.
    pub lock_wait: Duration,
    pub dry_run: bool,
    pub sandbox: bool,
    /// The config file in use (or the default name one would have): no output may replace it.
    pub config: PathBuf,
}

/// The files `run` writes on every exit, whatever ends it (its summary and metrics file), and
/// what they are about and must never replace: known from the settings, or, when those cannot be
/// resolved, from as much of the command line and config file as can be read
/// ([`super::run_exit_paths`]).
#[derive(Debug, Clone)]
pub struct RunExitPaths {
    pub input: PathBuf,
    pub state: PathBuf,
    pub config: PathBuf,
    pub summary: Option<PathBuf>,
    pub metrics_file: Option<PathBuf>,
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

pub(super) fn settings(
    args: &RunArgs,
    config: &ConfigFile,
    layers: Layers<'_>,
    today: NaiveDate,
    env: &dyn Fn(&str) -> Option<String>,
    warnings: &mut Vec<String>,
) -> Result<RunSettings, SettingsError> {
    let input = super::input::settings(&args.input.file, &args.input.read, &config.input, layers, today)?;
    // The sandbox brings its own credentials; a dry run sends nothing.
    let (api, engine) = sending(&args.send, config, layers, env, !(args.sandbox || args.dry_run), warnings)?;
    let lock_wait = layers.resolve(
        ("run", "lock_wait"),
        Some(args.lock_wait.clone()),
        config.run.lock_wait.clone(),
        DEFAULT_LOCK_WAIT,
        "a duration like 10s or 2m (0 not to wait), at most a day",
        |t| parse_duration(t).filter(|d| *d <= Duration::from_secs(24 * 3600)),
    )?;
    Ok(RunSettings {
        lock_wait,
        state: state_path(&args.state, config, layers, args.sandbox),
        input,
        results: args.output.clone(),
        errors: args.errors.clone(),
        summary: args.summary.clone(),
        metrics_file: metrics_file(&args.metrics, config, layers, warnings),
        api,
        engine,
        dry_run: args.dry_run,
        sandbox: args.sandbox,
        config: layers.config_path().to_owned(),
    })
}

/// `--metrics-file`, `CIBIL_BULK_METRICS_FILE` or `[run] metrics_file`: none by default. Shared by
/// `run` and `serve`.
pub(super) fn metrics_file(
    args: &MetricsArgs,
    config: &ConfigFile,
    layers: Layers<'_>,
    warnings: &mut Vec<String>,
) -> Option<PathBuf> {
    let path =
        layers.pick("run", "metrics_file", args.metrics_file.clone(), config.run.metrics_file.clone())?;
    // node_exporter's textfile collector reads `*.prom` only: any other name is never scraped,
    // and the alert on a missing run would fire every night for no reason the operator can see.
    if path.value.extension().is_none_or(|e| e != "prom") {
        warnings.push(format!(
            "{}: {} does not end in .prom, and node_exporter's textfile collector reads only files \
             that do",
            path.origin,
            path.value.display()
        ));
    }
    Some(path.value)
}

/// The merchant's credentials as given: each from its environment variable, or else from the
/// config file; a blank one is not given.
fn credentials_given(
    config: &ConfigFile,
    env: &dyn Fn(&str) -> Option<String>,
) -> (Option<String>, Option<String>) {
    let not_blank = |v: &String| !v.trim().is_empty();
    let given = |variable: &str, configured: &Option<String>| {
        env(variable).filter(not_blank).or_else(|| configured.clone().filter(not_blank))
    };
    (
        given(ENV_REGISTRATION_ID, &config.aopay.registration_id),
        given(ENV_COMPANY_CODE, &config.aopay.company_code),
    )
}

/// The secrets given — the credentials (whichever are), the extra headers' values — to be masked
/// in whatever a setting's error repeats of the values given: a secret pasted into another
/// setting is not printed back.
pub(super) fn secrets_given(config: &ConfigFile, env: &dyn Fn(&str) -> Option<String>) -> SecretMask {
    let (registration_id, company_code) = credentials_given(config, env);
    let headers = config.aopay.headers.values().map(String::as_str);
    SecretMask::new(registration_id.as_deref().into_iter().chain(company_code.as_deref()).chain(headers))
}

/// How to send: the endpoint and the merchant's credentials (required when `credentials_needed`),
/// and how hard to push. Credentials come from the environment or the config file only.
pub(super) fn sending(
    args: &SendArgs,
    config: &ConfigFile,
    layers: Layers<'_>,
    env: &dyn Fn(&str) -> Option<String>,
    credentials_needed: bool,
    warnings: &mut Vec<String>,
) -> Result<(ApiSettings, EngineSettings), SettingsError> {
    let (run, aopay) = (&config.run, &config.aopay);
    let rate = layers.resolve(
        ("run", "rate"),
        Some(args.rate.clone()),
        run.rate.clone(),
        DEFAULT_RATE,
        RATE_EXPECTED,
        |t| parse_rate(t),
    )?;
    let rate_mode = layers.resolve(
        ("run", "rate_mode"),
        Some(args.rate_mode.to_string()),
        run.rate_mode.clone(),
        DEFAULT_RATE_MODE,
        "adaptive or fixed",
        |text| RateMode::parse(text),
    )?;
    let concurrency = layers.resolve(
        ("run", "concurrency"),
        Some(args.concurrency),
        run.concurrency,
        DEFAULT_CONCURRENCY,
        "a whole number from 1 to 1024",
        |n| count_up_to(1024)(n).and_then(|n| std::num::NonZeroUsize::try_from(n).ok()),
    )?;
    let burst = layers.resolve(
        ("run", "burst"),
        Some(args.burst),
        run.burst,
        DEFAULT_BURST,
        "a whole number from 1 to 100000",
        count_up_to(100_000),
    )?;
    let max_attempts = layers.resolve(
        ("run", "max_attempts"),
        Some(args.max_attempts),
        run.max_attempts,
        DEFAULT_MAX_ATTEMPTS,
        "a whole number from 1 to 100",
        count_up_to(100),
    )?;
    let max_consecutive_failures = layers.resolve(
        ("run", "max_consecutive_failures"),
        Some(args.max_consecutive_failures),
        run.max_consecutive_failures,
        DEFAULT_MAX_CONSECUTIVE_FAILURES,
        "a whole number from 1 to 100000",
        count_up_to(100_000),
    )?;
    let max_retry_after = layers.resolve(
        ("run", "max_retry_after"),
        Some(args.max_retry_after.clone()),
        run.max_retry_after.clone(),
        DEFAULT_MAX_RETRY_AFTER,
        DURATION_EXPECTED,
        |t| bounded_duration(t),
    )?;
    let timeout = layers.resolve(
        ("aopay", "timeout"),
        Some(args.timeout.clone()),
        aopay.timeout.clone(),
        DEFAULT_TIMEOUT,
        DURATION_EXPECTED,
        |t| bounded_duration(t),
    )?;
    let connect_timeout = layers.resolve(
        ("aopay", "connect_timeout"),
        None,
        aopay.connect_timeout.clone(),
        DEFAULT_CONNECT_TIMEOUT,
        DURATION_EXPECTED,
        |t| bounded_duration(t),
    )?;
    let method = layers.resolve(
        ("aopay", "method"),
        Some(args.method.to_string()),
        aopay.method.clone(),
        DEFAULT_METHOD,
        "get or post",
        |text| match text.to_ascii_lowercase().as_str() {
            "get" => Some(Method::Get),
            "post" => Some(Method::Post),
            _ => None,
        },
    )?;

    let allow_insecure = args.allow_insecure_http || aopay.allow_insecure_http.unwrap_or(false);
    let endpoint = match layers.pick("aopay", "endpoint", args.endpoint.clone(), aopay.endpoint.clone()) {
        Some(given) => Sourced {
            value: parse_endpoint(&given.value, given.origin.clone(), allow_insecure)?,
            origin: given.origin,
        },
        None => Sourced {
            value: parse_endpoint(PRODUCTION_ENDPOINT, Origin::Default, allow_insecure)?,
            origin: Origin::Default,
        },
    };

    let (registration_id, company_code) = credentials_given(config, env);
    if config.holds_secrets() {
        warn_if_readable_by_others(layers.config_path(), warnings);
    }
    let credentials = match (registration_id, company_code) {
        (Some(registration_id), Some(company_code)) => Credentials { registration_id, company_code },
        _ if !credentials_needed => {
            Credentials { registration_id: String::new(), company_code: String::new() }
        }
        _ => {
            return Err(SettingsError::NoCredentials { config: layers.config_path().display().to_string() });
        }
    };

    let (endpoint_origin, endpoint) = (endpoint.origin, endpoint.value);
    let mut engine = EngineSettings::new(concurrency, rate);
    engine.rate_mode = rate_mode;
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
        headers: aopay.headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        omit_empty_middle_name: aopay.omit_empty_middle_name.unwrap_or(false),
        credentials,
        pool_size: engine.concurrency.get(),
    };
    // An address is printed, logged and kept with every run: a secret has no place in it, in its
    // host, its path, its query or its fragment, escaped or not.
    let url = &api.endpoint;
    let beyond_the_port = format!(
        "{} {} {} {}",
        url.host_str().unwrap_or_default(),
        url.path(),
        url.query().unwrap_or_default(),
        url.fragment().unwrap_or_default()
    );
    if api.secrets().holds(&percent_encoding::percent_decode_str(&beyond_the_port).decode_utf8_lossy()) {
        return Err(SettingsError::CredentialInEndpoint { origin: endpoint_origin });
    }
    Ok((api, engine))
}
