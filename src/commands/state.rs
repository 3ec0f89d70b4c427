//! The commands that read or maintain a state database without sending anything: `status` (the
//! runs, their rows per status, what is left), `export` (a run's results file written again) and
//! `purge` (old runs' personal data removed).

use std::path::Path;

use anyhow::Context as _;

use super::Exit;
use crate::input::{self, ProbeOptions};
use crate::output::{self, Printer, write_results};
use crate::settings::{ExportSettings, PurgeSettings, StatusSettings};
use crate::store::{RunRecord, Store};

fn open_existing(state: &Path) -> anyhow::Result<Store> {
    super::existing(state)?.with_context(|| {
        format!(
            "there is no state database at {}: nothing has been run with it (choose one with --state)",
            state.display()
        )
    })
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

pub fn status(settings: &StatusSettings, printer: &Printer) -> anyhow::Result<Exit> {
    let store = open_existing(&settings.state)?;
    let runs = match &settings.run {
        Some(name) => vec![find_run(&store, &settings.state, name)?],
        None => store.runs()?,
    };
    let runs = runs
        .into_iter()
        .map(|run| Ok((store.counts(run.id)?, run)))
        .collect::<Result<Vec<_>, crate::store::StoreError>>()?;
    // A run recorded as running whose process is gone (the lock is free) was interrupted.
    let running_now = store.lock_is_held()?;
    printer.report(&output::status_report(&settings.state, &runs, settings.run.is_some(), running_now));
    if let (Some(quota), false) = (store.learned_quota()?, runs.is_empty()) {
        printer.report(&output::learned_quota_text(&quota));
    }
    let attention = runs.iter().any(|(counts, _)| counts.needing_attention() > 0);
    Ok(if attention && settings.run.is_some() { Exit::NeedsAttention } else { Exit::Success })
}

pub fn export(settings: &ExportSettings, printer: &Printer) -> anyhow::Result<Exit> {
    let state = super::guard::state_files(&settings.state);
    let kept: Vec<super::guard::Kept<'_>> = state.iter().map(|(what, p)| (*what, p.as_path())).collect();
    let mut outputs = vec![("--output", settings.results.as_path())];
    outputs.extend(settings.errors.as_deref().map(|p| ("--errors", p)));
    super::guard::guard_outputs(&kept, &outputs)?;
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
    let _lock = store.acquire_lock(crate::store::DEFAULT_LOCK_WAIT, |holder| {
        printer.note(crate::output::notices::waiting_for_lock(
            &settings.state,
            holder,
            crate::store::DEFAULT_LOCK_WAIT,
        ));
    })?;
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
