//! `cibil-bulk validate FILE`: every rule applied, nothing sent, nothing kept.

use std::collections::BTreeMap;
use std::path::Path;

use super::Exit;
use super::guard::guard_outputs;
use super::intake::{Intake, warn_about_encoding};
use crate::input;
use crate::output::{ErrorsFile, Printer, ReportFile, ValidationSummary, cell_flags, error_text, write_json};
use crate::settings::ValidateSettings;
use crate::validate::Admission;

pub fn validate(settings: &ValidateSettings, printer: &Printer) -> anyhow::Result<Exit> {
    let path = settings.input.path.as_path();
    let outputs: Vec<(&str, &Path)> =
        [("--errors", &settings.errors), ("--output", &settings.report), ("--summary", &settings.summary)]
            .into_iter()
            .filter_map(|(flag, p)| p.as_deref().map(|p| (flag, p)))
            .collect();
    guard_outputs(&[("the customer file", path)], &outputs)?;

    let probe = input::probe(path, settings.input.probe)?;
    warn_about_encoding(path, &probe, printer);
    let intake = Intake::open(&settings.input, &probe)?;

    let mut errors =
        settings.errors.as_deref().map(|p| ErrorsFile::create(p, intake.columns.headers())).transpose()?;
    let mut report = settings.report.as_deref().map(ReportFile::create).transpose()?;
    let mut summary = ValidationSummary::default();
    let locator = intake.locator().clone();
    intake.scan(|row, admission, checked| {
        summary.record(row.line, admission, checked);
        if let (Some(errors), Admission::Invalid) = (&mut errors, admission) {
            let text = format!("{}: {}", locator.row(row.line), error_text(checked));
            errors.write(row.cells.iter(), &text, &cell_flags(checked))?;
        }
        if let Some(report) = &mut report {
            report.write(row.line, admission, checked)?;
        }
        Ok(())
    })?;
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
        write_json(summary_path, &summary.json(path, &probe, files, exit.code()))?;
    }
    printer.report(&summary.render(
        path,
        &probe,
        &locator,
        errors_written.as_ref().map(|(p, n)| (p.as_path(), *n)),
        report_written.as_deref(),
    ));
    Ok(exit)
}
