//! `cibil-bulk sandbox`: where the simulated vendor listens and how it misbehaves. Flags only: a
//! rehearsal's faults are chosen for the occasion, never kept in a config file.

use std::net::SocketAddr;
use std::time::Duration;

use super::parse::{parse_duration, parse_listen};
use super::{DEFAULT_SANDBOX_LISTEN, Layers, SettingsError};
use crate::cli::SandboxArgs;
use crate::sandbox::{SandboxConfig, SandboxConfigError};

/// `cibil-bulk sandbox`: where to listen and how the simulated vendor behaves.
#[derive(Debug, Clone)]
pub struct SandboxSettings {
    pub listen: SocketAddr,
    pub config: SandboxConfig,
}

pub(super) fn settings(args: &SandboxArgs, layers: Layers<'_>) -> Result<SandboxSettings, SettingsError> {
    // The flags have no config keys: only the command line is looked at.
    let flag = |name: &'static str| ("sandbox", name);
    let listen = layers.resolve(
        flag("listen"),
        Some(args.listen.clone()),
        None,
        DEFAULT_SANDBOX_LISTEN,
        "an address such as 127.0.0.1:8080, localhost:8080 or a port alone such as 8080",
        |text| parse_listen(text),
    )?;
    let duration = |name: &'static str, text: &Option<String>| {
        layers.resolve(
            flag(name),
            text.clone(),
            None,
            Duration::ZERO,
            "a duration such as 50ms, 2s or 1.5s",
            |t| parse_duration(t),
        )
    };
    let share = |name: &'static str, rate: Option<f64>| {
        layers.resolve(
            flag(name),
            rate,
            None,
            0.0,
            "a share of requests between 0 and 1, such as 0.05 for 5%",
            |r| (0.0..=1.0).contains(r).then_some(*r),
        )
    };
    let rate_limit = layers.resolve(
        flag("rate_limit"),
        args.rate_limit,
        None,
        None,
        "a number of requests a second of at least 1 (leave it out for no limit)",
        |n| (*n > 0).then_some(Some(*n)),
    )?;
    let commit_before_fault = layers.resolve(
        flag("commit_before_fault"),
        args.commit_before_fault,
        None,
        0.0,
        "a share of the hang, reset and error faults between 0 and 1, such as 0.5 for half",
        |r| (0.0..=1.0).contains(r).then_some(*r),
    )?;
    let config = SandboxConfig {
        latency: duration("latency", &args.latency)?,
        jitter: duration("jitter", &args.jitter)?,
        error_rate: share("error_rate", args.error_rate)?,
        throttle_rate: share("throttle_rate", args.throttle_rate)?,
        hang_rate: share("hang_rate", args.hang_rate)?,
        reset_rate: share("reset_rate", args.reset_rate)?,
        garbage_rate: share("garbage_rate", args.garbage_rate)?,
        commit_before_fault,
        rate_limit,
        seed: args.seed,
        numeric_cibil_id: args.numeric_cibil_id,
        refuse_repeated_order_ids: args.refuse_repeated_order_ids,
        ..SandboxConfig::default()
    };
    if let Err(SandboxConfigError::RatesAboveOne { sum }) = config.check() {
        let rates = [
            ("--error-rate", args.error_rate),
            ("--throttle-rate", args.throttle_rate),
            ("--hang-rate", args.hang_rate),
            ("--reset-rate", args.reset_rate),
            ("--garbage-rate", args.garbage_rate),
        ];
        let flags = rates.iter().filter(|(_, r)| r.is_some_and(|r| r > 0.0)).map(|(f, _)| *f);
        return Err(SettingsError::FaultRates { flags: flags.collect::<Vec<_>>().join(" + "), sum });
    }
    Ok(SandboxSettings { listen, config })
}
