//! Who may use `cibil-bulk serve`, and for what, kept in the state database beside the runs they
//! start: people (a name, the argon2id hash of their password, and a role: a clerk uploads and
//! registers, an admin also manages people and tokens and reads the audit log), machines (a named
//! API token, of which only its SHA-256 is kept, so a copy of the database gives nobody a token,
//! and its scopes: what the token may do) and the sessions of people logged in (the SHA-256 of
//! the cookie's random id, the CSRF token of their forms, an expiry). Hashing and checking the
//! secrets is the server's work (`server::auth`); this module stores and finds them. Removing a
//! person ends their sessions; a revoked token stays listed, unusable.

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError, now_ms};

/// What a person may do on the pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Uploads spreadsheets, registers them, downloads their results.
    Clerk,
    /// A clerk who also manages people and tokens, and reads the audit log.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Clerk => "clerk",
            Role::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "clerk" => Some(Role::Clerk),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// One thing an API token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// Upload a file and have it checked (`POST /api/uploads`).
    Upload,
    /// Register an upload (`POST /api/uploads/ID/register`).
    Register,
    /// Read an upload's summary, results and errors files.
    ReadResults,
    /// Do what its other scopes allow to every upload, a clerk's included, not only those it
    /// made: a team's export or monitoring job.
    AllUploads,
}

impl Scope {
    pub const ALL: [Scope; 4] = [Scope::Upload, Scope::Register, Scope::ReadResults, Scope::AllUploads];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Upload => "upload",
            Scope::Register => "register",
            Scope::ReadResults => "read-results",
            Scope::AllUploads => "all-uploads",
        }
    }

    pub fn parse(text: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// A token's scopes, as the state keeps them: their names, space-separated.
fn scopes_text(scopes: &[Scope]) -> String {
    scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ")
}

fn scopes_of(text: &str) -> Vec<Scope> {
    let mut scopes: Vec<Scope> = text.split_whitespace().filter_map(Scope::parse).collect();
    scopes.sort();
    scopes.dedup();
    scopes
}

/// A person who may log in to the pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub name: String,
    pub role: Role,
    pub created_at: i64,
    pub last_login_at: Option<i64>,
}

/// A machine's API token, as listed (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub name: String,
    pub scopes: Vec<Scope>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// What became of a change to a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeopleChange {
    Done,
    NoSuchPerson,
    /// Refused: they are the only admin, and someone must remain to manage the others.
    LastAdmin,
}

/// A live token: whose, and what it may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenHolder {
    pub name: String,
    pub scopes: Vec<Scope>,
}

/// A live session: whose, their role, and the CSRF token its forms must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub user: String,
    pub role: Role,
    pub csrf: String,
    pub expires_at: i64,
}

impl Store {
    /// Adds a person with `role`; `false` when the name is taken (nothing changes).
    pub fn add_user(&self, name: &str, password_hash: &str, role: Role) -> Result<bool, StoreError> {
        let added = self.conn.execute(
            "INSERT INTO users (name, password_hash, created_at, role) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (name) DO NOTHING",
            params![name, password_hash, now_ms(), role.as_str()],
        )?;
        Ok(added == 1)
    }

    /// Gives the person called `name` the role `role`. The last admin stays one: an admin can
    /// only be made a clerk while another admin remains, whoever asks.
    pub fn set_role(&self, name: &str, role: Role) -> Result<PeopleChange, StoreError> {
        // One statement, so that two admins making each other clerks at once cannot both pass.
        let changed = self.conn.execute(
            "UPDATE users SET role = ?2 WHERE name = ?1
               AND (?2 = 'admin' OR role <> 'admin'
                    OR (SELECT count(*) FROM users WHERE role = 'admin') > 1)",
            params![name, role.as_str()],
        )?;
        self.people_change(name, changed)
    }

    /// Removes a person and ends their sessions. The last admin is never removed.
    pub fn remove_user(&self, name: &str) -> Result<PeopleChange, StoreError> {
        // Sessions go by the foreign key's ON DELETE CASCADE.
        let removed = self.conn.execute(
            "DELETE FROM users WHERE name = ?1
               AND (role <> 'admin' OR (SELECT count(*) FROM users WHERE role = 'admin') > 1)",
            [name],
        )?;
        self.people_change(name, removed)
    }

    /// What `changed` rows mean for the person called `name`.
    fn people_change(&self, name: &str, changed: usize) -> Result<PeopleChange, StoreError> {
        if changed == 1 {
            return Ok(PeopleChange::Done);
        }
        let exists: bool =
            self.conn
                .query_row("SELECT EXISTS (SELECT 1 FROM users WHERE name = ?1)", [name], |r| r.get(0))?;
        Ok(if exists { PeopleChange::LastAdmin } else { PeopleChange::NoSuchPerson })
    }

    /// Every person, by name.
    pub fn users(&self) -> Result<Vec<UserRecord>, StoreError> {
        let mut stmt =
            self.conn.prepare("SELECT name, role, created_at, last_login_at FROM users ORDER BY name")?;
        let users = stmt
            .query_map([], |r| {
                Ok(UserRecord {
                    name: r.get(0)?,
                    role: Role::parse(&r.get::<_, String>(1)?).unwrap_or(Role::Clerk),
                    created_at: r.get(2)?,
                    last_login_at: r.get(3)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(users)
    }

    /// The id and password hash of the person called `name`.
    pub fn user_password_hash(&self, name: &str) -> Result<Option<(i64, String)>, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT id, password_hash FROM users WHERE name = ?1", [name], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?)
    }

    /// Adds a token under `name` that may do what `scopes` say; `false` when a live token
    /// already has that name.
    pub fn add_token(
        &self,
        name: &str,
        token_sha256: &[u8; 32],
        scopes: &[Scope],
    ) -> Result<bool, StoreError> {
        let added = self.conn.execute(
            "INSERT INTO api_tokens (name, token_sha256, created_at, scopes) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT DO NOTHING",
            params![name, token_sha256.as_slice(), now_ms(), scopes_text(scopes)],
        )?;
        Ok(added == 1)
    }

    /// Revokes the live token called `name`; `false` when there is none.
    pub fn revoke_token(&self, name: &str) -> Result<bool, StoreError> {
        let revoked = self.conn.execute(
            "UPDATE api_tokens SET revoked_at = ?2 WHERE name = ?1 AND revoked_at IS NULL",
            params![name, now_ms()],
        )?;
        Ok(revoked == 1)
    }

    /// Every token, live ones first, by name.
    pub fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT name, created_at, last_used_at, revoked_at, scopes FROM api_tokens
             ORDER BY revoked_at IS NOT NULL, name, created_at",
        )?;
        let tokens = stmt
            .query_map([], |r| {
                Ok(TokenRecord {
                    name: r.get(0)?,
                    created_at: r.get(1)?,
                    last_used_at: r.get(2)?,
                    revoked_at: r.get(3)?,
                    scopes: scopes_of(&r.get::<_, String>(4)?),
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(tokens)
    }

    /// The holder of the live token whose SHA-256 is `token_sha256`, noting its use (to the
    /// minute: a script that polls every second must not write to the state every second).
    pub fn token(&self, token_sha256: &[u8; 32]) -> Result<Option<TokenHolder>, StoreError> {
        let found: Option<(String, Option<i64>, String)> = self
            .conn
            .query_row(
                "SELECT name, last_used_at, scopes FROM api_tokens WHERE token_sha256 = ?1 AND revoked_at IS NULL",
                [token_sha256.as_slice()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let now = now_ms();
        if let Some((_, last_used, _)) = &found
            && last_used.is_none_or(|at| now - at >= 60_000)
        {
            self.conn.execute(
                "UPDATE api_tokens SET last_used_at = ?2 WHERE token_sha256 = ?1",
                params![token_sha256.as_slice(), now],
            )?;
        }
        Ok(found.map(|(name, _, scopes)| TokenHolder { name, scopes: scopes_of(&scopes) }))
    }

    /// Opens a session for person `user_id` until `expires_at` (Unix milliseconds).
    pub fn create_session(
        &self,
        id_sha256: &[u8; 32],
        user_id: i64,
        csrf: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        let tx = self.conn.unchecked_transaction()?;
        // Sessions of everybody that ended are forgotten whenever someone logs in.
        tx.execute("DELETE FROM sessions WHERE expires_at <= ?1", [now])?;
        tx.execute(
            "INSERT INTO sessions (id_sha256, user_id, csrf, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![id_sha256.as_slice(), user_id, csrf, now, expires_at],
        )?;
        tx.execute("UPDATE users SET last_login_at = ?2 WHERE id = ?1", params![user_id, now])?;
        tx.commit()?;
        Ok(())
    }

    /// The session whose id hashes to `id_sha256`, unless it has expired by `now`.
    pub fn session(&self, id_sha256: &[u8; 32], now: i64) -> Result<Option<SessionRecord>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT u.name, s.csrf, s.expires_at, u.role FROM sessions s JOIN users u ON u.id = s.user_id
                 WHERE s.id_sha256 = ?1 AND s.expires_at > ?2",
                params![id_sha256.as_slice(), now],
                |r| {
                    Ok(SessionRecord {
                        user: r.get(0)?,
                        csrf: r.get(1)?,
                        expires_at: r.get(2)?,
                        role: Role::parse(&r.get::<_, String>(3)?).unwrap_or(Role::Clerk),
                    })
                },
            )
            .optional()?)
    }

    /// Ends a session (logout).
    pub fn end_session(&self, id_sha256: &[u8; 32]) -> Result<(), StoreError> {
        self.conn.execute("DELETE FROM sessions WHERE id_sha256 = ?1", [id_sha256.as_slice()])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("state.db")).unwrap();
        (dir, store)
    }

    #[test]
    fn people_are_added_once_and_removed_with_their_sessions() {
        let (_dir, store) = store();
        assert!(store.add_user("asha", "$argon2id$hash", Role::Clerk).unwrap());
        assert!(!store.add_user("asha", "$argon2id$other", Role::Admin).unwrap(), "a name is taken once");
        let (id, hash) = store.user_password_hash("asha").unwrap().unwrap();
        assert_eq!(hash, "$argon2id$hash");
        store.create_session(&[7; 32], id, "csrf-token", now_ms() + 60_000).unwrap();
        assert_eq!(store.session(&[7; 32], now_ms()).unwrap().unwrap().user, "asha");
        assert_eq!(store.session(&[7; 32], now_ms()).unwrap().unwrap().role, Role::Clerk);
        assert_eq!(store.set_role("asha", Role::Admin).unwrap(), PeopleChange::Done);
        assert_eq!(store.set_role("nobody", Role::Admin).unwrap(), PeopleChange::NoSuchPerson);
        assert_eq!(store.session(&[7; 32], now_ms()).unwrap().unwrap().role, Role::Admin, "at once");
        assert_eq!(store.users().unwrap()[0].name, "asha");
        assert!(store.users().unwrap()[0].last_login_at.is_some());

        // The last admin stays one, and stays.
        assert_eq!(store.set_role("asha", Role::Clerk).unwrap(), PeopleChange::LastAdmin);
        assert_eq!(store.remove_user("asha").unwrap(), PeopleChange::LastAdmin);
        store.add_user("ravi", "$argon2id$ravi", Role::Admin).unwrap();
        assert_eq!(store.set_role("asha", Role::Clerk).unwrap(), PeopleChange::Done);
        assert_eq!(store.set_role("ravi", Role::Clerk).unwrap(), PeopleChange::LastAdmin);
        assert_eq!(store.remove_user("asha").unwrap(), PeopleChange::Done);
        assert_eq!(store.remove_user("asha").unwrap(), PeopleChange::NoSuchPerson);
        assert_eq!(store.session(&[7; 32], now_ms()).unwrap(), None, "removing a person ends their sessions");
        assert_eq!(store.user_password_hash("asha").unwrap(), None);
    }

    #[test]
    fn sessions_expire_and_end() {
        let (_dir, store) = store();
        store.add_user("ravi", "h", Role::Clerk).unwrap();
        let (id, _) = store.user_password_hash("ravi").unwrap().unwrap();
        let now = now_ms();
        store.create_session(&[1; 32], id, "a", now + 1_000).unwrap();
        assert!(store.session(&[1; 32], now).unwrap().is_some());
        assert_eq!(store.session(&[1; 32], now + 1_000).unwrap(), None, "expired at its expiry");
        assert_eq!(store.session(&[2; 32], now).unwrap(), None);
        store.end_session(&[1; 32]).unwrap();
        assert_eq!(store.session(&[1; 32], now).unwrap(), None);
    }

    #[test]
    fn tokens_are_found_by_their_hash_until_revoked() {
        let (_dir, store) = store();
        assert!(store.add_token("nightly", &[3; 32], &[Scope::Upload, Scope::Register]).unwrap());
        assert!(!store.add_token("nightly", &[4; 32], &Scope::ALL).unwrap(), "one live token per name");
        let holder = store.token(&[3; 32]).unwrap().unwrap();
        assert_eq!((holder.name.as_str(), holder.scopes), ("nightly", vec![Scope::Upload, Scope::Register]));
        assert!(store.tokens().unwrap()[0].last_used_at.is_some());
        assert!(store.revoke_token("nightly").unwrap());
        assert!(!store.revoke_token("nightly").unwrap());
        assert_eq!(store.token(&[3; 32]).unwrap(), None, "a revoked token opens nothing");
        // The name is free again; the revoked token stays listed.
        assert!(store.add_token("nightly", &[4; 32], &[Scope::ReadResults]).unwrap());
        let listed = store.tokens().unwrap();
        assert_eq!(listed.len(), 2);
        assert!(listed[0].revoked_at.is_none() && listed[1].revoked_at.is_some());
    }
}
