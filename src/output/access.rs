//! What `users` and `tokens` show: the lists of people and tokens (names and times, never a
//! secret), and the one moment a secret is shown, a new API token, which goes to standard output
//! even with `-q`, since it can never be shown again.

use std::io::Write as _;

use super::{Printer, local_time};
use crate::store::{TokenRecord, UserRecord};

fn or_never(ms: Option<i64>) -> String {
    ms.map_or_else(|| "never".to_owned(), local_time)
}

/// `users list`.
pub fn users_text(users: &[UserRecord]) -> String {
    if users.is_empty() {
        return "Nobody can log in yet: add someone with `cibil-bulk users add NAME`.\n".to_owned();
    }
    let width = users.iter().map(|u| u.name.chars().count()).max().unwrap_or(0).max(4);
    let mut out = format!("{:<width$}  {:<16}  last login\n", "name", "added");
    for user in users {
        out.push_str(&format!(
            "{:<width$}  {:<16}  {}\n",
            user.name,
            local_time(user.created_at),
            or_never(user.last_login_at)
        ));
    }
    out
}

/// `tokens list`.
pub fn tokens_text(tokens: &[TokenRecord]) -> String {
    if tokens.is_empty() {
        return "No API tokens: make one with `cibil-bulk tokens add NAME`.\n".to_owned();
    }
    let width = tokens.iter().map(|t| t.name.chars().count()).max().unwrap_or(0).max(4);
    let mut out = format!("{:<width$}  {:<16}  {:<16}  state\n", "name", "made", "last used");
    for token in tokens {
        let state = match token.revoked_at {
            Some(at) => format!("revoked {}", local_time(at)),
            None => "live".to_owned(),
        };
        out.push_str(&format!(
            "{:<width$}  {:<16}  {:<16}  {state}\n",
            token.name,
            local_time(token.created_at),
            or_never(token.last_used_at)
        ));
    }
    out
}

impl Printer {
    /// A secret the user must take now (a new API token), alone on a line of standard output,
    /// whatever the verbosity: `-q` silences what can be said again, not this.
    pub fn secret(&self, secret: &str) {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(format!("{secret}\n").as_bytes()).and_then(|()| out.flush());
    }
}

/// `users add`: who can sign in now.
pub fn user_added(name: &str, state: &std::path::Path) -> String {
    format!("{name} can now log in to `cibil-bulk serve` on {}.", state.display())
}

/// `users remove`.
pub fn user_removed(name: &str) -> String {
    format!("{name} can no longer log in; their sessions have ended.")
}

/// `tokens add`, before the token itself on its own line.
pub fn token_added(name: &str, state: &std::path::Path) -> String {
    format!(
        "API token {name} for `cibil-bulk serve` on {}: send it as \"Authorization: Bearer TOKEN\". \
         It is shown this once (only its hash is kept); store it where only the script's user can read it.",
        state.display()
    )
}

/// `tokens revoke`.
pub fn token_revoked(name: &str) -> String {
    format!("Token {name} is revoked: every request with it is refused from now on.")
}
