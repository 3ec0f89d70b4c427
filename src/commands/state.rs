//! The commands that read or maintain a state database without sending anything: `status` (the
//! runs, their rows per status, what is left), `export` (a run's results file written again) and
//! `purge` (old runs' personal data removed).

use std::path::Path;

use anyhow::{Context as _, bail};

use super::Exit;
use crate::input::{self, ProbeOptions};
use crate::output::{Printer, write_results};
use crate::settings::{ExportSettings, PurgeSettings, StatusSettings};
use crate::store::{RowStatus, RunRecord, Store};

fn open_existing(state: &Path) -> anyhow::Result<Store> {
    if !state.exists() {
        bail!(
            "there is no state database at {}: nothing has been run with it (choose one with --state)",
            state.display()
        );
    }
    Ok(Store::open(state)?)
}

/// A run named by its number, or by the customer file it was made from (its content).
fn find_run(store: &Store, state: &Path, name: &str) -> anyhow::Result<RunRecord> {
    let found = match name.parse::<i64>() {
        Ok(id) => store.run(id)?,
        Err(_) => {
            let probe = input::probe(Path::new(name), ProbeOptions::default())?;
            store.find_run(&probe.sha256_hex())?
        }
    };
    found.with_context(|| {
        format!(
            "{} has no run {name}: `cibil-bulk status --state {}` lists them",
            state.display(),
            state.display()
        )
    })
}

fn when(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.with_timezone(&chrono::Local).format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

pub fn status(settings: &StatusSettings, printer: &Printer) -> anyhow::Result<Exit> {
    let store = open_existing(&settings.state)?;
    let mut out = String::new();
    let runs = match &settings.run {
        Some(name) => vec![find_run(&store, &settings.state, name)?],
        None => store.runs()?,
    };
    if runs.is_empty() {
        printer.report(&format!("{}: no runs yet.\n", settings.state.display()));
        return Ok(Exit::Success);
    }
    out.push_str(&format!("State: {}\n", settings.state.display()));
    out.push_str(&format!(
        "{:>4}  {:<11} {:>8} {:>10} {:>6} {:>9} {:>7} {:>8} {:>6} {:>7}  {}\n",
        "run",
        "status",
        "rows",
        "registered",
        "known",
        "duplicate",
        "invalid",
        "rejected",
        "failed",
        "left",
        "file (last started)"
    ));
    let mut attention = false;
    for run in &runs {
        let counts = store.counts(run.id)?;
        attention |= counts.needing_attention() > 0;
        out.push_str(&format!(
            "{:>4}  {:<11} {:>8} {:>10} {:>6} {:>9} {:>7} {:>8} {:>6} {:>7}  {} ({})\n",
            run.id,
            if run.purged_at.is_some() { "purged" } else { run.status.as_str() },
            counts.total(),
            counts.get(RowStatus::Registered),
            counts.get(RowStatus::Known),
            counts.get(RowStatus::Duplicate),
            counts.get(RowStatus::Invalid),
            counts.get(RowStatus::Rejected),
            counts.get(RowStatus::Failed),
            counts.left(),
            run.input_path,
            when(run.updated_at)
        ));
        if settings.run.is_some() {
            out.push_str(&format!(
                "\n  content SHA-256  {}\n  started          {}\n",
                run.input_sha256,
                when(run.started_at)
            ));
            if let Some(finished) = run.finished_at {
                out.push_str(&format!("  finished         {}\n", when(finished)));
            }
            if let Some(purged) = run.purged_at {
                out.push_str(&format!("  personal data    purged {}\n", when(purged)));
            }
            if counts.left() > 0 {
                out.push_str(&format!(
                    "  {} rows are left: `cibil-bulk run {} --state {}` resumes the run.\n",
                    counts.left(),
                    run.input_path,
                    settings.state.display()
                ));
            }
        }
    }
    printer.report(&out);
    Ok(if attention && settings.run.is_some() { Exit::NeedsAttention } else { Exit::Success })
}

pub fn export(settings: &ExportSettings, printer: &Printer) -> anyhow::Result<Exit> {
    let store = open_existing(&settings.state)?;
    let run = find_run(&store, &settings.state, &settings.run)?;
    let written = write_results(&store, &run, &settings.results, settings.errors.as_deref())?;
    printer.note(format_args!(
        "Wrote {} rows of run {}: {}",
        written.rows,
        run.id,
        written.results.display()
    ));
    if let Some(errors) = &written.errors {
        printer.note(format_args!(
            "Wrote the {} rows that need attention: {}",
            written.needing_attention,
            errors.display()
        ));
    }
    Ok(Exit::Success)
}

pub fn purge(settings: &PurgeSettings, printer: &Printer) -> anyhow::Result<Exit> {
    let mut store = open_existing(&settings.state)?;
    // Not while a run uses the state: it may be reading the rows this would empty.
    let _lock = store.acquire_lock()?;
    let age_ms = i64::try_from(settings.older_than.as_millis()).unwrap_or(i64::MAX);
    let cutoff = crate::store::now_ms().saturating_sub(age_ms);
    let purged = store.purge(cutoff)?;
    printer.note(format_args!(
        "Purged the personal data of {} rows in {} finished runs of {} ({} KiB freed). Their counts, \
         statuses and cibil_ids stay, and their customers are still recognised.",
        purged.rows,
        purged.runs,
        settings.state.display(),
        purged.bytes_freed / 1024
    ));
    Ok(Exit::Success)
}
