//! The exit status contract (README, "Exit status"): what every command ends with, and how an
//! error that ends it maps to one. Cron jobs and the server's API branch on it.

/// How a command ended, as its exit status says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Every row is fine (registered, known, duplicate; for `validate`: valid).
    Success,
    /// The work finished, but some rows need attention (invalid, rejected, failed).
    NeedsAttention,
    /// Usage, configuration or file-level error: nothing was sent.
    Usage,
    /// Stopped early with rows left to send: credentials refused, too many failures, the state
    /// held by another run, the machinery failing.
    Aborted,
    /// Interrupted by a signal with rows left to send; running again resumes.
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

/// The summary or the metrics file could not be written (a full disk): the process ends with
/// `exit`, and the other file, if it was written, says so too. A run that would have ended 0 or
/// 1 does not, since a script would read yesterday's file as today's; one that sent requests
/// ends 3, not 2 ("nothing was sent").
#[derive(Debug, thiserror::Error)]
#[error("{flag} could not be written")]
pub struct ExitFileNotWritten {
    /// The file as the command line names it: `--summary`, `--metrics-file`.
    pub flag: &'static str,
    pub exit: Exit,
}

/// A signal stopped the run before sending began: nothing was sent, and nothing of the file
/// kept; running again starts it afresh.
#[derive(Debug, thiserror::Error)]
#[error("interrupted before anything was sent: run the same command again")]
pub struct Interrupted;

/// The exit status for an error that ended the program: a usage or file-level error unless the
/// error says otherwise.
pub fn exit_code_of(error: &anyhow::Error) -> Exit {
    use crate::store::StoreError;
    // A context is found by `downcast_ref` on the error itself, not among its causes.
    if error.downcast_ref::<ResultsNotWritten>().is_some() {
        return Exit::Aborted;
    }
    if error.downcast_ref::<Interrupted>().is_some() {
        return Exit::Interrupted;
    }
    if let Some(not_written) = error.downcast_ref::<ExitFileNotWritten>() {
        return not_written.exit;
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
