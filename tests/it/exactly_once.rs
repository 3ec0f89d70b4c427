//! Exactly once, whatever happens between two runs: a run killed while the vendor holds requests it
//! has committed but not answered, then the file edited (or another file) before the next run. A
//! customer whose request was in flight goes out again only with the order id it went out with.

use std::time::{Duration, Instant};

use cibil_bulk::sandbox::SandboxConfig;

use crate::common::runs::{Server, Work, code, customers, read_csv, stderr};

/// A sandbox that commits every registration it is sent and then, for half of them, never
/// answers: requests the client can only give up on.
fn committing_then_hanging() -> Server {
    Server::start(SandboxConfig {
        seed: Some(11),
        hang_rate: 0.5,
        commit_before_fault: 1.0,
        ..SandboxConfig::default()
    })
}

/// Starts a run of `file` with every row in flight at once, waits until the sandbox holds all
/// `rows` of them (answered or hanging after their commit), and kills the run.
fn kill_with_requests_in_flight(server: &Server, work: &Work, file: &str, rows: u64) {
    let mut child = work.spawn(file, &["--concurrency", "32", "--timeout", "60s"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while server.stats().requests < rows {
        assert!(Instant::now() < deadline, "the sandbox saw {} requests", server.stats().requests);
        assert!(child.try_wait().unwrap().is_none(), "the run ended before it could be killed");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(server.stats().faults.hangs_after_commit > 0, "some requests hang after their commit");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn a_crash_then_an_edited_file_sends_in_flight_customers_again_only_under_their_order_ids() {
    let server = committing_then_hanging();
    let work = Work::new(&server);
    work.write("in.csv", &customers(0, 32));
    kill_with_requests_in_flight(&server, &work, "in.csv", 32);
    let committed = server.stats().registered;
    assert_eq!(committed, 32, "the sandbox committed every request");

    // The clerk corrects one unrelated cell: the file is new content, a new run.
    let edited = work.path("in.csv");
    let text = std::fs::read_to_string(&edited).unwrap().replacen("c5@example.com", "c5@example.org", 1);
    std::fs::write(&edited, text).unwrap();
    let out = work.run("in.csv", &["--timeout", "1s", "--max-attempts", "2"]);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
    assert!(stderr(&out).contains("sent again with the order ids"), "the run says so: {}", stderr(&out));

    let stats = server.stats();
    assert!(
        stats.pans_with_several_order_ids.is_empty(),
        "customers registered under two order ids: {:?}",
        stats.pans_with_several_order_ids
    );
    assert!(stats.pans_registered_more_than_once.is_empty(), "{:?}", stats.pans_registered_more_than_once);
    // Nobody is lost: every row ends registered, or failed (to be sent again, still with its id).
    let rows = read_csv(&work.path("in.results.csv"));
    assert_eq!(rows.len(), 32);
    assert!(rows.iter().all(|r| matches!(r["status"].as_str(), "registered" | "failed")), "{rows:?}");
}

#[test]
fn another_file_with_a_customer_left_in_flight_sends_it_under_its_first_order_id() {
    let server = committing_then_hanging();
    let work = Work::new(&server);
    work.write("monday.csv", &customers(0, 16));
    kill_with_requests_in_flight(&server, &work, "monday.csv", 16);

    // Tuesday's file repeats Monday's customers among new ones, with order ids of its own.
    let mut tuesday =
        String::from("order_id,first_name,last_name,pancard,date_of_birth,email_id,mobile_number\n");
    for (i, line) in customers(8, 16).lines().skip(1).enumerate() {
        tuesday.push_str(&format!("TUE-{i},{line}\n"));
    }
    work.write("tuesday.csv", &tuesday);
    let out = work.run("tuesday.csv", &["--timeout", "1s", "--max-attempts", "2"]);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
    let stats = server.stats();
    assert!(stats.pans_with_several_order_ids.is_empty(), "{:?}", stats.pans_with_several_order_ids);

    // And Monday's run, resumed, sends nothing twice either.
    let out = work.run("monday.csv", &["--timeout", "1s", "--max-attempts", "2"]);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
    let stats = server.stats();
    assert!(stats.pans_with_several_order_ids.is_empty(), "{:?}", stats.pans_with_several_order_ids);
    code(&work.output(&["status"]), 0);
}

#[test]
fn no_output_overwrites_the_customer_file_or_the_state_by_any_name() {
    let server = Server::plain();
    let work = Work::new(&server);
    work.write("in.csv", &customers(0, 5));
    code(&work.run("in.csv", &[]), 0);
    let ledger = std::fs::read(work.path("cibil-bulk.db")).unwrap();

    // `export` over the state database, its write-ahead log or its lock file destroys nothing.
    for target in ["cibil-bulk.db", "cibil-bulk.db-wal", "cibil-bulk.db.lock"] {
        let out = work.output(&["export", "1", "--output", target]);
        code(&out, 2);
        assert!(stderr(&out).contains("writing it would destroy it"), "{target}: {}", stderr(&out));
    }
    assert_eq!(std::fs::read(work.path("cibil-bulk.db")).unwrap(), ledger, "the state is untouched");

    // The customer file, named through a symlink, and its target named as the output.
    std::os::unix::fs::symlink(work.path("in.csv"), work.path("today.csv")).unwrap();
    let before = std::fs::read(work.path("in.csv")).unwrap();
    let out = work.run("today.csv", &["--output", "in.csv"]);
    code(&out, 2);
    assert!(stderr(&out).contains("is the customer file"), "{}", stderr(&out));
    // An output that is a symlink to the state.
    std::os::unix::fs::symlink(work.path("cibil-bulk.db"), work.path("report.csv")).unwrap();
    let out = work.run("in.csv", &["--errors", "report.csv"]);
    code(&out, 2);
    assert!(stderr(&out).contains("is the state database"), "{}", stderr(&out));
    assert_eq!(std::fs::read(work.path("in.csv")).unwrap(), before);
    assert_eq!(server.stats().requests, 5, "nothing was sent by the refused runs");
}
