//! What `cibil-bulk status` shows: the runs of a state database, their rows per status and what is
//! left, for one run the details needed to resume it, and AOPay's quota as last learned.

use std::fmt::Write as _;
use std::path::Path;

use crate::store::{QuotaRecord, RowStatus, RunRecord, RunStatus, StatusCounts};

/// A time of the state (Unix milliseconds) as the local clock shows it.
pub fn local_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.with_timezone(&chrono::Local).format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

/// The table of `runs` (with their counts) of the state at `state`; `detailed` for one run asked
/// for by name, with its hash, times and how to resume it. Unless a process holds the state now
/// (`running_now`), a run recorded as running was interrupted: its process is gone.
pub fn status_report(
    state: &Path,
    runs: &[(StatusCounts, RunRecord)],
    detailed: bool,
    running_now: bool,
) -> String {
    let mut out = String::new();
    if runs.is_empty() {
        let _ = writeln!(out, "{}: no runs yet.", state.display());
        return out;
    }
    let _ = writeln!(out, "State: {}", state.display());
    let _ = writeln!(
        out,
        "{:>4}  {:<11} {:>8} {:>10} {:>6} {:>9} {:>7} {:>8} {:>6} {:>7}  file (last started)",
        "run", "status", "rows", "registered", "known", "duplicate", "invalid", "rejected", "failed", "left",
    );
    for (counts, run) in runs {
        let _ = writeln!(
            out,
            "{:>4}  {:<11} {:>8} {:>10} {:>6} {:>9} {:>7} {:>8} {:>6} {:>7}  {} ({})",
            run.id,
            match run.status {
                _ if run.purged_at.is_some() => "purged",
                RunStatus::Running if !running_now => RunStatus::Interrupted.as_str(),
                status => status.as_str(),
            },
            counts.total(),
            counts.get(RowStatus::Registered),
            counts.get(RowStatus::Known),
            counts.get(RowStatus::Duplicate),
            counts.get(RowStatus::Invalid),
            counts.get(RowStatus::Rejected),
            counts.get(RowStatus::Failed),
            counts.left(),
            run.input_path,
            local_time(run.updated_at)
        );
        if detailed {
            let _ = write!(
                out,
                "\n  content SHA-256  {}\n  started          {}\n",
                run.input_sha256,
                local_time(run.started_at)
            );
            if let Some(finished) = run.finished_at {
                let _ = writeln!(out, "  finished         {}", local_time(finished));
            }
            if let Some(purged) = run.purged_at {
                let _ = writeln!(out, "  personal data    purged {}", local_time(purged));
            }
            if counts.left() > 0 {
                let _ = writeln!(
                    out,
                    "  {} rows are left: `cibil-bulk run {} --state {}` resumes the run.",
                    counts.left(),
                    run.input_path,
                    state.display()
                );
            }
            if run.status == RunStatus::Running {
                let _ = writeln!(
                    out,
                    "  results file     may lag the state: it is written when an invocation ends, and \
                     the last one has not ({}). Running the file again, or `cibil-bulk export {} \
                     --state {} --output FILE`, brings it in line.",
                    if running_now { "it is still running" } else { "it was stopped at once or killed" },
                    run.id,
                    state.display()
                );
            }
        }
    }
    if !detailed && !running_now && runs.iter().any(|(_, run)| run.status == RunStatus::Running) {
        let _ = writeln!(
            out,
            "\nAn interrupted run (stopped at once by a second Ctrl-C, or killed) has a results file \
             that may lag the state: run its file again, or `cibil-bulk export RUN`, to bring it \
             in line."
        );
    }
    out
}

/// AOPay's quota as the adaptive rate last learned it on this state, for `status`.
/// Which order ids a state makes: the merchant's, and before them, if it ever made its own, until
/// when (its rows from then keep theirs).
pub fn order_ids_text(own_until: Option<i64>) -> String {
    let scheme = crate::api::ORDER_ID_SCHEME;
    match own_until {
        None => format!(
            "Order ids: the merchant's ({scheme}): a customer gets the same one from every state \
             run with these credentials.\n"
        ),
        Some(until) => format!(
            "Order ids: the merchant's ({scheme}) for rows imported since {}; rows imported \
             before keep the ids this state made itself.\n",
            local_time(until)
        ),
    }
}

pub fn learned_quota_text(quota: &QuotaRecord) -> String {
    format!(
        "AOPay's quota, learned {}: it accepted about {} requests/s. Runs of this state start at \
         {rate}; --rate {rate} would avoid throttling.\n",
        local_time(quota.learned_at),
        quota.accepted_per_second.round(),
        rate = super::suggested_rate(quota.holding_per_second),
    )
}
