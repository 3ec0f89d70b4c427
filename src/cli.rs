//! The command line as typed: clap's derive types, raw. Every value here is checked and merged
//! with the environment and the config file by `settings`; nothing else reads `Cli`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

mod serve;
pub use serve::{AccessStateArgs, TokensAction, TokensArgs, UsersAction, UsersArgs};

#[derive(Debug, Parser)]
#[command(
    name = "cibil-bulk",
    version,
    about = "Register customers for CIBIL credit scores in bulk through AOPay",
    long_about = "Register customers for CIBIL credit scores in bulk through AOPay.\n\n\
        Reads a customer spreadsheet export (CSV), checks and normalises every row, tells you \
        exactly which cells to fix, and registers the valid rows concurrently under a rate limit, \
        recording every outcome so that an interrupted run resumes where it stopped.",
    after_help = "Examples:\n  cibil-bulk validate customers.csv\n  cibil-bulk run customers.csv --sandbox\n  cibil-bulk run customers.csv\n  cibil-bulk status\n  cibil-bulk sandbox --listen 127.0.0.1:8080"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Settings file (TOML). Without it, ./cibil-bulk.toml is read when it exists.
    ///
    /// Example: --config /etc/cibil-bulk/branch-12.toml
    #[arg(long, global = true, env = "CIBIL_BULK_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Print only errors.
    ///
    /// Example: cibil-bulk validate customers.csv -q
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Print more detail (repeat for even more: -vv).
    ///
    /// Example: cibil-bulk validate customers.csv -v
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Format of log lines on stderr: "text" for people, "json" for log collectors.
    ///
    /// Example: --log-format json
    #[arg(long, global = true, env = "CIBIL_BULK_LOG_FORMAT", value_name = "FORMAT")]
    pub log_format: Option<LogFormatArg>,

    /// Not a flag: credentials on the command line are visible to every user of the machine
    /// (`ps`, shell history). Accepted only to be refused with directions, never echoed.
    #[arg(
        long,
        global = true,
        hide = true,
        num_args = 0..=1,
        value_name = "ID",
        aliases = ["registration_id", "registrationid", "RegistrationID"]
    )]
    pub registration_id: Option<String>,

    /// Not a flag, as `--registration-id`.
    #[arg(
        long,
        global = true,
        hide = true,
        num_args = 0..=1,
        value_name = "CODE",
        aliases = ["company_code", "companycode", "CompanyCode"]
    )]
    pub company_code: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormatArg {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a customer file without sending anything: which rows are ready, which need fixing.
    #[command(
        long_about = "Check a customer file without sending anything.\n\n\
            Reads every row, applies every rule, and prints how many rows are ready to send, how \
            many need fixing and the most common problems. Nothing goes over the network and no \
            state is kept.\n\n\
            Exit status: 0 every row is ready; 1 some rows need fixing; 2 the file itself cannot \
            be used (missing column, unreadable file, mixed date order).",
        after_help = "Examples:\n  cibil-bulk validate customers.csv\n  cibil-bulk validate export.csv --errors to-fix.csv --output report.csv\n  cibil-bulk validate us-export.csv --date-order mdy"
    )]
    Validate(ValidateArgs),

    /// Register every valid row of a customer file with AOPay, resumably.
    #[command(
        long_about = "Register every valid row of a customer file with AOPay.\n\n\
            Checks every row first (as `validate` does), then sends the valid ones concurrently \
            under the rate limit, recording every outcome in the state database. Running the same \
            file again resumes it: nothing registered is sent twice. Writes a results file with \
            every row's status and cibil_id, and an errors file with the rows to fix.\n\n\
            Credentials come from the environment (AOPAY_REGISTRATION_ID, AOPAY_COMPANY_CODE) or \
            the config file's [aopay] section, never from the command line.\n\n\
            Exit status: 0 every row registered, known or duplicate; 1 some rows invalid, rejected \
            or failed; 2 usage or file error, nothing sent; 3 aborted (credentials refused, \
            endpoint down, state in use); 130 interrupted, run again to resume.",
        after_help = "Examples:\n  cibil-bulk run customers.csv --sandbox\n  AOPAY_REGISTRATION_ID=AOP-554 AOPAY_COMPANY_CODE=CMP1045 cibil-bulk run customers.csv\n  cibil-bulk run customers.csv --dry-run\n  cibil-bulk run customers.csv --rate 5/s --concurrency 4 --summary run.json -q"
    )]
    Run(RunArgs),

    /// Show the runs in a state database: rows per status and what is left to do.
    #[command(
        after_help = "Examples:\n  cibil-bulk status\n  cibil-bulk status 3\n  cibil-bulk status customers.csv --state branch.db"
    )]
    Status(StatusArgs),

    /// Write the results (and errors) file of a run again, from the state database.
    #[command(
        after_help = "Examples:\n  cibil-bulk export 3 --output results.csv\n  cibil-bulk export customers.csv --output results.csv --errors to-fix.csv"
    )]
    Export(ExportArgs),

    /// Remove customers' personal data of old finished runs from the state database.
    #[command(
        long_about = "Remove customers' personal data of old finished runs from the state database.\n\n\
            For every run that finished with nothing left to send before the given age, removes \
            names, PANs, dates of birth, mobiles, e-mails, the cells of the file, the access \
            tokens and the raw answers, then compacts the file. Counts, statuses, order ids and \
            cibil_ids stay, and so does the ledger (which holds a keyed hash of each PAN, never the \
            PAN): a customer registered long ago is still recognised and never sent again. India's \
            DPDP Act 2023 expects personal data not to be kept longer than needed.",
        after_help = "Examples:\n  cibil-bulk purge --older-than 30d\n  cibil-bulk purge --older-than 90d --state /var/lib/cibil-bulk/branch-12.db"
    )]
    Purge(PurgeArgs),

    /// Run a local stand-in for AOPay's registration API, with faults on demand, to rehearse against.
    #[command(
        long_about = "Run a local stand-in for AOPay's registration API, to rehearse against.\n\n\
            Answers on the vendor's path (/api/AOP/CibilScore/registeration, GET or POST with a \
            JSON body) in the vendor's shapes: a success with a cibil_id derived from the PAN, \
            is_returning_customer 1 for a PAN seen before, the same answer again for a repeated \
            order_id, business errors with HTTP 200 and status \"False\", and 401 for wrong \
            credentials. It accepts only the sandbox credentials it prints. The fault flags make \
            it slow, flaky or strict, as the real service may be. GET /__sandbox/stats shows what \
            it received; POST /__sandbox/reset forgets it.\n\n\
            Runs until Ctrl-C. Nothing leaves this machine.",
        after_help = "Examples:\n  cibil-bulk sandbox\n  cibil-bulk sandbox --listen 127.0.0.1:9000 --latency 200ms --jitter 50ms\n  cibil-bulk sandbox --error-rate 0.05 --throttle-rate 0.02 --rate-limit 20 --seed 7"
    )]
    Sandbox(SandboxArgs),

    /// Add, list or remove the people who may log in to the pages of `cibil-bulk serve`.
    Users(UsersArgs),

    /// Add, list or revoke the API tokens scripts use with `cibil-bulk serve`.
    Tokens(TokensArgs),
}

/// Where the state lives.
#[derive(Debug, Args)]
pub struct StateArgs {
    /// The state database: every row's status and outcome, the ledger of registered customers
    /// [default: cibil-bulk.db; cibil-bulk.sandbox.db with --sandbox].
    ///
    /// Example: --state /var/lib/cibil-bulk/branch-12.db
    #[arg(long, env = "CIBIL_BULK_STATE", value_name = "FILE")]
    pub state: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub input: InputArgs,

    #[command(flatten)]
    pub state: StateArgs,

    /// Results file: every row with its status and cibil_id, then the file's own columns
    /// [default: FILE's name with .results.csv].
    ///
    /// Example: --output registered.csv
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Errors file: the rows to fix or retry, with the file's own columns and an error column
    /// [default: FILE's name with .errors.csv].
    ///
    /// Example: --errors to-fix.csv
    #[arg(long, value_name = "FILE")]
    pub errors: Option<PathBuf>,

    /// Write the counts, timings, files and exit status as JSON here, for scripts.
    ///
    /// Example: --summary /var/log/cibil-bulk/last-run.json
    #[arg(long, value_name = "FILE")]
    pub summary: Option<PathBuf>,

    /// Most requests per second (N/s), per minute (N/m) or per hour (N/h) [default: 10/s].
    /// Retries count too. Ask AOPay what your account allows.
    ///
    /// Example: --rate 50/s
    #[arg(long, env = "CIBIL_BULK_RATE", value_name = "RATE")]
    pub rate: Option<String>,

    /// Requests that may leave at once on top of the rate [default: 1].
    ///
    /// Example: --burst 5
    #[arg(long, env = "CIBIL_BULK_BURST", value_name = "N")]
    pub burst: Option<u32>,

    /// Most requests in flight at once [default: 8].
    ///
    /// Example: --concurrency 32
    #[arg(long, env = "CIBIL_BULK_CONCURRENCY", value_name = "N")]
    pub concurrency: Option<u32>,

    /// The registration endpoint [default: AOPay's production URL].
    ///
    /// Example: --endpoint https://uat.aopay.co.in/api/AOP/CibilScore/registeration
    #[arg(long, env = "AOPAY_ENDPOINT", value_name = "URL")]
    pub endpoint: Option<String>,

    /// HTTP method: AOPay documents GET with a JSON body; its cURL sample sends POST [default: get].
    ///
    /// Example: --method post
    #[arg(long, env = "AOPAY_METHOD", value_name = "METHOD")]
    pub method: Option<MethodArg>,

    /// Longest wait for one answer, from connecting to its last byte [default: 30s].
    ///
    /// Example: --timeout 45s
    #[arg(long, env = "CIBIL_BULK_TIMEOUT", value_name = "DURATION")]
    pub timeout: Option<String>,

    /// Attempts per row when AOPay does not answer (timeouts, 5xx), the first included
    /// [default: 5]. Rows still unanswered are "failed" and tried again by the next run.
    ///
    /// Example: --max-attempts 8
    #[arg(long, env = "CIBIL_BULK_MAX_ATTEMPTS", value_name = "N")]
    pub max_attempts: Option<u32>,

    /// Stop the run after this many requests in a row fail to get an answer [default: 20].
    ///
    /// Example: --max-consecutive-failures 50
    #[arg(long, env = "CIBIL_BULK_MAX_CONSECUTIVE_FAILURES", value_name = "N")]
    pub max_consecutive_failures: Option<u32>,

    /// Longest pause honoured when AOPay asks to wait (Retry-After) [default: 5m]. A longer
    /// request is cut to this, with a warning.
    ///
    /// Example: --max-retry-after 60s
    #[arg(long, env = "CIBIL_BULK_MAX_RETRY_AFTER", value_name = "DURATION")]
    pub max_retry_after: Option<String>,

    /// Check the file and show what would be sent, without sending anything or keeping state.
    ///
    /// Example: cibil-bulk run customers.csv --dry-run
    #[arg(long)]
    pub dry_run: bool,

    /// Send to a built-in AOPay simulator on this machine instead of AOPay, with its own state
    /// file: for trying the tool out, and for rehearsals.
    ///
    /// Example: cibil-bulk run samples/customers.csv --sandbox
    #[arg(long, conflicts_with = "endpoint")]
    pub sandbox: bool,

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

/// How to read a customer file and which rules apply: shared by every command that reads one.
#[derive(Debug, Args)]
pub struct InputArgs {
    /// The customer file: an Excel or OpenDocument workbook (.xlsx, .xlsm, .xls, .ods), or CSV
    /// (comma, semicolon or tab separated; UTF-8, UTF-16 or Windows-1252).
    ///
    /// Example: customers.xlsx
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

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

    /// Youngest age accepted on the run date [default: 18].
    ///
    /// Example: --min-age 21
    #[arg(long, env = "CIBIL_BULK_MIN_AGE", value_name = "YEARS")]
    pub min_age: Option<u32>,

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

    /// For a workbook: the row of the header line, as the sheet numbers it [default: the first
    /// row, among the top 50, that names every required column].
    ///
    /// Example: --header-row 4
    #[arg(long, env = "CIBIL_BULK_HEADER_ROW", value_name = "ROW")]
    pub header_row: Option<u32>,

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
    /// picks a free one [default: 127.0.0.1:8080].
    ///
    /// Example: --listen 127.0.0.1:9000
    #[arg(long, value_name = "ADDRESS")]
    pub listen: Option<String>,

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

    /// Allow at most this many requests in any one second; the rest get 429 with Retry-After: 1
    /// and count as violations in the stats.
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
}
