//! The command line as typed: clap's derive types, raw, and where each value came from (typed as a
//! flag, or read by clap from its environment variable). Every value here is checked and merged
//! with the config file by `settings`; nothing else reads `Cli`. Defaults shown by `--help` are the
//! constants the program uses, never written out here.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

mod args;
mod input;
mod serve;
mod sources;

pub use args::{
    BackupArgs, ExportArgs, MethodArg, MetricsArgs, PurgeArgs, RunArgs, SandboxArgs, SendArgs, StateArgs,
    StatusArgs, ValidateArgs,
};
pub use input::{DateOrderArg, EncodingArg, InputArgs, ReadArgs};
pub use serve::{
    AccessStateArgs, RoleArg, ScopeArg, ServeArgs, TokensAction, TokensArgs, UsersAction, UsersArgs,
};
pub use sources::{Given, Sources};

/// What `--version` says: the version, and the commit it was built from (`src/build.rs`), so that
/// a binary found on a server can be traced to its source.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("CIBIL_BULK_COMMIT"), ")");

/// The command line's definition, for what is generated from it (completions, the man page).
pub fn definition() -> clap::Command {
    Cli::command()
}

#[derive(Debug, Parser)]
#[command(
    name = "cibil-bulk",
    version = VERSION,
    about = "Register customers for CIBIL credit scores in bulk through AOPay",
    long_about = "Register customers for CIBIL credit scores in bulk through AOPay.\n\n\
        Reads a customer spreadsheet (the Excel or OpenDocument workbook itself, or a CSV \
        export), checks and normalises every row, tells you exactly which cells to fix, and \
        registers the valid rows concurrently under a rate limit, recording every outcome so that \
        an interrupted run resumes where it stopped.",
    after_help = "Examples:\n  cibil-bulk validate customers.xlsx\n  cibil-bulk run customers.xlsx --sandbox\n  cibil-bulk run customers.xlsx\n  cibil-bulk status\n  cibil-bulk sandbox --listen 127.0.0.1:8080"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
    /// Which values were given, and how: filled by [`Cli::parse_args`]. A field with a default
    /// always holds a value; only the sources say whether the user gave it.
    #[arg(skip)]
    pub sources: Sources,
}

impl Cli {
    /// Parses `args` (the program's name first), remembering how each value was given.
    pub fn try_parse_args_from<I, T>(args: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let mut command = Cli::command();
        let matches = command.try_get_matches_from_mut(args)?;
        let mut cli = Cli::from_arg_matches(&matches).map_err(|e| e.format(&mut command))?;
        cli.sources = Sources::of(&command, &matches);
        Ok(cli)
    }
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

    /// Write a whole, consistent copy of the state database, even while a run or the server uses it.
    #[command(
        long_about = "Write a whole, consistent copy of the state database, even while a run or \
            the server uses it.\n\n\
            A plain copy of the file taken while a run sends can miss what is still in its \
            write-ahead log (the -wal file beside it): whole runs, the ledger. This copies the \
            state as one transaction sees it — every row committed before it began — into DEST, \
            created readable by its owner only. Restore by using the copy as --state.",
        after_help = "Examples:\n  cibil-bulk backup /var/backups/cibil-bulk/$(date +%F).db\n  cibil-bulk backup copy.db --state /var/lib/cibil-bulk/cibil-bulk.db"
    )]
    Backup(BackupArgs),

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
        after_help = "Examples:\n  cibil-bulk sandbox\n  cibil-bulk sandbox --listen 127.0.0.1:9000 --latency 200ms --jitter 50ms\n  cibil-bulk sandbox --error-rate 0.05 --throttle-rate 0.02 --rate-limit 20 --seed 7\n  cibil-bulk sandbox --error-rate 0.05 --reset-rate 0.02 --commit-before-fault 0.5"
    )]
    Sandbox(SandboxArgs),

    /// Serve the onboarding team's web page and a JSON API for scripts: upload, fix, register, download.
    #[command(
        long_about = "Serve the onboarding team's web page, and a JSON API for scripts, on the state, \
            rules and limits of `run`.\n\n\
            People sign in (add them with `cibil-bulk users add`), upload a spreadsheet, see the \
            rows to fix, and register the rest; scripts do the same through /api with a token \
            (`cibil-bulk tokens add`). Uploads are registered one after another, in the order they \
            arrived, under one rate limit: a customer in two uploads is sent once. Credentials, \
            endpoint and rate are read exactly as `run` reads them.\n\n\
            SIGTERM or Ctrl-C: requests in flight finish, the rest waits, exit 0; the next start \
            resumes every upload that was being registered, even after a crash.",
        after_help = "Examples:\n  cibil-bulk serve --sandbox\n  cibil-bulk serve --listen 127.0.0.1:8080 --state /var/lib/cibil-bulk/cibil-bulk.db\n  cibil-bulk serve --rate 20/s --max-upload 20MB"
    )]
    Serve(ServeArgs),

    /// Add, list or remove the people who may sign in to the pages of `cibil-bulk serve`.
    Users(UsersArgs),

    /// Add, list or revoke the API tokens scripts use with `cibil-bulk serve`.
    Tokens(TokensArgs),

    /// Print the shell completion script for bash, zsh, fish, powershell or elvish.
    #[command(
        long_about = "Print the shell completion script, generated from this very program's \
            flags, so it always matches the installed version.\n\n\
            Save it where the shell looks (see README, \"Install\"), or load it in the current \
            shell with `source <(cibil-bulk completions bash)`.",
        after_help = "Examples:\n  cibil-bulk completions bash > /usr/share/bash-completion/completions/cibil-bulk\n  cibil-bulk completions zsh > \"${fpath[1]}/_cibil-bulk\"\n  cibil-bulk completions fish > ~/.config/fish/completions/cibil-bulk.fish"
    )]
    Completions(CompletionsArgs),

    /// Print the manual page (roff) of every command and flag.
    #[command(
        long_about = "Print the manual page (roff): every command and flag with its help, default \
            and environment variable, generated from this very program's definitions.",
        after_help = "Examples:\n  cibil-bulk man | man -l -\n  cibil-bulk man > /usr/local/share/man/man1/cibil-bulk.1"
    )]
    Man,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell: bash, zsh, fish, powershell or elvish.
    ///
    /// Example: bash
    #[arg(value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}
