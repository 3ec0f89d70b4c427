//! The summary (`--summary`) and the metrics file (`--metrics-file`) of `run`, written on every
//! exit the process lives to make — 0, 1, 2, 3 and 130, the second Ctrl-C's immediate exit and a
//! usage error included — so that a cron job's mail and its monitoring never report yesterday's
//! run as today's. The metrics file is read back with a strict parser of Prometheus' text format.

use std::collections::BTreeMap;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::common::runs::{Server, Spawned, Work, code, customers, stderr};
use cibil_bulk::sandbox::SandboxConfig;
use cibil_bulk::store::RowStatus;

/// The summary and metrics of a run left by yesterday's job: every test starts with them, and
/// every exit must replace them.
const STALE_SUMMARY: &str = "{\"exit_code\": 0, \"stale\": true}\n";
const STALE_METRICS: &str = "# stale\n";

fn work(server: &Server) -> Work {
    let work = Work::new(server);
    work.write("s.json", STALE_SUMMARY);
    work.write("m.prom", STALE_METRICS);
    work
}

const FILES: [&str; 4] = ["--summary", "s.json", "--metrics-file", "m.prom"];

fn summary(work: &Work) -> serde_json::Value {
    let text = std::fs::read_to_string(work.path("s.json")).unwrap();
    assert_ne!(text, STALE_SUMMARY, "the summary was not written");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("the summary is not JSON ({e}): {text}"))
}

fn metrics(work: &Work) -> BTreeMap<String, f64> {
    let text = std::fs::read_to_string(work.path("m.prom")).unwrap();
    assert_ne!(text, STALE_METRICS, "the metrics file was not written");
    parse_prometheus(&text).unwrap_or_else(|e| panic!("not Prometheus text: {e}\n{text}"))
}

/// Both files say the run ended with `exit`, and agree on the rows.
#[track_caller]
fn both_say(work: &Work, exit: i64) -> (serde_json::Value, BTreeMap<String, f64>) {
    let (summary, metrics) = (summary(work), metrics(work));
    assert_eq!(summary["exit_code"], exit, "{summary:#}");
    assert_eq!(metrics["cibil_bulk_last_run_exit_code"], exit as f64, "{metrics:#?}");
    for status in ["registered", "known", "duplicate", "invalid", "rejected", "failed"] {
        let series = format!("cibil_bulk_last_run_rows{{status=\"{status}\"}}");
        assert_eq!(metrics[&series], summary["counts"][status].as_f64().unwrap(), "{status}");
    }
    assert_eq!(metrics["cibil_bulk_last_run_requests_total"], summary["requests"].as_f64().unwrap());
    let ended = metrics["cibil_bulk_last_run_timestamp_seconds"];
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    assert!(ended <= now && now - ended < 600.0, "ended at {ended}, now {now}");
    (summary, metrics)
}

#[test]
fn exit_0_every_row_registered() {
    let server = Server::plain();
    let work = work(&server);
    work.write("in.csv", &customers(0, 12));
    code(&work.run("in.csv", &FILES), 0);
    let (summary, metrics) = both_say(&work, 0);
    assert_eq!(summary["counts"]["registered"], 12);
    assert_eq!(
        (summary["stopped"].clone(), summary["dry_run"].clone()),
        (serde_json::Value::Null, false.into())
    );
    assert_eq!(metrics["cibil_bulk_last_run_requests_total"], 12.0);
    assert_eq!(metrics["cibil_bulk_last_run_rows{status=\"pending\"}"], 0.0);
}

#[test]
fn exit_1_rows_need_attention() {
    let server = Server::plain();
    let work = work(&server);
    let mut text = customers(0, 5);
    text.push_str("Asha,Rao,FRS23456,01/01/1990,asha@example.com,9876543210\n");
    work.write("in.csv", &text);
    code(&work.run("in.csv", &FILES), 1);
    let (summary, _) = both_say(&work, 1);
    assert_eq!(
        (summary["counts"]["registered"].as_u64(), summary["counts"]["invalid"].as_u64()),
        (Some(5), Some(1))
    );
    assert!(summary["run_id"].is_i64() && summary["sha256"].is_string(), "{summary:#}");
}

#[test]
fn exit_2_a_file_that_cannot_be_used_still_replaces_yesterdays_summary() {
    let server = Server::plain();
    let work = work(&server);
    work.write("in.csv", "first_name,last_name,date_of_birth\nRavi,Kumar,31/01/1985\n");
    let out = work.run("in.csv", &FILES);
    code(&out, 2);
    let (summary, metrics) = both_say(&work, 2);
    assert_eq!(summary["stopped"], "error");
    let reason = summary["stop_reason"].as_str().unwrap();
    assert!(stderr(&out).contains(reason), "the summary gives the error the terminal gave: {reason}");
    assert!(summary["run_id"].is_null(), "{summary:#}");
    assert_eq!(metrics["cibil_bulk_last_run_requests_total"], 0.0);
    assert_eq!(server.stats().requests, 0);
}

#[test]
fn exit_2_settings_that_cannot_be_resolved_still_replace_yesterdays_summary() {
    let server = Server::plain();
    let work = work(&server);
    work.write("in.csv", &customers(0, 3));
    // Refused by the settings, before any file is looked at; the metrics file named in the config.
    work.write("cibil-bulk.toml", "[run]\nmetrics_file = \"m.prom\"\nrate = \"fast\"\n");
    let out = work.output(&["run", "in.csv", "--summary", "s.json", "--sandbox"]);
    code(&out, 2);
    let (summary, _) = both_say(&work, 2);
    assert_eq!(summary["stopped"], "error");
    assert!(summary["stop_reason"].as_str().unwrap().contains("rate"), "{summary:#}");
}

#[test]
fn a_dry_run_says_it_was_one() {
    let server = Server::plain();
    let work = work(&server);
    work.write("in.csv", &customers(0, 4));
    code(&work.run("in.csv", &[&FILES[..], &["--dry-run"]].concat()), 0);
    let (summary, metrics) = both_say(&work, 0);
    assert_eq!(summary["dry_run"], true);
    assert_eq!(metrics["cibil_bulk_last_run_dry_run"], 1.0);
    assert_eq!(summary["counts"]["pending"], 4, "the rows that would be sent");
    assert_eq!(server.stats().requests, 0);
}

#[test]
fn exit_3_credentials_refused() {
    let server = Server::plain();
    let mut work = work(&server);
    work.registration_id = "AOP-WRONG".into();
    work.write("in.csv", &customers(0, 20));
    code(&work.run("in.csv", &[&FILES[..], &["--concurrency", "2"]].concat()), 3);
    let (summary, metrics) = both_say(&work, 3);
    assert_eq!(summary["stopped"], "aborted");
    assert!(summary["stop_reason"].as_str().unwrap().contains("credentials were refused"));
    assert_eq!(metrics["cibil_bulk_last_run_rows{status=\"pending\"}"], 20.0);
    assert_eq!(metrics["cibil_bulk_last_run_requests_total"], server.stats().requests as f64);
}

#[test]
fn exit_3_state_held_by_another_run() {
    let server =
        Server::start(SandboxConfig { latency: Duration::from_millis(200), ..SandboxConfig::default() });
    let work = work(&server);
    work.write("a.csv", &customers(0, 40));
    work.write("b.csv", &customers(100, 5));
    let mut first = work.spawn("a.csv", &["--concurrency", "2", "--rate", "10/s"]);
    wait_for_requests(&server, 1);
    // Without waiting for the lock: the first run holds it for seconds yet.
    code(&work.run("b.csv", &[&FILES[..], &["--lock-wait", "0s"]].concat()), 3);
    let (summary, _) = both_say(&work, 3);
    assert_eq!(summary["stopped"], "aborted");
    first.kill().unwrap();
    first.wait().unwrap();
}

/// A run sending slowly enough to be interrupted, with the two files asked for.
fn slow_run(work: &Work) -> Spawned {
    work.write("in.csv", &customers(0, 200));
    work.spawn("in.csv", &[&FILES[..], &["--rate", "40/s", "--concurrency", "4"]].concat())
}

fn slow_server() -> Server {
    Server::start(SandboxConfig { latency: Duration::from_millis(50), ..SandboxConfig::default() })
}

fn wait_for_requests(server: &Server, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.stats().requests < n {
        assert!(Instant::now() < deadline, "the run never sent {n} requests");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(child: &Spawned, name: &str) {
    let status = Command::new("kill").args([name, &child.id().to_string()]).status().unwrap();
    assert!(status.success());
}

fn wait(child: Spawned) -> Output {
    child.wait_with_output().unwrap()
}

#[test]
fn exit_130_interrupted() {
    let server = slow_server();
    let work = work(&server);
    let child = slow_run(&work);
    wait_for_requests(&server, 10);
    signal(&child, "-TERM");
    code(&wait(child), 130);
    let (summary, metrics) = both_say(&work, 130);
    assert_eq!(summary["stopped"], "interrupted");
    assert_eq!(summary["results_may_lag"], false, "the results were written from the state");
    assert!(metrics["cibil_bulk_last_run_rows{status=\"pending\"}"] > 0.0);
    assert_eq!(metrics["cibil_bulk_last_run_requests_total"], server.stats().requests as f64);
}

#[test]
fn exit_130_at_once_after_a_second_signal_says_the_results_may_lag() {
    // Long answers, so that the first signal's grace (the timeout plus 5 s) is still running.
    let server = Server::start(SandboxConfig { latency: Duration::from_secs(3), ..SandboxConfig::default() });
    let work = work(&server);
    work.write("in.csv", &customers(0, 8));
    let child = work.spawn("in.csv", &[&FILES[..], &["--rate", "100/s", "--concurrency", "4"]].concat());
    wait_for_requests(&server, 4);
    signal(&child, "-INT");
    // The second signal once the first has been heard: the run says it is stopping.
    child.wait_for_stderr("stopping", Duration::from_secs(10));
    signal(&child, "-INT");
    let out = wait(child);
    code(&out, 130);
    assert!(stderr(&out).contains("may lag"), "{}", stderr(&out));
    let (summary, _) = both_say(&work, 130);
    assert_eq!(
        (summary["stopped"].as_str(), summary["results_may_lag"].as_bool()),
        (Some("interrupted"), Some(true))
    );
    assert!(summary["stop_reason"].as_str().unwrap().contains("may lag"), "{summary:#}");
    // Its counts are the state's, status by status: the rows sent and not answered are
    // `in_flight`, as the next run finds them.
    let state = rusqlite::Connection::open(work.path("cibil-bulk.db")).unwrap();
    for status in RowStatus::ALL {
        let held: u64 = state
            .query_row("SELECT count(*) FROM rows WHERE status = ?1", [status.as_str()], |r| r.get(0))
            .unwrap();
        assert_eq!(summary["counts"][status.as_str()], held, "{status:?}: {summary:#}");
    }
    assert!(summary["counts"]["in_flight"].as_u64().unwrap() >= 4, "{summary:#}");

    // `status` says it too; the next run brings the results in line.
    let out = work.output(&["status"]);
    code(&out, 0);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("may lag"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = work.output(&["status", "1"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("results file     may lag"));
    let out = work.run("in.csv", &FILES);
    code(&out, 0);
    let (summary, _) = both_say(&work, 0);
    assert_eq!(
        (summary["counts"]["registered"].as_u64(), summary["results_may_lag"].as_bool()),
        (Some(8), Some(false))
    );
    let out = work.output(&["status"]);
    assert!(!String::from_utf8_lossy(&out.stdout).contains("may lag"));
}

#[test]
fn throttled_requests_are_counted() {
    let server =
        Server::start(SandboxConfig { throttle_rate: 0.2, seed: Some(11), ..SandboxConfig::default() });
    let work = work(&server);
    work.write("in.csv", &customers(0, 20));
    code(&work.run("in.csv", &FILES), 0);
    let (summary, metrics) = both_say(&work, 0);
    let stats = server.stats();
    let answered_429 = stats.by_status.get("429").copied().unwrap_or(0);
    assert!(answered_429 > 0, "the seed throttles some requests: {stats:?}");
    assert_eq!(metrics["cibil_bulk_last_run_throttled_total"], answered_429 as f64);
    assert_eq!(summary["throttled"], answered_429);
    assert_eq!(metrics["cibil_bulk_last_run_requests_total"], stats.requests as f64);
}

/// Prometheus' text exposition format, read strictly: every line is a `# HELP`, a `# TYPE` or a
/// sample; every family has one HELP and one TYPE (of a known type) before its samples, which
/// are together; names and label names are valid, label values quoted with the format's escapes,
/// values numbers; no series twice; the text ends with a line end and has no empty line.
/// Returns each series (`name{labels}` as written) with its value.
pub fn parse_prometheus(text: &str) -> Result<BTreeMap<String, f64>, String> {
    fn is_name(s: &str) -> bool {
        let mut chars = s.chars();
        chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    }
    /// `{a="x",b="y"}` → the label names, checking their values' quoting.
    fn labels(s: &str) -> Result<Vec<String>, String> {
        let mut names = Vec::new();
        let mut rest = s;
        while !rest.is_empty() {
            let (name, after) = rest.split_once("=\"").ok_or(format!("label without =\"…\": {s}"))?;
            if !is_name(name) || name.starts_with("__") {
                return Err(format!("bad label name {name:?}"));
            }
            if names.contains(&name.to_owned()) {
                return Err(format!("label {name} twice"));
            }
            names.push(name.to_owned());
            let mut chars = after.char_indices();
            let end = loop {
                match chars.next() {
                    Some((_, '\\')) => match chars.next() {
                        Some((_, '\\' | '"' | 'n')) => {}
                        other => return Err(format!("bad escape {other:?} in {s}")),
                    },
                    Some((i, '"')) => break i,
                    Some((_, '\n')) | None => return Err(format!("unterminated label value in {s}")),
                    Some(_) => {}
                }
            };
            rest = &after[end + 1..];
            if let Some(more) = rest.strip_prefix(',') {
                rest = more;
            } else if !rest.is_empty() {
                return Err(format!("labels run on after a value: {s}"));
            }
        }
        Ok(names)
    }

    if !text.ends_with('\n') {
        return Err("no line end at the end".into());
    }
    let (mut help, mut kind) = (BTreeMap::<String, ()>::new(), BTreeMap::<String, String>::new());
    let (mut series, mut finished_families) = (BTreeMap::new(), Vec::<String>::new());
    let mut current: Option<String> = None;
    for (n, line) in text.lines().enumerate() {
        let at = |e: String| format!("line {}: {e}: {line:?}", n + 1);
        if line.is_empty() {
            return Err(at("empty line".into()));
        }
        if let Some(comment) = line.strip_prefix("# ") {
            let (keyword, rest) = comment.split_once(' ').ok_or_else(|| at("bare comment".into()))?;
            let (name, value) = rest.split_once(' ').ok_or_else(|| at("HELP or TYPE without text".into()))?;
            if !is_name(name) {
                return Err(at(format!("bad metric name {name:?}")));
            }
            if series.keys().any(|s: &String| s.split('{').next() == Some(name)) {
                return Err(at("HELP or TYPE after the family's samples".into()));
            }
            match keyword {
                "HELP" if help.insert(name.to_owned(), ()).is_none() => {}
                "TYPE" if ["counter", "gauge", "histogram", "summary", "untyped"].contains(&value) => {
                    if kind.insert(name.to_owned(), value.to_owned()).is_some() {
                        return Err(at("TYPE twice".into()));
                    }
                }
                _ => return Err(at("not a HELP or TYPE line, or one given twice".into())),
            }
            continue;
        }
        let (key, value) = line.rsplit_once(' ').ok_or_else(|| at("sample without a value".into()))?;
        let name = match key.split_once('{') {
            Some((name, rest)) => {
                let inner = rest.strip_suffix('}').ok_or_else(|| at("unclosed labels".into()))?;
                labels(inner).map_err(at)?;
                name
            }
            None => key,
        };
        if !is_name(name) {
            return Err(at(format!("bad metric name {name:?}")));
        }
        if !help.contains_key(name) || !kind.contains_key(name) {
            return Err(at("sample before its family's HELP and TYPE".into()));
        }
        if current.as_deref() != Some(name) {
            if finished_families.contains(&name.to_owned()) {
                return Err(at("the family's samples are not together".into()));
            }
            finished_families.extend(current.replace(name.to_owned()));
        }
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            v => v.parse().map_err(|_| at(format!("value {v:?} is not a number")))?,
        };
        if series.insert(key.to_owned(), value).is_some() {
            return Err(at("series twice".into()));
        }
    }
    if let Some(lonely) =
        help.keys().find(|name| !series.keys().any(|s| s.split('{').next() == Some(name.as_str())))
    {
        return Err(format!("family {lonely} has no sample"));
    }
    Ok(series)
}

#[test]
fn the_parser_refuses_what_prometheus_would() {
    let good = "# HELP a A.\n# TYPE a gauge\na 1\n# HELP b B.\n# TYPE b counter\nb{s=\"x\\\"y\"} 2.5\nb{s=\"z\"} 3\n";
    assert_eq!(parse_prometheus(good).unwrap().len(), 3);
    for bad in [
        "# HELP a A.\n# TYPE a gauge\na 1",          // no final line end
        "# TYPE a gauge\na 1\n",                     // no HELP
        "# HELP a A.\na 1\n",                        // no TYPE
        "# HELP a A.\n# TYPE a gauges\na 1\n",       // unknown type
        "# HELP a A.\n# TYPE a gauge\na one\n",      // not a number
        "# HELP a A.\n# TYPE a gauge\na 1\na 2\n",   // series twice
        "# HELP a A.\n# TYPE a gauge\na{s=x} 1\n",   // unquoted label
        "# HELP a A.\n# TYPE a gauge\na{s=\"x} 1\n", // unterminated
        "# HELP a A.\n# TYPE a gauge\n\na 1\n",      // empty line
        "# HELP 1a A.\n# TYPE 1a gauge\n1a 1\n",     // bad name
        "# HELP a A.\n# TYPE a gauge\n# HELP b B.\n# TYPE b gauge\na 1\nb 1\na{x=\"1\"} 2\n", // split
        "# HELP a A.\n# TYPE a gauge\n",             // no sample
        "# stale\n",                                 // a bare comment
    ] {
        assert!(parse_prometheus(bad).is_err(), "{bad:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_writes_the_metrics_file_after_every_job() {
    use crate::common::serving::{Served, sample};
    let out = tempfile::tempdir().unwrap();
    let path = out.path().join("cibil-bulk.prom");
    let served = Served::start(&["--metrics-file", path.to_str().unwrap()]).await;
    let read = || parse_prometheus(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let (_, upload) = served.upload("customers.csv", sample("customers.csv")).await;
    let id = upload["id"].as_u64().expect("an upload id");
    assert!(!path.exists(), "nothing is written before a job has run");
    served.register(id).await;
    served.wait_for(id, "finished").await;
    let metrics = read();
    // The sample: 43 registered, 1 duplicate, 6 to fix.
    assert_eq!(metrics["cibil_bulk_last_run_exit_code"], 1.0);
    assert_eq!(metrics["cibil_bulk_last_run_rows{status=\"registered\"}"], 43.0);
    assert_eq!(metrics["cibil_bulk_last_run_requests_total"], served.stats().requests as f64);

    // The next job replaces it: the same customers again are known, and nothing is sent.
    let mut again = sample("customers.csv");
    again.extend_from_slice(b"\n");
    let (_, upload) = served.upload("again.csv", again).await;
    let id = upload["id"].as_u64().expect("an upload id");
    served.register(id).await;
    served.wait_for(id, "finished").await;
    let metrics = read();
    assert_eq!(metrics["cibil_bulk_last_run_rows{status=\"known\"}"], 43.0);
    assert_eq!(metrics["cibil_bulk_last_run_requests_total"], 0.0);
}

/// How the run's terminal is connected, for the matrix below.
#[derive(Debug, Clone, Copy)]
enum Terminal {
    /// Pipes that are read.
    Read,
    /// stdout and stderr closed before the program starts.
    Closed,
    /// Pipes whose reader has gone: every write fails with EPIPE.
    ReaderGone,
    /// `/dev/full`: every write fails with ENOSPC.
    Full,
}

/// When the signal comes, for the matrix below.
#[derive(Debug, Clone, Copy)]
enum When {
    /// Before sending has begun (the state is there, nothing sent yet).
    Start,
    /// With requests answered and most rows left.
    Middle,
    /// Once the state holds no row left to send.
    AfterTheLastRow,
}

/// What the state says of the run: its status, and the rows it could still send.
fn state_of(work: &Work) -> Option<(String, u64)> {
    let conn = rusqlite::Connection::open_with_flags(
        work.path("cibil-bulk.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .ok()?;
    let status: String =
        conn.query_row("SELECT status FROM runs ORDER BY id DESC LIMIT 1", [], |r| r.get(0)).ok()?;
    let unsent: u64 = conn
        .query_row("SELECT count(*) FROM rows WHERE status IN ('pending', 'in_flight')", [], |r| r.get(0))
        .ok()?;
    Some((status, unsent))
}

/// One cell of the matrix: a run against a vendor answering 20% 5xx, with its terminal connected
/// as `terminal`, sent `signal` at `when` (or none); what was dishonest about its ending, if
/// anything.
fn one_ending(terminal: Terminal, signal: Option<(&str, When)>) -> Result<(), String> {
    let server = Server::start(SandboxConfig {
        error_rate: 0.2,
        latency: Duration::from_millis(5),
        seed: Some(5),
        ..SandboxConfig::default()
    });
    let work = work(&server);
    let rows = 100;
    work.write("in.csv", &customers(0, rows));
    // Two attempts a row: a row the vendor fails twice is `failed` at once, not after backoffs.
    let extra = ["--rate", "100/s", "--concurrency", "4", "--max-attempts", "2", "-vv"];
    let args = work.run_args("in.csv", &[&FILES[..], &extra].concat());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut command = match terminal {
        // The shell closes both before the program starts, as a daemon's careless parent would.
        Terminal::Closed => {
            let script = "exec \"$0\" \"$@\" >&- 2>&-";
            let line = [&["-c", script, env!("CARGO_BIN_EXE_cibil-bulk")], &args[..]].concat();
            work.command_of("sh", &line)
        }
        _ => work.command(&args),
    };
    match terminal {
        Terminal::Read => {
            command.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
        }
        Terminal::Closed => {}
        Terminal::ReaderGone => {
            command.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
        }
        Terminal::Full => {
            let full = || std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
            command.stdout(full()).stderr(full());
        }
    }
    let mut child = command.spawn().unwrap();
    let drains: Vec<_> = match terminal {
        Terminal::ReaderGone => {
            drop((child.stdout.take(), child.stderr.take()));
            Vec::new()
        }
        _ => [
            child.stdout.take().map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
            child.stderr.take().map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        .map(|mut pipe| std::thread::spawn(move || std::io::copy(&mut pipe, &mut std::io::sink())))
        .collect(),
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    if let Some((name, when)) = signal {
        let ready = || match when {
            When::Start => state_of(&work).is_some(),
            When::Middle => server.stats().requests >= 20,
            When::AfterTheLastRow => state_of(&work).is_some_and(|(_, unsent)| unsent == 0),
        };
        while !ready() && child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                return Err(format!("{when:?} never came"));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = Command::new("kill").args([name, &child.id().to_string()]).status();
    }
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return Err("the run did not end".to_owned());
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    for drain in drains {
        let _ = drain.join();
    }
    let exit = status.code().ok_or_else(|| format!("killed by {status:?}"))?;
    let summary = summary(&work);
    let metrics = metrics(&work);
    let state = state_of(&work);
    let said = format!("exit {exit}, state {state:?}, summary {summary}");
    if summary["exit_code"] != exit || metrics["cibil_bulk_last_run_exit_code"] != f64::from(exit) {
        return Err(format!("the summary and metrics do not say the exit: {said}"));
    }
    let unsent = state.as_ref().map_or(u64::from(rows), |(_, unsent)| *unsent);
    let summary_unsent = summary["counts"]["pending"].as_u64().unwrap_or(0)
        + summary["counts"]["in_flight"].as_u64().unwrap_or(0);
    // An honest ending: finished (0, 1) exactly when nothing is left to send; interrupted (130)
    // with rows left; the summary's pending rows are the state's.
    let honest = match exit {
        0 | 1 => {
            unsent == 0
                && state.as_ref().is_some_and(|(s, _)| s == "finished")
                && summary["stopped"].is_null()
        }
        130 => {
            unsent > 0
                && summary["stopped"] == "interrupted"
                && state.as_ref().is_none_or(|(s, _)| s != "finished")
        }
        _ => false,
    };
    if !honest || (state.is_some() && summary_unsent != unsent) {
        return Err(format!("a dishonest ending: {said}"));
    }
    if matches!(signal, Some((_, When::Middle))) && exit != 130 {
        return Err(format!("a signal with most rows left must interrupt: {said}"));
    }
    if matches!(signal, Some((_, When::AfterTheLastRow))) && exit == 130 {
        return Err(format!("a signal after the last row must end with the run's outcome: {said}"));
    }
    if signal.is_none() && !matches!(exit, 0 | 1) {
        return Err(format!("a run its terminal cannot take must still finish: {said}"));
    }
    Ok(())
}

/// Whatever the terminal (read, closed, a pipe whose reader left, a full disk) and whatever stops
/// the run (no signal; Ctrl-C, SIGTERM, SIGHUP or SIGQUIT before sending, in the middle, or after
/// the last row), against a vendor answering a fifth of requests 5xx: the exit status, the state's
/// status and rows left, the summary and the metrics file all tell the same, honest story.
#[test]
fn every_ending_is_honest_whatever_the_terminal_and_the_signal() {
    let mut cells = Vec::new();
    for terminal in [Terminal::Read, Terminal::Closed, Terminal::ReaderGone, Terminal::Full] {
        cells.push((terminal, None));
        for name in ["-INT", "-TERM", "-HUP", "-QUIT"] {
            for when in [When::Start, When::Middle, When::AfterTheLastRow] {
                cells.push((terminal, Some((name, when))));
            }
        }
    }
    let failures = std::sync::Mutex::new(Vec::new());
    let next = std::sync::Mutex::new(cells.into_iter());
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                while let Some((terminal, signal)) = next.lock().unwrap().next() {
                    if let Err(why) = one_ending(terminal, signal) {
                        failures.lock().unwrap().push(format!("{terminal:?} {signal:?}: {why}"));
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(failures.is_empty(), "{} of 52 cells:\n{}", failures.len(), failures.join("\n"));
}

/// The run the state holds, read without writing: its id and rows, and the rows it could still
/// send; `None` before an import has committed.
fn kept_run(work: &Work) -> Option<(i64, u64, u64)> {
    let conn = rusqlite::Connection::open_with_flags(
        work.path("cibil-bulk.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .ok()?;
    let (id, rows): (i64, u64) = conn
        .query_row("SELECT id, rows_total FROM runs ORDER BY id DESC LIMIT 1", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .ok()?;
    let unsent = conn
        .query_row(
            "SELECT count(*) FROM rows WHERE run_id = ?1 AND status IN ('pending', 'in_flight')",
            [id],
            |r| r.get(0),
        )
        .ok()?;
    Some((id, rows, unsent))
}

/// Two signals as a big import commits: the first comes once the run is kept, the second while
/// the run is still being taken up. The summary written at once names the run the state kept,
/// with its rows, never "no run, no rows"; and a run the state did not keep is not named.
#[test]
fn a_second_signal_as_the_import_commits_names_the_run_the_state_kept() {
    let server = Server::plain();
    for attempt in 0..4u32 {
        let work = work(&server);
        work.write("in.csv", &customers(attempt * 20_000, 20_000));
        let child = work.spawn("in.csv", &[&FILES[..], &["--rate", "1/s"]].concat());
        let deadline = Instant::now() + Duration::from_secs(120);
        while kept_run(&work).is_none() {
            assert!(Instant::now() < deadline, "the import never committed: {}", child.stderr_so_far());
            std::thread::sleep(Duration::from_millis(2));
        }
        signal(&child, "-INT");
        child.wait_for_stderr("stopping", Duration::from_secs(10));
        signal(&child, "-INT");
        let out = wait(child);
        code(&out, 130);
        let (summary, metrics) = both_say(&work, 130);
        let (id, rows, unsent) = kept_run(&work).expect("the run was kept");
        let said =
            format!("attempt {attempt}: state: run {id}, {rows} rows, {unsent} unsent; summary {summary:#}");
        assert_eq!(summary["run_id"], id, "{said}");
        assert_eq!(summary["rows"], rows, "{said}");
        let summary_unsent =
            summary["counts"]["pending"].as_u64().unwrap() + summary["counts"]["in_flight"].as_u64().unwrap();
        assert_eq!(summary_unsent, unsent, "{said}");
        assert_eq!(metrics["cibil_bulk_last_run_rows{status=\"pending\"}"], unsent as f64, "{said}");
        assert_eq!(summary["results_may_lag"], true, "{said}");
    }
}

#[test]
fn a_second_signal_while_the_results_are_written_leaves_no_half_made_file() {
    // One customer and a great many repeats of them: one request, and a long results file.
    let server = Server::start(SandboxConfig::default());
    let work = Work::new(&server);
    let one = customers(0, 1);
    let (header, row) = one.trim_end().split_once('\n').unwrap();
    let mut text = format!("{header}\n");
    for _ in 0..200_000 {
        text.push_str(row);
        text.push('\n');
    }
    work.write("in.csv", &text);
    let child = work.spawn("in.csv", &[]);
    let half_made = |dir: &std::path::Path| -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
            .filter(|n| n.ends_with(".part"))
            .collect()
    };
    // The signals once an output is being written.
    let deadline = Instant::now() + Duration::from_secs(120);
    while half_made(work.dir.path()).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(Instant::now() < deadline, "no output was written");
    signal(&child, "-INT");
    child.wait_for_stderr("stopping", Duration::from_secs(10));
    signal(&child, "-INT");
    let out = wait(child);
    if out.status.code() == Some(130) {
        assert!(stderr(&out).contains("stopped at once"), "{}", stderr(&out));
    }
    assert_eq!(half_made(work.dir.path()), Vec::<String>::new(), "{}", stderr(&out));
}
