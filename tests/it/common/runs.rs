//! Runs of the real binary against the sandbox, started in the test's process on a free port of
//! 127.0.0.1: a server whose statistics prove the guarantees from its side, a working directory
//! that lives across several runs (resume tests), and checks of what the runs wrote.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cibil_bulk::sandbox::{SANDBOX_COMPANY_CODE, SANDBOX_REGISTRATION_ID, Sandbox, SandboxConfig, Stats};

use super::{HEADER, TODAY, customer};

/// How long a command of a test may take before the test fails rather than wait for ever: far
/// beyond what any of them takes.
const RUN_DEADLINE: Duration = Duration::from_secs(90);

/// A sandbox on its own runtime, for tests that run the binary synchronously.
pub struct Server {
    runtime: tokio::runtime::Runtime,
    sandbox: Option<Sandbox>,
}

impl Server {
    pub fn start(config: SandboxConfig) -> Server {
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let sandbox =
            runtime.block_on(Sandbox::start(([127, 0, 0, 1], 0).into(), config)).expect("sandbox starts");
        Server { runtime, sandbox: Some(sandbox) }
    }

    pub fn plain() -> Server {
        Server::start(SandboxConfig { seed: Some(7), ..SandboxConfig::default() })
    }

    pub fn sandbox(&self) -> &Sandbox {
        self.sandbox.as_ref().expect("running")
    }

    pub fn endpoint(&self) -> String {
        self.sandbox().endpoint()
    }

    pub fn stats(&self) -> Stats {
        self.sandbox().stats()
    }

    /// Asks the sandbox about `order_id` again: a replay returns its first answer, byte for byte.
    pub fn replay(&self, body: &serde_json::Value) -> serde_json::Value {
        let endpoint = self.endpoint();
        let body = body.clone();
        self.runtime.block_on(async move {
            let answer =
                super::http_client().build().unwrap().get(endpoint).json(&body).send().await.unwrap();
            answer.json().await.unwrap()
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(sandbox) = self.sandbox.take() {
            self.runtime.block_on(sandbox.shutdown());
        }
    }
}

/// A working directory that lives across several runs (resume tests).
pub struct Work {
    pub dir: tempfile::TempDir,
    pub endpoint: String,
    pub registration_id: String,
}

impl Work {
    pub fn new(server: &Server) -> Work {
        Work {
            dir: tempfile::tempdir().unwrap(),
            endpoint: server.endpoint(),
            registration_id: SANDBOX_REGISTRATION_ID.into(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, text: &str) {
        std::fs::write(self.path(name), text).unwrap();
    }

    pub fn command(&self, args: &[&str]) -> Command {
        self.command_of(env!("CARGO_BIN_EXE_cibil-bulk"), args)
    }

    /// `program` with `args`, in the run's directory and environment: a shell that starts the
    /// binary in a way of its own, say.
    pub fn command_of(&self, program: &str, args: &[&str]) -> Command {
        let mut command = Command::new(program);
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy().into_owned();
            if key.starts_with("CIBIL_BULK_") || key.starts_with("AOPAY_") {
                command.env_remove(key);
            }
        }
        command
            .current_dir(self.dir.path())
            .env("CIBIL_BULK_TODAY", TODAY)
            .env("AOPAY_REGISTRATION_ID", &self.registration_id)
            .env("AOPAY_COMPANY_CODE", SANDBOX_COMPANY_CODE)
            .args(args);
        command
    }

    /// `run FILE` against the sandbox, fast unless `extra` says otherwise.
    pub fn run_args(&self, file: &str, extra: &[&str]) -> Vec<String> {
        let mut args: Vec<String> =
            ["run", file, "--endpoint", &self.endpoint].iter().map(|s| s.to_string()).collect();
        for (flag, default) in [("--rate", "2000/s"), ("--concurrency", "8")] {
            if !extra.contains(&flag) {
                args.extend([flag.to_owned(), default.to_owned()]);
            }
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    }

    pub fn run(&self, file: &str, extra: &[&str]) -> Output {
        self.run_within(file, extra, RUN_DEADLINE)
    }

    /// `run FILE` given `limit` to finish: more than [`RUN_DEADLINE`] for a long file.
    pub fn run_within(&self, file: &str, extra: &[&str], limit: Duration) -> Output {
        let args = self.run_args(file, extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.output_within(&args, limit)
    }

    pub fn output(&self, args: &[&str]) -> Output {
        self.output_within(args, RUN_DEADLINE)
    }

    fn output_within(&self, args: &[&str], limit: Duration) -> Output {
        output_within(&mut self.command(args), limit)
    }

    pub fn spawn(&self, file: &str, extra: &[&str]) -> Spawned {
        let args = self.run_args(file, extra);
        Spawned::start(
            self.command(&args.iter().map(String::as_str).collect::<Vec<_>>()).stdout(Stdio::null()),
        )
    }

    pub fn results(&self, name: &str) -> Vec<BTreeMap<String, String>> {
        read_csv(&self.path(name))
    }
}

/// Runs `command` to its end, given `limit`: its stdout and stderr are read as they come (a child
/// that says more than a pipe holds would otherwise block until the deadline), and a child still
/// running at the deadline is killed and fails the test.
#[track_caller]
pub fn output_within(command: &mut Command, limit: Duration) -> Output {
    let mut child = Spawned::start(command.stdout(Stdio::piped()));
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() >= deadline {
            let _ = child.kill();
            let output = child.wait_with_output().unwrap();
            panic!(
                "{command:?} did not finish within {limit:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

/// A child started in the background whose stderr (and stdout, if piped) is drained as it comes,
/// on threads of its own: however much it says, it never blocks on a full pipe; what it said so
/// far can be read while it runs.
pub struct Spawned {
    child: Child,
    stderr: Arc<Mutex<Vec<u8>>>,
    readers: Vec<JoinHandle<()>>,
    stdout: Option<JoinHandle<Vec<u8>>>,
}

impl Spawned {
    pub fn start(command: &mut Command) -> Spawned {
        let mut child = command.stderr(Stdio::piped()).spawn().unwrap();
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let mut readers = Vec::new();
        if let Some(mut pipe) = child.stderr.take() {
            let sink = stderr.clone();
            readers.push(std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = pipe.read(&mut buf) {
                    sink.lock().unwrap().extend_from_slice(&buf[..n]);
                }
            }));
        }
        let stdout = child.stdout.take().map(|mut pipe| {
            std::thread::spawn(move || {
                let mut all = Vec::new();
                let _ = pipe.read_to_end(&mut all);
                all
            })
        });
        Spawned { child, stderr, readers, stdout }
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    pub fn try_wait(&mut self) -> std::io::Result<Option<ExitStatus>> {
        self.child.try_wait()
    }

    pub fn kill(&mut self) -> std::io::Result<()> {
        self.child.kill()
    }

    pub fn wait(&mut self) -> std::io::Result<ExitStatus> {
        self.child.wait()
    }

    /// What it has written to stderr so far.
    pub fn stderr_so_far(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    /// Waits until its stderr contains `text`, at most `limit`.
    #[track_caller]
    pub fn wait_for_stderr(&self, text: &str, limit: Duration) {
        let deadline = Instant::now() + limit;
        while !self.stderr_so_far().contains(text) {
            assert!(Instant::now() < deadline, "stderr never said {text:?}: {}", self.stderr_so_far());
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits for the end, and what it wrote.
    pub fn wait_with_output(mut self) -> std::io::Result<Output> {
        let status = self.child.wait()?;
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        let stdout = self.stdout.take().map(|r| r.join().unwrap_or_default()).unwrap_or_default();
        let stderr = std::mem::take(&mut *self.stderr.lock().unwrap());
        Ok(Output { status, stdout, stderr })
    }
}

pub fn read_csv(path: &Path) -> Vec<BTreeMap<String, String>> {
    let mut reader = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let headers = reader.headers().unwrap().clone();
    let headers: Vec<String> = headers.iter().map(|h| h.trim_start_matches('\u{feff}').to_owned()).collect();
    reader
        .records()
        .map(|r| headers.iter().cloned().zip(r.unwrap().iter().map(str::to_owned)).collect())
        .collect()
}

#[track_caller]
pub fn code(output: &Output, expected: i32) {
    assert_eq!(
        output.status.code(),
        Some(expected),
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `n` valid customers, numbered from `from`.
pub fn customers(from: u32, n: u32) -> String {
    let mut text = format!("{HEADER}\n");
    for i in from..from + n {
        text.push_str(&customer(i));
        text.push('\n');
    }
    text
}

pub fn statuses(rows: &[BTreeMap<String, String>]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for row in rows {
        *counts.entry(row["status"].clone()).or_insert(0) += 1;
    }
    counts
}

/// The invariants of every finished run: one result per row in input order, nothing registered
/// twice by the server.
#[track_caller]
pub fn assert_complete(rows: &[BTreeMap<String, String>], expected_rows: usize, stats: &Stats) {
    assert_eq!(rows.len(), expected_rows);
    let lines: Vec<u64> = rows.iter().map(|r| r["line"].parse().unwrap()).collect();
    assert!(lines.windows(2).all(|w| w[0] < w[1]), "results are in input order");
    assert!(
        stats.order_ids_registered_more_than_once.is_empty(),
        "{:?}",
        stats.order_ids_registered_more_than_once
    );
    assert!(stats.pans_registered_more_than_once.is_empty(), "{:?}", stats.pans_registered_more_than_once);
}
