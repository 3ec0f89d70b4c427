//! One function per subcommand, wiring the modules in the order data flows through them. Holds
//! no rules of its own: reading is `input`'s, judging `validate`'s, keeping `store`'s, showing
//! `output`'s.

mod intake;
mod run;
mod sandbox;
mod state;
mod validate;

use std::path::Path;

use anyhow::{Context as _, bail};

pub use run::run;
pub use sandbox::sandbox;
pub use state::{export, purge, status};
pub use validate::validate;

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

/// Refuses outputs that would overwrite the customer file or each other (the input must survive
/// whatever the run does), and outputs that could not be written: better said before a single row
/// is read or sent than after. The state database (`--state`) is only checked for collisions; the
/// store opens it.
fn guard_outputs(input: &Path, outputs: &[(&str, &Path)]) -> anyhow::Result<()> {
    let canonical = |p: &Path| -> Option<std::path::PathBuf> {
        let parent = match p.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        Some(parent.canonicalize().ok()?.join(p.file_name()?))
    };
    let input_real = canonical(input);
    for (i, (flag, path)) in outputs.iter().enumerate() {
        let real = canonical(path);
        if real.is_some() && real == input_real {
            bail!(
                "{flag} {} is the customer file itself: choose another name for the output",
                path.display()
            );
        }
        for (other_flag, other) in &outputs[..i] {
            if real.is_some() && real == canonical(other) {
                bail!("{other_flag} and {flag} both name {}: give each output its own file", path.display());
            }
        }
        if *flag != "--state" {
            crate::output::check_writable(path).with_context(|| format!("{flag} cannot be written"))?;
        }
    }
    Ok(())
}
