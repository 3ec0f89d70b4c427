//! The architecture's invariants, checked by reading the source (as rust-analyzer's `tidy` tests
//! do), so that ARCHITECTURE.md cannot drift from the code: no SQL outside `store`; no byte to
//! stdout or stderr outside `output`, and no message text handed to the printer from elsewhere; no
//! meaning of an HTTP status outside `api::classify` (the server and the sandbox make statuses,
//! they do not read the vendor's); no file opened for writing outside the modules that own
//! writing (and every output passes the gate); the layers' imports (`server` and `job` never
//! reach up to `commands`, `job` never to `server`, the gate to nothing above it); every module
//! opens with a paragraph saying what it owns; no `todo!`, `unimplemented!` or `dbg!`.

use std::path::{Path, PathBuf};

/// Every `.rs` file under `src/`, with its text: tests included, as `(path from src/, text)`.
fn sources() -> Vec<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (p.strip_prefix(&src).unwrap().to_string_lossy().replace('\\', "/"), text)
        })
        .collect()
}

/// The code of a file that ships: its test modules (`#[cfg(test)] mod ...` to the end of the
/// file, as this crate writes them) and `tests.rs` files left out; comments left out.
fn shipped(path: &str, text: &str) -> Vec<(usize, String)> {
    if path.ends_with("tests.rs") || path == "build.rs" {
        return Vec::new();
    }
    let end = text.find("#[cfg(test)]\nmod tests").unwrap_or(text.len());
    text[..end]
        .lines()
        .enumerate()
        .map(|(i, line)| (i + 1, line.split("//").next().unwrap_or("").to_owned()))
        .filter(|(_, code)| !code.trim().is_empty())
        .collect()
}

/// The lines of shipped code outside the modules `allowed` (prefixes of paths under `src/`) that
/// contain any of `needles`.
fn offenders(allowed: &[&str], needles: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for (path, text) in sources() {
        if allowed.iter().any(|a| path.starts_with(a)) {
            continue;
        }
        for (line, code) in shipped(&path, &text) {
            if let Some(needle) = needles.iter().find(|n| contains_word(&code, n)) {
                found.push(format!("src/{path}:{line}: {needle:?} in `{}`", code.trim()));
            }
        }
    }
    found
}

/// Whether `needle` occurs in `code` not as the tail of a longer name (`ErrorsFile::create` is
/// not `File::create`).
fn contains_word(code: &str, needle: &str) -> bool {
    code.match_indices(needle).any(|(at, _)| {
        let before = code[..at].chars().next_back();
        !before.is_some_and(|c| c.is_alphanumeric() || c == '_') || !needle.starts_with(char::is_alphanumeric)
    })
}

#[track_caller]
fn assert_none(rule: &str, offenders: Vec<String>) {
    assert!(offenders.is_empty(), "{rule}:\n  {}", offenders.join("\n  "));
}

#[test]
fn no_sql_outside_the_store() {
    assert_none(
        "SQL belongs in src/store (ARCHITECTURE.md, Invariants)",
        offenders(
            &["store/"],
            &[
                "rusqlite",
                "\"SELECT ",
                "\"INSERT ",
                "\"UPDATE ",
                "\"DELETE ",
                "\"CREATE ",
                "PRAGMA ",
                "execute_batch",
            ],
        ),
    );
}

#[test]
fn no_terminal_output_outside_output() {
    assert_none(
        "every byte the user sees is written by src/output",
        offenders(
            &["output/"],
            &["println!", "print!(", "eprint", "io::stdout", "io::stderr", "stdout()", "stderr()", "dbg!("],
        ),
    );
    // Message text is written in `output` too: other modules hand the printer what `output` made.
    let mut handed_text = Vec::new();
    for (path, text) in sources() {
        if path.starts_with("output/") {
            continue;
        }
        for (line, code) in shipped(&path, &text) {
            for call in ["printer.note(", "printer.warn(", "printer.report(", ".note(\"", ".warn(\""] {
                if let Some(at) = code.find(call) {
                    let argument = code[at + call.len()..].trim_start();
                    let literal = call.ends_with('"')
                        || argument.starts_with('"')
                        || argument.starts_with("format!")
                        || argument.starts_with("format_args!(\"");
                    if literal {
                        handed_text.push(format!("src/{path}:{line}: `{}`", code.trim()));
                    }
                }
            }
        }
    }
    assert_none("message text handed to the printer outside src/output", handed_text);
}

#[test]
fn the_engine_reports_data_not_sentences() {
    // Why a run stopped is a `StopReason`, a failed row's message the vendor's reason: `output`
    // puts them in the user's words.
    let engine: Vec<String> =
        offenders(&[], &["format!("]).into_iter().filter(|o| o.starts_with("src/engine/")).collect();
    assert_none("sentences built in src/engine", engine);
}

#[test]
fn no_http_status_meaning_outside_classify() {
    // The server and the sandbox answer with statuses of their own; `api/mod.rs` hands the
    // vendor's to `classify` without reading it.
    assert_none(
        "what a vendor's HTTP status means is decided in src/api/classify.rs",
        offenders(
            &["api/", "server/", "sandbox/"],
            &["StatusCode", "as_u16()", "http::status", "response.status()"],
        ),
    );
}

#[test]
fn files_are_written_only_where_writing_is_owned() {
    // `output` writes every output (through `AtomicFile`, which takes the gate's `Cleared`), the
    // `store` its database and lock, `gate` its writability probe, `private_file` modes, and
    // the server's `files` the uploads as they arrive (into its own directory, cleared files).
    assert_none(
        "files are written through src/output (and the gate) or the store",
        offenders(
            &["output/", "store/", "gate.rs", "private_file.rs", "server/files.rs"],
            &[
                "File::create",
                "fs::write",
                "OpenOptions",
                "fs::rename",
                "fs::copy",
                "tempfile::Builder",
                "NamedTempFile::new",
                ".persist(",
                "set_permissions",
                "openat(",
                "renameat(",
            ],
        ),
    );
}

#[test]
fn the_layers_import_only_downwards() {
    for (layer, above) in [
        ("server/", &["crate::commands"][..]),
        ("job/", &["crate::commands", "crate::server"][..]),
        (
            "gate.rs",
            &["crate::output", "crate::job", "crate::commands", "crate::server", "crate::engine"][..],
        ),
        ("engine/", &["crate::job", "crate::commands", "crate::server", "crate::output"][..]),
        ("store/", &["crate::job", "crate::commands", "crate::server", "crate::engine", "crate::output"][..]),
        (
            "validate/",
            &["crate::job", "crate::commands", "crate::server", "crate::store", "crate::output"][..],
        ),
        (
            "input/",
            &["crate::job", "crate::commands", "crate::server", "crate::store", "crate::validate"][..],
        ),
        ("output/", &["crate::job", "crate::commands", "crate::server"][..]),
    ] {
        let mut found = Vec::new();
        for (path, text) in sources().iter().filter(|(p, _)| p.starts_with(layer)) {
            for (line, code) in shipped(path, text) {
                if let Some(import) = above.iter().find(|a| code.contains(*a)) {
                    found.push(format!("src/{path}:{line}: {import}"));
                }
            }
        }
        assert_none(&format!("src/{layer} reaches up to a layer above it"), found);
    }
}

#[test]
fn every_module_says_what_it_owns() {
    let missing: Vec<String> = sources()
        .into_iter()
        .filter(|(path, text)| !path.ends_with("tests.rs") && !text.trim_start().starts_with("//!"))
        .map(|(path, _)| format!("src/{path}"))
        .collect();
    assert_none("every module opens with a `//!` paragraph saying what it owns", missing);
}

#[test]
fn nothing_is_left_unfinished() {
    assert_none(
        "no stub ships",
        offenders(&[], &["todo!(", "unimplemented!(", "dbg!(", "#[allow(dead_code)]"]),
    );
}
