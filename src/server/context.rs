//! What every upload check and every job of the server needs: how files are read and judged (the
//! server's settings, and the choices an uploader made for one file), where registrations go and
//! how hard to push, the state, the uploads directory, the metrics file, and when this server
//! started.

use std::path::{Path, PathBuf};

use super::files::Uploads;
use super::report::Choices;
use crate::api::ApiSettings;
use crate::engine::EngineSettings;
use crate::gate::Cleared;
use crate::output::Audience;
use crate::settings::InputSettings;

#[derive(Debug)]
pub struct Context {
    /// How files are read and judged; each upload sets `path` (and, unless pinned, `today`).
    pub input: InputSettings,
    pub today_pinned: bool,
    /// The endpoint and credentials, the sandbox's with `--sandbox`.
    pub api: ApiSettings,
    pub engine: EngineSettings,
    /// What the state is bound to: `sandbox`, or the endpoint's identity.
    pub endpoint_scope: String,
    pub state: PathBuf,
    pub uploads: Uploads,
    /// `--metrics-file`, cleared by the gate at start: how the last job ended, written after
    /// every job.
    pub metrics_file: Option<Cleared>,
    /// `--keep-personal-data`: how long customers' personal data is kept once nothing may still
    /// send it; the job runner erases what is older between jobs (`runner`).
    pub keep_personal_data: std::time::Duration,
    /// When this server started (Unix milliseconds): a refusal only the team lead can lift — new
    /// credentials, another address — takes a restart, so a job that stopped on one before this
    /// may be tried again, and one that stopped since may not.
    pub started_at: i64,
}

impl Context {
    /// The input settings for the file at `path`, judged today (India's date, as every run's),
    /// its messages said for whoever uploaded it.
    pub fn input_for(&self, path: &Path) -> InputSettings {
        let mut input = self.input.clone();
        input.path = path.to_owned();
        input.audience = Audience::Server;
        if !self.today_pinned {
            input.today = crate::settings::today();
        }
        input
    }

    /// [`Context::input_for`] with what the uploader chose for this file: a date order they gave
    /// is theirs (dates that contradict it are rows to fix, not a reason to stop), a column they
    /// named for a field replaces the server's.
    pub fn input_with(&self, path: &Path, choices: &Choices) -> InputSettings {
        let mut input = self.input_for(path);
        if let Some(order) = choices.date_order() {
            input.date_order = order;
            input.date_order_explicit = true;
        }
        for (field, header) in choices.map() {
            input.map.retain(|(f, _)| *f != field);
            input.map.push((field, header));
        }
        input
    }
}
