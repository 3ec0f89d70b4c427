//! `cibil-bulk sandbox`: the simulated vendor on a port of this machine until Ctrl-C, with what
//! a user needs to point a client at it (URL, endpoint, credentials, a curl command to try).

use anyhow::Context as _;

use crate::job::Exit;
use crate::output::{Printer, sandbox_text};
use crate::sandbox::Sandbox;
use crate::settings::SandboxSettings;

pub fn sandbox(settings: &SandboxSettings, printer: &Printer) -> anyhow::Result<Exit> {
    super::block_on("sandbox", serve(settings, printer))
}

async fn serve(settings: &SandboxSettings, printer: &Printer) -> anyhow::Result<Exit> {
    // Listening for signals before anything is printed: once the banner says Ctrl-C stops the
    // sandbox, it does (a SIGINT that came before the handler would be lost or kill it abruptly).
    let mut stop = super::signals::Signals::listen()?;
    let sandbox = Sandbox::start(settings.listen, settings.config.clone())
        .await
        .with_context(|| format!("cannot listen on {} (--listen)", settings.listen))?;
    printer.report(&sandbox_text::banner(&sandbox, &settings.config));
    printer.note(sandbox_text::PRESS_CTRL_C);

    stop.received().await;
    printer.note(sandbox_text::stopping(&sandbox.stats()));
    sandbox.shutdown().await;
    Ok(Exit::Success)
}
