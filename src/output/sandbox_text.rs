//! What `cibil-bulk sandbox` tells its user: where it listens, its credentials (the sandbox's
//! own, never a merchant's), its faults in plain words, a curl command to try, and what it
//! received when it stops.

use std::fmt::Write as _;
use std::time::Duration;

use crate::sandbox::{
    RESET_PATH, SANDBOX_COMPANY_CODE, SANDBOX_REGISTRATION_ID, STATS_PATH, Sandbox, SandboxConfig, Stats,
};

/// Said under the banner.
pub const PRESS_CTRL_C: &str = "Press Ctrl-C to stop.";

/// What the sandbox received, said as it stops.
pub fn stopping(stats: &Stats) -> String {
    format!(
        "Stopping: {} requests received, {} order ids registered ({} new customers, {} returning), {} replays.",
        stats.requests, stats.registered, stats.new_customers, stats.returning, stats.replays
    )
}

/// What to point a client at. The credentials shown are the sandbox's own, never a merchant's.
pub fn banner(sandbox: &Sandbox, config: &SandboxConfig) -> String {
    let endpoint = sandbox.endpoint();
    let base = sandbox.base_url();
    let mut text = String::new();
    let _ = writeln!(text, "AOPay sandbox listening on {base}");
    let _ = writeln!(text, "  endpoint        {endpoint}  (GET or POST, JSON body)");
    let _ = writeln!(text, "  RegistrationID  {}", config.registration_id);
    let _ = writeln!(text, "  CompanyCode     {}", config.company_code);
    let _ = writeln!(text, "  stats           {base}{STATS_PATH}  (POST {base}{RESET_PATH} clears them)");
    let _ = writeln!(text, "  faults          {}", describe_faults(config));
    let seed = sandbox.stats().seed;
    let _ = writeln!(text, "  seed            {seed}  (--seed {seed} meets the same faults again)");
    let _ = writeln!(text);
    let _ = writeln!(text, "Try it (GET with a JSON body, as the vendor documents):");
    let _ = writeln!(
        text,
        "  curl --request GET '{endpoint}' --header 'Content-Type: application/json' --data '{{\"order_id\":\"TRY-1\",\"first_name\":\"Ravi\",\"middle_name\":\"\",\"last_name\":\"Kumar\",\"pancard\":\"ABCPK1234F\",\"date_of_birth\":\"31/01/1985\",\"email_id\":\"ravi@example.com\",\"mobile_number\":\"9876543210\",\"RegistrationID\":\"{}\",\"CompanyCode\":\"{}\"}}'",
        config.registration_id, config.company_code
    );
    if config.registration_id == SANDBOX_REGISTRATION_ID && config.company_code == SANDBOX_COMPANY_CODE {
        let _ = writeln!(text);
        let _ = writeln!(text, "Register a file against it:");
        let _ = writeln!(
            text,
            "  AOPAY_REGISTRATION_ID={SANDBOX_REGISTRATION_ID} AOPAY_COMPANY_CODE={SANDBOX_COMPANY_CODE} cibil-bulk run customers.csv --endpoint {endpoint}"
        );
    }
    text
}

fn describe_faults(config: &SandboxConfig) -> String {
    let mut parts = Vec::new();
    if !config.latency.is_zero() || !config.jitter.is_zero() {
        parts.push(format!("latency {} ± {}", millis(config.latency), millis(config.jitter)));
    }
    for (name, rate) in [
        ("errors", config.error_rate),
        ("throttled", config.throttle_rate),
        ("hangs", config.hang_rate),
        ("resets", config.reset_rate),
        ("garbage", config.garbage_rate),
    ] {
        if rate > 0.0 {
            parts.push(format!("{name} {}%", percent(rate)));
        }
    }
    if config.commit_before_fault > 0.0 {
        let share = percent(config.commit_before_fault);
        parts.push(format!("{share}% of hangs, resets and errors after the registration is recorded"));
    }
    if config.refuse_repeated_order_ids {
        parts.push("a repeated order id refused as a duplicate".to_owned());
    }
    if let Some(limit) = config.rate_limit {
        parts.push(format!("at most {limit} requests a second"));
    }
    if parts.is_empty() { "none".to_owned() } else { parts.join(", ") }
}

/// A share as a percentage, rounded to hundredths: 0.05 * 100 is 5.000000000000001.
fn percent(share: f64) -> f64 {
    (share * 10_000.0).round() / 100.0
}

fn millis(duration: Duration) -> String {
    format!("{}ms", duration.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_are_described_in_plain_words() {
        assert_eq!(describe_faults(&SandboxConfig::default()), "none");
        let config = SandboxConfig {
            latency: Duration::from_millis(50),
            jitter: Duration::from_millis(10),
            error_rate: 0.05,
            rate_limit: Some(20),
            ..SandboxConfig::default()
        };
        assert_eq!(describe_faults(&config), "latency 50ms ± 10ms, errors 5%, at most 20 requests a second");
        let config = SandboxConfig { reset_rate: 0.02, commit_before_fault: 0.5, ..config };
        assert_eq!(
            describe_faults(&config),
            "latency 50ms ± 10ms, errors 5%, resets 2%, \
             50% of hangs, resets and errors after the registration is recorded, at most 20 requests a second"
        );
    }
}
