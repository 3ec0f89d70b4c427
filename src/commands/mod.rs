//! One function per subcommand, wiring the modules in the order data flows through them: the
//! top of the program. Holds no rules of its own: reading is `input`'s, judging `validate`'s,
//! keeping `store`'s, showing `output`'s, a run's steps the driver's (`job`), what may be written
//! the gate's (`gate`); and the one watcher of the signals that stop the program (`signals`).

// The package's build makes the man page and completions with it (examples/debian/assets).
pub mod install;
mod run;
mod sandbox;
mod serve;
mod signals;
mod state;
mod users;
mod validate;

use anyhow::Context as _;

pub use crate::job::{Exit, exit_code_of};
use crate::output::Printer;
use crate::settings::{CommandSettings, Settings};

pub use run::settings_failed as run_settings_failed;
pub use signals::survive_file_size_limits;

/// Runs one subcommand, after saying what the user must know first: where a real run sends
/// (its first line, so an operator always sees where the data goes), then any warnings about
/// the settings.
pub fn dispatch(settings: &Settings, printer: &Printer) -> anyhow::Result<Exit> {
    if let CommandSettings::Run(run) = &settings.command
        && !run.sandbox
        && !run.dry_run
    {
        printer.note(crate::output::notices::sending_to(&run.api.endpoint));
    }
    for warning in &settings.warnings {
        printer.warn(warning);
    }
    match &settings.command {
        CommandSettings::Validate(validate) => validate::validate(validate, printer),
        CommandSettings::Run(run) => run::run(run, printer),
        CommandSettings::Status(status) => state::status(status, printer),
        CommandSettings::Export(export) => state::export(export, printer),
        CommandSettings::Purge(purge) => state::purge(purge, printer),
        CommandSettings::Backup(backup) => state::backup(backup, printer),
        CommandSettings::Sandbox(sandbox) => sandbox::sandbox(sandbox, printer),
        CommandSettings::Serve(serve) => serve::serve(serve, printer),
        CommandSettings::Users(users) => users::users(users, printer),
        CommandSettings::Tokens(tokens) => users::tokens(tokens, printer),
        CommandSettings::Completions(shell) => install::completions(*shell, printer),
        CommandSettings::Man => install::man(printer),
    }
}

/// Runs `work` to its end on a multi-threaded async runtime whose threads are named `threads`.
fn block_on<T>(
    threads: &str,
    work: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name(threads)
        .build()
        .context("cannot start the async runtime")?
        .block_on(work)
}

/// The state database at `state` if it exists: reading, listing or removing must not create one.
fn existing(state: &std::path::Path) -> anyhow::Result<Option<crate::store::Store>> {
    if !state.exists() {
        return Ok(None);
    }
    Ok(Some(crate::store::Store::open(state)?))
}

/// The state database at `state` if it exists, to read: opened to write as every command opens
/// it, or, on a disk that cannot be written, read as it was last written (saying so).
fn existing_to_read(
    state: &std::path::Path,
    printer: &Printer,
) -> anyhow::Result<Option<crate::store::Store>> {
    use crate::store::Store;
    if !state.exists() {
        return Ok(None);
    }
    match Store::open(state) {
        Ok(store) => Ok(Some(store)),
        Err(e) if e.is_read_only() => {
            let store = Store::open_read_only(state)?;
            printer.note(crate::output::notices::read_only_state(state));
            Ok(Some(store))
        }
        Err(e) => Err(e.into()),
    }
}
