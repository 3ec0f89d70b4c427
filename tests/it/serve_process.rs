//! The real `cibil-bulk serve` binary as a child process, against a sandbox in the test's process:
//! stopped with SIGTERM (requests in flight finish, the rest stays pending, exit 0) or killed with
//! SIGKILL, then started again, it resumes the upload that was being registered by itself, and
//! the sandbox proves nobody was registered twice. And `users` and `tokens`, which say who may use
//! it: secrets kept only as hashes, a token alone on the last line of the output.

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::{HEADER, TODAY, customer};
use cibil_bulk::sandbox::{SANDBOX_COMPANY_CODE, SANDBOX_REGISTRATION_ID, Sandbox, SandboxConfig};
use serde_json::Value;

fn binary(dir: &Path, args: &[&str]) -> Command {
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
        .env("AOPAY_REGISTRATION_ID", SANDBOX_REGISTRATION_ID)
        .env("AOPAY_COMPANY_CODE", SANDBOX_COMPANY_CODE)
        .args(args);
    command
}

/// A `serve` process, with its address read from what it says at start.
struct Serving {
    child: Child,
    base: String,
    stderr: mpsc::Receiver<String>,
    /// What it said before it listened.
    early: Vec<String>,
}

impl Serving {
    fn start(dir: &Path, endpoint: &str) -> Serving {
        Serving::start_with(dir, endpoint, &[])
    }

    /// `serve` with `extra` arguments after the usual ones.
    fn start_with(dir: &Path, endpoint: &str, extra: &[&str]) -> Serving {
        let usual = [
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--endpoint",
            endpoint,
            "--rate",
            "40/s",
            "--concurrency",
            "4",
        ];
        let mut child = binary(dir, &[&usual[..], extra].concat())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("serve starts");
        let (lines, stderr) = mpsc::channel();
        let pipe = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut early = Vec::new();
        let base = loop {
            let line = stderr
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .unwrap_or_else(|_| panic!("serve says where it listens; it said:\n{}", early.join("\n")));
            if let Some(rest) = line.strip_prefix("Listening on ") {
                break rest.split_whitespace().next().unwrap().to_owned();
            }
            early.push(line);
        };
        Serving { child, base, stderr, early }
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args([signal, &pid]).status().unwrap();
        assert!(status.success());
    }

    /// Waits for the process to end; its exit code.
    fn wait(&mut self) -> Option<i32> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(Instant::now() < deadline, "serve did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Everything it said on stderr: so far while it runs, all of it once it has ended.
    fn said(&mut self) -> String {
        let ended = self.child.try_wait().unwrap().is_some();
        let later: Vec<String> =
            if ended { self.stderr.iter().collect() } else { self.stderr.try_iter().collect() };
        self.early.iter().cloned().chain(later).collect::<Vec<_>>().join("\n")
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn token(dir: &Path) -> String {
    let output = binary(
        dir,
        &[
            "tokens",
            "add",
            "nightly-cron",
            "--scope",
            "upload",
            "--scope",
            "register",
            "--scope",
            "read-results",
        ],
    )
    .output()
    .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap().lines().last().unwrap().to_owned()
}

fn customers(n: u32) -> Vec<u8> {
    let mut text = format!("{HEADER}\n");
    for i in 0..n {
        text.push_str(&customer(i));
        text.push('\n');
    }
    text.into_bytes()
}

async fn upload_and_register(http: &reqwest::Client, base: &str, token: &str, rows: u32) -> u64 {
    upload_named_and_register(http, base, token, rows, "big.csv").await
}

async fn upload_named_and_register(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    rows: u32,
    name: &str,
) -> u64 {
    let part = reqwest::multipart::Part::bytes(customers(rows)).file_name(name.to_owned());
    let form = reqwest::multipart::Form::new().part("file", part);
    let created: Value = http
        .post(format!("{base}/api/uploads"))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_u64().expect("an upload");
    let answer =
        http.post(format!("{base}/api/uploads/{id}/register")).bearer_auth(token).send().await.unwrap();
    assert_eq!(answer.status(), reqwest::StatusCode::ACCEPTED);
    id
}

async fn summary(http: &reqwest::Client, base: &str, token: &str, id: u64) -> Value {
    http.get(format!("{base}/api/uploads/{id}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Rows of the state per status, read while no server runs.
fn statuses(state: &Path) -> std::collections::BTreeMap<String, u64> {
    let db = rusqlite::Connection::open(state).unwrap();
    let mut stmt = db.prepare("SELECT status, COUNT(*) FROM rows GROUP BY status").unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect()
}

fn upload_state(state: &Path, id: u64) -> String {
    let db = rusqlite::Connection::open(state).unwrap();
    db.query_row("SELECT state FROM uploads WHERE id = ?1", [id], |r| r.get(0)).unwrap()
}

/// Stops (or kills) a server halfway through a job, starts it again, and checks the job ends
/// with every customer registered once.
async fn stop_halfway_and_resume(signal: &str) -> (PathBuf, tempfile::TempDir, Vec<String>) {
    // Slow enough answers that the job is still going when the signal comes.
    let config =
        SandboxConfig { latency: Duration::from_millis(40), seed: Some(11), ..SandboxConfig::default() };
    let sandbox = Sandbox::start(([127, 0, 0, 1], 0).into(), config).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("cibil-bulk.db");
    let token = token(dir.path());
    let http = crate::common::http_client().build().unwrap();
    const ROWS: u32 = 240;

    let mut first = Serving::start(dir.path(), &sandbox.endpoint());
    let id = upload_and_register(&http, &first.base, &token, ROWS).await;
    while sandbox.stats().registered < 30 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    first.signal(signal);
    let code = first.wait();
    let mut said = vec![first.said()];
    let stopped_at = sandbox.stats();
    let counts = statuses(&state);
    assert!(counts.get("pending").copied().unwrap_or(0) > 0, "the rest is left to send: {counts:?}");
    if signal == "-TERM" {
        assert_eq!(code, Some(0), "SIGTERM ends serve with 0:\n{}", said[0]);
        assert_eq!(upload_state(&state, id), "interrupted");
        assert_eq!(counts.get("in_flight"), None, "requests in flight finished: {counts:?}");
        // Every registration the sandbox made is recorded, and nothing more.
        assert_eq!(counts.get("registered").copied().unwrap_or(0), stopped_at.registered, "{counts:?}");
    } else {
        assert_eq!(code, None, "killed by a signal");
        assert_eq!(upload_state(&state, id), "running");
    }

    // Started again, it resumes by itself.
    let mut second = Serving::start(dir.path(), &sandbox.endpoint());
    let done = loop {
        let summary = summary(&http, &second.base, &token, id).await;
        if summary["state"] == "finished" {
            break summary;
        }
        assert_ne!(summary["state"], "aborted", "{summary}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    said.push(second.said());
    assert_eq!(done["counts"]["registered"], u64::from(ROWS), "{done}");
    assert_eq!(done["resumed"], true);
    let stats = sandbox.stats();
    assert_eq!(stats.registered, u64::from(ROWS));
    assert!(stats.order_ids_registered_more_than_once.is_empty());
    assert!(stats.pans_registered_more_than_once.is_empty(), "{:?}", stats.pans_registered_more_than_once);
    // The only requests sent again are those whose answers were lost or not yet recorded when
    // the process stopped: once more each, with the same order id.
    let again = &stats.order_ids_sent_more_than_once;
    assert!(again.values().all(|n| *n == 2), "{again:?}");
    assert_eq!(
        stats.requests - u64::from(ROWS),
        again.len() as u64,
        "{} requests for {ROWS} rows",
        stats.requests
    );
    drop(second);
    (state, dir, said)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_the_requests_in_flight_exits_0_and_the_next_start_resumes() {
    let (_, _dir, said) = tokio::time::timeout(Duration::from_secs(120), stop_halfway_and_resume("-TERM"))
        .await
        .expect("within two minutes");
    assert!(said[0].contains("stopping: no new requests"), "{}", said[0]);
    assert!(said[1].contains("Resuming upload 1"), "{}", said[1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_sigkill_the_next_start_resumes_the_job_and_nobody_is_registered_twice() {
    let (_, _dir, said) = tokio::time::timeout(Duration::from_secs(120), stop_halfway_and_resume("-KILL"))
        .await
        .expect("within two minutes");
    assert!(said[1].contains("Resuming upload 1"), "{}", said[1]);
    // The kernel released the dead server's lock with it: nothing to wait for or take over.
    assert!(!said[1].contains("another run") && !said[1].contains("waiting"), "{}", said[1]);
}

#[test]
fn users_and_tokens_keep_only_hashes_and_the_token_is_the_last_line() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str], stdin: &str| {
        let mut child = binary(dir.path(), args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        let output = child.wait_with_output().unwrap();
        (
            output.status.code(),
            String::from_utf8(output.stdout).unwrap(),
            String::from_utf8(output.stderr).unwrap(),
        )
    };
    let password = "correct horse battery staple";
    let (code, _, err) = run(&["users", "add", "asha", "--password-stdin"], &format!("{password}\n"));
    assert_eq!(code, Some(0), "{err}");
    let (code, _, err) = run(&["users", "add", "ravi", "--password-stdin"], "short\n");
    assert_eq!(code, Some(2));
    assert!(err.contains("at least 10 characters"), "{err}");
    let (code, _, err) = run(&["users", "add", "ravi"], "");
    assert_eq!(code, Some(2), "no terminal to ask on");
    assert!(err.contains("--password-stdin"), "{err}");
    let (code, _, err) = run(&["users", "add", "asha", "--password-stdin"], &format!("{password}\n"));
    assert_eq!(code, Some(2));
    assert!(err.contains("already"), "{err}");
    let (_, listed, _) = run(&["users", "list"], "");
    assert!(listed.contains("asha") && listed.contains("never"), "{listed}");

    let (code, out, err) =
        run(&["tokens", "add", "nightly-cron", "--scope", "upload", "--scope", "register"], "");
    assert_eq!(code, Some(0), "{err}");
    let token = out.lines().last().unwrap().to_owned();
    assert!(token.starts_with("cbk_") && token.len() == 68, "{out}");
    assert!(!err.contains(&token), "the token only on stdout");
    let (code, out, _) = run(&["tokens", "add", "other", "--scope", "read-results", "-q"], "");
    assert_eq!(code, Some(0));
    assert_eq!(out.lines().count(), 1, "-q leaves the token alone: {out}");

    // Neither the password nor the token is anywhere in the state: only their hashes.
    let state = dir.path().join("cibil-bulk.db");
    let mut bytes = std::fs::read(&state).unwrap();
    bytes.extend(std::fs::read(dir.path().join("cibil-bulk.db-wal")).unwrap_or_default());
    for secret in [password, token.as_str(), token.trim_start_matches("cbk_")] {
        assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()), "{secret} is stored");
    }
    let db = rusqlite::Connection::open(&state).unwrap();
    let hash: String =
        db.query_row("SELECT password_hash FROM users WHERE name = 'asha'", [], |r| r.get(0)).unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");

    let (_, listed, _) = run(&["tokens", "list"], "");
    assert!(
        listed.contains("nightly-cron") && listed.contains("live") && !listed.contains("cbk_"),
        "{listed}"
    );
    let (code, _, _) = run(&["tokens", "revoke", "nightly-cron"], "");
    assert_eq!(code, Some(0));
    let (_, listed, _) = run(&["tokens", "list"], "");
    assert!(listed.contains("revoked"), "{listed}");
    let (code, _, err) = run(&["tokens", "revoke", "nightly-cron"], "");
    assert_eq!(code, Some(2), "{err}");
    let (code, _, _) = run(&["users", "remove", "asha"], "");
    assert_eq!(code, Some(0));
    let (_, listed, _) = run(&["users", "list"], "");
    assert!(!listed.contains("asha"), "{listed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_sign_in_is_logged_with_whose_name_and_never_a_password() {
    let sandbox = Sandbox::start(([127, 0, 0, 1], 0).into(), SandboxConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let add = binary(dir.path(), &["users", "add", "asha", "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut add = add;
    add.stdin.take().unwrap().write_all(b"a long enough password\n").unwrap();
    assert!(add.wait().unwrap().success());
    let mut serving = Serving::start(dir.path(), &sandbox.endpoint());
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let form = http.get(format!("{}/login", serving.base)).send().await.unwrap();
    let cookie = form
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("cibil_bulk_login="))
        .and_then(|v| v.split(';').next())
        .unwrap()
        .to_owned();
    let html = form.text().await.unwrap();
    let at = html.find("name=\"csrf\" value=\"").unwrap() + 19;
    let csrf = html[at..].split('"').next().unwrap().to_owned();
    // The second is someone's password typed in the name field: never written down.
    for name in ["asha", "<no such name>", "Tr0ub4dor-and-3"] {
        let refused = http
            .post(format!("{}/login", serving.base))
            .header(reqwest::header::COOKIE, format!("cibil_bulk_login={cookie}"))
            .form(&[("name", name), ("password", "the wrong password, typed"), ("csrf", &csrf)])
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), reqwest::StatusCode::UNAUTHORIZED);
    }
    serving.signal("-TERM");
    assert_eq!(serving.wait(), Some(0));
    let said = serving.said();
    assert!(said.contains("failed sign-in for asha"), "{said}");
    assert!(said.contains("failed sign-in for a name nobody has"), "{said}");
    for never in ["<no such name>", "Tr0ub4dor", "the wrong password"] {
        assert!(!said.contains(never), "{never} in {said}");
    }
}

/// SIGTERM, then a second signal while the job's requests in flight finish: the server leaves at
/// once, and still writes the metrics file of the job it was running, as `run` writes its own,
/// saying the exit status the process ends with.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_leaves_at_once_and_writes_the_metrics_file() {
    // Long answers, so that the first signal's grace is still running at the second.
    let config =
        SandboxConfig { latency: Duration::from_secs(3), seed: Some(11), ..SandboxConfig::default() };
    let sandbox = Sandbox::start(([127, 0, 0, 1], 0).into(), config).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let token = token(dir.path());
    let http = crate::common::http_client().build().unwrap();
    let metrics = dir.path().join("m.prom");
    std::fs::write(&metrics, "# stale\n").unwrap();
    let mut serving = Serving::start_with(dir.path(), &sandbox.endpoint(), &["--metrics-file", "m.prom"]);
    upload_and_register(&http, &serving.base, &token, 40).await;
    while sandbox.stats().requests < 4 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    serving.signal("-TERM");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut said = String::new();
    while !said.contains("stopping") {
        assert!(Instant::now() < deadline, "serve never said it was stopping: {said}");
        tokio::time::sleep(Duration::from_millis(10)).await;
        said.push_str(&serving.said());
    }
    serving.signal("-INT");
    let code = serving.wait();
    said.push_str(&serving.said());
    assert_eq!(code, Some(130), "{said}");
    let text = std::fs::read_to_string(&metrics).unwrap();
    assert_ne!(text, "# stale\n", "the metrics file was not written: {said}");
    let series = crate::exit_files::parse_prometheus(&text).unwrap();
    assert_eq!(series["cibil_bulk_last_run_exit_code"], 130.0, "{text}");
    assert!(series["cibil_bulk_last_run_rows{status=\"pending\"}"] > 0.0, "{text}");
}

/// The processes that hold an `fcntl` (POSIX) lock on the file at `path`, as the kernel lists them.
fn shared_locks_on(path: &Path) -> Vec<u32> {
    use std::os::unix::fs::MetadataExt as _;
    let meta = std::fs::metadata(path).unwrap();
    let (major, minor) = (libc_major(meta.dev()), libc_minor(meta.dev()));
    let inode = format!("{major:02x}:{minor:02x}:{}", meta.ino());
    std::fs::read_to_string("/proc/locks")
        .unwrap()
        .lines()
        .filter(|line| line.contains(" POSIX ") && line.split_whitespace().any(|field| field == inode))
        .filter_map(|line| line.split_whitespace().nth(4)?.parse().ok())
        .collect()
}

/// The major and minor numbers of a device number, as glibc's `major`/`minor` compute them.
fn libc_major(dev: u64) -> u64 {
    ((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0x0000_0fff)
}

fn libc_minor(dev: u64) -> u64 {
    ((dev >> 12) & 0xffff_ff00) | (dev & 0x0000_00ff)
}

/// Another program reading the state while the server runs — the `sqlite3` shell, a backup
/// script — closes its connection at the end, and SQLite deletes the write-ahead log on a last
/// close unless another process still holds its shared lock on the database. The server keeps
/// that lock however many times it opens the state (a descriptor of its own closed on the file
/// would let go of every lock it holds there), so the log it writes to is never deleted under it:
/// a job registered after such a read is in the state, and the state is whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_program_reading_the_state_beside_the_server_never_deletes_its_log() {
    let sandbox = Sandbox::start(([127, 0, 0, 1], 0).into(), SandboxConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("cibil-bulk.db");
    let token = token(dir.path());
    let http = crate::common::http_client().build().unwrap();
    let mut serving = Serving::start(dir.path(), &sandbox.endpoint());
    let finished = |id: u64| {
        let (http, base, token) = (http.clone(), serving.base.clone(), token.clone());
        async move {
            tokio::time::timeout(Duration::from_secs(60), async {
                loop {
                    let summary = summary(&http, &base, &token, id).await;
                    if summary["state"] == "finished" {
                        return summary;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
            .await
            .expect("the job finishes")
        }
    };
    let wal = dir.path().join("cibil-bulk.db-wal");
    let pid = serving.child.id();
    let read_beside = || {
        // What keeps another program's last close from deleting the log: SQLite's shared lock on
        // the database file, held by the server's connections (an `fcntl` lock, which the kernel
        // lists with its owner).
        let locks = shared_locks_on(&state);
        assert!(locks.contains(&pid), "the server holds no lock on the state: {locks:?}");
        assert!(wal.exists(), "the server's log is there");
        let reader = rusqlite::Connection::open(&state).unwrap();
        let _: i64 = reader.query_row("SELECT count(*) FROM uploads", [], |r| r.get(0)).unwrap();
        drop(reader);
        assert!(wal.exists(), "a reader's last close deleted the log the server writes to");
    };
    // Read as it starts, and again after a job, which opens the state again when it ends.
    read_beside();
    let first = upload_and_register(&http, &serving.base, &token, 5).await;
    finished(first).await;
    read_beside();

    // Ten customers: the first job's five, and five new ones.
    let second = upload_and_register(&http, &serving.base, &token, 10).await;
    finished(second).await;
    serving.signal("-TERM");
    assert_eq!(serving.wait(), Some(0), "{}", serving.said());
    let after = rusqlite::Connection::open(&state).unwrap();
    let check: String = after.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok");
    let statuses = statuses(&state);
    assert_eq!((statuses.get("registered"), statuses.get("known")), (Some(&10), Some(&5)), "{statuses:?}");
    assert_eq!(sandbox.stats().registered, 10);
}

/// The server's log names an upload by its number, never by its file's name: a clerk's file is
/// often named after a customer, and the journal keeps what it is given for as long as its own
/// settings say, whatever a purge erases from the state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_names_an_upload_by_its_number_never_by_a_customers_name() {
    let sandbox = Sandbox::start(([127, 0, 0, 1], 0).into(), SandboxConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let token = token(dir.path());
    let http = crate::common::http_client().build().unwrap();
    let mut serving = Serving::start(dir.path(), &sandbox.endpoint());
    // The file's first customer: Ravi Kumar, his PAN and mobile, in the file's name.
    let row = customer(0);
    let cells: Vec<&str> = row.split(',').collect();
    let (first, last, pan, mobile) = (cells[0], cells[1], cells[2], cells[5]);
    let name = format!("{first} {last} {pan} {mobile}.csv");
    let id = upload_named_and_register(&http, &serving.base, &token, 3, &name).await;
    tokio::time::timeout(Duration::from_secs(60), async {
        while summary(&http, &serving.base, &token, id).await["state"] != "finished" {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the job finishes");
    serving.signal("-TERM");
    assert_eq!(serving.wait(), Some(0), "{}", serving.said());
    let said = serving.said();
    assert!(said.contains(&format!("registering upload {id}")), "{said}");
    for needle in [first, last, pan, mobile] {
        assert!(!said.contains(needle), "the log holds {needle:?}: {said}");
    }
}
