//! The build script: names the commit the binary is built from, for `cibil-bulk --version`
//! (`CIBIL_BULK_COMMIT`, read by `cli::VERSION`), so that a binary found on a server can be traced
//! to its source. A build outside a git checkout of this very repository (a tarball, a vendored
//! copy inside another repository) says "unknown commit" rather than guess; a packager who knows
//! the commit can say it through `CIBIL_BULK_BUILD_COMMIT`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=CIBIL_BULK_BUILD_COMMIT");
    let given = std::env::var("CIBIL_BULK_BUILD_COMMIT").ok().filter(|c| !c.trim().is_empty());
    let commit = given.or_else(|| {
        let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR")?);
        checkout_commit(&manifest_dir)
    });
    let described = match commit {
        Some(commit) => format!("commit {}", commit.trim()),
        None => "unknown commit".to_owned(),
    };
    println!("cargo:rustc-env=CIBIL_BULK_COMMIT={described}");
}

/// The commit checked out at `dir`, when `dir` is the top of a git checkout (and git is there to
/// ask). Tells cargo to run this again when HEAD moves: a checkout changes `HEAD`, a commit the
/// branch's ref or `packed-refs`.
fn checkout_commit(dir: &Path) -> Option<String> {
    let top = git(dir, &["rev-parse", "--show-toplevel"])?;
    if Path::new(&top).canonicalize().ok()? != dir.canonicalize().ok()? {
        return None;
    }
    for file in ["HEAD", "packed-refs"] {
        watch(dir, file);
    }
    if let Some(branch) = git(dir, &["symbolic-ref", "-q", "HEAD"]) {
        watch(dir, &branch);
    }
    git(dir, &["rev-parse", "--short=12", "HEAD"])
}

/// Asks cargo to rerun this script when the git file `name` (as `git rev-parse --git-path` finds
/// it, worktrees included) changes. Only a file that exists: cargo would rerun the script on
/// every build for a missing one, and rebuild the crate each time.
fn watch(dir: &Path, name: &str) {
    if let Some(path) = git(dir, &["rev-parse", "--git-path", name]) {
        let path = dir.join(path);
        if path.is_file() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
}

/// `git ARGS` in `dir`: its first line of output, when it succeeds.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).current_dir(dir).output().ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?;
    Some(text.lines().next()?.trim().to_owned()).filter(|l| !l.is_empty())
}
