//! Values as people write them: rates (`10/s`), durations (`1.5s`, `30d`), listen addresses
//! (`8080`, `localhost:8080`), delimiters (`tab`), sheets (`2` or a name), endpoints. Each parser
//! returns `None` for what it cannot read; the caller names the value's origin in the error.

use std::net::{Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::time::Duration;

use super::{Origin, SettingsError};
use crate::engine::Rate;
use crate::input::SheetChoice;

pub(super) const RATE_EXPECTED: &str = "a rate like 10/s, 600/m or 36000/h (whole requests, at least 1)";
pub(super) const DURATION_EXPECTED: &str =
    "a duration like 30s, 500ms, 1.5s or 2m (more than zero, at most a day)";

/// `10/s`, `600/m`, `36000/h`, or a bare number of requests per second; at most a million.
pub(super) fn parse_rate(text: &str) -> Option<Rate> {
    let (count, unit) = text.trim().split_once('/').unwrap_or((text.trim(), "s"));
    let per = match unit.trim().to_ascii_lowercase().as_str() {
        "s" | "sec" | "second" => Duration::from_secs(1),
        "m" | "min" | "minute" => Duration::from_secs(60),
        "h" | "hour" => Duration::from_secs(3600),
        _ => return None,
    };
    let requests =
        count.trim().parse::<u32>().ok().and_then(NonZeroU32::new).filter(|n| n.get() <= 1_000_000)?;
    Some(Rate { requests, per })
}

/// A duration setting: more than zero, at most a day.
pub(super) fn bounded_duration(text: &str) -> Option<Duration> {
    parse_duration(text).filter(|d| !d.is_zero() && *d <= Duration::from_secs(24 * 3600))
}

/// A whole number from 1 to `max`.
pub(super) fn count_up_to(max: u32) -> impl Fn(&u32) -> Option<NonZeroU32> {
    move |n| NonZeroU32::new(*n).filter(|n| n.get() <= max)
}

/// A duration as people write it: one or more `<number><unit>` parts, the number possibly
/// decimal, the unit one of `ns`, `us`, `ms`, `s`, `m`, `h`, `d` (`50ms`, `2s`, `1.5s`, `1m30s`, `30d`); `0`
/// alone is zero. Hand-written rather than `humantime::parse_duration` (used for display), which
/// takes no decimals.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text == "0" {
        return Some(Duration::ZERO);
    }
    if text.is_empty() {
        return None;
    }
    let mut rest = text;
    let mut total = 0.0f64;
    while !rest.is_empty() {
        let number_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let (number, tail) = rest.split_at(number_end);
        let unit_end = tail.find(|c: char| !c.is_alphabetic()).unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_end);
        if number.is_empty() || number.starts_with('.') || number.ends_with('.') {
            return None;
        }
        let seconds_per_unit = match unit {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86_400.0,
            _ => return None,
        };
        total += number.parse::<f64>().ok()? * seconds_per_unit;
        rest = tail;
    }
    Duration::try_from_secs_f64(total).ok()
}

/// `IP:PORT`, `[IPv6]:PORT`, `localhost:PORT` or a bare `PORT` (on 127.0.0.1). No name lookup:
/// settings open no sockets.
pub fn parse_listen(text: &str) -> Option<SocketAddr> {
    let text = text.trim();
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Some(addr);
    }
    let port = text.strip_prefix("localhost:").unwrap_or(text);
    port.parse::<u16>().ok().map(|port| SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port))
}

/// A sheet's position when the text is a number (`2`), its name otherwise.
pub(super) fn sheet_choice(text: &str) -> SheetChoice {
    match text.trim().parse::<usize>() {
        Ok(n) => SheetChoice::Position(n),
        Err(_) => SheetChoice::Name(text.to_owned()),
    }
}

/// One ASCII character such as `,` `;` `|`, or the word `tab`.
pub(super) fn parse_delimiter(text: &str) -> Option<u8> {
    match text {
        "tab" | "\\t" | "\t" => Some(b'\t'),
        t if t.len() == 1 && t.is_ascii() && !t.contains(['"', '\r', '\n']) => Some(t.as_bytes()[0]),
        _ => None,
    }
}

/// An https:// URL, or http:// to this machine (the sandbox), or http:// anywhere when allowed.
pub(super) fn parse_endpoint(
    text: &str,
    origin: Origin,
    allow_insecure: bool,
) -> Result<reqwest::Url, SettingsError> {
    let url = reqwest::Url::parse(text.trim())
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
    let Some(url) = url else {
        return Err(SettingsError::Invalid {
            origin,
            value: text.to_owned(),
            expected: "an http(s) URL like https://api.aopay.co.in/api/AOP/CibilScore/registeration",
        });
    };
    // Credentials never travel in the URL: AOPay's go in the body, from the environment or the
    // config file; a gateway's in [aopay.headers]. A URL is printed, logged and stored.
    if !url.username().is_empty() || url.password().is_some() {
        let mut shown = url.clone();
        let _ = shown.set_username("");
        let _ = shown.set_password(None);
        return Err(SettingsError::EndpointCredentials { origin, url: shown.to_string() });
    }
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    if url.scheme() == "http" && !loopback && !allow_insecure {
        return Err(SettingsError::InsecureEndpoint { origin, url: text.to_owned() });
    }
    Ok(url)
}

/// A size as people write it: `256MiB`, `1GiB`, `512MB`, `64k`, or bytes alone; binary or decimal
/// units, any case. At least 1 KiB, so that a slip of the unit does not refuse every file.
pub(super) fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        _ => return None,
    };
    let bytes = number.parse::<f64>().ok().filter(|n| n.is_finite() && *n >= 0.0)? * scale as f64;
    (bytes >= 1024.0 && bytes < u64::MAX as f64).then_some(bytes as u64)
}

/// A size as `--help` shows it, and as [`parse_size`] reads it back: `256MiB`.
pub fn show_size(bytes: u64) -> String {
    let units =
        [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10), ("GB", 1_000_000_000), ("MB", 1_000_000)];
    for (unit, scale) in units {
        if bytes >= scale && bytes.is_multiple_of(scale) {
            return format!("{}{unit}", bytes / scale);
        }
    }
    bytes.to_string()
}
