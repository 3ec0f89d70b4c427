//! `cibil-bulk run` end to end: the real binary against the sandbox, started in this process on a
//! free port of 127.0.0.1, so every guarantee the README makes is checked from both sides — the files
//! the tool wrote and what the server received.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::customer;
use crate::common::runs::{Server, Work, assert_complete, code, customers, read_csv, statuses, stderr};
use cibil_bulk::sandbox::{SANDBOX_COMPANY_CODE, SANDBOX_REGISTRATION_ID, SandboxConfig};

#[test]
fn a_clean_run_registers_every_valid_row_and_reports_the_rest() {
    let server = Server::plain();
    let work = Work::new(&server);
    let mut text = customers(0, 30);
    text.push_str("Asha,Rao,FRS23456,01/01/1990,asha@example.com,9876543210\n"); // invalid PAN, line 32
    text.push_str(&customer(3)); // the customer of line 5 again, line 33
    text.push('\n');
    text.push_str("Mira,Das,ABCPD1234F,31/01/2015,=HYPERLINK(\"x\"),9876543211\n"); // under age + bad e-mail, line 34
    work.write("in.csv", &text);

    let out = work.run("in.csv", &["--summary", "summary.json"]);
    code(&out, 1);
    let rows = work.results("in.results.csv");
    assert_complete(&rows, 33, &server.stats());
    assert_eq!(
        statuses(&rows),
        BTreeMap::from([("duplicate".into(), 1), ("invalid".into(), 2), ("registered".into(), 30)])
    );
    assert_eq!(server.stats().registered, 30);
    assert_eq!(server.stats().requests, 30, "invalid rows and the duplicate were never sent");

    // What the results say is what the server registered: ask it again for each order id.
    for row in rows.iter().filter(|r| r["status"] == "registered") {
        let i: u32 = row["line"].parse::<u32>().unwrap() - 2;
        let body = serde_json::json!({
            "order_id": row["order_id"], "first_name": "Ravi", "middle_name": "", "last_name": "Kumar",
            "pancard": crate::common::pan(i), "date_of_birth": "31/01/1985", "email_id": format!("c{i}@example.com"),
            "mobile_number": crate::common::mobile(i), "RegistrationID": SANDBOX_REGISTRATION_ID, "CompanyCode": SANDBOX_COMPANY_CODE,
        });
        let answer = server.replay(&body);
        assert_eq!(answer["result"]["cibil_id"].as_str(), Some(row["cibil_id"].as_str()), "{answer}");
        assert_eq!(row["cibil_status"], "Pending");
        assert_eq!(row["is_returning_customer"], "0");
        assert!(row.get("access_token").is_none(), "the token never reaches the results");
    }
    // The duplicate reports the first row's result and was never sent.
    let dup = &rows[31];
    assert_eq!(
        (dup["status"].as_str(), dup["cibil_id"].as_str()),
        ("duplicate", rows[3]["cibil_id"].as_str())
    );
    assert!(dup["warnings"].contains("same PAN as line 5"), "{dup:?}");

    // The errors file: exactly the invalid rows, with their own cells, made safe.
    let errors = read_csv(&work.path("in.errors.csv"));
    assert_eq!(errors.len(), 2);
    assert_eq!(errors[0]["pancard"], "FRS23456");
    assert!(
        errors[0]["error"].starts_with("line 32: pancard \"FRS23456\" is not a valid PAN"),
        "{:?}",
        errors[0]
    );
    assert_eq!(errors[1]["email_id"], "'=HYPERLINK(\"x\")");

    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(work.path("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["exit_code"], 1);
    assert_eq!(summary["counts"]["registered"], 30);
    assert_eq!(summary["requests"], 30);
    assert_eq!(summary["files"]["results"], "in.results.csv");
    for key in
        ["command", "file", "sha256", "run_id", "resumed", "state", "rows", "duration_seconds", "stopped"]
    {
        assert!(summary.get(key).is_some(), "summary lacks {key}");
    }
    use std::os::unix::fs::PermissionsExt;
    for file in ["in.results.csv", "in.errors.csv", "summary.json", "cibil-bulk.db"] {
        let mode = std::fs::metadata(work.path(file)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{file}");
    }
}

#[test]
fn a_finished_file_sends_nothing_the_second_time_and_rewrites_the_same_results() {
    let server = Server::plain();
    let work = Work::new(&server);
    work.write("in.csv", &customers(0, 20));
    code(&work.run("in.csv", &[]), 0);
    let first = std::fs::read(work.path("in.results.csv")).unwrap();
    let requests = server.stats().requests;

    let out = work.run("in.csv", &["--summary", "again.json"]);
    code(&out, 0);
    assert_eq!(server.stats().requests, requests, "nothing was sent again");
    assert_eq!(std::fs::read(work.path("in.results.csv")).unwrap(), first);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(work.path("again.json")).unwrap()).unwrap();
    assert_eq!((summary["resumed"].as_bool(), summary["requests"].as_u64()), (Some(true), Some(0)));
}

#[test]
fn customers_registered_by_an_earlier_file_are_known_and_not_sent() {
    let server = Server::plain();
    let work = Work::new(&server);
    work.write("monday.csv", &customers(0, 10));
    code(&work.run("monday.csv", &[]), 0);
    // Tuesday's file repeats five of Monday's customers and adds five.
    work.write("tuesday.csv", &customers(5, 10));
    let before = server.stats().requests;
    code(&work.run("tuesday.csv", &[]), 0);
    assert_eq!(server.stats().requests - before, 5, "only the new customers were sent");
    let rows = work.results("tuesday.results.csv");
    assert_eq!(statuses(&rows), BTreeMap::from([("known".into(), 5), ("registered".into(), 5)]));
    let monday = work.results("monday.results.csv");
    assert_eq!(rows[0]["cibil_id"], monday[5]["cibil_id"], "known rows carry the cibil_id registered before");
    assert!(server.stats().pans_registered_more_than_once.is_empty());
}

#[test]
fn faults_of_every_kind_lose_nothing_and_register_nobody_twice() {
    let server = Server::start(SandboxConfig {
        error_rate: 0.08,
        throttle_rate: 0.05,
        hang_rate: 0.02,
        reset_rate: 0.05,
        garbage_rate: 0.05,
        seed: Some(42),
        ..SandboxConfig::default()
    });
    let work = Work::new(&server);
    work.write("in.csv", &customers(0, 150));
    let extra = [
        "--timeout",
        "1s",
        "--max-attempts",
        "8",
        "--max-consecutive-failures",
        "1000",
        "--concurrency",
        "16",
    ];
    let mut runs = 0;
    loop {
        runs += 1;
        let out = work.run("in.csv", &extra);
        let rows = work.results("in.results.csv");
        assert_complete(&rows, 150, &server.stats());
        if out.status.code() == Some(0) {
            break;
        }
        // A row can run out of attempts under this much trouble: it is "failed", and a re-run retries it.
        code(&out, 1);
        assert!(rows.iter().all(|r| matches!(r["status"].as_str(), "registered" | "failed")));
        assert!(runs < 5, "still not finished after {runs} runs");
    }
    let stats = server.stats();
    assert_eq!(stats.new_customers, 150);
    assert!(
        stats.faults.hangs
            + stats.faults.resets
            + stats.faults.errors
            + stats.faults.garbage
            + stats.faults.throttled
            > 0
    );
}

#[test]
fn wrong_credentials_stop_the_run_and_a_fixed_run_finishes() {
    let server = Server::plain();
    let mut work = Work::new(&server);
    work.registration_id = "AOP-WRONG".into();
    work.write("in.csv", &customers(0, 60));
    let out = work.run("in.csv", &["--concurrency", "4", "--summary", "s.json"]);
    code(&out, 3);
    assert!(stderr(&out).contains("credentials were refused"), "{}", stderr(&out));
    assert!(server.stats().requests <= 4, "at most one request per worker: {}", server.stats().requests);
    let rows = work.results("in.results.csv");
    assert_eq!(statuses(&rows), BTreeMap::from([("pending".into(), 60)]), "nothing is marked failed");
    assert!(!stderr(&out).contains("AOP-WRONG"), "credentials are never printed");

    work.registration_id = SANDBOX_REGISTRATION_ID.into();
    code(&work.run("in.csv", &[]), 0);
    assert_eq!(statuses(&work.results("in.results.csv")), BTreeMap::from([("registered".into(), 60)]));
}

#[test]
fn an_endpoint_that_never_answers_stops_the_run_with_nothing_marked_failed() {
    let server = Server::start(SandboxConfig { reset_rate: 1.0, seed: Some(3), ..SandboxConfig::default() });
    let work = Work::new(&server);
    work.write("in.csv", &customers(0, 40));
    let out =
        work.run("in.csv", &["--max-consecutive-failures", "5", "--concurrency", "2", "--rate", "100/s"]);
    code(&out, 3);
    assert!(stderr(&out).contains("5 requests in a row failed"), "{}", stderr(&out));
    let rows = work.results("in.results.csv");
    assert_eq!(statuses(&rows), BTreeMap::from([("pending".into(), 40)]), "nothing is marked failed");
    let sent = server.stats().requests;
    assert!(
        (5..=20).contains(&sent),
        "the run stopped soon after the fifth failure in a row: {sent} requests"
    );
}

/// A row that used up its attempts before the endpoint was found down is `failed`: what the run
/// says of the rows it stopped with must not deny it. One attempt each, so that every failure
/// uses up a row's attempts whatever the timing (with two, the worker may reach the fifth failure
/// in a row with first attempts alone, while each row waits for its second).
#[test]
fn an_endpoint_found_down_after_rows_failed_says_so_truly() {
    let server = Server::start(SandboxConfig { reset_rate: 1.0, seed: Some(3), ..SandboxConfig::default() });
    let work = Work::new(&server);
    work.write("in.csv", &customers(0, 10));
    let out = work.run(
        "in.csv",
        &[
            "--max-consecutive-failures",
            "5",
            "--max-attempts",
            "1",
            "--concurrency",
            "1",
            "--rate",
            "100/s",
            "--summary",
            "s.json",
        ],
    );
    code(&out, 3);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(work.path("s.json")).unwrap()).unwrap();
    let failed = summary["counts"]["failed"].as_u64().unwrap();
    assert!(failed > 0, "one attempt each: a row failed before the fifth failure in a row: {summary:#}");
    let reason = summary["stop_reason"].as_str().unwrap();
    assert!(reason.contains("5 requests in a row failed"), "{reason}");
    assert!(!reason.to_lowercase().contains("nothing was marked failed"), "{failed} rows failed: {reason}");
    assert!(!stderr(&out).to_lowercase().contains("nothing was marked failed"), "{}", stderr(&out));
    assert_eq!(statuses(&work.results("in.results.csv")).get("failed").copied(), Some(failed as usize));
}

#[test]
fn the_rate_limit_holds_from_the_servers_side() {
    let server =
        Server::start(SandboxConfig { rate_limit: Some(51), seed: Some(1), ..SandboxConfig::default() });
    let work = Work::new(&server);
    work.write("in.csv", &customers(0, 120));
    let out = work.run("in.csv", &["--rate", "50/s", "--burst", "1", "--concurrency", "16"]);
    code(&out, 0);
    let stats = server.stats();
    assert_eq!(stats.rate_limit_violations, 0);
    assert!(stats.busiest_second <= 51, "busiest second: {}", stats.busiest_second);
    assert_eq!(stats.registered, 120);
}

#[test]
fn two_runs_on_one_state_database_refuse_each_other() {
    let server =
        Server::start(SandboxConfig { latency: Duration::from_millis(200), ..SandboxConfig::default() });
    let work = Work::new(&server);
    work.write("a.csv", &customers(0, 40));
    work.write("b.csv", &customers(100, 5));
    let mut first = work.spawn("a.csv", &["--concurrency", "2", "--rate", "10/s"]);
    // Wait until the first run holds the lock (its state file has a run).
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.stats().requests == 0 {
        assert!(Instant::now() < deadline, "the first run never started sending");
        std::thread::sleep(Duration::from_millis(20));
    }
    let second = work.run("b.csv", &["--lock-wait", "0s"]);
    code(&second, 3);
    let message = stderr(&second);
    assert!(message.contains(&format!("pid {}", first.id())), "{message}");
    assert!(message.contains("did not finish within --lock-wait"), "{message}");
    first.kill().unwrap();
    first.wait().unwrap();
}

fn registered_order_ids(state: &Path) -> BTreeSet<String> {
    let conn = rusqlite::Connection::open(state).unwrap();
    let mut stmt = conn.prepare("SELECT order_id FROM rows WHERE status = 'registered'").unwrap();
    stmt.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
}

#[test]
fn killed_runs_resume_without_losing_or_repeating_a_row() {
    let server = Server::start(SandboxConfig {
        latency: Duration::from_millis(15),
        jitter: Duration::from_millis(10),
        ..SandboxConfig::default()
    });
    let work = Work::new(&server);
    let total = 400;
    work.write("in.csv", &customers(0, total));
    // For every row recorded as registered when a run was killed: how many requests the server
    // had had for it then. No later run may send it again.
    let mut sent_when_finished: BTreeMap<String, u64> = BTreeMap::new();
    let mut kills = 0;
    for delay_ms in [150, 400, 250, 600, 300, 500] {
        let mut child = work.spawn("in.csv", &["--concurrency", "8", "--rate", "400/s"]);
        std::thread::sleep(Duration::from_millis(delay_ms));
        if child.try_wait().unwrap().is_some() {
            break;
        }
        child.kill().unwrap(); // SIGKILL: no chance to clean up
        child.wait().unwrap();
        kills += 1;
        if work.path("cibil-bulk.db").exists() {
            let repeats = server.stats().order_ids_sent_more_than_once;
            for order_id in registered_order_ids(&work.path("cibil-bulk.db")) {
                let sent = repeats.get(&order_id).copied().unwrap_or(1);
                sent_when_finished.entry(order_id).or_insert(sent);
            }
        }
    }
    assert!(kills >= 2, "the runs finished too fast to be killed");
    let out = work.run("in.csv", &["--concurrency", "8", "--rate", "400/s"]);
    code(&out, 0);

    let rows = work.results("in.results.csv");
    let stats = server.stats();
    assert_complete(&rows, total as usize, &stats);
    assert!(rows.iter().all(|r| r["status"] == "registered"), "{:?}", statuses(&rows));
    assert_eq!(stats.new_customers, u64::from(total));
    // Rows recorded as registered before a kill were never sent again; the only repeats are rows
    // that were in flight when a run died, sent again with the same order id.
    assert!(!sent_when_finished.is_empty());
    for (order_id, sent) in &sent_when_finished {
        let now = stats.order_ids_sent_more_than_once.get(order_id).copied().unwrap_or(1);
        assert_eq!(now, *sent, "{order_id} was sent again after its registration was recorded");
    }
    assert!(stats.order_ids_sent_more_than_once.values().all(|n| *n <= 1 + kills));
}

#[test]
fn sigterm_stops_cleanly_with_pending_rows_and_a_rerun_finishes() {
    let server =
        Server::start(SandboxConfig { latency: Duration::from_millis(50), ..SandboxConfig::default() });
    let work = Work::new(&server);
    work.write("in.csv", &customers(0, 200));
    let child = work.spawn("in.csv", &["--rate", "40/s", "--concurrency", "4"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.stats().registered < 10 {
        assert!(Instant::now() < deadline, "nothing registered");
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    code(&out, 130);
    let rows = work.results("in.results.csv");
    let counts = statuses(&rows);
    assert!(counts.get("pending").copied().unwrap_or(0) > 0, "{counts:?}");
    assert!(!counts.contains_key("in_flight") && !counts.contains_key("failed"), "{counts:?}");
    assert_complete(&rows, 200, &server.stats());

    code(&work.run("in.csv", &[]), 0);
    let rows = work.results("in.results.csv");
    assert_eq!(statuses(&rows), BTreeMap::from([("registered".into(), 200)]));
    assert_complete(&rows, 200, &server.stats());
}

#[test]
fn dry_run_sends_nothing_and_keeps_nothing() {
    let server = Server::plain();
    let work = Work::new(&server);
    let mut text = customers(0, 8);
    text.push_str("Asha,Rao,FRS23456,01/01/1990,asha@example.com,9876543210\n");
    work.write("in.csv", &text);
    let out = work.run("in.csv", &["--dry-run"]);
    code(&out, 1);
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("would send") && report.contains("8"), "{report}");
    assert!(!report.contains(&crate::common::pan(0)), "values are masked: {report}");
    assert_eq!(server.stats().requests, 0);
    assert!(!work.path("cibil-bulk.db").exists());
    assert!(!work.path("in.results.csv").exists());
}

#[test]
fn status_and_export_read_the_state_back() {
    let server = Server::plain();
    let work = Work::new(&server);
    work.write("in.csv", &customers(0, 12));
    code(&work.run("in.csv", &[]), 0);
    let out = work.output(&["status"]);
    code(&out, 0);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("finished") && text.contains("in.csv"), "{text}");
    let out = work.output(&["status", "in.csv"]);
    code(&out, 0);
    assert!(String::from_utf8_lossy(&out.stdout).contains("content SHA-256"));

    let out = work.output(&["export", "1", "--output", "again.csv"]);
    code(&out, 0);
    assert_eq!(
        std::fs::read(work.path("again.csv")).unwrap(),
        std::fs::read(work.path("in.results.csv")).unwrap()
    );
    let out = work.output(&["export", "7", "--output", "x.csv"]);
    code(&out, 2);
    let out = work.output(&["status", "--state", "nope.db"]);
    code(&out, 2);
    assert!(!work.path("nope.db").exists());
}

#[test]
fn the_sandbox_flag_runs_the_sample_offline_with_its_own_state() {
    let work = Work::new(&Server::plain());
    let sample =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/samples/customers.csv")).unwrap();
    work.write("customers.csv", &sample);
    let out = work.output(&["run", "customers.csv", "--sandbox", "--rate", "500/s"]);
    code(&out, 1);
    assert!(work.path("cibil-bulk.sandbox.db").exists());
    assert!(!work.path("cibil-bulk.db").exists(), "sandbox registrations never mix with real ones");
    let rows = work.results("customers.sandbox-results.csv");
    let counts = statuses(&rows);
    assert_eq!(counts.get("registered"), Some(&43), "{counts:?}");
    // A state database used with the sandbox refuses a real endpoint.
    let out = work.output(&[
        "run",
        "customers.csv",
        "--state",
        "cibil-bulk.sandbox.db",
        "--endpoint",
        "https://api.aopay.co.in/api/AOP/CibilScore/registeration",
    ]);
    code(&out, 2);
    assert!(stderr(&out).contains("sandbox"), "{}", stderr(&out));
}

#[test]
fn a_file_whose_dates_cannot_be_trusted_sends_nothing() {
    let server = Server::plain();
    let work = Work::new(&server);
    let mut text = customers(0, 3);
    text.push_str("Ravi,Kumar,ABCPK7777F,12/25/1990,x@example.com,9876500000\n");
    work.write("in.csv", &text);
    let out = work.run("in.csv", &[]);
    code(&out, 2);
    assert!(stderr(&out).contains("--date-order mdy"));
    assert_eq!(server.stats().requests, 0);
    let conn = rusqlite::Connection::open(work.path("cibil-bulk.db")).unwrap();
    let runs: i64 = conn.query_row("SELECT COUNT(*) FROM runs", [], |r| r.get(0)).unwrap();
    assert_eq!(runs, 0, "the file left no trace in the state");
    // And the lock went with it: the next run starts without taking over a stale one.
    work.write("good.csv", &customers(0, 2));
    let out = work.run("good.csv", &[]);
    code(&out, 0);
    assert!(!stderr(&out).contains("without releasing"), "{}", stderr(&out));
}

#[test]
fn no_credentials_is_a_usage_error_that_says_where_to_put_them() {
    let server = Server::plain();
    let work = Work::new(&server);
    work.write("in.csv", &customers(0, 2));
    let mut command = work.command(&["run", "in.csv", "--endpoint", &server.endpoint()]);
    command.env_remove("AOPAY_REGISTRATION_ID").env_remove("AOPAY_COMPANY_CODE");
    let out = command.output().unwrap();
    code(&out, 2);
    assert!(stderr(&out).contains("AOPAY_REGISTRATION_ID"));
    assert_eq!(server.stats().requests, 0);
}
