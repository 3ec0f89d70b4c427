//! `cibil-bulk serve`: starts the server (`crate::server`) and keeps it until SIGTERM or Ctrl-C.
//! The first signal stops it as Ctrl-C stops `run`: no new requests, the job being sent lets its
//! requests in flight finish and leaves the rest pending, and the process exits 0 once it is all
//! recorded. A second signal leaves at once (every change to the state is a transaction), writing
//! the running job's metrics file first, as `run`'s second signal writes its own.

use super::Exit;
use crate::job::ExitFiles;
use crate::output::{Printer, notices};
use crate::server::Server;
use crate::settings::ServeSettings;

pub fn serve(settings: &ServeSettings, printer: &Printer) -> anyhow::Result<Exit> {
    super::block_on("cibil-bulk-server", serve_until_stopped(settings, printer))
}

async fn serve_until_stopped(settings: &ServeSettings, printer: &Printer) -> anyhow::Result<Exit> {
    let mut signals = super::signals::Signals::listen()?;
    let server = Server::start(settings.clone()).await?;
    if !server.resumed.is_empty() {
        printer.note(notices::resuming_uploads(&server.resumed));
    }
    let addr = server.addr();
    if let Some(sandbox) = &server.sandbox_endpoint {
        printer.note(notices::serving_rehearsal(sandbox, &settings.state));
    }
    if !addr.ip().is_loopback() {
        printer.warn(notices::listening_beyond_this_machine(addr));
    }
    printer.note(notices::listening(addr, &settings.state));

    let stop = server.shutdown();
    let grace = settings.engine.shutdown_grace;
    let watcher_printer = printer.clone();
    tokio::spawn(async move {
        let signal = signals.received().await;
        watcher_printer.warn(notices::stopping(signal, grace));
        stop.cancel();
        signals.received().await;
        ExitFiles::leave_at_once(&watcher_printer, notices::SERVER_STOPPED_AT_ONCE);
    });
    server.wait().await?;
    printer.note(notices::SERVER_STOPPED);
    Ok(Exit::Success)
}
