//! Everything kept in SQLite. Today that is the scratch index behind the file-level validation
//! rules; the run state (runs, rows, ledger) lives here too. Knows nothing of HTTP or CSV.

mod seen;

pub use seen::ScratchIndex;

/// A failure of the state database itself (not of a row).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("SQLite: {0}")]
    Sqlite(#[from] rusqlite::Error),
}
