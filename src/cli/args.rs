//! The arguments of each command but the customer file's: the state, the outputs, how to send,
//! and the sandbox's faults.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::InputArgs;
use crate::{api, engine, settings};

/// Where the state lives.
#[derive(Debug, Args)]
pub struct StateArgs {
    /// The state database: every row's status and outcome, the ledger of registered customers.
    /// A `--sandbox` run without --state keeps a state of its own (cibil-bulk.sandbox.db); with
    /// --state, that file, bound from then on to the sandbox (a real run on it is refused).
    ///
    /// Example: --state /var/lib/cibil-bulk/branch-12.db
    #[arg(long, env = "CIBIL_BULK_STATE", value_name = "FILE", default_value = settings::DEFAULT_STATE)]
    pub state: PathBuf,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub input: InputArgs,

    #[command(flatten)]
    pub state: StateArgs,

    /// Results file: every row with its status and cibil_id, then the file's own columns
    /// [default: beside FILE, as FILE.results.csv — FILE.results.xlsx for a workbook].
    ///
    /// Example: --output registered.csv
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Errors file: the rows to fix or retry, with the file's own columns and an error column
    /// [default: beside FILE, as FILE.errors.csv — FILE.errors.xlsx for a workbook].
    ///
    /// Example: --errors to-fix.csv
    #[arg(long, value_name = "FILE")]
    pub errors: Option<PathBuf>,

    /// Write the counts, timings, files and exit status as JSON here, for scripts.
    ///
    /// Example: --summary /var/log/cibil-bulk/last-run.json
    #[arg(long, value_name = "FILE")]
    pub summary: Option<PathBuf>,

    #[command(flatten)]
    pub metrics: MetricsArgs,

    #[command(flatten)]
    pub send: SendArgs,

    /// How long to wait for another run using the same state database to finish before giving up
    /// (exit 3, naming it).
    ///
    /// Example: --lock-wait 2m
    #[arg(long, env = "CIBIL_BULK_LOCK_WAIT", value_name = "DURATION", default_value_t = settings::show_duration(crate::store::DEFAULT_LOCK_WAIT))]
    pub lock_wait: String,

    /// Check the file and show what would be sent, without sending anything or keeping state.
    ///
    /// Example: cibil-bulk run customers.csv --dry-run
    #[arg(long)]
    pub dry_run: bool,

    /// Send to a built-in AOPay simulator on this machine instead of AOPay, with a state file of
    /// its own: for trying the tool out, and for rehearsals.
    ///
    /// Example: cibil-bulk run samples/customers.csv --sandbox
    #[arg(long, conflicts_with = "endpoint")]
    pub sandbox: bool,
}

/// The metrics file for monitoring: shared by `run` and `serve`.
#[derive(Debug, Args)]
pub struct MetricsArgs {
    /// Write how the run ended — exit status, time, duration, rows per status, requests — in
    /// Prometheus' text format here, whatever the exit: for node_exporter's textfile collector
    /// (name it *.prom in its directory). `serve` writes it after every job.
    ///
    /// Example: --metrics-file /var/lib/node_exporter/textfile/cibil-bulk.prom
    #[arg(long, env = "CIBIL_BULK_METRICS_FILE", value_name = "FILE")]
    pub metrics_file: Option<PathBuf>,
}

/// Where and how hard to send: shared by every command that registers customers.
#[derive(Debug, Args)]
#[command(next_help_heading = "Sending")]
pub struct SendArgs {
    /// Most requests per second (N/s), per minute (N/m) or per hour (N/h). Retries count too.
    /// With --rate-mode adaptive, the ceiling: AOPay's own quota is found below it and held.
    ///
    /// Example: --rate 50/s
    #[arg(long, env = "CIBIL_BULK_RATE", value_name = "RATE", default_value_t = engine::DEFAULT_RATE.to_string())]
    pub rate: String,

    /// adaptive: slow down to what AOPay accepts when it answers "too many requests" (429),
    /// hold just below it, and remember it in the state for the next run; 429s that come at
    /// random whatever the pace are told apart, and only the refused request waits. fixed: always
    /// --rate, for those who know their quota exactly, and every 429 pauses every request.
    ///
    /// Example: --rate-mode fixed
    #[arg(long, env = "CIBIL_BULK_RATE_MODE", value_name = "MODE", default_value_t = RateModeArg::from(engine::DEFAULT_RATE_MODE))]
    pub rate_mode: RateModeArg,

    /// Requests that may leave at once on top of the rate.
    ///
    /// Example: --burst 5
    #[arg(long, env = "CIBIL_BULK_BURST", value_name = "N", default_value_t = engine::DEFAULT_BURST.get())]
    pub burst: u32,

    /// Most requests in flight at once.
    ///
    /// Example: --concurrency 32
    #[arg(long, env = "CIBIL_BULK_CONCURRENCY", value_name = "N", default_value_t = engine::DEFAULT_CONCURRENCY.get() as u32)]
    pub concurrency: u32,

    /// The registration endpoint [default: AOPay's production URL].
    ///
    /// Example: --endpoint https://uat.aopay.co.in/api/AOP/CibilScore/registeration
    #[arg(long, env = "AOPAY_ENDPOINT", value_name = "URL")]
    pub endpoint: Option<String>,

    /// HTTP method: AOPay documents GET with a JSON body; its cURL sample sends POST.
    ///
    /// Example: --method post
    #[arg(long, env = "AOPAY_METHOD", value_name = "METHOD", default_value_t = MethodArg::from(api::DEFAULT_METHOD))]
    pub method: MethodArg,

    /// Longest wait for one answer, from connecting to its last byte.
    ///
    /// Example: --timeout 45s
    #[arg(long, env = "CIBIL_BULK_TIMEOUT", value_name = "DURATION", default_value_t = settings::show_duration(api::DEFAULT_TIMEOUT))]
    pub timeout: String,

    /// Attempts per row when AOPay does not answer (timeouts, 5xx), the first included. Rows
    /// still unanswered are "failed" and tried again by the next run.
    ///
    /// Example: --max-attempts 8
    #[arg(long, env = "CIBIL_BULK_MAX_ATTEMPTS", value_name = "N", default_value_t = engine::DEFAULT_MAX_ATTEMPTS.get())]
    pub max_attempts: u32,

    /// Stop the run after this many requests in a row fail to get an answer.
    ///
    /// Example: --max-consecutive-failures 50
    #[arg(long, env = "CIBIL_BULK_MAX_CONSECUTIVE_FAILURES", value_name = "N", default_value_t = engine::DEFAULT_MAX_CONSECUTIVE_FAILURES.get())]
    pub max_consecutive_failures: u32,

    /// Longest pause honoured when AOPay asks to wait (Retry-After). A longer request is cut to
    /// this, with a warning.
    ///
    /// Example: --max-retry-after 60s
    #[arg(long, env = "CIBIL_BULK_MAX_RETRY_AFTER", value_name = "DURATION", default_value_t = settings::show_duration(engine::DEFAULT_MAX_RETRY_AFTER))]
    pub max_retry_after: String,

    /// Allow an http:// endpoint that is not on this machine (credentials and personal data
    /// would cross the network unencrypted).
    ///
    /// Example: --allow-insecure-http
    #[arg(long)]
    pub allow_insecure_http: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MethodArg {
    Get,
    Post,
}

impl From<api::Method> for MethodArg {
    fn from(method: api::Method) -> MethodArg {
        match method {
            api::Method::Get => MethodArg::Get,
            api::Method::Post => MethodArg::Post,
        }
    }
}

impl std::fmt::Display for MethodArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MethodArg::Get => "get",
            MethodArg::Post => "post",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RateModeArg {
    Adaptive,
    Fixed,
}

impl From<engine::RateMode> for RateModeArg {
    fn from(mode: engine::RateMode) -> RateModeArg {
        match mode {
            engine::RateMode::Adaptive => RateModeArg::Adaptive,
            engine::RateMode::Fixed => RateModeArg::Fixed,
        }
    }
}

impl std::fmt::Display for RateModeArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RateModeArg::Adaptive => "adaptive",
            RateModeArg::Fixed => "fixed",
        })
    }
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub state: StateArgs,

    /// A run: its number (from `cibil-bulk status`) or the customer file it was made from.
    /// Without it, every run is listed.
    ///
    /// Example: 3
    #[arg(value_name = "RUN")]
    pub run: Option<String>,
}

#[derive(Debug, Args)]
pub struct PurgeArgs {
    #[command(flatten)]
    pub state: StateArgs,

    /// Purge runs that finished longer ago than this: days (30d), hours (12h), or 0 for every
    /// finished run.
    ///
    /// Example: --older-than 30d
    #[arg(long, value_name = "AGE")]
    pub older_than: String,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Where the copy goes: a new file, or one to replace (never the state, the customer file
    /// or the config file).
    ///
    /// Example: /var/backups/cibil-bulk/2026-12-07.db
    #[arg(value_name = "DEST")]
    pub dest: PathBuf,

    #[command(flatten)]
    pub state: StateArgs,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub state: StateArgs,

    /// The run: its number (from `cibil-bulk status`) or the customer file it was made from.
    ///
    /// Example: 3
    #[arg(value_name = "RUN")]
    pub run: String,

    /// Where to write the results.
    ///
    /// Example: --output results.csv
    #[arg(long, value_name = "FILE")]
    pub output: PathBuf,

    /// Also write the rows that need attention here.
    ///
    /// Example: --errors to-fix.csv
    #[arg(long, value_name = "FILE")]
    pub errors: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub input: InputArgs,

    /// Write the rows that need fixing here: the file's own columns and headers plus an "error"
    /// column. Fix the cells, delete the error column if you like, and run the file again.
    ///
    /// Example: --errors to-fix.csv
    #[arg(long, value_name = "FILE")]
    pub errors: Option<PathBuf>,

    /// Write a report of every row here: line, status, the normalised values, errors, warnings.
    ///
    /// Example: --output report.csv
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Write the counts as JSON here, for scripts.
    ///
    /// Example: --summary validate.json
    #[arg(long, value_name = "FILE")]
    pub summary: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// Address to listen on: IP:PORT, localhost:PORT, or a port alone (on 127.0.0.1); port 0
    /// picks a free one.
    ///
    /// Example: --listen 127.0.0.1:9000
    #[arg(long, value_name = "ADDRESS", default_value_t = settings::DEFAULT_SANDBOX_LISTEN.to_string())]
    pub listen: String,

    /// Delay every answer by this long on average (units: ms, s, m; decimals allowed).
    ///
    /// Example: --latency 50ms
    #[arg(long, value_name = "DURATION")]
    pub latency: Option<String>,

    /// Spread each delay evenly within plus or minus this much around --latency (never below 0).
    ///
    /// Example: --latency 200ms --jitter 50ms
    #[arg(long, value_name = "DURATION")]
    pub jitter: Option<String>,

    /// Share of requests answered 500, 502 or 503; a third of them with an HTML page, as a
    /// reverse proxy sends.
    ///
    /// Example: --error-rate 0.05
    #[arg(long, value_name = "SHARE")]
    pub error_rate: Option<f64>,

    /// Share of requests answered 429 Too Many Requests with Retry-After: 1.
    ///
    /// Example: --throttle-rate 0.02
    #[arg(long, value_name = "SHARE")]
    pub throttle_rate: Option<f64>,

    /// Allow at most this many requests in any one second; the rest get 429 with Retry-After (the
    /// seconds until a slot frees) and count as violations in the stats, not toward the limit.
    ///
    /// Example: --rate-limit 10
    #[arg(long, value_name = "N")]
    pub rate_limit: Option<u32>,

    /// Share of requests never answered: the client must time out.
    ///
    /// Example: --hang-rate 0.01
    #[arg(long, value_name = "SHARE")]
    pub hang_rate: Option<f64>,

    /// Share of requests whose connection is dropped (reset) without an answer.
    ///
    /// Example: --reset-rate 0.01
    #[arg(long, value_name = "SHARE")]
    pub reset_rate: Option<f64>,

    /// Share of requests answered 200 with a body that is not valid JSON.
    ///
    /// Example: --garbage-rate 0.01
    #[arg(long, value_name = "SHARE")]
    pub garbage_rate: Option<f64>,

    /// Share of the hang, reset and error faults that strike after the registration was recorded,
    /// as a server that commits and then fails: a retry with the same order_id then gets a replay,
    /// the customer sent again under a new order_id a double registration [default: 0].
    ///
    /// Example: --error-rate 0.05 --commit-before-fault 0.5
    #[arg(long, value_name = "SHARE")]
    pub commit_before_fault: Option<f64>,

    /// Seed for the fault decisions: the same seed gives the n-th request the same fate
    /// [default: random, shown at start].
    ///
    /// Example: --seed 42
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// Send cibil_id as a JSON number instead of a string (the vendor's pages show both).
    ///
    /// Example: --numeric-cibil-id
    #[arg(long)]
    pub numeric_cibil_id: bool,

    /// Refuse an order id already registered ("Duplicate order id") instead of answering it
    /// again as a replay: to rehearse against a vendor that does not de-duplicate on order_id.
    ///
    /// Example: --refuse-repeated-order-ids
    #[arg(long)]
    pub refuse_repeated_order_ids: bool,
}
