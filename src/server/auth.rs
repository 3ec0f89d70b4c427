//! The secrets of `cibil-bulk serve` and the rules around them: passwords hashed with argon2id
//! (the RustCrypto `argon2` crate, its default cost: 19 MiB, two passes), API tokens and session
//! ids drawn from the operating system's random source and kept only as SHA-256 hashes, CSRF
//! tokens compared without leaking where they differ, the names people and machines are given,
//! and how long a name must wait after failed logins. Pure functions and one in-memory throttle:
//! storing is `store::access`'s work, HTTP the server's.

use std::collections::HashMap;
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

/// Spends the time a verification takes, for a name nobody has: a login for an unknown name
/// must not answer faster than one with a wrong password, or the answer's speed would tell
/// which names exist.
pub fn verify_nobody(password: &str) {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let hash = DUMMY.get_or_init(|| hash_password("not anybody's password").unwrap_or_default());
    let _ = verify_password(password, hash);
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

/// Failed logins before any wait.
const FREE_FAILURES: u32 = 3;
/// The longest wait between attempts.
const LONGEST_WAIT: Duration = Duration::from_secs(300);
/// Failures older than this are forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(15 * 60);
/// Names remembered at most: beyond it the oldest failures are forgotten first, so that a flood
/// of made-up names cannot fill the memory.
const MOST_NAMES: usize = 10_000;

/// Slows down guessing: after [`FREE_FAILURES`] failed logins for a name, the next attempt for it
/// is not even checked until a wait has passed, which doubles with every further failure (1 s,
/// 2 s, 4 s, ... up to five minutes). Kept per name, not per address: behind a reverse proxy every
/// login comes from the proxy's address. A name's failures are forgotten after its first
/// successful login, or fifteen minutes after the last failure.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    failures: HashMap<String, (u32, Instant)>,
}

impl LoginThrottle {
    /// How long `name` must still wait before an attempt is heard at `now`.
    pub fn wait(&self, name: &str, now: Instant) -> Option<Duration> {
        let (count, last) = *self.failures.get(&key(name))?;
        if now.saturating_duration_since(last) >= FORGET_AFTER {
            return None;
        }
        let until = last + delay_after(count);
        (until > now).then(|| until - now)
    }

    /// A failed attempt for `name` at `now`.
    pub fn failed(&mut self, name: &str, now: Instant) {
        if self.failures.len() >= MOST_NAMES {
            self.failures.retain(|_, (_, last)| now.saturating_duration_since(*last) < FORGET_AFTER);
            if self.failures.len() >= MOST_NAMES
                && let Some(oldest) =
                    self.failures.iter().min_by_key(|(_, (_, last))| *last).map(|(k, _)| k.clone())
            {
                self.failures.remove(&oldest);
            }
        }
        let entry = self.failures.entry(key(name)).or_insert((0, now));
        if now.saturating_duration_since(entry.1) >= FORGET_AFTER {
            entry.0 = 0;
        }
        *entry = (entry.0.saturating_add(1), now);
    }

    /// A successful login for `name`: its failures are forgotten.
    pub fn succeeded(&mut self, name: &str) {
        self.failures.remove(&key(name));
    }
}

/// Names are compared as people see them: `Asha` and `asha` wait together.
fn key(name: &str) -> String {
    name.trim().to_lowercase()
}

/// The wait after `failures` failed attempts in a row.
fn delay_after(failures: u32) -> Duration {
    if failures < FREE_FAILURES {
        return Duration::ZERO;
    }
    let doublings = (failures - FREE_FAILURES).min(16);
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
            assert_eq!(throttle.wait("asha", at(0)), None);
            throttle.failed("asha", at(0));
        }
        assert_eq!(throttle.wait("Asha", at(0)), Some(Duration::from_secs(1)), "the same name in any case");
        assert_eq!(throttle.wait("ravi", at(0)), None, "other names are not held up");
        throttle.failed("asha", at(1));
        assert_eq!(throttle.wait("asha", at(1)), Some(Duration::from_secs(2)));
        assert_eq!(throttle.wait("asha", at(3)), None);
        for _ in 0..20 {
            throttle.failed("asha", at(3));
        }
        assert_eq!(throttle.wait("asha", at(3)), Some(LONGEST_WAIT));
        // Forgotten a while after the last failure, or at once after a success.
        assert_eq!(throttle.wait("asha", at(3) + FORGET_AFTER), None);
        throttle.succeeded("ASHA");
        assert_eq!(throttle.wait("asha", at(4)), None);
    }

    #[test]
    fn a_flood_of_names_does_not_grow_the_throttle_without_end() {
        let now = Instant::now();
        let mut throttle = LoginThrottle::default();
        for i in 0..MOST_NAMES + 50 {
            throttle.failed(&format!("name{i}"), now);
        }
        assert!(throttle.failures.len() <= MOST_NAMES);
    }
}
