//! The secrets of `cibil-bulk serve` and the rules around them: passwords hashed with argon2id
//! (the RustCrypto `argon2` crate, its default cost: 19 MiB, two passes), API tokens and session
//! ids drawn from the operating system's random source and kept only as SHA-256 hashes, CSRF
//! tokens compared without leaking where they differ, the names people and machines are given,
//! and how long a name or an address must wait after failed sign-ins. Pure functions and one
//! in-memory throttle: checking passwords at the server's pace is `hashing`'s work, storing
//! `store::access`'s, HTTP the server's.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use sha2::{Digest as _, Sha256};

/// Shortest password accepted. Long passphrases are what people remember; this keeps out the
/// worst short ones without rules about symbols, which NIST SP 800-63B advises against.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// Longest password accepted: argon2 takes any length, but nobody types more, and a megabyte
/// "password" would only cost the server time.
pub const MAX_PASSWORD_CHARS: usize = 256;
/// What API tokens start with, so that secret scanners and people recognise one.
pub const TOKEN_PREFIX: &str = "cbk_";

/// `N` random bytes as lowercase hex.
fn random_hex<const N: usize>() -> String {
    let bytes: [u8; N] = rand::random();
    hex(&bytes)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A new API token: 256 random bits, shown once to whoever made it.
pub fn new_token() -> String {
    format!("{TOKEN_PREFIX}{}", random_hex::<32>())
}

/// A new session id or CSRF token: 256 random bits.
pub fn new_secret() -> String {
    random_hex::<32>()
}

/// The SHA-256 under which a token or a session id is kept. A plain hash suffices (no salt, no
/// slow hash): the secrets are 256 random bits, so nobody can guess one from its hash.
pub fn secret_hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Whether `given` is the CSRF token `expected`. Both are hashed first and the hashes compared:
/// how long the comparison takes then says nothing about how much of `given` was right.
pub fn csrf_matches(expected: &str, given: &str) -> bool {
    !expected.is_empty() && secret_hash(expected) == secret_hash(given)
}

/// A password that cannot be stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error(
        "the password is too short: use at least {MIN_PASSWORD_CHARS} characters (a few words make a good one)"
    )]
    TooShort,
    #[error("the password is longer than {MAX_PASSWORD_CHARS} characters")]
    TooLong,
    #[error("the password cannot be hashed: {0}")]
    Hash(String),
}

/// The argon2id hash of `password`, as a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$...`), with
/// a fresh random salt.
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    check_password(password)?;
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Whether `password` may be stored, before anyone is asked to type it again.
pub fn check_password(password: &str) -> Result<(), PasswordError> {
    match password.chars().count() {
        n if n < MIN_PASSWORD_CHARS => Err(PasswordError::TooShort),
        n if n > MAX_PASSWORD_CHARS => Err(PasswordError::TooLong),
        _ => Ok(()),
    }
}

/// Whether `password` is the one `hash` was made from. A damaged hash matches nothing.
pub fn verify_password(password: &str, hash: &str) -> bool {
    if password.chars().count() > MAX_PASSWORD_CHARS {
        return false;
    }
    let Ok(parsed) = PasswordHash::new(hash) else { return false };
    Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok()
}

/// A name for a person or a token, or why it cannot be one: 1 to 64 letters, digits and `. _ - @`,
/// starting with a letter or digit (it is shown on pages, in lists and in logs).
pub fn check_name(name: &str) -> Result<(), &'static str> {
    let ok = (1..=64).contains(&name.chars().count())
        && name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(())
    } else {
        Err("a name of 1 to 64 letters, digits, '.', '_', '-' or '@', starting with a letter or digit")
    }
}

/// Failed sign-ins for one name before any wait.
const FREE_FAILURES: u32 = 3;
/// Failed sign-ins from one address before any wait: more than for a name, as an office behind
/// one address shares it.
const FREE_FAILURES_PER_ADDRESS: u32 = 20;
/// The longest wait between attempts.
const LONGEST_WAIT: Duration = Duration::from_secs(300);
/// Failures older than this are forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(15 * 60);
/// Names, and addresses, remembered at most: beyond it the one with the fewest failures (the
/// oldest among those) is forgotten first, so that a flood of made-up names cannot fill the
/// memory, nor make the throttle forget a name it holds back (that has more failures than any
/// name of the flood). A name is at most 64 characters of
/// ASCII ([`check_name`]: anything else is never stored), so the throttle holds at most about
/// `2 × MOST_KEPT × (64 + 64)` bytes: under 3 MB.
const MOST_KEPT: usize = 10_000;

/// Slows down guessing, by name and by client address. Every attempt is counted as a failure
/// *before* it is checked, in one step under the throttle's lock, so that N attempts sent at once
/// cost N steps, not one: after [`FREE_FAILURES`] for a name (or [`FREE_FAILURES_PER_ADDRESS`]
/// from an address) the next attempt is not even checked until a wait has passed, which doubles
/// with every further one (1 s, 2 s, 4 s, ... up to five minutes). A success forgets the name's
/// failures and takes back its own from the address. Failures are forgotten fifteen minutes after
/// the last.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    names: Counted<String>,
    addresses: Counted<IpAddr>,
}

#[derive(Debug)]
struct Counted<K> {
    failures: HashMap<K, (u32, Instant)>,
    free: u32,
}

impl<K> Default for Counted<K> {
    fn default() -> Self {
        Counted { failures: HashMap::new(), free: FREE_FAILURES }
    }
}

impl<K: std::hash::Hash + Eq + Clone> Counted<K> {
    fn wait(&self, key: &K, now: Instant) -> Option<Duration> {
        let (count, last) = *self.failures.get(key)?;
        if now.saturating_duration_since(last) >= FORGET_AFTER {
            return None;
        }
        let until = last + delay_after(count, self.free);
        (until > now).then(|| until - now)
    }

    fn count(&mut self, key: K, now: Instant) {
        if self.failures.len() >= MOST_KEPT && !self.failures.contains_key(&key) {
            self.failures.retain(|_, (_, last)| now.saturating_duration_since(*last) < FORGET_AFTER);
            if self.failures.len() >= MOST_KEPT
                && let Some(least) = self
                    .failures
                    .iter()
                    .min_by_key(|(_, (count, last))| (*count, *last))
                    .map(|(k, _)| k.clone())
            {
                self.failures.remove(&least);
            }
        }
        let entry = self.failures.entry(key).or_insert((0, now));
        if now.saturating_duration_since(entry.1) >= FORGET_AFTER {
            entry.0 = 0;
        }
        *entry = (entry.0.saturating_add(1), now);
    }
}

impl LoginThrottle {
    /// Takes an attempt for `name` (one [`check_name`] accepts, or none: it is never stored)
    /// from `address` at `now`: counted as failed before it is checked, unless the name or the
    /// address must still wait, which is returned and nothing is counted.
    pub fn attempt(
        &mut self,
        name: Option<&str>,
        address: Option<IpAddr>,
        now: Instant,
    ) -> Result<(), Duration> {
        self.addresses.free = FREE_FAILURES_PER_ADDRESS;
        let name = name.map(key);
        let waits = [
            name.as_ref().and_then(|n| self.names.wait(n, now)),
            address.and_then(|a| self.addresses.wait(&a, now)),
        ];
        if let Some(wait) = waits.into_iter().flatten().max() {
            return Err(wait);
        }
        if let Some(name) = name {
            self.names.count(name, now);
        }
        if let Some(address) = address {
            self.addresses.count(address, now);
        }
        Ok(())
    }

    /// The attempt for `name` from `address` succeeded: the name's failures are forgotten, and the
    /// address's count gives back the one this attempt took.
    pub fn succeeded(&mut self, name: &str, address: Option<IpAddr>) {
        self.names.failures.remove(&key(name));
        if let Some(entry) = address.and_then(|a| self.addresses.failures.get_mut(&a)) {
            entry.0 = entry.0.saturating_sub(1);
        }
    }
}

/// Names are compared as people see them: `Asha` and `asha` wait together.
fn key(name: &str) -> String {
    name.trim().to_lowercase()
}

/// The wait after `failures` failed attempts in a row, the first `free` of them free.
fn delay_after(failures: u32, free: u32) -> Duration {
    if failures < free {
        return Duration::ZERO;
    }
    let doublings = (failures - free).min(16);
    Duration::from_secs(1u64 << doublings).min(LONGEST_WAIT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hashed_with_argon2id_and_checked() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("correct horse batterY", &hash));
        assert!(!verify_password("correct horse battery", "not a hash"));
        assert_ne!(hash, hash_password("correct horse battery").unwrap(), "a fresh salt every time");
        assert_eq!(hash_password("short"), Err(PasswordError::TooShort));
        assert_eq!(hash_password(&"x".repeat(257)), Err(PasswordError::TooLong));
    }

    #[test]
    fn tokens_and_secrets_are_random_and_kept_as_hashes() {
        let (a, b) = (new_token(), new_token());
        assert!(a.starts_with(TOKEN_PREFIX) && a.len() == TOKEN_PREFIX.len() + 64, "{a}");
        assert_ne!(a, b);
        assert_ne!(secret_hash(&a), secret_hash(&b));
        assert_eq!(secret_hash(&a), secret_hash(&a.clone()));
        assert_eq!(new_secret().len(), 64);
        assert!(csrf_matches("abc", "abc"));
        assert!(!csrf_matches("abc", "abd"));
        assert!(!csrf_matches("", ""), "no token matches nothing");
    }

    #[test]
    fn names() {
        for good in ["asha", "nightly-cron", "r.kumar@branch12", "A1_b"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "-x", "two words", "a/b", "<script>", &"x".repeat(65), "ünïcode"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn failed_logins_make_a_name_wait_longer_and_longer() {
        let start = Instant::now();
        let mut throttle = LoginThrottle::default();
        let at = |s: u64| start + Duration::from_secs(s);
        for _ in 0..FREE_FAILURES {
            assert_eq!(throttle.attempt(Some("asha"), None, at(0)), Ok(()));
        }
        assert_eq!(throttle.attempt(Some("Asha"), None, at(0)), Err(Duration::from_secs(1)), "any case");
        assert_eq!(throttle.attempt(Some("ravi"), None, at(0)), Ok(()), "other names are not held up");
        assert_eq!(throttle.attempt(Some("asha"), None, at(1)), Ok(()));
        assert_eq!(throttle.attempt(Some("asha"), None, at(1)), Err(Duration::from_secs(2)));
        // Forgotten a while after the last failure, or at once after a success.
        assert_eq!(throttle.attempt(Some("asha"), None, at(1) + FORGET_AFTER), Ok(()));
        throttle.succeeded("ASHA", None);
        assert_eq!(throttle.attempt(Some("asha"), None, at(2) + FORGET_AFTER), Ok(()));
    }

    #[test]
    fn attempts_sent_at_once_are_counted_before_they_are_checked() {
        // Three failures, the first pause waited out, then a burst of 200 at the same instant:
        // one is heard, the 199 others wait, whatever the checks would have said.
        let now = Instant::now();
        let mut throttle = LoginThrottle::default();
        for _ in 0..FREE_FAILURES {
            throttle.attempt(Some("asha"), None, now).unwrap();
        }
        let later = now + Duration::from_secs(1);
        let heard = (0..200).filter(|_| throttle.attempt(Some("asha"), None, later).is_ok()).count();
        assert_eq!(heard, 1);
    }

    #[test]
    fn an_address_trying_many_names_waits_too() {
        let now = Instant::now();
        let mut throttle = LoginThrottle::default();
        let address = Some(IpAddr::from([203, 0, 113, 7]));
        for i in 0..FREE_FAILURES_PER_ADDRESS {
            assert_eq!(throttle.attempt(Some(&format!("name{i}")), address, now), Ok(()));
        }
        assert!(throttle.attempt(Some("another"), address, now).is_err());
        assert_eq!(throttle.attempt(Some("another"), Some(IpAddr::from([203, 0, 113, 8])), now), Ok(()));
        // A name that cannot be one is counted against its address, never stored.
        assert!(throttle.attempt(None, address, now).is_err());
        assert!(throttle.names.failures.keys().all(|k| k.len() <= 64));
    }

    #[test]
    fn a_flood_of_names_does_not_grow_the_throttle_without_end() {
        let now = Instant::now();
        let mut throttle = LoginThrottle::default();
        for i in 0..MOST_KEPT + 50 {
            let _ = throttle.attempt(Some(&format!("name{i}")), None, now);
        }
        assert!(throttle.names.failures.len() <= MOST_KEPT);
    }
}
