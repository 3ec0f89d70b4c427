//! `cibil-bulk serve`: starts the server (`crate::server`) and keeps it until SIGTERM or Ctrl-C.
//! The first signal stops it as Ctrl-C stops `run`: no new requests, the job being sent lets its
//! requests in flight finish and leaves the rest pending, and the process exits 0 once it is all
//! recorded. A second signal leaves at once (every change to the state is a transaction).

use std::time::Duration;

use super::Exit;
use crate::output::Printer;
use crate::server::Server;
use crate::settings::ServeSettings;

pub fn serve(settings: &ServeSettings, printer: &Printer) -> anyhow::Result<Exit> {
    super::block_on("cibil-bulk-server", serve_until_stopped(settings, printer))
}

async fn serve_until_stopped(settings: &ServeSettings, printer: &Printer) -> anyhow::Result<Exit> {
    let server = Server::start(settings.clone()).await?;
    if !server.resumed.is_empty() {
        let ids: Vec<String> = server.resumed.iter().map(i64::to_string).collect();
        printer.note(format_args!(
            "Resuming upload{} {}: {} being registered when the server stopped. Nobody is sent twice.",
            if ids.len() == 1 { "" } else { "s" },
            ids.join(", "),
            if ids.len() == 1 { "it was" } else { "they were" },
        ));
    }
    let addr = server.addr();
    if let Some(sandbox) = &server.sandbox_endpoint {
        printer.note(format_args!(
            "Rehearsal: uploads are sent to the built-in sandbox at {sandbox} (nothing reaches AOPay); state {}.",
            settings.state.display()
        ));
    }
    if !addr.ip().is_loopback() {
        printer.warn(format_args!(
            "listening on {addr}, reachable from other machines over plain http: passwords and \
             customers' data cross the network unencrypted unless a reverse proxy with TLS is in front"
        ));
    }
    printer.note(format_args!(
        "Listening on http://{addr} (state {}). Stop with Ctrl-C.",
        settings.state.display()
    ));

    let stop = server.shutdown();
    let grace = settings.engine.shutdown_grace;
    let watcher_printer = printer.clone();
    tokio::spawn(async move {
        let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        let mut signals = 0;
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                Some(()) = async { match &mut terminate { Some(t) => t.recv().await, None => std::future::pending().await } } => {}
            }
            signals += 1;
            if signals > 1 {
                watcher_printer.warn("stopped at once; the state is consistent: the next start resumes");
                std::process::exit(i32::from(Exit::Interrupted.code()));
            }
            watcher_printer.note(format_args!(
                "Stopping: no new requests; waiting up to {} for those in flight. Press Ctrl-C again to quit at once.",
                humantime::format_duration(Duration::from_secs(grace.as_secs()))
            ));
            stop.cancel();
        }
    });
    server.wait().await?;
    printer.note("Stopped. Uploads being registered resume at the next start.");
    Ok(Exit::Success)
}
