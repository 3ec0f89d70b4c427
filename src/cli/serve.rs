//! The command line of `cibil-bulk serve` and of the commands that say who may use it: `users`
//! (people, who log in to the pages) and `tokens` (machines, which call the JSON API).

use clap::{Args, Subcommand};

use super::{MetricsArgs, ReadArgs, SendArgs, StateArgs};
use crate::settings;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on: IP:PORT, localhost:PORT, or a port alone (on 127.0.0.1); port 0
    /// picks a free one. Loopback by default: put a reverse proxy with TLS in front to reach it
    /// from other machines, or listen on 0.0.0.0 knowingly.
    ///
    /// Example: --listen 127.0.0.1:8080
    #[arg(long, env = "CIBIL_BULK_LISTEN", value_name = "ADDRESS", default_value_t = settings::DEFAULT_SERVE_LISTEN.to_string())]
    pub listen: String,

    /// Largest file accepted: bytes, or with kB, MB or GB (powers of 1000) or KiB, MiB, GiB.
    /// A larger upload is refused with 413.
    ///
    /// Example: --max-upload 20MB
    #[arg(long, env = "CIBIL_BULK_MAX_UPLOAD", value_name = "SIZE", default_value_t = crate::settings::show_size(crate::settings::DEFAULT_MAX_UPLOAD))]
    pub max_upload: String,

    #[command(flatten)]
    pub state: StateArgs,

    /// Send to a built-in AOPay simulator on this machine instead of AOPay, with the sandbox's
    /// own state: a rehearsal server for the team.
    ///
    /// Example: cibil-bulk serve --sandbox
    #[arg(long, conflicts_with = "endpoint")]
    pub sandbox: bool,

    #[command(flatten)]
    pub send: SendArgs,

    #[command(flatten)]
    pub read: ReadArgs,

    #[command(flatten)]
    pub metrics: MetricsArgs,

    /// How long customers' personal data is kept once an upload's job ended (or, never
    /// registered, once it was checked): then it is erased from the state, its files and the
    /// upload's report, as `cibil-bulk purge` erases it. Days (30d), hours (12h) [default: 30d].
    ///
    /// Example: --keep-personal-data 7d
    #[arg(long, env = "CIBIL_BULK_KEEP_PERSONAL_DATA", value_name = "AGE")]
    pub keep_personal_data: Option<String>,
}

/// The state database whose people or tokens are meant.
#[derive(Debug, Args)]
pub struct AccessStateArgs {
    #[command(flatten)]
    pub state: StateArgs,

    /// The state of `cibil-bulk serve --sandbox` (cibil-bulk.sandbox.db unless --state says
    /// otherwise): people and tokens for rehearsals.
    ///
    /// Example: cibil-bulk users add asha --sandbox
    #[arg(long)]
    pub sandbox: bool,
}

#[derive(Debug, Args)]
pub struct UsersArgs {
    #[command(subcommand)]
    pub action: UsersAction,
}

#[derive(Debug, Subcommand)]
pub enum UsersAction {
    /// Add a person who may log in to the pages of `cibil-bulk serve`.
    #[command(
        long_about = "Add a person who may log in to the pages of `cibil-bulk serve`.\n\n\
            Asks for the password twice, without showing it, on a terminal; a script passes it on \
            standard input with --password-stdin. Only an argon2id hash of it is kept, in the \
            state database. A running server sees the new person at once.",
        after_help = "Examples:\n  cibil-bulk users add asha\n  printf '%s\\n' \"$PASSWORD\" | cibil-bulk users add asha --password-stdin --state /var/lib/cibil-bulk/cibil-bulk.db"
    )]
    Add {
        /// The name to log in with: letters, digits, '.', '_', '-' or '@'.
        ///
        /// Example: asha
        #[arg(value_name = "NAME")]
        name: String,

        /// Read the password from the first line of standard input instead of asking for it.
        ///
        /// Example: --password-stdin
        #[arg(long)]
        password_stdin: bool,

        /// Make them an admin: a clerk who also manages people and tokens on the page and reads
        /// the audit log [default: a clerk].
        ///
        /// Example: --admin
        #[arg(long)]
        admin: bool,

        #[command(flatten)]
        place: AccessStateArgs,
    },

    /// Make a person a clerk or an admin.
    #[command(
        after_help = "Examples:\n  cibil-bulk users role asha admin\n  cibil-bulk users role ravi clerk"
    )]
    Role {
        /// The person's name.
        ///
        /// Example: asha
        #[arg(value_name = "NAME")]
        name: String,

        /// clerk: uploads and registers spreadsheets; admin: also manages people and tokens and
        /// reads the audit log.
        ///
        /// Example: admin
        #[arg(value_name = "ROLE")]
        role: RoleArg,

        #[command(flatten)]
        place: AccessStateArgs,
    },

    /// List the people who may log in, with when they last did.
    #[command(after_help = "Examples:\n  cibil-bulk users list")]
    List {
        #[command(flatten)]
        place: AccessStateArgs,
    },

    /// Remove a person: they cannot log in any more, and their open sessions end at once.
    #[command(after_help = "Examples:\n  cibil-bulk users remove asha")]
    Remove {
        /// The person's name.
        ///
        /// Example: asha
        #[arg(value_name = "NAME")]
        name: String,

        #[command(flatten)]
        place: AccessStateArgs,
    },
}

#[derive(Debug, Args)]
pub struct TokensArgs {
    #[command(subcommand)]
    pub action: TokensAction,
}

#[derive(Debug, Subcommand)]
pub enum TokensAction {
    /// Make an API token for a script: printed once, alone on the last line of the output.
    #[command(
        long_about = "Make an API token for a script that calls `cibil-bulk serve` (header \
            Authorization: Bearer TOKEN).\n\n\
            The token is printed once, alone on the last line of standard output; only its \
            SHA-256 is kept, so it cannot be shown again. Keep it where the script reads it \
            (a file only the script's user can read), and revoke it when it is no longer needed.",
        after_help = "Examples:\n  cibil-bulk tokens add nightly-cron --scope upload --scope register --scope read-results\n  cibil-bulk tokens add reports --scope read-results -q > /etc/cibil-bulk/token && chmod 600 /etc/cibil-bulk/token"
    )]
    Add {
        /// A name saying what uses it: it is shown as who uploaded.
        ///
        /// Example: nightly-cron
        #[arg(value_name = "NAME")]
        name: String,

        /// What the token may do, one or more: upload (send a file to be checked), register
        /// (register an upload), read-results (read an upload's summary and files), all-uploads
        /// (do those to every upload, a clerk's included: without it, a token sees only the
        /// uploads it made).
        ///
        /// Example: --scope upload --scope register --scope read-results
        #[arg(long, value_name = "SCOPE", required = true)]
        scope: Vec<ScopeArg>,

        #[command(flatten)]
        place: AccessStateArgs,
    },

    /// List the tokens (never the tokens themselves): when each was made and last used.
    #[command(after_help = "Examples:\n  cibil-bulk tokens list")]
    List {
        #[command(flatten)]
        place: AccessStateArgs,
    },

    /// Revoke a token: every request with it is refused from now on.
    #[command(after_help = "Examples:\n  cibil-bulk tokens revoke nightly-cron")]
    Revoke {
        /// The token's name.
        ///
        /// Example: nightly-cron
        #[arg(value_name = "NAME")]
        name: String,

        #[command(flatten)]
        place: AccessStateArgs,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RoleArg {
    Clerk,
    Admin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ScopeArg {
    Upload,
    Register,
    ReadResults,
    AllUploads,
}
