//! Writes the Debian package's man page and shell completions into `target/<profile>/package/`
//! (`man/man1/cibil-bulk.1.gz`, `completions/`), where `[package.metadata.deb]`'s assets take them
//! from. They are made by the very functions
//! behind `cibil-bulk man` and `cibil-bulk completions SHELL`, in the build that makes the packaged
//! binary: cargo cannot run that binary during the build, so this script links its library
//! instead (the package's profile builds build scripts' dependencies as it builds the binary's, so
//! the library is compiled once for both). `.ci/run` checks that each file is byte for byte what
//! the packaged binary prints.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use cibil_bulk::commands::install::{completion_script, man_page};
use clap_complete::Shell;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let dir = profile_dir().join("package");

    let page = man_page().expect("cannot render the manual page");
    write(&dir.join("man/man1/cibil-bulk.1.gz"), &gzip(page.as_bytes()));
    let completions =
        [(Shell::Bash, "cibil-bulk.bash"), (Shell::Zsh, "_cibil-bulk"), (Shell::Fish, "cibil-bulk.fish")];
    for (shell, name) in completions {
        let script = completion_script(shell).expect("cannot generate a completion script");
        write(&dir.join("completions").join(name), script.as_bytes());
    }
}

/// `target/<profile>`: cargo gives build scripts only `OUT_DIR`, which is
/// `target/<profile>/build/<package>-<hash>/out` (unless a `build-dir` is configured elsewhere, which
/// this project does not do).
fn profile_dir() -> PathBuf {
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR is set by cargo"));
    out_dir.ancestors().nth(3).expect("OUT_DIR is target/<profile>/build/<package>/out").to_owned()
}

/// The page compressed as Debian's policy asks of manual pages: gzip at the highest level, without
/// a file name or time in its header, so that the same page always makes the same bytes.
fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::GzBuilder::new().mtime(0).write(Vec::new(), flate2::Compression::best());
    encoder.write_all(data).and_then(|()| encoder.finish()).expect("gzip into memory")
}

fn write(path: &Path, data: &[u8]) {
    let made =
        path.parent().map_or(Ok(()), std::fs::create_dir_all).and_then(|()| std::fs::write(path, data));
    made.unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}
