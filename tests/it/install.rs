//! What an operator installs beside the binary: the shell completions and the man page (generated
//! from the clap definitions), `--version` naming the commit, and the files of the Debian package
//! under `examples/` — the server's service and the nightly run's service and timer, checked by
//! `systemd-analyze verify` where the machine has it and confined alike, the config file's
//! template, and the cron line, which must run the very command the nightly service runs. The
//! package itself is built and checked by .ci/run (examples/debian/check-package).

use std::io::Write as _;
use std::path::Path;
use std::process::Command;

use crate::common::Test;

const BIN: &str = env!("CARGO_BIN_EXE_cibil-bulk");
const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");

#[test]
fn bash_accepts_the_completion_script() {
    let dir = Path::new(BIN).parent().unwrap();
    let output = Command::new("bash")
        .args(["-c", "source <(cibil-bulk completions bash) && complete -p cibil-bulk"])
        .env("PATH", format!("{}:{}", dir.display(), std::env::var("PATH").unwrap_or_default()))
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success() && stderr.is_empty(), "{stdout}\n{stderr}");
    assert!(stdout.starts_with("complete ") && stdout.trim_end().ends_with(" cibil-bulk"), "{stdout}");
}

#[test]
fn completions_for_every_shell_know_the_commands_and_flags() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let run = Test::new().args(["completions", shell]).run();
        run.code(0);
        for word in ["metrics-file", "max-retry-after", "completions"] {
            assert!(run.stdout.contains(word), "{shell} lacks {word}");
        }
    }
    Test::new().args(["completions", "tcsh"]).run().code(2).stderr_contains("possible values");
}

#[test]
fn the_man_page_is_roff_that_groff_renders_or_says_it_skipped() {
    let run = Test::new().arg("man").run();
    run.code(0).stderr_is_empty();
    assert!(run.stdout.starts_with(".TH CIBIL-BULK 1 "), "{}", &run.stdout[..200.min(run.stdout.len())]);
    // groff, when the machine has it, renders the page without a warning.
    let Ok(mut groff) = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    else {
        // Straight to the process's stderr: the harness captures `eprintln!` of a test that passes,
        // and a skip must be seen.
        let _ = writeln!(std::io::stderr(), "SKIPPED: groff is not installed, the man page is not rendered");
        return;
    };
    groff.stdin.take().unwrap().write_all(run.stdout.as_bytes()).unwrap();
    let out = groff.wait_with_output().unwrap();
    assert!(out.status.success() && out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn the_version_names_the_commit() {
    let run = Test::new().arg("--version").run();
    run.code(0);
    let version = run.stdout.trim();
    let rest = version
        .strip_prefix(&format!("cibil-bulk {} (", env!("CARGO_PKG_VERSION")))
        .and_then(|r| r.strip_suffix(')'))
        .unwrap_or_else(|| panic!("{version}"));
    // A checkout names its commit; a build from a tarball says it does not know it.
    let in_checkout = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.git")).exists();
    match rest.strip_prefix("commit ") {
        Some(hash) => {
            assert!(in_checkout, "{version}");
            assert!(hash.len() == 12 && hash.chars().all(|c| c.is_ascii_hexdigit()), "{version}");
        }
        None => assert!(!in_checkout && rest == "unknown commit", "{version}"),
    }
}

/// The arguments after `cibil-bulk` in `command`, as a shell would split this simple line.
fn cibil_bulk_args(command: &str) -> Vec<String> {
    let words: Vec<&str> = command.split_whitespace().collect();
    let at =
        words.iter().position(|w| w.ends_with("bin/cibil-bulk") || *w == "cibil-bulk").expect("cibil-bulk");
    words[at + 1..].iter().map(|w| (*w).to_owned()).collect()
}

/// The service units, as the package installs them.
const SERVICES: [&str; 2] = ["cibil-bulk.service", "cibil-bulk-nightly.service"];

fn unit(name: &str) -> String {
    std::fs::read_to_string(format!("{EXAMPLES}/systemd/{name}")).unwrap()
}

/// The command the service `name` runs, with systemd's specifiers for its directories (`%S`)
/// and credentials (`%d`) as they are on a host.
fn service_command(name: &str) -> Vec<String> {
    service_commands(name).remove(0)
}

/// Every command the service `name` runs: `ExecStart=`, then each `ExecStartPost=`.
fn service_commands(name: &str) -> Vec<Vec<String>> {
    let unit = unit(name);
    let execs: Vec<&str> = unit
        .lines()
        .filter_map(|l| l.strip_prefix("ExecStart=").or_else(|| l.strip_prefix("ExecStartPost=")))
        .collect();
    assert!(!execs.is_empty(), "ExecStart=");
    execs
        .into_iter()
        .map(|exec| {
            assert!(exec.starts_with("/usr/bin/cibil-bulk "), "where the package puts the binary: {exec}");
            let exec = exec.replace("%S", "/var/lib").replace("%d", "/etc/cibil-bulk");
            cibil_bulk_args(&exec)
        })
        .collect()
}

/// Whether `args` (after the program's name) is a command line cibil-bulk accepts.
#[track_caller]
fn assert_parses(args: &[String]) {
    let argv = std::iter::once("cibil-bulk").chain(args.iter().map(String::as_str));
    if let Err(e) = cibil_bulk::cli::Cli::try_parse_args_from(argv) {
        panic!("{args:?} is not a cibil-bulk command line: {e}");
    }
}

#[test]
fn the_cron_line_runs_what_the_service_runs() {
    let cron = std::fs::read_to_string(format!("{EXAMPLES}/cron/cibil-bulk")).unwrap();
    let lines: Vec<&str> =
        cron.lines().filter(|l| !l.starts_with('#') && !l.contains('=') && !l.is_empty()).collect();
    assert_eq!(lines.len(), 1, "one job: {lines:?}");
    // /etc/cron.d: five time fields, the user, the command.
    let fields: Vec<&str> = lines[0].splitn(7, ' ').collect();
    assert_eq!(fields[..6], ["30", "2", "*", "*", "*", "cibil-bulk"], "{}", lines[0]);
    // The same commands in the same order; the service logs JSON to the journal, cron mails
    // errors only.
    let cron_commands: Vec<Vec<String>> = fields[6]
        .split(';')
        .flat_map(|part| part.split("&&"))
        .filter(|command| command.trim_start().starts_with("cibil-bulk "))
        .map(|command| cibil_bulk_args(command).into_iter().filter(|a| a != "-q").collect())
        .collect();
    let service_commands: Vec<Vec<String>> = service_commands("cibil-bulk-nightly.service")
        .into_iter()
        .map(|args| args.into_iter().filter(|a| a != "--log-format" && a != "json").collect())
        .collect();
    assert_eq!(cron_commands, service_commands);
    for args in &cron_commands {
        assert_parses(args);
    }
    for name in SERVICES {
        assert_parses(&service_command(name));
    }
}

/// The settings both services are confined by: what they may touch of the machine.
fn confinement(unit: &str) -> Vec<&str> {
    const KEYS: [&str; 6] =
        ["User=", "Group=", "StateDirectory", "LoadCredential=", "UMask=", "ReadWritePaths="];
    let start = unit.find("\nUMask=").expect("UMask=");
    let mut lines: Vec<&str> = unit.lines().filter(|l| KEYS.iter().any(|k| l.starts_with(k))).collect();
    // Everything from UMask= to the end of [Service].
    let service_end = unit[start..].find("\n[").map_or(unit.len(), |i| start + i);
    lines.extend(unit[start..service_end].lines().filter(|l| !l.is_empty() && !l.starts_with('#')));
    lines.sort_unstable();
    lines.dedup();
    lines
}

#[test]
fn both_services_are_confined_alike_and_tightly() {
    let units = SERVICES.map(unit);
    let [server, nightly] = [confinement(&units[0]), confinement(&units[1])];
    assert_eq!(server, nightly, "the server and the nightly run are confined alike");
    // What the issue asked for, and what keeps the state the service user's alone.
    for line in [
        "User=cibil-bulk",
        "StateDirectory=cibil-bulk",
        "StateDirectoryMode=0700",
        "LoadCredential=cibil-bulk.toml:/etc/cibil-bulk/cibil-bulk.toml",
        "UMask=0077",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "SystemCallFilter=@system-service",
        "CapabilityBoundingSet=",
    ] {
        assert!(server.contains(&line), "{line} is missing: {server:#?}");
    }
    // A state directory only: no path outside it may be written but an optional one.
    for line in server.iter().filter(|l| l.starts_with("ReadWritePaths=")) {
        assert!(line.trim_start_matches("ReadWritePaths=").split(' ').all(|p| p.starts_with('-')), "{line}");
    }
}

#[test]
fn the_packages_config_template_is_one_cibil_bulk_reads() {
    // Unknown keys are refused (exit 2); the sample file has rows to fix (exit 1).
    let config = format!("{EXAMPLES}/debian/cibil-bulk.toml");
    let customers = concat!(env!("CARGO_MANIFEST_DIR"), "/samples/customers.csv");
    Test::new().args(["validate", customers, "--config", &config]).run().code(1);
}

#[test]
fn the_systemd_units_pass_systemd_analyze_verify_or_say_it_skipped() {
    let required = std::env::var_os("CIBIL_BULK_REQUIRE_SYSTEMD_ANALYZE").is_some();
    if Command::new("systemd-analyze").arg("--version").output().is_err() {
        assert!(!required, "CIBIL_BULK_REQUIRE_SYSTEMD_ANALYZE is set, and systemd-analyze is not installed");
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: systemd-analyze is not installed (apt-get install systemd), the unit files are not verified"
        );
        return;
    }
    // The units as installed, but with this build's binary where the service expects the
    // installed one: verify checks that the command exists and is executable. (.ci/run verifies
    // them as the package installs them too.)
    let dir = tempfile::tempdir().unwrap();
    let mut units = Vec::new();
    for name in SERVICES.iter().chain(&["cibil-bulk-nightly.timer"]) {
        let path = dir.path().join(name);
        std::fs::write(&path, unit(name).replace("/usr/bin/cibil-bulk", BIN)).unwrap();
        units.push(path);
    }
    // --man=no: the page named by Documentation= is not installed on a build machine.
    let out = Command::new("systemd-analyze").args(["verify", "--man=no"]).args(&units).output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    // Unknown keys are only warned about: any word from it is a failure here.
    assert!(out.status.success() && stderr.trim().is_empty(), "{stdout}\n{stderr}");
}
