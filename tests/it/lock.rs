//! One run at a time per state, by the kernel's lock: released the moment the process dies —
//! killed with the wrapper that started it, as a supervisor, `timeout` or cron's shell does — and
//! never taken from a process that lives, even stopped.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cibil_bulk::sandbox::SandboxConfig;

use crate::common::runs::{Server, Spawned, Work, code, customers, stderr};

/// A sandbox slow enough that a run of a few hundred rows is still sending when it is stopped.
fn slow() -> Server {
    Server::start(SandboxConfig {
        seed: Some(3),
        latency: Duration::from_millis(100),
        ..SandboxConfig::default()
    })
}

/// Waits until the sandbox has seen `n` requests.
fn until_requests(server: &Server, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while server.stats().requests < n {
        assert!(Instant::now() < deadline, "only {} requests", server.stats().requests);
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A run of 300 customers in a working directory of its own, once it is sending.
fn a_run_sending(server: &Server) -> (Work, Spawned) {
    let work = Work::new(server);
    work.write("in.csv", &customers(0, 300));
    let run = work.spawn("in.csv", &["--concurrency", "4", "--rate", "50/s"]);
    until_requests(server, 10);
    (work, run)
}

fn signal(signal: &str, target: &str) {
    let status = Command::new("kill").args([signal, "--", target]).status().expect("kill");
    assert!(status.success(), "kill {signal} {target}");
}

#[test]
fn a_run_killed_with_its_wrapper_is_resumed_at_once_by_the_next() {
    let server = slow();
    let work = Work::new(&server);
    work.write("in.csv", &customers(0, 300));
    // As cron's shell or a supervisor starts it: in a process group of its own, under `timeout`.
    let args = work.run_args("in.csv", &["--concurrency", "4", "--rate", "50/s"]);
    let wrapper = work.command(&[]);
    let program = wrapper.get_program().to_owned();
    let mut command = Command::new("setsid");
    command.arg("timeout").arg("120").arg(program).args(&args).current_dir(work.dir.path());
    for (key, value) in wrapper.get_envs() {
        match value {
            Some(value) => command.env(key, value),
            None => command.env_remove(key),
        };
    }
    let mut group = command.stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("setsid timeout");
    until_requests(&server, 10);
    // setsid made `timeout` a group leader: the group's id is its pid. Kill them all, as the
    // supervisor does, and start again 0.2 s later, before anyone has reaped the dead.
    signal("-KILL", &format!("-{}", group.id()));
    std::thread::sleep(Duration::from_millis(200));
    let out = work.run("in.csv", &["--lock-wait", "0s"]);
    code(&out, 0);
    assert!(!stderr(&out).contains("another run"), "{}", stderr(&out));
    let _ = group.wait();
    let stats = server.stats();
    assert!(stats.pans_with_several_order_ids.is_empty(), "{:?}", stats.pans_with_several_order_ids);
    assert_eq!(stats.new_customers, 300);
}

#[test]
fn a_stopped_run_keeps_its_lock_and_the_next_waits_then_names_it() {
    let server = slow();
    let (work, mut first) = a_run_sending(&server);
    signal("-STOP", &first.id().to_string());

    // However long it stays stopped, nobody takes its state from it.
    let started = Instant::now();
    let out = work.run("in.csv", &["--lock-wait", "1s"]);
    code(&out, 3);
    let message = stderr(&out);
    assert!(message.contains("waiting for another run to finish with cibil-bulk.db"), "{message}");
    assert!(message.contains(&format!("pid {}", first.id())), "{message}");
    assert!(started.elapsed() >= Duration::from_secs(1), "it waited");
    let out = work.output(&["status"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("running"), "still running, only stopped");

    // Woken, it finishes its run; the next starts once it has.
    signal("-CONT", &first.id().to_string());
    let status = first.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    code(&work.run("in.csv", &["--lock-wait", "0s"]), 0);
    assert_eq!(server.stats().new_customers, 300);
}

#[test]
fn status_says_interrupted_for_a_run_whose_process_is_gone() {
    let server = slow();
    let (work, mut run) = a_run_sending(&server);
    run.kill().unwrap();
    run.wait().unwrap();
    let out = work.output(&["status"]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("interrupted") && !table.contains("running"), "{table}");
}

#[test]
fn a_state_moved_while_a_run_holds_it_is_held_under_its_new_name() {
    let server = slow();
    let (work, mut first) = a_run_sending(&server);
    // Moved aside, and a file put at its old name, as an operator restoring a copy might.
    std::fs::create_dir(work.path("aside")).unwrap();
    std::fs::rename(work.path("cibil-bulk.db"), work.path("aside/moved.db")).unwrap();
    std::fs::write(work.path("cibil-bulk.db"), "").unwrap();
    let out = work.run("in.csv", &["--state", "aside/moved.db", "--lock-wait", "0s"]);
    code(&out, 3);
    assert!(stderr(&out).contains(&format!("pid {}", first.id())), "{}", stderr(&out));
    signal("-TERM", &first.id().to_string());
    let _ = first.wait();
    assert!(server.stats().pans_with_several_order_ids.is_empty());
}
