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
    let mut out = format!("{:<width$}  {:<5}  {:<16}  last login\n", "name", "role", "added");
    for user in users {
        out.push_str(&format!(
            "{:<width$}  {:<5}  {:<16}  {}\n",
            user.name,
            user.role.as_str(),
            local_time(user.created_at),
            or_never(user.last_login_at)
        ));
    }
    out
}

/// `tokens list`.
pub fn tokens_text(tokens: &[TokenRecord]) -> String {
    if tokens.is_empty() {
        return "No API tokens: make one with `cibil-bulk tokens add NAME --scope ...`.\n".to_owned();
    }
    let width = tokens.iter().map(|t| t.name.chars().count()).max().unwrap_or(0).max(4);
    let mut out =
        format!("{:<width$}  {:<16}  {:<16}  {:<29}  state\n", "name", "made", "last used", "scopes");
    for token in tokens {
        let state = match token.revoked_at {
            Some(at) => format!("revoked {}", local_time(at)),
            None => "live".to_owned(),
        };
        let scopes: Vec<&str> = token.scopes.iter().map(|s| s.as_str()).collect();
        out.push_str(&format!(
            "{:<width$}  {:<16}  {:<16}  {:<29}  {state}\n",
            token.name,
            local_time(token.created_at),
            or_never(token.last_used_at),
            scopes.join(" ")
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

/// `users add`: who can sign in now, and as what.
pub fn user_added(name: &str, role: crate::store::Role, state: &std::path::Path) -> String {
    format!("{name} can now log in to `cibil-bulk serve` on {}, as {}.", state.display(), role_words(role))
}

/// `users role`.
pub fn role_set(name: &str, role: crate::store::Role) -> String {
    format!("{name} is now {}.", role_words(role))
}

/// A name the state has nobody by.
pub fn no_such_user(name: &str, state: &std::path::Path) -> String {
    format!("nobody called {name} can log in (state {}): see `cibil-bulk users list`", state.display())
}

/// The only admin, who must remain one.
pub fn last_admin(name: &str) -> String {
    format!(
        "{name} is the only admin: make someone else an admin first (`cibil-bulk users role NAME admin`), \
         so that somebody can still manage people and tokens; nothing was changed"
    )
}

fn role_words(role: crate::store::Role) -> &'static str {
    match role {
        crate::store::Role::Clerk => "a clerk (uploads and registers spreadsheets)",
        crate::store::Role::Admin => "an admin (also manages people and tokens, and reads the audit log)",
    }
}

/// `users remove`.
pub fn user_removed(name: &str) -> String {
    format!("{name} can no longer log in; their sessions have ended.")
}

/// `tokens add`, before the token itself on its own line.
pub fn token_added(name: &str, scopes: &[crate::store::Scope], state: &std::path::Path) -> String {
    let scopes: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
    format!(
        "API token {name} for `cibil-bulk serve` on {}, allowed to {}, on the uploads it makes: send \
         it as \"Authorization: Bearer TOKEN\". It is shown this once (only its hash is kept); store \
         it where only the script's user can read it.",
        state.display(),
        scopes.join(", ")
    )
}

/// `tokens revoke`.
pub fn token_revoked(name: &str) -> String {
    format!("Token {name} is revoked: every request with it is refused from now on.")
}

/// The audit log as a CSV file for a spreadsheet: a UTF-8 byte-order mark (Excel reads the text
/// right), a header line, then one line per entry; every cell formula-safe.
#[derive(Debug)]
pub struct AuditCsv {
    writer: csv::Writer<Vec<u8>>,
}

impl Default for AuditCsv {
    fn default() -> Self {
        AuditCsv::new()
    }
}

impl AuditCsv {
    pub fn new() -> AuditCsv {
        let mut writer = csv::Writer::from_writer("\u{feff}".as_bytes().to_vec());
        // Writing to memory cannot fail.
        let _ = writer.write_record(["when", "who", "action", "upload", "detail"]);
        AuditCsv { writer }
    }

    pub fn push(&mut self, entry: &crate::store::AuditEntry) {
        let when = chrono::DateTime::from_timestamp_millis(entry.at)
            .map(|t| t.with_timezone(&chrono::Local).to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_default();
        let upload = entry.upload.map(|id| id.to_string()).unwrap_or_default();
        let cells = [when.as_str(), &entry.who, &entry.action, &upload, &entry.detail];
        let _ = self.writer.write_record(cells.map(super::safe_cell).iter().map(|c| c.as_bytes()));
    }

    pub fn finish(self) -> Vec<u8> {
        self.writer.into_inner().unwrap_or_default()
    }
}
