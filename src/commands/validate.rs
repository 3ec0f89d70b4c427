//! `cibil-bulk validate FILE`: every rule applied, nothing sent, nothing kept. Its files (the
//! errors file, the report, the summary) are cleared by the gate before the file is read.

use std::collections::BTreeMap;

use crate::gate::Gate;
use crate::input;
use crate::job::Exit;
use crate::job::intake::{Intake, check_file};
use crate::output::{ErrorsFile, Printer, ReportFile, notices, write_json};
use crate::settings::ValidateSettings;

pub fn validate(settings: &ValidateSettings, printer: &Printer) -> anyhow::Result<Exit> {
    let path = settings.input.path.as_path();
    let gate = Gate::new()
        .keep("the customer file", path)
        .keep_config(Some(&settings.config))
        .keep_state(&settings.state);
    let [errors_path, report_path, summary_path] = gate.clear([
        ("--errors", settings.errors.as_deref()),
        ("--output", settings.report.as_deref()),
        ("--summary", settings.summary.as_deref()),
    ])?;

    let probe = input::probe(path, settings.input.probe)?;
    for warning in notices::encoding_warnings(path, &probe) {
        printer.warn(warning);
    }
    let intake = Intake::open(&settings.input, &probe)?;
    let locator = intake.locator().clone();

    let mut errors: Vec<ErrorsFile> = errors_path
        .as_ref()
        .map(|p| ErrorsFile::create(p, intake.columns.headers()))
        .transpose()?
        .into_iter()
        .collect();
    let mut report = report_path.as_ref().map(ReportFile::create).transpose()?;
    let summary = check_file(intake, &mut errors, |row, admission, checked| {
        if let Some(report) = &mut report {
            report.write(row.line, admission, checked)?;
        }
        Ok(())
    })?;
    if summary.rows == 0 {
        // Not an error: a nightly export of a day without new customers is just a header. But a
        // clerk who exported the wrong sheet should hear it.
        printer.warn(notices::no_rows(path));
    }

    let errors_written = errors
        .pop()
        .map(|e| -> anyhow::Result<_> {
            let rows = e.rows();
            Ok((e.commit()?, rows))
        })
        .transpose()?;
    let report_written = report.map(ReportFile::commit).transpose()?;
    let exit = if summary.invalid == 0 { Exit::Success } else { Exit::NeedsAttention };

    if let Some(summary_path) = &summary_path {
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
