//! One function per subcommand, wiring the modules in the order data flows through them, and the
//! exit codes they end with. Holds no rules of its own: reading is `input`'s, judging
//! `validate`'s, keeping `store`'s, showing `output`'s.

mod guard;
// The package's build makes the man page and completions with it (examples/debian/assets).
pub mod install;
// The server checks uploads with the very checks of `validate` and `run`.
pub(crate) mod intake;
// A run's life, shared by `run` and the server's jobs.
pub(crate) mod lifecycle;
mod run;
mod sandbox;
mod serve;
mod state;
mod users;
mod validate;

use anyhow::Context as _;

use crate::output::Printer;
use crate::settings::{CommandSettings, Settings};

pub use run::settings_failed as run_settings_failed;

/// The exit status contract (README, "Exit codes"): cron jobs branch on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Every row is fine (registered, known, duplicate; for `validate`: valid).
    Success,
    /// The work finished, but some rows need attention (invalid, rejected, failed).
    NeedsAttention,
    /// Usage, configuration or file-level error: nothing was sent.
    Usage,
    /// Stopped on purpose: credentials refused, too many failures, state held by another run.
    Aborted,
    /// Interrupted by a signal; running again resumes.
    Interrupted,
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::NeedsAttention => 1,
            Exit::Usage => 2,
            Exit::Aborted => 3,
            Exit::Interrupted => 130,
        }
    }
}

/// A run's outcomes are recorded in the state, but its results file could not be written (a full
/// or read-only disk). Requests were sent, so this is not a usage error: it aborts (exit 3).
#[derive(Debug, thiserror::Error)]
#[error(
    "the results could not be written. Every outcome is safe in {}: once the disk is fixed, \
     `cibil-bulk export {run_id} --state {} --output FILE` writes them (nothing is sent again)",
    .state.display(), .state.display()
)]
pub struct ResultsNotWritten {
    pub run_id: i64,
    pub state: std::path::PathBuf,
}

/// Runs one subcommand, after saying what the user must know first: where a real run sends
/// (its first line, so an operator always sees where the data goes), then any warnings about
/// the settings.
pub fn dispatch(settings: &Settings, printer: &Printer) -> anyhow::Result<Exit> {
    if let CommandSettings::Run(run) = &settings.command
        && !run.sandbox
        && !run.dry_run
    {
        printer.note(crate::output::notices::sending_to(&run.api.endpoint));
    }
    for warning in &settings.warnings {
        printer.warn(warning);
    }
    match &settings.command {
        CommandSettings::Validate(validate) => validate::validate(validate, printer),
        CommandSettings::Run(run) => run::run(run, printer),
        CommandSettings::Status(status) => state::status(status, printer),
        CommandSettings::Export(export) => state::export(export, printer),
        CommandSettings::Purge(purge) => state::purge(purge, printer),
        CommandSettings::Sandbox(sandbox) => sandbox::sandbox(sandbox, printer),
        CommandSettings::Serve(serve) => serve::serve(serve, printer),
        CommandSettings::Users(users) => users::users(users, printer),
        CommandSettings::Tokens(tokens) => users::tokens(tokens, printer),
        CommandSettings::Completions(shell) => install::completions(*shell, printer),
        CommandSettings::Man => install::man(printer),
    }
}

/// The exit status for an error that ended the program: a usage or file-level error unless the
/// error says otherwise.
pub fn exit_code_of(error: &anyhow::Error) -> Exit {
    use crate::store::StoreError;
    // A context is found by `downcast_ref` on the error itself, not among its causes.
    if error.downcast_ref::<ResultsNotWritten>().is_some() {
        return Exit::Aborted;
    }
    for cause in error.chain() {
        if let Some(StoreError::Locked(_) | StoreError::Unchecked { .. }) = cause.downcast_ref() {
            return Exit::Aborted;
        }
        if cause.downcast_ref::<crate::engine::EngineError>().is_some()
            || cause.downcast_ref::<ResultsNotWritten>().is_some()
        {
            return Exit::Aborted;
        }
    }
    Exit::Usage
}

/// Runs `work` to its end on a multi-threaded async runtime whose threads are named `threads`.
fn block_on<T>(
    threads: &str,
    work: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name(threads)
        .build()
        .context("cannot start the async runtime")?
        .block_on(work)
}

/// The state database at `state` if it exists: reading, listing or removing must not create one.
fn existing(state: &std::path::Path) -> anyhow::Result<Option<crate::store::Store>> {
    if !state.exists() {
        return Ok(None);
    }
    Ok(Some(crate::store::Store::open(state)?))
}

/// Ctrl-C (SIGINT) and SIGTERM (a service manager or `timeout` stopping the process), watched from
/// the moment this is made: a signal that came before the first wait is not lost, nor does it
/// kill the process abruptly.
struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    fn listen() -> anyhow::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt()).context("cannot listen for Ctrl-C")?,
            terminate: signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?,
        })
    }

    /// The next of either signal.
    async fn received(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}
