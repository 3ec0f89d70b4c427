//! The commands that read or maintain a state database without sending anything: `status` (the
//! runs, their rows per status, what is left), `export` (a run's results file written again),
//! `purge` (old runs' personal data removed) and `backup` (a whole, consistent copy).

use std::path::Path;

use anyhow::Context as _;

use crate::gate::Gate;
use crate::input::{self, ProbeOptions};
use crate::job::Exit;
use crate::output::{self, Printer, notices, write_results};
use crate::settings::{BackupSettings, ExportSettings, PurgeSettings, StatusSettings};
use crate::store::{RunRecord, Store};

fn open_existing(state: &Path, printer: &Printer) -> anyhow::Result<Store> {
    super::existing_to_read(state, printer)?.with_context(|| notices::no_state(state))
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
    found.with_context(|| notices::no_such_run(state, name))
}

pub fn status(settings: &StatusSettings, printer: &Printer) -> anyhow::Result<Exit> {
    Gate::new().keep_config(Some(&settings.config)).keep_state(&settings.state).check()?;
    let store = open_existing(&settings.state, printer)?;
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
    if !runs.is_empty() {
        printer.report(&output::order_ids_text(store.order_ids_of_the_state_until()?));
    }
    if let (Some(quota), false) = (store.learned_quota()?, runs.is_empty()) {
        printer.report(&output::learned_quota_text(&quota));
    }
    let attention = runs.iter().any(|(counts, _)| counts.needing_attention() > 0);
    Ok(if attention && settings.run.is_some() { Exit::NeedsAttention } else { Exit::Success })
}

pub fn export(settings: &ExportSettings, printer: &Printer) -> anyhow::Result<Exit> {
    let store = open_existing(&settings.state, printer)?;
    let run = find_run(&store, &settings.state, &settings.run)?;
    // The customer files of the state's runs are kept too, this run's and every other's.
    let gate = Gate::new()
        .keep_runs_files(&store.runs()?)
        .keep_config(Some(&settings.config))
        .keep_state(&settings.state);
    let [results, errors] =
        gate.clear([("--output", Some(&settings.results)), ("--errors", settings.errors.as_deref())])?;
    let results = results.unwrap_or_else(|| unreachable!("a path given is cleared or refused"));
    let written = write_results(&store, &run, &results, errors.as_ref())?;
    printer.note(notices::exported(&written, run.id));
    Ok(Exit::Success)
}

/// Who `cibil-bulk purge` is in the audit log.
const PURGE: &str = "cibil-bulk purge";

pub fn purge(settings: &PurgeSettings, printer: &Printer) -> anyhow::Result<Exit> {
    Gate::new().keep_config(Some(&settings.config)).keep_state(&settings.state).check()?;
    // No run lock: a purge erases only what nothing may still send, one transaction at a time,
    // so it works beside a run or the server (which holds the lock for its life).
    let mut store = super::existing(&settings.state)?.with_context(|| notices::no_state(&settings.state))?;
    let age_ms = i64::try_from(settings.older_than.as_millis()).unwrap_or(i64::MAX);
    let cutoff = crate::store::now_ms().saturating_sub(age_ms);
    let purged = store.purge(cutoff, PURGE)?;
    // Something erased is in the audit log with the erasure; a purge that found nothing is
    // recorded too, for whoever checks that the nightly one ran.
    if purged.is_empty() {
        store.audit(PURGE, "purge", None, "nothing older to erase")?;
    }
    printer.note(notices::purged(&purged, &settings.state));
    Ok(Exit::Success)
}

pub fn backup(settings: &BackupSettings, printer: &Printer) -> anyhow::Result<Exit> {
    // Last night's copy may be replaced; no state, companion, customer file of its runs or
    // config file may.
    let store = open_existing(&settings.state, printer)?;
    let gate = Gate::new()
        .keep_runs_files(&store.runs()?)
        .keep_config(Some(&settings.config))
        .keep_state(&settings.state)
        .replacing_backups();
    let dest = gate.clear_one("DEST", &settings.dest)?;
    let size = output::write_file_with(&dest, |temp| store.backup_into(temp))?;
    printer.note(notices::backed_up(&settings.state, dest.path(), size));
    Ok(Exit::Success)
}
