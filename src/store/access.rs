//! Who may use `cibil-bulk serve`, kept in the state database beside the runs they start: people
//! (a name and the argon2id hash of their password), machines (a named API token, of which only
//! its SHA-256 is kept, so a copy of the database gives nobody a token) and the sessions of people
//! logged in (the SHA-256 of the cookie's random id, the CSRF token of their forms, an expiry).
//! Hashing and checking the secrets is the server's work (`server::auth`); this module stores
//! and finds them. Removing a person ends their sessions; a revoked token stays listed, unusable.

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError, now_ms};

/// A person who may log in to the pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub name: String,
    pub created_at: i64,
    pub last_login_at: Option<i64>,
}

/// A machine's API token, as listed (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// A live session: whose, and the CSRF token its forms must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub user: String,
    pub csrf: String,
    pub expires_at: i64,
}

impl Store {
    /// Adds a person; `false` when the name is taken (nothing changes).
    pub fn add_user(&self, name: &str, password_hash: &str) -> Result<bool, StoreError> {
        let added = self.conn.execute(
            "INSERT INTO users (name, password_hash, created_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (name) DO NOTHING",
            params![name, password_hash, now_ms()],
        )?;
        Ok(added == 1)
    }

    /// Removes a person and ends their sessions; `false` when there was nobody of that name.
    pub fn remove_user(&self, name: &str) -> Result<bool, StoreError> {
        // Sessions go by the foreign key's ON DELETE CASCADE.
        Ok(self.conn.execute("DELETE FROM users WHERE name = ?1", [name])? == 1)
    }

    /// Every person, by name.
    pub fn users(&self) -> Result<Vec<UserRecord>, StoreError> {
        let mut stmt =
            self.conn.prepare("SELECT name, created_at, last_login_at FROM users ORDER BY name")?;
        let users = stmt
            .query_map([], |r| {
                Ok(UserRecord { name: r.get(0)?, created_at: r.get(1)?, last_login_at: r.get(2)? })
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

    /// Adds a token under `name`; `false` when a live token already has that name.
    pub fn add_token(&self, name: &str, token_sha256: &[u8; 32]) -> Result<bool, StoreError> {
        let added = self.conn.execute(
            "INSERT INTO api_tokens (name, token_sha256, created_at) VALUES (?1, ?2, ?3)
             ON CONFLICT DO NOTHING",
            params![name, token_sha256.as_slice(), now_ms()],
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
            "SELECT name, created_at, last_used_at, revoked_at FROM api_tokens
             ORDER BY revoked_at IS NOT NULL, name, created_at",
        )?;
        let tokens = stmt
            .query_map([], |r| {
                Ok(TokenRecord {
                    name: r.get(0)?,
                    created_at: r.get(1)?,
                    last_used_at: r.get(2)?,
                    revoked_at: r.get(3)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(tokens)
    }

    /// The name of the live token whose SHA-256 is `token_sha256`, noting its use (to the
    /// minute: a script that polls every second must not write to the state every second).
    pub fn token_name(&self, token_sha256: &[u8; 32]) -> Result<Option<String>, StoreError> {
        let found: Option<(String, Option<i64>)> = self
            .conn
            .query_row(
                "SELECT name, last_used_at FROM api_tokens WHERE token_sha256 = ?1 AND revoked_at IS NULL",
                [token_sha256.as_slice()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let now = now_ms();
        if let Some((_, last_used)) = &found
            && last_used.is_none_or(|at| now - at >= 60_000)
        {
            self.conn.execute(
                "UPDATE api_tokens SET last_used_at = ?2 WHERE token_sha256 = ?1",
                params![token_sha256.as_slice(), now],
            )?;
        }
        Ok(found.map(|(name, _)| name))
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
                "SELECT u.name, s.csrf, s.expires_at FROM sessions s JOIN users u ON u.id = s.user_id
                 WHERE s.id_sha256 = ?1 AND s.expires_at > ?2",
                params![id_sha256.as_slice(), now],
                |r| Ok(SessionRecord { user: r.get(0)?, csrf: r.get(1)?, expires_at: r.get(2)? }),
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
        assert!(store.add_user("asha", "$argon2id$hash").unwrap());
        assert!(!store.add_user("asha", "$argon2id$other").unwrap(), "a name is taken once");
        let (id, hash) = store.user_password_hash("asha").unwrap().unwrap();
        assert_eq!(hash, "$argon2id$hash");
        store.create_session(&[7; 32], id, "csrf-token", now_ms() + 60_000).unwrap();
        assert_eq!(store.session(&[7; 32], now_ms()).unwrap().unwrap().user, "asha");
        assert_eq!(store.users().unwrap()[0].name, "asha");
        assert!(store.users().unwrap()[0].last_login_at.is_some());

        assert!(store.remove_user("asha").unwrap());
        assert!(!store.remove_user("asha").unwrap());
        assert_eq!(store.session(&[7; 32], now_ms()).unwrap(), None, "removing a person ends their sessions");
        assert_eq!(store.user_password_hash("asha").unwrap(), None);
    }

    #[test]
    fn sessions_expire_and_end() {
        let (_dir, store) = store();
        store.add_user("ravi", "h").unwrap();
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
        assert!(store.add_token("nightly", &[3; 32]).unwrap());
        assert!(!store.add_token("nightly", &[4; 32]).unwrap(), "one live token per name");
        assert_eq!(store.token_name(&[3; 32]).unwrap().as_deref(), Some("nightly"));
        assert!(store.tokens().unwrap()[0].last_used_at.is_some());
        assert!(store.revoke_token("nightly").unwrap());
        assert!(!store.revoke_token("nightly").unwrap());
        assert_eq!(store.token_name(&[3; 32]).unwrap(), None, "a revoked token opens nothing");
        // The name is free again; the revoked token stays listed.
        assert!(store.add_token("nightly", &[4; 32]).unwrap());
        let listed = store.tokens().unwrap();
        assert_eq!(listed.len(), 2);
        assert!(listed[0].revoked_at.is_none() && listed[1].revoked_at.is_some());
    }
}
