//! cibil-bulk registers customers for CIBIL credit scores in bulk through AOPay's registration
//! API. The modules follow the data: `input` reads rows, `validate` judges them, `store` keeps
//! state in SQLite, `output` owns every byte the user sees; `sandbox` simulates the vendor; `cli`
//! and `settings` turn the command line, environment and config file into one validated
//! [`settings::Settings`]; `commands` wires them into one function per subcommand. This file holds
//! the exit codes and [`run`].

pub mod api;
pub mod cli;
pub mod commands;
pub mod engine;
pub mod input;
pub mod mask;
pub mod output;
pub mod sandbox;
pub mod settings;
pub mod store;
pub mod validate;

use cli::Cli;
use output::Printer;
use settings::{CommandSettings, Settings};

/// The exit status contract of DESIGN.md ("Exit codes"): cron jobs branch on it.
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

/// Runs the command `cli` describes.
pub fn run(cli: &Cli) -> anyhow::Result<Exit> {
    let settings = Settings::resolve(cli)?;
    output::init_logging(&settings.log);
    let printer = Printer::new(&settings.log);
    for warning in &settings.warnings {
        printer.warn(warning);
    }
    match &settings.command {
        CommandSettings::Validate(validate) => commands::validate(validate, &printer),
        CommandSettings::Run(run) => commands::run(run, &printer),
        CommandSettings::Status(status) => commands::status(status, &printer),
        CommandSettings::Export(export) => commands::export(export, &printer),
        CommandSettings::Purge(purge) => commands::purge(purge, &printer),
        CommandSettings::Sandbox(sandbox) => commands::sandbox(sandbox, &printer),
    }
}

/// The exit status for an error that ended the program: a usage or file-level error unless the
/// error says otherwise.
pub fn exit_code_of(error: &anyhow::Error) -> Exit {
    if error.downcast_ref::<ResultsNotWritten>().is_some() {
        return Exit::Aborted;
    }
    for cause in error.chain() {
        if let Some(
            store::StoreError::Locked(_) | store::StoreError::LockLost | store::StoreError::Unchecked { .. },
        ) = cause.downcast_ref()
        {
            return Exit::Aborted;
        }
        if cause.downcast_ref::<engine::EngineError>().is_some()
            || cause.downcast_ref::<ResultsNotWritten>().is_some()
        {
            return Exit::Aborted;
        }
    }
    Exit::Usage
}
