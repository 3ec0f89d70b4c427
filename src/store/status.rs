//! Where a row is in its life, how a run ended, and rows counted per status. Stored as text: a
//! closed set of values, each transition between them guarded in SQL (`transitions`). The
//! lifecycle is drawn in ARCHITECTURE.md ("A row's life").

use std::collections::BTreeMap;
use std::fmt;

/// Where a row is in its life. Stored as text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RowStatus {
    #[default]
    Pending,
    InFlight,
    Registered,
    Known,
    Duplicate,
    Invalid,
    Rejected,
    Failed,
}

impl RowStatus {
    pub const ALL: [RowStatus; 8] = [
        RowStatus::Pending,
        RowStatus::InFlight,
        RowStatus::Registered,
        RowStatus::Known,
        RowStatus::Duplicate,
        RowStatus::Invalid,
        RowStatus::Rejected,
        RowStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RowStatus::Pending => "pending",
            RowStatus::InFlight => "in_flight",
            RowStatus::Registered => "registered",
            RowStatus::Known => "known",
            RowStatus::Duplicate => "duplicate",
            RowStatus::Invalid => "invalid",
            RowStatus::Rejected => "rejected",
            RowStatus::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<RowStatus> {
        RowStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Rows a clerk must look at: they are in the errors file, and make the exit status 1.
    pub fn needs_attention(self) -> bool {
        matches!(self, RowStatus::Invalid | RowStatus::Rejected | RowStatus::Failed)
    }
}

impl fmt::Display for RowStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a run ended, or that it has not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Finished,
    Aborted,
    Interrupted,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Finished => "finished",
            RunStatus::Aborted => "aborted",
            RunStatus::Interrupted => "interrupted",
        }
    }

    pub(super) fn parse(text: &str) -> RunStatus {
        match text {
            "finished" => RunStatus::Finished,
            "aborted" => RunStatus::Aborted,
            "interrupted" => RunStatus::Interrupted,
            _ => RunStatus::Running,
        }
    }
}

/// Rows per status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusCounts(pub BTreeMap<RowStatus, u64>);

impl StatusCounts {
    pub fn get(&self, status: RowStatus) -> u64 {
        self.0.get(&status).copied().unwrap_or(0)
    }

    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }

    /// Rows still to send: pending, in flight (after a crash) or failed.
    pub fn left(&self) -> u64 {
        self.get(RowStatus::Pending) + self.get(RowStatus::InFlight) + self.get(RowStatus::Failed)
    }

    /// Rows this invocation could still send: pending, or sent without an answer. Failed rows
    /// used up their attempts in the run that failed them (the next run tries them again).
    pub fn unsent(&self) -> u64 {
        self.get(RowStatus::Pending) + self.get(RowStatus::InFlight)
    }

    pub fn needing_attention(&self) -> u64 {
        self.0.iter().filter(|(s, _)| s.needs_attention()).map(|(_, n)| n).sum()
    }

    pub fn add(&mut self, status: RowStatus, n: u64) {
        *self.0.entry(status).or_default() += n;
    }

    /// The counts as sending sees them: failed and in-flight rows are sent again, so until then
    /// they count as pending.
    pub fn to_send(&self) -> StatusCounts {
        let mut counts = self.clone();
        for again in [RowStatus::Failed, RowStatus::InFlight] {
            counts.shift(again, RowStatus::Pending, counts.get(again));
        }
        counts
    }

    /// Counts `n` rows of `from` as `to` instead; `from` never goes below zero.
    pub fn shift(&mut self, from: RowStatus, to: RowStatus, n: u64) {
        let left = self.0.entry(from).or_default();
        *left = left.saturating_sub(n);
        self.add(to, n);
    }
}
