//! The gate, tried on every path-valued argument of every subcommand — generated from clap's own
//! definition of the command line, so that a flag added later is covered without touching this
//! test. Each is pointed at every file the command keeps or writes (of the customer file, the
//! state and its `-wal`, `-shm` and `.lock`, the config file, the results, errors, summary and
//! metrics files: those its command line names), and at those no command may write (another
//! state, another program's database, an upload the server keeps; for `export`, its run's
//! customer file renamed), through every spelling (as named, `sub/../`, an absolute path, a
//! symlink, a hard link, and as root a second mount of the directory). An output so named is refused by the gate (exit 2) and
//! every one of those files is left byte-identical, mode included — the summary and metrics file
//! too. A file read or kept so named (the customer file, the state, the config file) is never
//! written: every file is left byte-identical, but for the summary and metrics file, which may
//! say why the run could not go on (exit 2).

use std::any::TypeId;
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use crate::common::runs::output_within;
use crate::common::{HEADER, TODAY, customer};

/// The files of the fixture every command line below names in its own role, and those no command
/// may ever write: another state, another program's database, a file the server keeps in its
/// uploads beside the state, and (for `export`) the run's customer file moved since.
const PROTECTED: [&str; 14] = [
    "customers.csv",
    "s.db",
    "s.db-wal",
    "s.db-shm",
    "s.db.lock",
    "cfg.toml",
    "r.csv",
    "e.csv",
    "sum.json",
    "m.prom",
    "other.db",
    "foreign.db",
    "s.uploads/1.upload",
    "moved.csv",
];

/// Of [`PROTECTED`], those no command names in a role, but every command keeps.
const NEVER_WRITTEN: [&str; 3] = ["other.db", "foreign.db", "s.uploads/1.upload"];

/// Arguments that name a file the command reads or keeps (not one it writes): the customer file,
/// the state, the config file. Every other path-valued argument is an output.
const INPUTS: [&str; 3] = ["file", "state", "config"];

/// A working command line for each subcommand, naming the fixture's files in their roles. A
/// subcommand with a path-valued argument and no line here fails the test: say how it is used.
fn base(subcommand: &str) -> Option<Vec<&'static str>> {
    let config = ["--config", "cfg.toml"];
    let line: Vec<&str> = match subcommand {
        "run" => vec![
            "run",
            "customers.csv",
            "--sandbox",
            "--state",
            "s.db",
            "--output",
            "r.csv",
            "--errors",
            "e.csv",
            "--summary",
            "sum.json",
            "--metrics-file",
            "m.prom",
            "--lock-wait",
            "0",
        ],
        "validate" => vec![
            "validate",
            "customers.csv",
            "--errors",
            "e.csv",
            "--output",
            "r.csv",
            "--summary",
            "sum.json",
        ],
        "status" => vec!["status", "--state", "s.db"],
        "export" => vec!["export", "1", "--state", "s.db", "--output", "r.csv", "--errors", "e.csv"],
        "purge" => vec!["purge", "--state", "s.db", "--older-than", "3650d"],
        "backup" => vec!["backup", "copy.db", "--state", "s.db"],
        "serve" => vec![
            "serve",
            "--sandbox",
            "--state",
            "s.db",
            "--listen",
            "127.0.0.1:0",
            "--metrics-file",
            "m.prom",
        ],
        "users add" => vec!["users", "add", "asha", "--password-stdin", "--state", "s.db"],
        "users list" => vec!["users", "list", "--state", "s.db"],
        "users remove" => vec!["users", "remove", "asha", "--state", "s.db"],
        "users role" => vec!["users", "role", "asha", "admin", "--state", "s.db"],
        "tokens add" => vec!["tokens", "add", "nightly", "--scope", "upload", "--state", "s.db"],
        "tokens list" => vec!["tokens", "list", "--state", "s.db"],
        "tokens revoke" => vec!["tokens", "revoke", "nightly", "--state", "s.db"],
        "sandbox" => vec!["sandbox", "--listen", "127.0.0.1:0"],
        "completions" => vec!["completions", "bash"],
        "man" => vec!["man"],
        _ => return None,
    };
    Some(line.into_iter().chain(config).collect())
}

/// One path-valued argument of one subcommand.
#[derive(Debug, Clone)]
struct PathArg {
    subcommand: String,
    id: String,
    /// `--output`, or the position of a positional argument (1 is the first after the subcommand).
    long: Option<String>,
    index: Option<usize>,
}

impl PathArg {
    fn is_output(&self) -> bool {
        !INPUTS.contains(&self.id.as_str())
    }

    /// The command line with this argument naming `value`: replaced where the base names it,
    /// added where it does not.
    fn line(&self, base: &[&str], value: &str) -> Vec<String> {
        let mut line: Vec<String> = base.iter().map(|s| (*s).to_owned()).collect();
        let words = self.subcommand.split(' ').count();
        match (&self.long, self.index) {
            (Some(long), _) => match line.iter().position(|w| w == long) {
                Some(at) => line[at + 1] = value.to_owned(),
                None => line.extend([long.clone(), value.to_owned()]),
            },
            (None, Some(index)) => line[words - 1 + index] = value.to_owned(),
            (None, None) => unreachable!("an argument is a flag or a positional"),
        }
        line
    }

    /// The file this argument names in the base line, if it names one.
    fn own(&self, base: &[&str]) -> Option<String> {
        let words = self.subcommand.split(' ').count();
        match (&self.long, self.index) {
            (Some(long), _) => base.iter().position(|w| w == long).map(|at| base[at + 1].to_owned()),
            (None, Some(index)) => base.get(words - 1 + index).map(|w| (*w).to_owned()),
            _ => None,
        }
    }
}

/// Every path-valued argument of every leaf subcommand, from clap's definition.
fn path_args() -> Vec<PathArg> {
    fn walk(command: &clap::Command, prefix: &str, out: &mut Vec<PathArg>) {
        for sub in command.get_subcommands() {
            let name = if prefix.is_empty() {
                sub.get_name().to_owned()
            } else {
                format!("{prefix} {}", sub.get_name())
            };
            if sub.has_subcommands() {
                walk(sub, &name, out);
                continue;
            }
            for arg in sub.get_arguments() {
                if arg.get_value_parser().type_id() == TypeId::of::<PathBuf>() {
                    out.push(PathArg {
                        subcommand: name.clone(),
                        id: arg.get_id().to_string(),
                        long: arg.get_long().map(|l| format!("--{l}")),
                        index: arg.get_index(),
                    });
                }
            }
        }
    }
    let mut command = cibil_bulk::cli::definition();
    command.build();
    let mut out = Vec::new();
    walk(&command, "", &mut out);
    out
}

/// The fixture: a sandbox run's state and files, a config file, and `sub/` for `..` spellings.
fn fixture(dir: &Path) {
    let mut text = format!("{HEADER}\n");
    for i in 0..5 {
        text.push_str(&customer(i));
        text.push('\n');
    }
    text.push_str("Ravi,Kumar,NOTAPAN,31/01/1985,x@example.com,9876543210\n");
    std::fs::write(dir.join("customers.csv"), text).unwrap();
    std::fs::write(dir.join("cfg.toml"), "[run]\nrate = \"500/s\"\n").unwrap();
    std::fs::set_permissions(dir.join("cfg.toml"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let base = base("run").unwrap();
    let out = output_within(command(dir).args(&base), Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let out = output_within(
        command(dir)
            .args(["users", "add", "asha", "--password-stdin", "--state", "s.db"])
            .stdin(password(dir)),
        Duration::from_secs(60),
    );
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    // Another state, another program's database, an upload the server keeps, the customer file
    // under another name.
    let out = output_within(
        command(dir)
            .args(["users", "add", "ravi", "--password-stdin", "--state", "other.db"])
            .stdin(password(dir)),
        Duration::from_secs(60),
    );
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let foreign = rusqlite::Connection::open(dir.join("foreign.db")).unwrap();
    foreign
        .execute_batch(
            "CREATE TABLE invoices (id INTEGER, amount INTEGER); INSERT INTO invoices VALUES (1, 100);",
        )
        .unwrap();
    drop(foreign);
    std::fs::create_dir(dir.join("s.uploads")).unwrap();
    std::fs::write(dir.join("s.uploads/1.upload"), std::fs::read(dir.join("customers.csv")).unwrap())
        .unwrap();
    std::fs::copy(dir.join("customers.csv"), dir.join("moved.csv")).unwrap();
    for name in PROTECTED.iter().filter(|n| !n.starts_with("s.db-")) {
        assert!(dir.join(name).exists(), "the fixture has {name}");
    }
}

/// A password on standard input, for `users add --password-stdin`.
fn password(dir: &Path) -> std::fs::File {
    let path = dir.join("password");
    if !path.exists() {
        std::fs::write(&path, "correct horse battery staple\n").unwrap();
    }
    std::fs::File::open(path).unwrap()
}

fn command(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cibil-bulk"));
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        if key.starts_with("CIBIL_BULK_") || key.starts_with("AOPAY_") {
            command.env_remove(key);
        }
    }
    command
        .current_dir(dir)
        .env("CIBIL_BULK_TODAY", TODAY)
        // `validate` keeps the state `run` would use here.
        .env("CIBIL_BULK_STATE", "s.db")
        .stdin(std::process::Stdio::null());
    command
}

/// What every protected file is: its bytes and mode, or absent.
fn snapshot(dir: &Path) -> BTreeMap<&'static str, Option<(Vec<u8>, u32)>> {
    PROTECTED
        .iter()
        .map(|name| {
            let path = dir.join(name);
            let seen = std::fs::symlink_metadata(&path)
                .ok()
                .map(|m| (std::fs::read(&path).unwrap_or_default(), m.permissions().mode()));
            (*name, seen)
        })
        .collect()
}

/// The files a command line names in their roles — the files it keeps or writes — and with
/// the state, its companions; `export` keeps its run's customer file too.
fn protected(subcommand: &str, base: &[&str]) -> Vec<&'static str> {
    let named = |name: &str| {
        base.contains(&name)
            || (name.starts_with("s.db") && (base.contains(&"s.db") || subcommand == "validate"))
    };
    PROTECTED
        .iter()
        .copied()
        .filter(|name| {
            named(name)
                || NEVER_WRITTEN.contains(name)
                || (subcommand == "export" && ["customers.csv", "moved.csv"].contains(name))
        })
        .collect()
}

/// Whether `name` is the summary or the metrics file saying the run ended with exit 2.
fn is_exit_2(name: &str, seen: &Option<(Vec<u8>, u32)>) -> bool {
    let Some((bytes, _)) = seen else { return false };
    let text = String::from_utf8_lossy(bytes);
    match name {
        "sum.json" => serde_json::from_str::<serde_json::Value>(&text).is_ok_and(|v| v["exit_code"] == 2),
        "m.prom" => text.lines().any(|l| l == "cibil_bulk_last_run_exit_code 2"),
        _ => false,
    }
}

/// A copy of the fixture in a directory of its own, for one case: files with their modes, and
/// `sub/` for `..` spellings.
fn copy_of(fixture: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for name in PROTECTED {
        let from = fixture.join(name);
        if from.exists() {
            let to = dir.path().join(name);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(&from, to).unwrap();
        }
    }
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    dir
}

/// The ways to name `target`: as named, through `..`, absolutely, by a symlink (dangling if the
/// file is absent), and by a hard link when it exists. Links are made in `dir`.
fn spelling(dir: &Path, target: &str, how: usize) -> Option<String> {
    Some(match how {
        0 => target.to_owned(),
        1 => format!("sub/../{target}"),
        2 => dir.join(target).to_string_lossy().into_owned(),
        3 => {
            std::os::unix::fs::symlink(dir.join(target), dir.join("link")).unwrap();
            "link".to_owned()
        }
        4 if dir.join(target).is_file() => {
            std::fs::hard_link(dir.join(target), dir.join("hard")).unwrap();
            "hard".to_owned()
        }
        // The same directory mounted a second time (root only): files still to be made are known
        // by their directory, not its path.
        5 if bind_mount(dir) => format!("b/{target}"),
        _ => return None,
    })
}

/// Mounts `dir` again at `dir/b`, when this user may; [`unmount`] takes it away.
fn bind_mount(dir: &Path) -> bool {
    std::fs::create_dir(dir.join("b")).is_ok()
        && Command::new("mount")
            .args(["--bind", &dir.to_string_lossy(), &dir.join("b").to_string_lossy()])
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
}

fn unmount(dir: &Path) {
    if dir.join("b").exists() {
        let _ = Command::new("umount").arg(dir.join("b")).stderr(std::process::Stdio::null()).status();
    }
}

#[test]
fn every_path_of_every_command_is_refused_when_it_names_a_kept_or_written_file() {
    let args = path_args();
    // The walk found what the command line has: every subcommand that writes, every output.
    let outputs: Vec<String> =
        args.iter().filter(|a| a.is_output()).map(|a| format!("{} {}", a.subcommand, a.id)).collect();
    for expected in [
        "run output",
        "run errors",
        "run summary",
        "run metrics_file",
        "validate errors",
        "export output",
        "serve metrics_file",
    ] {
        assert!(outputs.iter().any(|o| o == expected), "clap's definition has no {expected}: {outputs:?}");
    }
    let fixture_dir = tempfile::tempdir().unwrap();
    let fixture_dir = fixture_dir.path();
    fixture(fixture_dir);
    let mut cases = Vec::new();
    for arg in &args {
        let base = base(&arg.subcommand).unwrap_or_else(|| {
            panic!("`cibil-bulk {}` has path arguments: give it a command line in base()", arg.subcommand)
        });
        let own = arg.own(&base);
        for target in protected(&arg.subcommand, &base) {
            // Another state is a state to use, and an upload a customer file to read: not files
            // to keep from them.
            let usable = (arg.id == "state" && target == "other.db")
                || (arg.id == "file" && target == "s.uploads/1.upload");
            if own.as_deref() == Some(target) || usable {
                continue;
            }
            for how in 0..6 {
                cases.push((arg.clone(), base.clone(), target, how));
            }
        }
    }
    assert!(cases.len() > 500, "{} cases", cases.len());

    // Each case runs on a copy of the fixture; a few at once (each is a process of its own).
    let before = snapshot(fixture_dir);
    let (failures, tried) = (Mutex::new(Vec::new()), Mutex::new(0usize));
    let next = Mutex::new(cases.into_iter());
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                loop {
                    let Some((arg, base, target, how)) = next.lock().unwrap().next() else { break };
                    let copy = copy_of(fixture_dir);
                    let dir = copy.path();
                    let Some(spelling) = spelling(dir, target, how) else { continue };
                    let line = arg.line(&base, &spelling);
                    let mut command = command(dir);
                    command.args(&line);
                    if line.iter().any(|w| w == "--password-stdin") {
                        command.stdin(password(dir));
                    }
                    let out = output_within(&mut command, Duration::from_secs(30));
                    unmount(dir);
                    *tried.lock().unwrap() += 1;
                    let after = snapshot(dir);
                    // A file read or kept, misnamed, may stop the run with its reason recorded.
                    let told_why = |name: &str| {
                        !arg.is_output() && name != target && is_exit_2(name, &after[name])
                    };
                    let changed: Vec<_> = PROTECTED
                        .iter()
                        .filter(|name| before[*name] != after[*name] && !told_why(name))
                        .collect();
                    if !changed.is_empty() || (arg.is_output() && out.status.code() != Some(2)) {
                        failures.lock().unwrap().push(format!(
                            "cibil-bulk {} (naming {target} as {spelling}): exit {:?}, changed {changed:?}: {}",
                            line.join(" "),
                            out.status.code(),
                            String::from_utf8_lossy(&out.stderr).lines().next().unwrap_or_default()
                        ));
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(failures.is_empty(), "{} cases failed:\n{}", failures.len(), failures.join("\n"));
    assert!(tried.into_inner().unwrap() > 500);
}

#[test]
fn an_output_that_is_a_pipe_or_a_device_is_written_into_never_replaced() {
    use std::os::unix::fs::FileTypeExt as _;
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    fixture(dir);
    // A FIFO with a reader, a device (a null device of the test's own when root may make one,
    // else the system's), and a link to standard output, itself a pipe the test reads.
    assert!(Command::new("mkfifo").arg(dir.join("fifo")).status().unwrap().success());
    let null = if Command::new("mknod")
        .args(["-m", "666", &dir.join("null").to_string_lossy(), "c", "1", "3"])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
    {
        dir.join("null")
    } else {
        PathBuf::from("/dev/null")
    };
    std::os::unix::fs::symlink("/proc/self/fd/1", dir.join("mystdout")).unwrap();
    let fifo = dir.join("fifo");
    let reader = std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap());
    let base = base("run").unwrap();
    let mut line: Vec<String> = base.iter().map(|s| (*s).to_owned()).collect();
    let set = |line: &mut Vec<String>, flag: &str, value: &str| {
        let at = line.iter().position(|w| w == flag).unwrap();
        line[at + 1] = value.to_owned();
    };
    set(&mut line, "--summary", "fifo");
    set(&mut line, "--metrics-file", &null.to_string_lossy());
    set(&mut line, "--output", "mystdout");
    // A fresh state: the fixture's run is done.
    set(&mut line, "--state", "fresh.db");
    let out = output_within(command(dir).args(&line), Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let summary: serde_json::Value = serde_json::from_str(&reader.join().unwrap()).unwrap();
    assert_eq!(summary["exit_code"], 1);
    assert!(std::fs::metadata(dir.join("fifo")).unwrap().file_type().is_fifo(), "the FIFO is still one");
    assert!(std::fs::metadata(&null).unwrap().file_type().is_char_device(), "the device is still one");
    assert!(std::fs::symlink_metadata(dir.join("mystdout")).unwrap().file_type().is_symlink());
    let results = String::from_utf8_lossy(&out.stdout);
    assert!(
        results.contains("registered") && results.lines().count() == 7,
        "the results on standard output:\n{results}"
    );
}

#[test]
fn export_keeps_its_runs_customer_file_wherever_it_is_run_from_and_whatever_the_file_is_called() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    fixture(dir);
    std::fs::create_dir(dir.join("other")).unwrap();
    let customers = std::fs::read(dir.join("customers.csv")).unwrap();
    let export = |from: &Path, output: &str| {
        let mut command = command(from);
        command.args(["export", "1", "--state"]).arg(dir.join("s.db")).args(["--output", output]);
        output_within(&mut command, Duration::from_secs(60))
    };
    // From another directory, by a relative or an absolute name: refused, the file untouched.
    let absolute = dir.join("customers.csv").to_string_lossy().into_owned();
    for output in ["../customers.csv", absolute.as_str()] {
        let out = export(&dir.join("other"), output);
        assert_eq!(out.status.code(), Some(2), "{output}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stderr).contains("the customer file of a run"));
    }
    // A file of that name elsewhere is not the customer file.
    let out = export(&dir.join("other"), "customers.csv");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    // Renamed since, it is still found, by its content.
    std::fs::rename(dir.join("customers.csv"), dir.join("renamed.csv")).unwrap();
    let out = export(dir, "renamed.csv");
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read(dir.join("renamed.csv")).unwrap(), customers, "untouched");
}
