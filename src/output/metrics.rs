//! The metrics file (`--metrics-file`): how the last run ended, in Prometheus' text exposition
//! format, for node_exporter's textfile collector — the way a cron job tells monitoring that it
//! ran, when, for how long and how it went. Written from the run's summary, atomically (the
//! collector may read at any moment, and reads only `*.prom`, so the temporary file is never
//! read), and readable by everyone: it holds counts only, never a customer's data, and the
//! collector runs as a user of its own.

use std::fmt::Write as _;
use std::io::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use super::{AtomicFile, OutputError, RunSummary};
use crate::gate::Cleared;
use crate::store::RowStatus;

/// The row statuses the metrics count, as the `status` label says them. A row in flight when the
/// process stopped at once is `pending`: the next run sends it.
const ROW_STATUSES: [RowStatus; 7] = [
    RowStatus::Registered,
    RowStatus::Known,
    RowStatus::Duplicate,
    RowStatus::Invalid,
    RowStatus::Rejected,
    RowStatus::Failed,
    RowStatus::Pending,
];

/// The metrics of a run that ended at `ended` as `summary` says.
pub fn metrics_text(summary: &RunSummary, ended: SystemTime) -> String {
    let mut out = String::new();
    let seconds = ended.duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
    family(
        &mut out,
        "cibil_bulk_last_run_timestamp_seconds",
        "gauge",
        "When the last run ended, in seconds since the Unix epoch.",
        &[("", format!("{seconds:.3}"))],
    );
    family(
        &mut out,
        "cibil_bulk_last_run_exit_code",
        "gauge",
        "The exit status of the last run: 0 done, 1 rows need attention, 2 usage or file error, \
         3 aborted, 130 interrupted.",
        &[("", summary.exit_code.to_string())],
    );
    family(
        &mut out,
        "cibil_bulk_last_run_duration_seconds",
        "gauge",
        "How long the last run took.",
        &[("", format!("{:.3}", summary.duration_seconds))],
    );
    let count = |status: RowStatus| summary.counts.get(status.as_str()).copied().unwrap_or(0);
    let rows: Vec<(String, String)> = ROW_STATUSES
        .iter()
        .map(|&status| {
            let mut n = count(status);
            if status == RowStatus::Pending {
                n += count(RowStatus::InFlight);
            }
            (format!("status=\"{}\"", status.as_str()), n.to_string())
        })
        .collect();
    let rows: Vec<(&str, String)> = rows.iter().map(|(l, v)| (l.as_str(), v.clone())).collect();
    family(
        &mut out,
        "cibil_bulk_last_run_rows",
        "gauge",
        "Rows of the last run's file, by status at its end.",
        &rows,
    );
    // Counters: each run counts from zero, as a process does from its start.
    family(
        &mut out,
        "cibil_bulk_last_run_requests_total",
        "counter",
        "Requests the last run sent to AOPay, retries included.",
        &[("", summary.requests.to_string())],
    );
    family(
        &mut out,
        "cibil_bulk_last_run_throttled_total",
        "counter",
        "Requests of the last run that AOPay answered 429 (too many requests).",
        &[("", summary.throttled.to_string())],
    );
    family(
        &mut out,
        "cibil_bulk_last_run_dry_run",
        "gauge",
        "1 when the last run was a --dry-run, which sends nothing.",
        &[("", u8::from(summary.dry_run).to_string())],
    );
    out
}

/// One metric family: its `# HELP` and `# TYPE` lines, then its samples (labels, value).
fn family(out: &mut String, name: &str, kind: &str, help: &str, samples: &[(&str, String)]) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (labels, value) in samples {
        if labels.is_empty() {
            let _ = writeln!(out, "{name} {value}");
        } else {
            let _ = writeln!(out, "{name}{{{labels}}} {value}");
        }
    }
}

/// Writes the metrics of `summary`, ended now, to `path`: atomically, mode 0644.
pub fn write_metrics(cleared: &Cleared, summary: &RunSummary) -> Result<(), OutputError> {
    let path = cleared.path();
    let mut file = AtomicFile::create(cleared)?;
    let err = |source| OutputError { path: path.to_owned(), source };
    file.write_all(metrics_text(summary, SystemTime::now()).as_bytes()).map_err(err)?;
    file.readable_by_all().map_err(err)?;
    file.commit()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;
    use std::time::Duration;

    use std::path::Path;

    use super::*;
    use crate::gate::cleared_for_test;

    #[test]
    fn every_family_has_help_type_and_samples_and_in_flight_rows_are_pending() {
        let mut summary = RunSummary::before_run(Path::new("in.csv"), Path::new("s.db"), "sandbox".into());
        summary.counts.insert("registered", 40);
        summary.counts.insert("pending", 2);
        summary.counts.insert("in_flight", 3);
        summary.exit_code = 130;
        summary.requests = 47;
        summary.throttled = 4;
        summary.duration_seconds = 12.5;
        let text = metrics_text(&summary, UNIX_EPOCH + Duration::from_millis(1_764_400_000_250));
        insta::assert_snapshot!(text, @r#"
        # HELP cibil_bulk_last_run_timestamp_seconds When the last run ended, in seconds since the Unix epoch.
        # TYPE cibil_bulk_last_run_timestamp_seconds gauge
        cibil_bulk_last_run_timestamp_seconds 1764400000.250
        # HELP cibil_bulk_last_run_exit_code The exit status of the last run: 0 done, 1 rows need attention, 2 usage or file error, 3 aborted, 130 interrupted.
        # TYPE cibil_bulk_last_run_exit_code gauge
        cibil_bulk_last_run_exit_code 130
        # HELP cibil_bulk_last_run_duration_seconds How long the last run took.
        # TYPE cibil_bulk_last_run_duration_seconds gauge
        cibil_bulk_last_run_duration_seconds 12.500
        # HELP cibil_bulk_last_run_rows Rows of the last run's file, by status at its end.
        # TYPE cibil_bulk_last_run_rows gauge
        cibil_bulk_last_run_rows{status="registered"} 40
        cibil_bulk_last_run_rows{status="known"} 0
        cibil_bulk_last_run_rows{status="duplicate"} 0
        cibil_bulk_last_run_rows{status="invalid"} 0
        cibil_bulk_last_run_rows{status="rejected"} 0
        cibil_bulk_last_run_rows{status="failed"} 0
        cibil_bulk_last_run_rows{status="pending"} 5
        # HELP cibil_bulk_last_run_requests_total Requests the last run sent to AOPay, retries included.
        # TYPE cibil_bulk_last_run_requests_total counter
        cibil_bulk_last_run_requests_total 47
        # HELP cibil_bulk_last_run_throttled_total Requests of the last run that AOPay answered 429 (too many requests).
        # TYPE cibil_bulk_last_run_throttled_total counter
        cibil_bulk_last_run_throttled_total 4
        # HELP cibil_bulk_last_run_dry_run 1 when the last run was a --dry-run, which sends nothing.
        # TYPE cibil_bulk_last_run_dry_run gauge
        cibil_bulk_last_run_dry_run 0
        "#);
    }

    #[test]
    fn written_whole_and_readable_by_the_collector() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cibil-bulk.prom");
        let summary = RunSummary::before_run(Path::new("in.csv"), Path::new("s.db"), "sandbox".into());
        write_metrics(&cleared_for_test(&path).unwrap(), &summary).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("cibil_bulk_last_run_exit_code 0\n") && text.ends_with('\n'));
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o644);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file is left");
    }
}
