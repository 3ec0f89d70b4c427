//! The vendor's quota found by the adaptive rate by itself (issue 14): the real binary against the
//! sandbox's sliding one-second window, with a `--rate` ten times too high. Checked from both
//! sides: what the sandbox refused, and what the summary, `status` and the next run say.

use std::time::Duration;

use crate::common::runs::{Server, Work, code, customers, stderr};
use cibil_bulk::sandbox::SandboxConfig;

fn summary(work: &Work, name: &str) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(work.path(name)).unwrap()).unwrap()
}

/// `N/s` as a number.
fn per_second(rate: &serde_json::Value) -> f64 {
    rate.as_str().and_then(|r| r.strip_suffix("/s")).and_then(|n| n.parse().ok()).unwrap_or(f64::NAN)
}

#[test]
fn a_quota_found_is_said_kept_in_the_state_and_started_from_by_the_next_run() {
    let server = Server::start(SandboxConfig {
        rate_limit: Some(20),
        latency: Duration::from_millis(5),
        seed: Some(1),
        ..SandboxConfig::default()
    });
    let work = Work::new(&server);
    let flags = ["--rate", "200/s", "--concurrency", "8"];

    // Monday: the wrong guess. The first second's excess is refused, then the quota is held.
    work.write("monday.csv", &customers(0, 120));
    let out = work.run("monday.csv", &[&flags[..], &["--summary", "monday.json"]].concat());
    code(&out, 0);
    let refused = server.stats().rate_limit_violations;
    assert!((1..=6).contains(&refused), "{refused} refused of {} requests", server.stats().requests);
    let monday = summary(&work, "monday.json");
    assert_eq!(monday["throttled"], refused);
    let accepted = monday["quota"]["accepted_per_second"].as_f64().unwrap();
    assert!((18.0..=21.0).contains(&accepted), "{monday}");
    let suggested = per_second(&monday["quota"]["suggested_rate"]);
    assert!((15.0..20.0).contains(&suggested), "{monday}");
    let said = stderr(&out);
    assert!(said.contains("would avoid throttling"), "{said}");

    // `status` says what was learned.
    let status = work.output(&["status"]);
    code(&status, 0);
    let shown = String::from_utf8_lossy(&status.stdout);
    assert!(shown.contains("AOPay's quota") && shown.contains(&format!("{}", accepted.round())), "{shown}");

    // Tuesday, other customers on the same state: it starts from what Monday learned, and not
    // one request is refused.
    work.write("tuesday.csv", &customers(120, 60));
    let out = work.run("tuesday.csv", &[&flags[..], &["--summary", "tuesday.json"]].concat());
    code(&out, 0);
    assert_eq!(server.stats().rate_limit_violations, refused, "refused again");
    let tuesday = summary(&work, "tuesday.json");
    assert_eq!(tuesday["throttled"], 0);
    assert_eq!(tuesday["quota"]["suggested_rate"], monday["quota"]["suggested_rate"]);
    assert_eq!(server.stats().registered, 180);

    // --rate-mode fixed is today's behaviour: the wrong guess is refused every second.
    work.write("wednesday.csv", &customers(180, 60));
    let out =
        work.run("wednesday.csv", &[&flags[..], &["--rate-mode", "fixed", "--summary", "w.json"]].concat());
    code(&out, 0);
    assert!(server.stats().rate_limit_violations > refused, "{:?}", server.stats());
    assert_eq!(summary(&work, "w.json")["quota"], serde_json::Value::Null);
}
