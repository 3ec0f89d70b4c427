//! Exactly once, whatever happens between two runs: a run killed while the vendor holds requests it
//! has committed but not answered, then the file edited (or another file) before the next run. A
//! customer whose request was in flight goes out again only with the order id it went out with.
//! And past any one state: order ids are the merchant's, so a copied state, a fresh one, or two at
//! once send a customer under the same order id, which the vendor answers as a replay.

use std::time::{Duration, Instant};

use cibil_bulk::sandbox::{SandboxConfig, Stats};

use crate::common::runs::{Server, Spawned, Work, code, customers, read_csv, stderr};

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

/// Kills `run` (SIGKILL) once the sandbox's stats say `ready`, and waits for it to die.
#[track_caller]
fn kill_when(server: &Server, mut run: Spawned, ready: impl Fn(&Stats) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready(&server.stats()) {
        assert!(Instant::now() < deadline, "the run never got there: {:?}", server.stats());
        std::thread::sleep(Duration::from_millis(10));
    }
    run.kill().unwrap();
    run.wait().unwrap();
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

// ---------------------------------------------------------------------------------------------
// Order ids that are the merchant's: the guarantee past any one state database.

/// Every customer the sandbox registered, under one order id only.
#[track_caller]
fn nobody_under_two_order_ids(server: &Server) {
    let stats = server.stats();
    assert!(stats.pans_with_several_order_ids.is_empty(), "{:?}", stats.pans_with_several_order_ids);
    assert!(stats.pans_registered_more_than_once.is_empty(), "{:?}", stats.pans_registered_more_than_once);
}

#[test]
fn a_copy_of_a_killed_runs_state_without_its_log_registers_nobody_twice() {
    let server = committing_then_hanging();
    let work = Work::new(&server);
    work.write("in.csv", &customers(0, 32));
    kill_with_requests_in_flight(&server, &work, "in.csv", 32);
    // A plain copy of the database file, its write-ahead log left behind, beside a renamed copy
    // of the customer file, in another folder: as a team copies a state to another machine.
    std::fs::create_dir(work.path("elsewhere")).unwrap();
    std::fs::copy(work.path("cibil-bulk.db"), work.path("elsewhere/copy.db")).unwrap();
    std::fs::copy(work.path("in.csv"), work.path("elsewhere/renamed.csv")).unwrap();
    let out = work.run(
        "elsewhere/renamed.csv",
        &["--state", "elsewhere/copy.db", "--timeout", "1s", "--max-attempts", "2"],
    );
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
    nobody_under_two_order_ids(&server);
    assert_eq!(server.stats().new_customers, 32);
}

#[test]
fn a_fresh_state_on_the_same_customers_replays_their_order_ids() {
    let server = Server::plain();
    let work = Work::new(&server);
    work.write("in.csv", &customers(0, 20));
    code(&work.run("in.csv", &[]), 0);
    // Another office, another state, the same merchant and customers.
    std::fs::create_dir(work.path("office2")).unwrap();
    work.write("office2/in.csv", &customers(10, 20));
    code(&work.run("office2/in.csv", &["--state", "office2/state.db"]), 0);
    nobody_under_two_order_ids(&server);
    let stats = server.stats();
    assert_eq!((stats.new_customers, stats.replays), (30, 10), "the ten shared customers were replays");
}

#[test]
fn two_states_on_overlapping_files_at_once_register_each_customer_once() {
    let server = Server::start(SandboxConfig {
        latency: Duration::from_millis(20),
        seed: Some(3),
        ..SandboxConfig::default()
    });
    let work = Work::new(&server);
    work.write("a.csv", &customers(0, 60));
    work.write("b.csv", &customers(30, 60));
    let flags = |state: &'static str| ["--state", state, "--rate", "400/s", "--concurrency", "8"];
    let a = work.spawn("a.csv", &flags("a.db"));
    let b = work.spawn("b.csv", &flags("b.db"));
    for run in [a, b] {
        let out = run.wait_with_output().unwrap();
        assert!(matches!(out.status.code(), Some(0)), "{}", stderr(&out));
    }
    nobody_under_two_order_ids(&server);
    assert_eq!(server.stats().new_customers, 90);
}

#[test]
fn an_order_id_the_vendor_says_was_used_is_never_sent_under_another_and_says_why() {
    // A vendor that refuses a repeated order id instead of answering it again.
    let server = Server::start(SandboxConfig {
        refuse_repeated_order_ids: true,
        seed: Some(4),
        ..SandboxConfig::default()
    });
    let work = Work::new(&server);
    work.write("in.csv", &customers(0, 5));
    code(&work.run("in.csv", &[]), 0);
    // A fresh state knows nothing of them: its first ids are the ones the vendor has.
    std::fs::create_dir(work.path("fresh")).unwrap();
    work.write("fresh/in.csv", &customers(0, 5));
    let out = work.run("fresh/in.csv", &["--state", "fresh/state.db"]);
    code(&out, 1);
    let rows = read_csv(&work.path("fresh/in.results.csv"));
    assert!(
        rows.iter().all(|r| r["status"] == "rejected" && r["error"].contains("may already be registered")),
        "{rows:?}"
    );
    let first: Vec<String> = rows.iter().map(|r| r["order_id"].clone()).collect();
    // Run again, and from a third state: the same ids, the same answer, nobody registered twice
    // (which a next id would do: the first state registered them all).
    code(&work.run("fresh/in.csv", &["--state", "fresh/state.db"]), 1);
    code(&work.run("fresh/in.csv", &["--state", "fresh/third.db"]), 1);
    let rows = read_csv(&work.path("fresh/in.results.csv"));
    assert_eq!(rows.iter().map(|r| r["order_id"].clone()).collect::<Vec<_>>(), first);
    let stats = server.stats();
    assert!(stats.pans_registered_more_than_once.is_empty(), "{:?}", stats.pans_registered_more_than_once);
    assert_eq!(stats.registered, 5);
}

/// The vendor registers a request, the run is killed before the answer is recorded, and the
/// vendor refuses the order id when it comes again: the customer is not sent under another id.
#[test]
fn a_request_registered_before_a_kill_is_never_sent_under_another_id() {
    let server = Server::start(SandboxConfig {
        refuse_repeated_order_ids: true,
        latency: Duration::from_millis(300),
        seed: Some(5),
        ..SandboxConfig::default()
    });
    let work = Work::new(&server);
    work.write("in.csv", &customers(0, 200));
    let run = work.spawn("in.csv", &["--rate", "1000/s", "--concurrency", "16"]);
    kill_when(&server, run, |stats| stats.registered >= 20);
    for _ in 0..3 {
        let out = work.run("in.csv", &[]);
        assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
    }
    let stats = server.stats();
    assert!(stats.pans_registered_more_than_once.is_empty(), "{:?}", stats.pans_registered_more_than_once);
    let rows = read_csv(&work.path("in.results.csv"));
    assert!(
        rows.iter().all(|r| r["status"] == "registered"
            || (r["status"] == "rejected" && r["error"].contains("may already be registered"))),
        "{rows:?}"
    );
    // Killed with requests the vendor registered and nobody heard the answer to: the case, which
    // a next order id would have registered twice.
    assert!(
        rows.iter().any(|r| r["status"] == "rejected"),
        "the kill came between no request and its answer"
    );
}

#[test]
fn a_backup_taken_while_a_run_sends_holds_every_row_committed_before_it() {
    let server =
        Server::start(SandboxConfig { latency: Duration::from_millis(30), ..SandboxConfig::default() });
    let work = Work::new(&server);
    work.write("in.csv", &customers(0, 200));
    let mut run = work.spawn("in.csv", &["--rate", "100/s", "--concurrency", "4"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.stats().registered < 40 {
        assert!(Instant::now() < deadline, "the run never got going");
        std::thread::sleep(Duration::from_millis(20));
    }
    // What the state had committed as the backup began, read from the live state itself.
    let committed = registered_in(&work.path("cibil-bulk.db"));
    let out = work.output(&["backup", "copy.db"]);
    code(&out, 0);
    assert!(run.try_wait().unwrap().is_none(), "the run was still sending during the backup");
    let copied = registered_in(&work.path("copy.db"));
    assert!(copied >= committed && committed > 0, "copied {copied}, committed before {committed}");
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(std::fs::metadata(work.path("copy.db")).unwrap().permissions().mode() & 0o777, 0o600);
    // The copy is a whole state: status reads it, and the run goes on to its end.
    code(&work.output(&["status", "--state", "copy.db"]), 0);
    run.wait().unwrap();
}

#[test]
fn a_backup_never_replaces_a_customer_file_of_the_states_runs() {
    let server = Server::plain();
    let work = Work::new(&server);
    work.write("in.csv", &customers(0, 5));
    code(&work.run("in.csv", &[]), 0);
    // Moved and renamed since: known by its content too.
    std::fs::create_dir(work.path("kept")).unwrap();
    std::fs::copy(work.path("in.csv"), work.path("kept/renamed.csv")).unwrap();
    for dest in ["in.csv", "./sub/../in.csv", "kept/renamed.csv"] {
        std::fs::create_dir_all(work.path("sub")).unwrap();
        let before = std::fs::read(work.path("in.csv")).unwrap();
        let out = work.output(&["backup", dest]);
        code(&out, 2);
        assert!(stderr(&out).contains("customer file"), "{dest}: {}", stderr(&out));
        assert_eq!(std::fs::read(work.path("in.csv")).unwrap(), before);
        assert_eq!(std::fs::read(work.path("kept/renamed.csv")).unwrap(), before);
    }
}

/// Rows recorded registered in the state at `path`.
fn registered_in(path: &std::path::Path) -> u64 {
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    conn.query_row("SELECT count(*) FROM rows WHERE status = 'registered'", [], |r| r.get(0)).unwrap()
}

/// A file's own order id that an earlier run of the state sent for another customer is not sent
/// for this one: a vendor that de-duplicates on `order_id` would take the request for a replay
/// and answer with the other customer's registration. The row is invalid, says which run and
/// line had the id, and nothing goes out for it.
/// A customer file of `ids.len()` customers from `from` on, each with its order id from `ids`.
fn with_order_ids(from: u32, ids: &[&str]) -> String {
    let text = customers(from, u32::try_from(ids.len()).unwrap());
    let mut lines = text.lines();
    let mut out = format!("order_id,{}\n", lines.next().unwrap());
    for (id, row) in ids.iter().zip(lines) {
        out.push_str(&format!("{id},{row}\n"));
    }
    out
}

#[test]
fn a_files_order_id_that_went_out_for_another_customer_is_not_sent_again() {
    let server = Server::plain();
    let work = Work::new(&server);
    work.write("monday.csv", &with_order_ids(0, &["ORD-1"]));
    code(&work.run("monday.csv", &[]), 0);
    // Written in another case (AOPay may not tell them apart), beside a row invalid by the file's
    // own rules (a PAN that is not one).
    work.write(
        "tuesday.csv",
        &format!(
            "{}ORD-3,Asha,Rao,NOTAPAN,01/02/1986,asha@example.com,9876543212\n",
            with_order_ids(1, &["ord-1"])
        ),
    );
    // A dry run says so first, and why, apart from the row the file's rules refuse.
    let out = work.run("tuesday.csv", &["--dry-run"]);
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert!(said.contains("already belongs to another customer: give each its own (line 2)\n"), "{said}");
    assert!(said.contains("invalid           1   need fixing: `cibil-bulk validate` lists why"), "{said}");
    code(&work.run("tuesday.csv", &[]), 1);
    assert_eq!(server.stats().requests, 1, "only Monday's customer was sent");
    let rows = read_csv(&work.path("tuesday.results.csv"));
    assert_eq!((rows[0]["status"].as_str(), rows[0]["error_code"].as_str()), ("invalid", "order_id.taken"));
    assert!(
        rows[0]["error"].contains("already belongs to another customer (run 1, line 2, written ORD-1 there"),
        "{rows:?}"
    );

    // A run killed before its second row went out; another file then registers another customer
    // under that row's id; the first run, resumed, does not send its row under it.
    let server = Server::plain();
    let work = Work::new(&server);
    // Forty rows at one a minute: a few claims ahead of the first request, the last row pending.
    let ids: Vec<String> = (1..=40).map(|i| format!("W-{i}")).collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    work.write("wednesday.csv", &with_order_ids(100, &ids));
    let run = work.spawn("wednesday.csv", &["--rate", "1/min", "--concurrency", "1"]);
    kill_when(&server, run, |stats| stats.requests >= 1);
    work.write("thursday.csv", &with_order_ids(200, &["W-40"]));
    code(&work.run("thursday.csv", &[]), 0);
    code(&work.run("wednesday.csv", &["--rate", "1000/s"]), 1);
    let stats = server.stats();
    assert!(!stats.order_ids_sent_more_than_once.contains_key("W-40"), "{stats:?}");
    let rows = read_csv(&work.path("wednesday.results.csv"));
    assert_eq!(rows.iter().filter(|r| r["status"] == "registered").count(), 39, "{rows:?}");
    assert_eq!((rows[39]["status"].as_str(), rows[39]["error_code"].as_str()), ("invalid", "order_id.taken"));
}

#[test]
fn an_id_made_for_a_customer_that_a_file_gave_another_is_not_sent_for_both() {
    let server = Server::plain();
    let work = Work::new(&server);
    // The id every state makes for customer 300 (the merchant's), learned from another state.
    work.write("gita.csv", &customers(300, 1));
    code(&work.run("gita.csv", &["--state", "elsewhere.db", "--output", "elsewhere.csv"]), 0);
    let made = read_csv(&work.path("elsewhere.csv"))[0]["order_id"].clone();
    assert!(made.starts_with("CB"), "{made}");
    // In this state a file gives it (in another case) to customer 400, then customer 300 comes.
    work.write("mona.csv", &with_order_ids(400, &[&made.to_lowercase()]));
    code(&work.run("mona.csv", &[]), 0);
    let sent = server.stats().requests;
    code(&work.run("gita.csv", &[]), 1);
    assert_eq!(server.stats().requests, sent, "customer 300 was not sent under the id customer 400 has");
    let rows = read_csv(&work.path("gita.results.csv"));
    assert_eq!((rows[0]["status"].as_str(), rows[0]["error_code"].as_str()), ("invalid", "order_id.taken"));
    assert!(rows[0]["error"].starts_with("the order id made for this customer"), "{rows:?}");

    // In one file, the row that gives the id first goes out under it; the other is not sent.
    let server = Server::plain();
    let work = Work::new(&server);
    let gita = customers(300, 1);
    let gita = gita.lines().nth(1).unwrap();
    work.write("both.csv", &format!("{},{gita}\n", with_order_ids(500, &[&made])));
    code(&work.run("both.csv", &[]), 1);
    assert!(server.stats().order_ids_sent_more_than_once.is_empty(), "{:?}", server.stats());
    assert_eq!(server.stats().requests, 1);
    let rows = read_csv(&work.path("both.results.csv"));
    assert_eq!(rows[0]["status"], "registered");
    assert_eq!((rows[1]["status"].as_str(), rows[1]["error_code"].as_str()), ("invalid", "order_id.taken"));
}
