//! Hostile disks and damaged state: each is a clear message and exit status, never a panic, and
//! never a registered customer forgotten (and so registered again) without the user being told.
//! Cases that need a full or read-only filesystem mount a small tmpfs, which needs root: they are
//! ignored elsewhere, with the reason, and `.ci/run` runs them as root.

use std::path::Path;
use std::process::Command;

use crate::common::runs::{Server, Spawned, Work, code, customers, read_csv, statuses, stderr};
use cibil_bulk::sandbox::SandboxConfig;

fn sent(server: &Server) -> u64 {
    server.stats().requests
}

#[test]
fn a_state_path_that_is_a_directory_is_refused_before_anything_is_sent() {
    let server = Server::plain();
    let work = Work::new(&server);
    work.write("in.csv", &customers(0, 3));
    std::fs::create_dir(work.path("state.db")).unwrap();
    let out = work.run("in.csv", &["--state", "state.db"]);
    code(&out, 2);
    assert!(stderr(&out).contains("state.db") && stderr(&out).contains("directory"), "{}", stderr(&out));
    assert_said_once(&stderr(&out));
    assert_eq!(sent(&server), 0);
    // A config file that is a directory, too: the cause once.
    std::fs::create_dir(work.path("conf.toml")).unwrap();
    let out = work.output(&["--config", "conf.toml", "status"]);
    code(&out, 2);
    assert!(stderr(&out).contains("conf.toml"), "{}", stderr(&out));
    assert_said_once(&stderr(&out));
}

/// An error's causes are each said once: no `x: x` in a row, as when a message quotes the cause
/// that the printer then adds after it.
#[track_caller]
fn assert_said_once(message: &str) {
    let parts: Vec<&str> = message.trim().split(": ").collect();
    assert!(parts.windows(2).all(|w| w[0] != w[1] && !w[0].ends_with(w[1])), "a cause said twice: {message}");
}

#[test]
fn a_truncated_or_damaged_state_database_is_refused_with_advice() {
    let server = Server::plain();
    let work = Work::new(&server);
    work.write("in.csv", &customers(0, 5));
    code(&work.run("in.csv", &[]), 0);
    let before = sent(&server);
    let state = work.path("cibil-bulk.db");

    // Emptied (truncated to nothing): not taken for a new database.
    let saved = std::fs::read(&state).unwrap();
    std::fs::write(&state, b"").unwrap();
    let out = work.run("in.csv", &[]);
    code(&out, 2);
    assert!(stderr(&out).contains("exists but is empty"), "{}", stderr(&out));

    // Damaged in the middle: found at open.
    let mut damaged = saved.clone();
    let middle = damaged.len() / 2;
    damaged[middle..middle + 512].fill(0xA5);
    std::fs::write(&state, &damaged).unwrap();
    let out = work.run("in.csv", &[]);
    code(&out, 2);
    assert!(stderr(&out).contains("damaged") && stderr(&out).contains("another --state"), "{}", stderr(&out));

    // Cut short.
    std::fs::write(&state, &saved[..saved.len() / 3]).unwrap();
    code(&work.run("in.csv", &[]), 2);
    assert_eq!(sent(&server), before, "nothing was sent from a damaged state");
    assert!(!stderr(&out).contains("panicked"));
}

#[test]
fn a_lost_state_database_does_not_silently_register_everyone_again() {
    let server = Server::plain();
    let work = Work::new(&server);
    work.write("in.csv", &customers(0, 8));
    code(&work.run("in.csv", &[]), 0);
    let before = sent(&server);

    // The state is gone (deleted, or the run is started from another directory): the results
    // file beside the input still says who was registered.
    std::fs::remove_file(work.path("cibil-bulk.db")).unwrap();
    // A dry run says what the run would: refused.
    let looked = work.run("in.csv", &["--dry-run"]);
    code(&looked, 2);
    assert!(
        stderr(&looked).contains("records 8 customers of this file as registered"),
        "{}",
        stderr(&looked)
    );
    let out = work.run("in.csv", &[]);
    code(&out, 2);
    let message = stderr(&out);
    assert!(
        message.contains("records 8 customers of this file as registered") && message.contains("--state"),
        "{message}"
    );
    assert_eq!(sent(&server), before, "nothing was sent");
    assert_eq!(
        statuses(&work.results("in.results.csv")).get("registered"),
        Some(&8),
        "the evidence is intact"
    );

    // Renamed beside the state, the results still speak for the lost state.
    std::fs::rename(work.path("in.results.csv"), work.path("old.results.csv")).unwrap();
    code(&work.run("in.csv", &[]), 2);
    assert_eq!(sent(&server), before, "nothing was sent");

    // Moving them away is the knowing choice to start afresh: a new state, whose order ids are
    // the merchant's, the very ones sent before, so AOPay answers each as a replay and registers
    // nobody twice.
    std::fs::create_dir(work.path("archive")).unwrap();
    std::fs::rename(work.path("old.results.csv"), work.path("archive/old.results.csv")).unwrap();
    code(&work.run("in.csv", &[]), 0);
    let stats = server.stats();
    assert_eq!((stats.new_customers, stats.returning, stats.replays), (8, 0, 8));
    assert!(stats.pans_registered_more_than_once.is_empty(), "{:?}", stats.pans_registered_more_than_once);
}

/// A file-size limit (`ulimit -f`) is met like a full disk: the write fails and the run ends with
/// its exit status and its summary, never killed by SIGXFSZ where it stands; at every limit, from
/// the state's first pages to the results file's last rows.
#[test]
fn a_file_size_limit_ends_the_run_like_a_full_disk() {
    let server = Server::plain();
    let work = Work::new(&server);
    work.write("in.csv", &customers(0, 1500));
    for blocks in [8, 40, 120, 400] {
        let shell = format!("ulimit -f {blocks} && exec \"$0\" \"$@\"");
        let mut args = vec!["-c", &shell, env!("CARGO_BIN_EXE_cibil-bulk")];
        let run_args = work.run_args("in.csv", &["--summary", "s.json"]);
        args.extend(run_args.iter().map(String::as_str));
        let _ = std::fs::remove_file(work.path("s.json"));
        let out = work.command_of("sh", &args).output().unwrap();
        let status = out.status.code();
        assert!(matches!(status, Some(0..=3)), "limit {blocks}: {:?}, {}", out.status, stderr(&out));
        let summary: serde_json::Value =
            serde_json::from_slice(&std::fs::read(work.path("s.json")).unwrap()).unwrap();
        assert_eq!(summary["exit_code"].as_i64(), status.map(i64::from), "limit {blocks}: {summary}");
    }
    // The limit lifted, the same state finishes the file.
    code(&work.run("in.csv", &[]), 0);
    assert_eq!(statuses(&work.results("in.results.csv")).get("registered"), Some(&1500));
}

/// The state replaced under a sending run (a restore, a `mv` over it) or removed: the run notices,
/// stops claiming, records what is in flight, writes every outcome to its results file and ends 3
/// saying what happened — never "finished" into a file no name leads to.
#[test]
fn a_state_replaced_or_removed_under_a_run_stops_it_and_loses_no_outcome() {
    for replaced in [true, false] {
        let server = Server::start(SandboxConfig {
            seed: Some(7),
            latency: std::time::Duration::from_millis(20),
            ..SandboxConfig::default()
        });
        let work = Work::new(&server);
        work.write("other.csv", &customers(5000, 3));
        code(&work.run("other.csv", &["--state", "other.db"]), 0);
        work.write("in.csv", &customers(0, 600));
        let args = work.run_args("in.csv", &["--rate", "100/s", "--concurrency", "2", "--summary", "s.json"]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let running = Spawned::start(&mut work.command(&args));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while server.stats().requests < 30 {
            assert!(std::time::Instant::now() < deadline, "{}", running.stderr_so_far());
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        if replaced {
            std::fs::rename(work.path("other.db"), work.path("cibil-bulk.db")).unwrap();
        } else {
            std::fs::remove_file(work.path("cibil-bulk.db")).unwrap();
        }
        for companion in ["cibil-bulk.db-wal", "cibil-bulk.db-shm"] {
            let _ = std::fs::remove_file(work.path(companion));
        }
        let out = running.wait_with_output().unwrap();
        code(&out, 3);
        assert!(stderr(&out).contains("was removed or replaced while this run used it"), "{}", stderr(&out));
        // Every registration the sandbox made is in the results file; the rest are to send.
        let counts = statuses(&work.results("in.results.csv"));
        let registered = counts.get("registered").copied().unwrap_or_default();
        assert_eq!(registered as u64, server.stats().new_customers - 3, "{counts:?}");
        assert!(registered < 600, "it stopped: {counts:?}");
        assert_eq!(counts.values().sum::<usize>(), 600, "{counts:?}");
        let summary: serde_json::Value =
            serde_json::from_slice(&std::fs::read(work.path("s.json")).unwrap()).unwrap();
        assert_eq!(summary["exit_code"], 3, "{summary}");
    }
}

#[test]
fn an_output_that_cannot_be_written_stops_the_run_before_anything_is_sent() {
    let server = Server::plain();
    let work = Work::new(&server);
    work.write("in.csv", &customers(0, 3));
    for args in [
        ["--output", "missing/dir/results.csv"],
        ["--errors", "missing/errors.csv"],
        ["--summary", "no/such/summary.json"],
    ] {
        let out = work.run("in.csv", &args);
        code(&out, 2);
        assert!(
            stderr(&out).contains(args[0]) && stderr(&out).contains("cannot be written"),
            "{}",
            stderr(&out)
        );
    }
    assert_eq!(sent(&server), 0);
    assert!(!work.path("cibil-bulk.db").exists() || read_csv(&work.path("in.results.csv")).is_empty());
}

#[test]
fn a_changed_file_is_a_new_run_and_the_paused_one_is_named() {
    let server = Server::start(SandboxConfig {
        latency: std::time::Duration::from_millis(40),
        ..SandboxConfig::default()
    });
    let work = Work::new(&server);
    work.write("in.csv", &customers(0, 60));
    let child = work.spawn("in.csv", &["--rate", "50/s", "--concurrency", "2"]);
    while server.stats().registered < 5 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert_eq!(child.wait_with_output().unwrap().status.code(), Some(130));
    let registered_before = server.stats().registered;

    // The clerk edits the file while the run is paused: one customer fixed, one added.
    let mut text = customers(0, 60);
    text.push_str(&crate::common::customer(500));
    text.push('\n');
    work.write("in.csv", &text);
    let out = work.run("in.csv", &[]);
    code(&out, 0);
    assert!(stderr(&out).contains("has changed since run 1"), "{}", stderr(&out));
    let rows = work.results("in.results.csv");
    assert_eq!(rows.len(), 61, "the results are of the new content only");
    let known = rows.iter().filter(|r| r["status"] == "known").count() as u64;
    assert_eq!(known, registered_before, "customers the paused run registered are known, not sent again");
    assert!(server.stats().pans_registered_more_than_once.is_empty());
}

#[test]
fn purge_removes_personal_data_and_keeps_recognising_customers() {
    let server = Server::plain();
    let work = Work::new(&server);
    work.write("in.csv", &customers(0, 5));
    code(&work.run("in.csv", &[]), 0);
    let out = work.output(&["purge", "--older-than", "0"]);
    code(&out, 0);
    assert!(stderr(&out).contains("5 rows in 1 finished runs"), "{}", stderr(&out));
    let state = std::fs::read(work.path("cibil-bulk.db")).unwrap();
    for i in 0..5 {
        let pan = crate::common::pan(i);
        assert!(!state.windows(pan.len()).any(|w| w == pan.as_bytes()), "{pan} is still in the state");
    }
    let out = work.output(&["status"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("purged"));
    // The same file again: a finished run, its results without the purged columns but whole.
    code(&work.run("in.csv", &[]), 0);
    let rows = work.results("in.results.csv");
    assert!(rows.iter().all(|r| r["status"] == "registered" && r["pancard"].is_empty()), "{rows:?}");
    // And under a name of one of its customers: the run keeps the name the purge left it.
    let content = std::fs::read_to_string(work.path("in.csv")).unwrap();
    let mut lines = content.lines().map(|line| line.split(',').collect::<Vec<_>>());
    let (header, first) = (lines.next().unwrap(), lines.next().unwrap());
    let last_name = first[header.iter().position(|h| *h == "last_name").unwrap()];
    let named = format!("{} {last_name}.csv", first[0]);
    work.write(&named, &content);
    code(&work.run(&named, &["--output", "named.results.csv", "--errors", "named.errors.csv"]), 0);
    let mut state = std::fs::read(work.path("cibil-bulk.db")).unwrap();
    state.extend(std::fs::read(work.path("cibil-bulk.db-wal")).unwrap_or_default());
    assert!(!state.windows(last_name.len()).any(|w| w == last_name.as_bytes()), "{named} is in the state");
    // A new file with the same customers: recognised, nothing sent.
    let before = sent(&server);
    work.write("again.csv", &customers(0, 6));
    code(&work.run("again.csv", &[]), 0);
    assert_eq!(sent(&server), before + 1);
    assert_eq!(statuses(&work.results("again.results.csv")).get("known"), Some(&5));
    code(&work.output(&["purge", "--older-than", "soon"]), 2);
    // The audit log has each purge that erased (the first file's run, then the second's), and
    // the one that then found nothing.
    code(&work.output(&["purge", "--older-than", "0"]), 0);
    code(&work.output(&["purge", "--older-than", "0"]), 0);
    let store = cibil_bulk::store::Store::open(&work.path("cibil-bulk.db")).unwrap();
    let purges: Vec<String> = store
        .audit_log(20)
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "purge" && e.who == "cibil-bulk purge")
        .map(|e| e.detail)
        .collect();
    assert_eq!(purges.len(), 3, "{purges:?}");
    assert_eq!(purges[0], "nothing older to erase");
    assert!(purges[1].starts_with("1 runs, 6 rows") && purges[2].starts_with("1 runs, 5 rows"), "{purges:?}");
}

/// Mounts a tmpfs of `size` at `dir` (root only); `None` where mounting is not allowed.
fn small_disk(dir: &Path, options: &str) -> Option<Mounted> {
    std::fs::create_dir_all(dir).ok()?;
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", options, "tmpfs"])
        .arg(dir)
        .output()
        .ok()?
        .status
        .success();
    ok.then(|| Mounted(dir.to_owned()))
}

struct Mounted(std::path::PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
#[ignore = "needs root, to mount a small tmpfs: .ci/run runs it as root"]
fn a_full_disk_for_the_results_is_reported_and_export_recovers_them() {
    let server = Server::plain();
    let work = Work::new(&server);
    work.write("in.csv", &customers(0, 400));
    let Some(_disk) = small_disk(&work.path("full"), "size=12k") else {
        panic!("cannot mount a tmpfs here: this test needs root (.ci/run runs it as root)");
    };
    let out = work.run("in.csv", &["--output", "full/results.csv", "--errors", "errors.csv"]);
    code(&out, 3);
    let message = stderr(&out);
    assert!(
        message.contains("Every outcome is safe") && message.contains("cibil-bulk export 1"),
        "{message}"
    );
    assert_eq!(server.stats().registered, 400, "the registrations happened and are recorded");
    // From the state, once there is room elsewhere.
    code(&work.output(&["export", "1", "--output", "results.csv"]), 0);
    assert_eq!(statuses(&read_csv(&work.path("results.csv"))).get("registered"), Some(&400));
    let before = sent(&server);
    code(&work.run("in.csv", &[]), 0);
    assert_eq!(sent(&server), before, "nothing is sent again");
}

#[test]
#[ignore = "needs root, to mount a small tmpfs: .ci/run runs it as root"]
fn a_read_only_output_directory_is_refused_up_front() {
    let server = Server::plain();
    let work = Work::new(&server);
    work.write("in.csv", &customers(0, 3));
    let Some(_disk) = small_disk(&work.path("ro"), "ro,size=64k") else {
        panic!("cannot mount a tmpfs here: this test needs root (.ci/run runs it as root)");
    };
    let out = work.run("in.csv", &["--output", "ro/results.csv"]);
    code(&out, 2);
    let message = stderr(&out).to_lowercase();
    assert!(
        message.contains("--output ro/results.csv cannot be written") && message.contains("read-only"),
        "{message}"
    );
    assert_eq!(sent(&server), 0);
}

#[test]
#[ignore = "needs root, to mount a small tmpfs: .ci/run runs it as root"]
fn a_full_disk_under_the_state_stops_the_run_and_loses_nothing() {
    let server = Server::plain();
    let work = Work::new(&server);
    // Room for the import, not for every outcome: the disk fills while requests go out.
    work.write("in.csv", &customers(0, 1000));
    let Some(_disk) = small_disk(&work.path("small"), "size=1m") else {
        panic!("cannot mount a tmpfs here: this test needs root (.ci/run runs it as root)");
    };
    let out = work.run("in.csv", &["--state", "small/state.db", "--summary", "s.json"]);
    let status = out.status.code();
    assert!(matches!(status, Some(2 | 3)), "exit {status:?}: {}", stderr(&out));
    // The summary counts the requests made, the run's failure notwithstanding.
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(work.path("s.json")).unwrap()).unwrap();
    assert_eq!(summary["requests"].as_u64(), Some(server.stats().requests), "{summary}");
    // Requests went out: not a usage error (2) but a run that stopped (3), saying why.
    assert!(server.stats().requests > 0, "the disk filled before sending: {}", stderr(&out));
    assert_eq!(status, Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("the run stopped"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    assert!(stderr(&out).to_lowercase().contains("full"), "{}", stderr(&out));
    // Whatever was registered before the disk filled is recorded, or was never sent.
    if let Ok(conn) = rusqlite::Connection::open(work.path("small/state.db")) {
        let recorded: i64 = conn
            .query_row("SELECT COUNT(*) FROM rows WHERE status = 'registered'", [], |r| r.get(0))
            .unwrap_or(0);
        assert!(recorded as u64 <= server.stats().registered);
    }
}

#[test]
#[ignore = "needs root, to mount a small tmpfs: .ci/run runs it as root"]
fn a_state_on_a_read_only_disk_is_read_as_it_was_last_written() {
    let server = Server::plain();
    let work = Work::new(&server);
    work.write("in.csv", &customers(0, 5));
    let Some(disk) = small_disk(&work.path("ro"), "size=1m") else {
        panic!("cannot mount a tmpfs here: this test needs root (.ci/run runs it as root)");
    };
    code(&work.run("in.csv", &["--state", "ro/state.db"]), 0);
    let remounted = Command::new("mount").args(["-o", "remount,ro"]).arg(&disk.0).status().unwrap();
    assert!(remounted.success());
    // Not "SQLite: unable to open database file": the state is read, and the disk named.
    let out = work.output(&["status", "--state", "ro/state.db"]);
    code(&out, 0);
    assert!(String::from_utf8_lossy(&out.stdout).contains("finished"), "{}", stderr(&out));
    assert!(stderr(&out).contains("cannot be written"), "{}", stderr(&out));
    let out = work.output(&["export", "1", "--state", "ro/state.db", "--output", "again.csv"]);
    code(&out, 0);
    assert_eq!(statuses(&read_csv(&work.path("again.csv"))).get("registered"), Some(&5));
    // Recording needs a disk that takes it: said as such, nothing sent.
    let before = sent(&server);
    let out = work.run("in.csv", &["--state", "ro/state.db"]);
    code(&out, 2);
    assert!(stderr(&out).contains("cannot be written here"), "{}", stderr(&out));
    assert_eq!(sent(&server), before);
}

/// The last run of the state at `path`, read without writing: its id, status and rows per status.
fn recorded_run(path: &Path) -> Option<(i64, String, std::collections::BTreeMap<String, u64>)> {
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).ok()?;
    let (id, status): (i64, String) = conn
        .query_row("SELECT id, status FROM runs ORDER BY id DESC LIMIT 1", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .ok()?;
    let mut stmt =
        conn.prepare("SELECT status, COUNT(*) FROM rows WHERE run_id = ?1 GROUP BY status").ok()?;
    let counts = stmt
        .query_map([id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u64>(1)?)))
        .ok()?
        .collect::<Result<_, _>>()
        .ok()?;
    Some((id, status, counts))
}

/// The disk under the state fills at whatever moment its size makes it: during the import, at the
/// checkpoint after it, while outcomes are committed, or when the run records how it ended. At
/// every one the exit status, the summary, the metrics file and the state tell one story: a run
/// that sent requests exits 3 saying the state failed (never 2, "nothing was sent"), the counts
/// are the state's (not outcomes it never recorded), and the results file is written from the
/// state onto its healthy disk.
#[test]
#[ignore = "needs root, to mount a small tmpfs: .ci/run runs it as root"]
fn a_full_disk_under_the_state_at_any_moment_ends_with_the_states_own_story() {
    let mut sent_somewhere = false;
    for size in ["1100k", "1300k", "1500k", "1800k", "2200k"] {
        let server = Server::plain();
        let work = Work::new(&server);
        work.write("in.csv", &customers(0, 2000));
        let Some(_disk) = small_disk(&work.path("small"), &format!("size={size}")) else {
            panic!("cannot mount a tmpfs here: this test needs root (.ci/run runs it as root)");
        };
        let out = work
            .run("in.csv", &["--state", "small/state.db", "--summary", "s.json", "--metrics-file", "m.prom"]);
        let said = format!("size {size}: {}", stderr(&out));
        let exit = out.status.code().unwrap_or_else(|| panic!("killed: {said}"));
        let summary: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(work.path("s.json")).unwrap()).unwrap();
        let metrics =
            crate::exit_files::parse_prometheus(&std::fs::read_to_string(work.path("m.prom")).unwrap())
                .unwrap();
        let said = format!("{said}\nsummary {summary:#}");
        assert_eq!(summary["exit_code"], exit, "{said}");
        assert_eq!(metrics["cibil_bulk_last_run_exit_code"], f64::from(exit), "{said}");
        let requests = server.stats().requests;
        assert_eq!(summary["requests"].as_u64(), Some(requests), "{said}");
        assert!(!stderr(&out).contains("panicked"), "{said}");
        if requests > 0 {
            sent_somewhere = true;
            assert_eq!(exit, 3, "requests were sent: not 2, \"nothing was sent\": {said}");
            assert_eq!(summary["stopped"], "aborted", "{said}");
            let reason = summary["stop_reason"].as_str().unwrap_or_default();
            assert!(reason.contains("state database") && reason.contains("full"), "{said}");
        }
        match recorded_run(&work.path("small/state.db")) {
            Some((id, _, counts)) => {
                assert_eq!(summary["run_id"], id, "the summary names the run the state kept: {said}");
                for (status, n) in summary["counts"].as_object().unwrap() {
                    let recorded = counts.get(status).copied().unwrap_or(0);
                    assert_eq!(n.as_u64(), Some(recorded), "{status}: the state's count: {said}");
                    // The metrics count rows sent without an answer as pending: sent again.
                    let in_metrics = match status.as_str() {
                        "in_flight" => continue,
                        "pending" => recorded + counts.get("in_flight").copied().unwrap_or(0),
                        _ => recorded,
                    };
                    let series = format!("cibil_bulk_last_run_rows{{status=\"{status}\"}}");
                    assert_eq!(metrics[&series], in_metrics as f64, "{series}: {said}");
                }
                assert_eq!(summary["results_may_lag"], false, "{said}");
                if requests == 0 {
                    // Full before the first claim: nothing sent, nothing to report yet (exit 2).
                    assert_eq!(exit, 2, "{said}");
                    continue;
                }
                // The state could be read: the results are written from it, on their own disk.
                assert!(work.path("in.results.csv").exists(), "no results file: {said}");
                let rows = read_csv(&work.path("in.results.csv"));
                let mut by_status = std::collections::BTreeMap::new();
                for row in &rows {
                    *by_status.entry(row["status"].clone()).or_insert(0u64) += 1;
                }
                assert_eq!(by_status, counts, "the results file is the state's: {said}");
                assert!(work.path("in.errors.csv").exists(), "{said}");
            }
            None => {
                assert_eq!(exit, 2, "nothing was kept, nothing sent: {said}");
                assert!(summary["run_id"].is_null(), "{said}");
            }
        }
    }
    assert!(sent_somewhere, "no size let the run send before the disk filled");
}

/// Fills the filesystem under `dir` to the last byte.
fn fill(dir: &Path) {
    use std::io::Write as _;
    let mut filler = std::fs::File::create(dir.join("filler")).unwrap();
    while filler.write_all(&[0u8; 1024]).is_ok() {}
    let _ = filler.sync_all();
}

/// The summary on a full disk, or the metrics file: the one that could be written says the exit
/// status the process ends with — not the run's own (0 or 1) when the other failed — and a run
/// that sent requests does not end with 2, "nothing was sent".
#[test]
#[ignore = "needs root, to mount a small tmpfs: .ci/run runs it as root"]
fn the_exit_files_that_were_written_say_the_exit_the_other_one_caused() {
    for full in ["--metrics-file", "--summary"] {
        let server = Server::plain();
        let work = Work::new(&server);
        work.write("in.csv", &customers(0, 5));
        let Some(_disk) = small_disk(&work.path("t"), "size=8k") else {
            panic!("cannot mount a tmpfs here: this test needs root (.ci/run runs it as root)");
        };
        fill(&work.path("t"));
        let (summary_path, metrics_path) =
            if full == "--summary" { ("t/s.json", "m.prom") } else { ("s.json", "t/m.prom") };
        let out = work.run("in.csv", &["--summary", summary_path, "--metrics-file", metrics_path]);
        let exit = out.status.code().unwrap();
        let said = format!("{full} on a full disk: exit {exit}: {}", stderr(&out));
        assert!(server.stats().requests > 0, "{said}");
        if full == "--summary" {
            let metrics = crate::exit_files::parse_prometheus(
                &std::fs::read_to_string(work.path(metrics_path)).unwrap(),
            )
            .unwrap();
            assert_eq!(metrics["cibil_bulk_last_run_exit_code"], f64::from(exit), "{said}");
        } else {
            let summary: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(work.path(summary_path)).unwrap()).unwrap();
            assert_eq!(summary["exit_code"], exit, "{said}\n{summary:#}");
            assert_eq!(summary["stopped"], "aborted", "{summary:#}");
            assert!(summary["stop_reason"].as_str().unwrap().contains("m.prom"), "{summary:#}");
        }
        assert_eq!(exit, 3, "a file asked for is missing, after requests were sent: {said}");
    }
}
