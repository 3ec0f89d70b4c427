//! cibil-bulk registers customers for CIBIL credit scores in bulk through AOPay's registration
//! API. The modules follow the data: `input` reads rows, `validate` judges them, `engine` sends
//! them through `api`, `store` keeps state in SQLite, `output` owns every byte the user sees;
//! `sandbox` simulates the vendor; `gate` clears every file written; `job` is the one run driver
//! and the exit codes; `cli` and `settings` turn the command line, environment and config file
//! into one validated [`settings::Settings`]; `commands` (the terminal) and `server` (the pages and
//! the API) are the two callers on top. ARCHITECTURE.md, at the repository's root, is the map.

pub mod api;
pub mod cli;
pub mod commands;
pub mod engine;
pub mod gate;
pub mod input;
pub mod job;
pub mod mask;
pub mod output;
pub mod private_file;
pub mod sandbox;
pub mod server;
pub mod settings;
pub mod store;
pub mod validate;

pub use job::{Exit, exit_code_of};

use cli::Cli;
use output::Printer;
use settings::Settings;

/// The process's command line; prints clap's message (a credential it would repeat masked) and
/// exits on a usage error, `--help` or `--version`.
pub fn parse_command_line() -> Cli {
    Cli::try_parse_args_from(std::env::args_os()).unwrap_or_else(|error| {
        settings::usage_error_without_credentials(error, &|name| std::env::var(name).ok()).exit()
    })
}

/// Runs the command `cli` describes.
pub fn run(cli: &Cli) -> anyhow::Result<Exit> {
    commands::survive_file_size_limits();
    let settings = match Settings::resolve(cli) {
        Ok(settings) => settings,
        // `run` writes its summary and metrics file on every exit, this one included.
        Err(error) => {
            return Err(match settings::run_exit_paths(cli) {
                Some(paths) => commands::run_settings_failed(paths, error.into()),
                None => error.into(),
            });
        }
    };
    output::init_logging(&settings.log);
    let printer = Printer::new(&settings.log);
    commands::dispatch(&settings, &printer)
}
