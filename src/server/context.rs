//! What every upload check and every job of the server needs: how files are read and judged (and
//! for whom the rules' advice is said), where registrations go and how hard to push, the state,
//! the uploads directory, the metrics file.

use std::path::{Path, PathBuf};

use super::files::Uploads;
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
}
