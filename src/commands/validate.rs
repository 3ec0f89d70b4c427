//! `cibil-bulk validate FILE`: every rule applied, nothing sent, nothing kept.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context as _;

use super::guard_outputs;
use crate::Exit;
use crate::input::{self, RawRow, RowReader};
use crate::output::{ErrorsFile, Printer, ReportFile, ValidationSummary, error_text};
use crate::settings::ValidateSettings;
use crate::store::ScratchIndex;
use crate::validate::{Admission, FileChecks, check_row};

pub fn validate(settings: &ValidateSettings, printer: &Printer) -> anyhow::Result<Exit> {
    let path = settings.input.path.as_path();
    let outputs: Vec<(&str, &Path)> =
        [("--errors", &settings.errors), ("--output", &settings.report), ("--summary", &settings.summary)]
            .into_iter()
            .filter_map(|(flag, p)| p.as_deref().map(|p| (flag, p)))
            .collect();
    guard_outputs(path, &outputs)?;

    let probe = input::probe(path, settings.input.probe)?;
    if let Some(line) = probe.fallback_from_line {
        printer.warn(format_args!(
            "{} is not UTF-8 (line {line} is the first line that is not), so it is read as \
             Windows-1252, which Excel's plain \"CSV\" format writes. If names look wrong, save \
             the sheet as \"CSV UTF-8\" or choose with --encoding.",
            path.display()
        ));
    }
    if let Some(line) = probe.invalid_utf8_from_line {
        printer.warn(format_args!(
            "{} is read as UTF-8, but line {line} is the first of its lines that is not: what \
             cannot be read shows as '\u{FFFD}' and such rows need fixing. If the sheet was \
             saved as plain \"CSV\", run with --encoding windows-1252.",
            path.display()
        ));
    }
    let rules = settings.input.rules(&probe.sha256_hex());
    let mut reader = RowReader::open(path, &probe, &settings.input.map, &rules.required_fields())?;
    let columns = reader.columns().clone();
    let mut checks =
        FileChecks::new(ScratchIndex::new().context("cannot create the index of PANs seen")?, &rules);

    let mut errors =
        settings.errors.as_deref().map(|p| ErrorsFile::create(p, columns.headers())).transpose()?;
    let mut report = settings.report.as_deref().map(ReportFile::create).transpose()?;
    let mut summary = ValidationSummary::default();

    let mut row = RawRow::default();
    while reader.read_row(&mut row)? {
        let mut checked = check_row(&row, &columns, &rules);
        let admission = checks.admit(row.line, &mut checked, &columns)?;
        summary.record(row.line, admission, &checked);
        if let (Some(errors), Admission::Invalid) = (&mut errors, admission) {
            errors.write(&row.cells, &format!("line {}: {}", row.line, error_text(&checked)))?;
        }
        if let Some(report) = &mut report {
            report.write(row.line, admission, &checked)?;
        }
    }
    checks.finish(&columns).with_context(|| format!("{}: the dates cannot be trusted", path.display()))?;
    if summary.rows == 0 {
        // Not an error: a nightly export of a day without new customers is just a header. But a
        // clerk who exported the wrong sheet should hear it.
        printer.warn(format_args!(
            "{} has a header line but no rows below it: there is nothing to check",
            path.display()
        ));
    }

    let errors_written = errors
        .map(|e| -> anyhow::Result<_> {
            let rows = e.rows();
            Ok((e.commit()?, rows))
        })
        .transpose()?;
    let report_written = report.map(ReportFile::commit).transpose()?;
    let exit = if summary.invalid == 0 { Exit::Success } else { Exit::NeedsAttention };

    if let Some(summary_path) = &settings.summary {
        let mut files = BTreeMap::new();
        if let Some((p, _)) = &errors_written {
            files.insert("errors", p.as_path());
        }
        if let Some(p) = &report_written {
            files.insert("report", p.as_path());
        }
        crate::output::write_json(summary_path, &summary.json(path, &probe, files, exit.code()))?;
    }
    printer.report(&summary.render(
        path,
        &probe,
        errors_written.as_ref().map(|(p, n)| (p.as_path(), *n)),
        report_written.as_deref(),
    ));
    Ok(exit)
}
