//! `cibil-bulk run FILE`: check every row and record the file in the state (or find the run of
//! this very content and resume it), send what is left through the engine, then write the results
//! and errors files from the state and say how it went.

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use super::Exit;
use super::guard_outputs;
use super::intake::{Intake, warn_about_encoding};
use crate::api::{Client, Credentials};
use crate::engine::{self, Stop, StopReason};
use crate::input::{self, Probe};
use crate::mask::mask;
use crate::output::{
    Printer, Progress, RunSummary, cell_flags, codes_text, error_text, recorded_registrations, warnings_text,
    write_json, write_results,
};
use crate::sandbox::{SANDBOX_COMPANY_CODE, SANDBOX_REGISTRATION_ID, Sandbox, SandboxConfig};
use crate::settings::RunSettings;
use crate::store::{NewRow, RowStatus, RunRecord, RunStatus, StatusCounts, Store};
use crate::validate::{Admission, Applicant};

pub fn run(settings: &RunSettings, printer: &Printer) -> anyhow::Result<Exit> {
    super::block_on("cibil-bulk-worker", run_file(settings, printer))
}

async fn run_file(settings: &RunSettings, printer: &Printer) -> anyhow::Result<Exit> {
    let started = Instant::now();
    let path = settings.input.path.as_path();
    let probe = input::probe(path, settings.input.probe)?;
    let (results, errors) = settings.outputs(probe.workbook.is_some());
    let mut outputs: Vec<(&str, &Path)> =
        vec![("--output", &results), ("--errors", &errors), ("--state", &settings.state)];
    if let Some(summary) = &settings.summary {
        outputs.push(("--summary", summary));
    }
    guard_outputs(path, &outputs)?;

    warn_about_encoding(path, &probe, printer);
    if settings.dry_run {
        return dry_run(settings, &probe, printer);
    }

    // The simulator runs inside this process, on a free port of this machine only.
    let sandbox = match settings.sandbox {
        true => Some(
            Sandbox::start(([127, 0, 0, 1], 0).into(), SandboxConfig::default())
                .await
                .context("cannot start the built-in sandbox")?,
        ),
        false => None,
    };
    let mut api = settings.api.clone();
    if let Some(sandbox) = &sandbox {
        api.endpoint = sandbox.endpoint().parse().context("the sandbox's address")?;
        api.credentials = Credentials {
            registration_id: SANDBOX_REGISTRATION_ID.into(),
            company_code: SANDBOX_COMPANY_CODE.into(),
        };
        printer.note(format_args!(
            "Sending to the built-in sandbox at {} (nothing reaches AOPay).",
            sandbox.endpoint()
        ));
    }
    let endpoint_scope = if settings.sandbox { "sandbox".to_owned() } else { api.endpoint.to_string() };

    let (mut store, mut check) = Store::open_checking(&settings.state)?;
    let outcome: anyhow::Result<Exit> = async {
        // Released when this block ends, by whatever path.
        let (_lock, previous) = store.acquire_lock()?;
        if let Some(previous) = previous {
            printer.warn(format_args!(
                "the state database was held by pid {} on {}, which stopped without releasing it \
                 (last seen {}s ago); carrying on from where it stopped",
                previous.pid,
                previous.host,
                previous.heartbeat_age.as_secs()
            ));
        }
        store.bind_endpoint(&endpoint_scope)?;

        let sha256 = probe.sha256_hex();
        let (run, resumed) = match store.find_run(&sha256)? {
            Some(run) => {
                if let Some(purged) = run.purged_at {
                    printer.note(format_args!(
                        "This file is run {}, finished, whose personal data was purged ({}): nothing is \
                         sent, and the results carry statuses and cibil_ids without the file's own columns.",
                        run.id,
                        chrono::DateTime::from_timestamp_millis(purged)
                            .map(|t| t.format("%Y-%m-%d").to_string())
                            .unwrap_or_default()
                    ));
                }
                store.resume_run(run.id, &path.display().to_string())?;
                let requeued = store.requeue_in_flight(run.id)?;
                if requeued > 0 {
                    printer.note(format_args!(
                        "{requeued} rows were being sent when the last run stopped: they are sent again \
                         with the same order ids."
                    ));
                }
                (run, true)
            }
            None => {
                for other in store.runs()?.iter().filter(|r| r.input_path == path.display().to_string()) {
                    let left = store.counts(other.id)?.left();
                    if left > 0 {
                        printer.warn(format_args!(
                            "{} has changed since run {} ({}, {left} rows not sent): this is a new run of \
                             the new content. Customers registered by run {} are recognised and not sent \
                             again; its unsent rows stay in it.",
                            path.display(),
                            other.id,
                            other.status.as_str(),
                            other.id
                        ));
                    }
                }
                let recorded = recorded_registrations(&results);
                (import(&mut store, settings, &probe, &endpoint_scope, &recorded, &results)?, false)
            }
        };

        let counts = store.counts(run.id)?;
        let mut report = engine::EngineReport::default();
        let mut engine_error = None;
        if counts.left() > 0 {
            // Not a row is claimed from a state that is not known to be sound.
            check.wait()?;
            let client = Client::new(&api)?;
            let stop = Stop::new();
            watch_signals(stop.clone(), printer.clone(), settings.engine.shutdown_grace);
            let progress = Progress::new(printer, run.rows_total, &counts);
            let output = engine::run(store, run.id, client, settings.engine.clone(), progress, stop).await;
            store = match output.store {
                Some(store) => store,
                None => Store::open(&settings.state)?,
            };
            match output.result {
                Ok(r) => report = r,
                Err(e) => engine_error = Some(e),
            }
        }
        // Rows whose requests were abandoned at the end of the shutdown grace.
        store.requeue_in_flight(run.id)?;
        let counts = store.counts(run.id)?;

        let exit = match (&engine_error, &report.stop) {
            (Some(_), _) | (None, Some(StopReason::Aborted(_))) => Exit::Aborted,
            (None, Some(StopReason::Interrupted)) => Exit::Interrupted,
            (None, None) if counts.needing_attention() > 0 => Exit::NeedsAttention,
            (None, None) if counts.left() > 0 => Exit::Aborted,
            (None, None) => Exit::Success,
        };
        let run_status = match exit {
            Exit::Success | Exit::NeedsAttention => RunStatus::Finished,
            Exit::Interrupted => RunStatus::Interrupted,
            _ => RunStatus::Aborted,
        };
        store.end_run(run.id, run_status, exit.code())?;
        let run = store.run(run.id)?.unwrap_or(run);

        let written = write_results(&store, &run, &results, Some(&errors))
            .context(super::ResultsNotWritten { run_id: run.id, state: settings.state.clone() })?;
        // The results were read from the state while it was being checked.
        check.wait()?;
        let mut summary = RunSummary::new(
            path,
            &run,
            resumed,
            &settings.state,
            endpoint_scope,
            &counts,
            report.requests,
            started.elapsed(),
            report.stop.as_ref(),
        );
        summary.returning_customers = written.returning_customers;
        summary.exit_code = exit.code();
        summary.files.insert("results", written.results.clone());
        if let Some(errors) = &written.errors {
            summary.files.insert("errors", errors.clone());
        }
        if let Some(path) = &settings.summary {
            summary.files.insert("summary", path.clone());
            write_json(path, &summary)?;
        }
        printer.note(summary.render());
        if let Some(sandbox) = sandbox {
            sandbox.shutdown().await;
        }
        if let Some(error) = engine_error {
            return Err(error)
                .context("the run stopped: the results file shows where each row is; run again to resume");
        }
        Ok(exit)
    }
    .await;
    // A damaged state explains whatever went wrong after it was opened.
    check.wait()?;
    outcome
}

/// Checks every row and records the file as a new run, in one transaction: a file whose date
/// order cannot be trusted (or a crash halfway) leaves no trace in the state.
///
/// `recorded` holds the order ids an existing results file says were registered: if this new run
/// would send any of them, the state that recorded them is not this one (moved, deleted, another
/// working directory), and sending would register those customers again.
fn import(
    store: &mut Store,
    settings: &RunSettings,
    probe: &Probe,
    endpoint: &str,
    recorded: &HashSet<String>,
    results: &Path,
) -> anyhow::Result<RunRecord> {
    let path = settings.input.path.as_path();
    let intake = Intake::open(&settings.input, probe)?;
    let run_settings = serde_json::json!({
        "endpoint": endpoint,
        "method": settings.api.method.as_str(),
        "rate": settings.engine.rate.to_string(),
        "concurrency": settings.engine.concurrency.get(),
        "date_order": settings.input.date_order.flag(),
        "min_age": settings.input.min_age,
        "version": env!("CARGO_PKG_VERSION"),
    });
    let locator = intake.locator().clone();
    let (mut resent, mut resent_rows) = (None, 0u64);
    let mut import = store.begin_import(
        &path.display().to_string(),
        &probe.sha256_hex(),
        intake.columns.headers(),
        &locator,
        &run_settings,
    )?;
    intake.scan(|row, admission, checked| {
        let applicant = checked.customer.as_ref().map(Applicant::from);
        let (status, duplicate_of) = row_status(admission);
        let (error, codes, warnings) = (error_text(checked), codes_text(checked), warnings_text(checked));
        let flags = cell_flags(checked);
        let new = NewRow {
            line: row.line,
            status,
            order_id: checked.order_id.as_deref(),
            duplicate_of,
            applicant: applicant.as_ref(),
            error_code: &codes,
            error: &error,
            warnings: &warnings,
            violations: &flags,
        };
        let status = import.add(&new, row.cells.iter())?;
        if let (RowStatus::Pending, Some(order_id)) = (status, &checked.order_id)
            && recorded.contains(order_id)
        {
            resent.get_or_insert((row.line, order_id.clone()));
            resent_rows += 1;
        }
        Ok(())
    })?;
    if let Some((line, order_id)) = resent {
        // Dropping the import leaves no trace of this run.
        bail!(
            "{} records {resent_rows} rows of this file as registered ({}, order id {order_id}, \
             among them), but the state database {} has no run of it: it was moved or deleted, or \
             this is another working directory. Running now would register those customers again. \
             Use --state with the database of the earlier run; to start afresh knowingly, move {} \
             away first. Nothing was sent.",
            results.display(),
            locator.row(line),
            settings.state.display(),
            results.display()
        );
    }
    let id = import.finish()?;
    store.run(id)?.context("the run just recorded is missing")
}

/// The status a row is recorded with, and the line it repeats.
fn row_status(admission: Admission) -> (RowStatus, Option<u64>) {
    match admission {
        Admission::Valid => (RowStatus::Pending, None),
        Admission::Invalid => (RowStatus::Invalid, None),
        Admission::Duplicate { of_line } => (RowStatus::Duplicate, Some(of_line)),
    }
}

/// `--dry-run`: the same checks and the same ledger look-ups, inside a transaction that is
/// rolled back, so nothing is sent and nothing is kept.
fn dry_run(settings: &RunSettings, probe: &Probe, printer: &Printer) -> anyhow::Result<Exit> {
    let path = settings.input.path.as_path();
    let scratch;
    let state = if settings.state.exists() {
        settings.state.as_path()
    } else {
        scratch = tempfile::tempdir().context("cannot create a temporary directory")?;
        &scratch.path().join("dry-run.db")
    };
    let mut store = Store::open(state)?;
    let _lock = store.acquire_lock()?;
    if let Some(run) = store.find_run(&probe.sha256_hex())? {
        let counts = store.counts(run.id)?;
        printer.report(&format!(
            "{}: this content is run {} of {} ({}): {} of {} rows registered or known, {} left to send. \
             `run` without --dry-run resumes it.\n",
            path.display(),
            run.id,
            settings.state.display(),
            run.status.as_str(),
            counts.get(RowStatus::Registered) + counts.get(RowStatus::Known),
            counts.total(),
            counts.left()
        ));
        return Ok(if counts.needing_attention() > 0 { Exit::NeedsAttention } else { Exit::Success });
    }

    const SHOWN: usize = 5;
    let intake = Intake::open(&settings.input, probe)?;
    let mut import = store.begin_import(
        &path.display().to_string(),
        &probe.sha256_hex(),
        intake.columns.headers(),
        &crate::input::Locator::Lines,
        &serde_json::json!({}),
    )?;
    let mut tally = StatusCounts::default();
    let mut shown = Vec::new();
    intake.scan(|row, admission, checked| {
        let applicant = checked.customer.as_ref().map(Applicant::from);
        let new = NewRow {
            line: row.line,
            status: row_status(admission).0,
            order_id: checked.order_id.as_deref(),
            duplicate_of: None,
            applicant: applicant.as_ref(),
            error_code: "",
            error: "",
            warnings: "",
            violations: &[],
        };
        let status = import.add(&new, std::iter::empty())?;
        tally.add(status, 1);
        if let (RowStatus::Pending, Some(a), true) = (status, &applicant, shown.len() < SHOWN) {
            shown.push(format!(
                "  line {:>6}  order_id {}  {} {}  PAN {}  born {}  mobile {}",
                row.line,
                a.order_id,
                mask(&a.first_name),
                mask(&a.last_name),
                mask(&a.pancard),
                mask(&a.date_of_birth),
                mask(&a.mobile_number)
            ));
        }
        Ok(())
    })?;
    drop(import);

    let count = |s: RowStatus| tally.get(s);
    let target = if settings.sandbox { "the sandbox".to_owned() } else { settings.api.endpoint.to_string() };
    let mut text = format!(
        "{}: {} rows. Dry run: nothing was sent and no state was kept.\n  would send {:>8}   to {target} at {} ({} at once)\n",
        path.display(),
        tally.total(),
        count(RowStatus::Pending),
        settings.engine.rate,
        settings.engine.concurrency,
    );
    for (status, note) in [
        (RowStatus::Known, "registered by an earlier run: not sent again"),
        (RowStatus::Duplicate, "same PAN as an earlier row: not sent"),
        (RowStatus::Invalid, "need fixing: `cibil-bulk validate` lists why"),
    ] {
        if count(status) > 0 {
            text.push_str(&format!("  {:<10} {:>8}   {note}\n", status.as_str(), count(status)));
        }
    }
    if !shown.is_empty() {
        text.push_str("First rows to send (values masked):\n");
        text.push_str(&shown.join("\n"));
        text.push('\n');
    }
    if count(RowStatus::Pending) > 0 {
        let seconds = count(RowStatus::Pending) as f64 / settings.engine.rate.per_second();
        text.push_str(&format!(
            "At {} this takes at least {}.\n",
            settings.engine.rate,
            humantime::format_duration(Duration::from_secs(seconds.ceil() as u64))
        ));
    }
    printer.report(&text);
    Ok(if count(RowStatus::Invalid) > 0 { Exit::NeedsAttention } else { Exit::Success })
}

/// First Ctrl-C or SIGTERM: stop claiming and let requests in flight finish. Second: leave at
/// once (every change to the state is a transaction, so the state stays consistent).
fn watch_signals(stop: Stop, printer: Printer, grace: Duration) {
    tokio::spawn(async move {
        let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        let mut signals = 0;
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                Some(()) = async { match &mut terminate { Some(t) => t.recv().await, None => std::future::pending().await } } => {}
            }
            signals += 1;
            if signals > 1 {
                printer.warn("stopped at once; the state is consistent: run again to resume");
                std::process::exit(i32::from(Exit::Interrupted.code()));
            }
            printer.warn(format_args!(
                "stopping: no new requests; waiting up to {}s for those in flight. Press Ctrl-C again to quit at once.",
                grace.as_secs()
            ));
            stop.request(StopReason::Interrupted);
        }
    });
}
