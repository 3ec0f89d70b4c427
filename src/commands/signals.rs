//! The one watcher of the signals that ask the program to stop, for `run`, `serve` and `sandbox`:
//! Ctrl-C (SIGINT), SIGTERM (a service manager, `timeout`), SIGHUP (the terminal or SSH session
//! closed) and SIGQUIT (Ctrl-\). Each is handled as a request to stop: a run stops claiming and lets
//! requests in flight finish, rather than die with the previous run's summary standing. Watched
//! from the moment this is made: a signal that came before the first wait is not lost, nor does it
//! kill the process abruptly. SIGPIPE needs nothing: Rust's runtime ignores it, so a closed pipe is
//! an error on the write (which `output` counts and survives), never the end of the process; nor
//! is SIGXFSZ, caught from the start (`survive_file_size_limits`).

use anyhow::Context as _;
use tokio::signal::unix::{Signal, SignalKind, signal};

/// Makes a file-size limit (`ulimit -f`, a service's `LimitFSIZE=`) what a full disk is: a write
/// that fails, which the state and the outputs report and survive, and the summary still written
/// — instead of SIGXFSZ ending the process where it stands. Called once, first thing.
pub fn survive_file_size_limits() {
    let caught = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    if let Err(e) = signal_hook::flag::register(signal_hook::consts::SIGXFSZ, caught) {
        tracing::debug!("cannot catch SIGXFSZ: {e}");
    }
}

/// A signal, as the user would name it, and how tokio names it.
pub type Named = (&'static str, fn() -> SignalKind);

/// The signals that stop the program.
pub const STOPPING: [Named; 4] = [
    ("Ctrl-C (SIGINT)", SignalKind::interrupt),
    ("SIGTERM", SignalKind::terminate),
    ("SIGHUP", SignalKind::hangup),
    ("SIGQUIT", SignalKind::quit),
];

#[derive(Debug)]
pub struct Signals {
    watched: Vec<(&'static str, Signal)>,
}

impl Signals {
    pub fn listen() -> anyhow::Result<Signals> {
        let watched = STOPPING
            .iter()
            .map(|(name, kind)| {
                Ok((*name, signal(kind()).with_context(|| format!("cannot listen for {name}"))?))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Signals { watched })
    }

    /// The next of the signals, by name.
    pub async fn received(&mut self) -> &'static str {
        let waits = self.watched.iter_mut().map(|(name, signal)| {
            Box::pin(async move {
                signal.recv().await;
                *name
            })
        });
        futures_util::future::select_all(waits).await.0
    }
}
