//! One function per subcommand, wiring the modules in the order data flows through them, and the
//! exit codes they end with. Holds no rules of its own: reading is `input`'s, judging
//! `validate`'s, keeping `store`'s, showing `output`'s.

// The server checks uploads with the very checks of `validate` and `run`.
mod install;
pub(crate) mod intake;
mod run;
mod sandbox;
mod serve;
mod state;
mod users;
mod validate;

use std::path::Path;

use anyhow::{Context as _, bail};

use crate::output::Printer;
use crate::settings::CommandSettings;

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

/// Runs one subcommand.
pub fn dispatch(command: &CommandSettings, printer: &Printer) -> anyhow::Result<Exit> {
    match command {
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
        if let Some(StoreError::Locked(_) | StoreError::LockLost | StoreError::Unchecked { .. }) =
            cause.downcast_ref()
        {
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

/// Refuses outputs that would overwrite the customer file or each other (the input must survive
/// whatever the run does), and outputs that could not be written: better said before a single row
/// is read or sent than after. The state database (`--state`) is only checked for collisions; the
/// store opens it.
fn guard_outputs(input: &Path, outputs: &[(&str, &Path)]) -> anyhow::Result<()> {
    let canonical = |p: &Path| -> Option<std::path::PathBuf> {
        let parent = match p.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        Some(parent.canonicalize().ok()?.join(p.file_name()?))
    };
    let input_real = canonical(input);
    for (i, (flag, path)) in outputs.iter().enumerate() {
        let real = canonical(path);
        if real.is_some() && real == input_real {
            bail!(
                "{flag} {} is the customer file itself: choose another name for the output",
                path.display()
            );
        }
        for (other_flag, other) in &outputs[..i] {
            if real.is_some() && real == canonical(other) {
                bail!("{other_flag} and {flag} both name {}: give each output its own file", path.display());
            }
        }
        if *flag != "--state" {
            crate::output::check_writable(path).with_context(|| format!("{flag} cannot be written"))?;
        }
    }
    Ok(())
}
