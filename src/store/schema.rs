//! The schema and its migrations. The version lives in `PRAGMA user_version`; each migration moves
//! the database one version up inside a transaction, so a database is always at a version this
//! code, or a newer one, understands.

use rusqlite::Connection;

use super::StoreError;

/// Migrations in order: `MIGRATIONS[n]` takes a database from version `n` to `n + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: runs, rows, the ledger and the run lock.
    "CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value BLOB NOT NULL
    );
    CREATE TABLE runs (
        id            INTEGER PRIMARY KEY,
        input_path    TEXT NOT NULL,
        input_sha256  TEXT NOT NULL UNIQUE,
        headers       TEXT NOT NULL,            -- JSON array: the input's own header line
        settings      TEXT NOT NULL,            -- JSON: what the run was started with, no secrets
        rows_total    INTEGER NOT NULL,
        status        TEXT NOT NULL CHECK (status IN ('running', 'finished', 'aborted', 'interrupted')),
        exit_code     INTEGER,
        started_at    INTEGER NOT NULL,         -- Unix milliseconds
        updated_at    INTEGER NOT NULL,
        finished_at   INTEGER
    );
    CREATE TABLE rows (
        id                    INTEGER PRIMARY KEY,
        run_id                INTEGER NOT NULL REFERENCES runs (id),
        line                  INTEGER NOT NULL,
        status                TEXT NOT NULL CHECK (status IN
                                ('pending', 'in_flight', 'registered', 'known', 'duplicate', 'invalid', 'rejected', 'failed')),
        order_id              TEXT,
        duplicate_of          INTEGER,
        pan_key               BLOB,             -- keyed hash of the PAN, for the ledger
        payload_sha256        BLOB,
        first_name            TEXT,             -- the values sent (personal data)
        middle_name           TEXT,
        last_name             TEXT,
        pancard               TEXT,
        date_of_birth         TEXT,
        email_id              TEXT,
        mobile_number         TEXT,
        cells                 TEXT,             -- JSON array: the row as it was in the file (personal data)
        attempts              INTEGER NOT NULL DEFAULT 0,
        http_status           INTEGER,
        error_code            TEXT,
        error                 TEXT,
        warnings              TEXT,
        cibil_id              TEXT,
        cibil_status          TEXT,
        is_returning_customer INTEGER,
        merchant_trans_id     TEXT,
        access_token          TEXT,             -- a secret for the OTP step; never shown
        raw_response          TEXT,
        updated_at            INTEGER NOT NULL,
        UNIQUE (run_id, line)
    );
    CREATE INDEX rows_by_status ON rows (run_id, status, line);
    CREATE TABLE ledger (
        pan_key        BLOB PRIMARY KEY,
        cibil_id       TEXT NOT NULL,
        run_id         INTEGER NOT NULL,
        line           INTEGER NOT NULL,
        order_id       TEXT NOT NULL,
        registered_at  INTEGER NOT NULL
    );
    CREATE TABLE lock (
        id            INTEGER PRIMARY KEY CHECK (id = 1),
        pid           INTEGER NOT NULL,
        host          TEXT NOT NULL,
        acquired_at   INTEGER NOT NULL,
        heartbeat_at  INTEGER NOT NULL
    );",
    // 2: where rows are (lines, or a workbook sheet's rows), and which cells each error is about,
    // for the annotated errors workbook.
    "ALTER TABLE runs ADD COLUMN locator TEXT;
     ALTER TABLE rows ADD COLUMN violations TEXT;",
    // 3: when a run's personal data was purged (retention).
    "ALTER TABLE runs ADD COLUMN purged_at INTEGER;",
    // 4: `cibil-bulk serve`: people (argon2id hashes of their passwords), machines (API tokens,
    // of which only a SHA-256 is kept), sessions (the cookie's SHA-256, with its CSRF token and
    // expiry), and uploads with their jobs (see access.rs and uploads.rs).
    "CREATE TABLE users (
        id             INTEGER PRIMARY KEY,
        name           TEXT NOT NULL UNIQUE,
        password_hash  TEXT NOT NULL,           -- argon2id, as a PHC string
        created_at     INTEGER NOT NULL,
        last_login_at  INTEGER
    );
    CREATE TABLE api_tokens (
        id            INTEGER PRIMARY KEY,
        name          TEXT NOT NULL,
        token_sha256  BLOB NOT NULL UNIQUE,
        created_at    INTEGER NOT NULL,
        last_used_at  INTEGER,
        revoked_at    INTEGER
    );
    CREATE UNIQUE INDEX api_tokens_live_name ON api_tokens (name) WHERE revoked_at IS NULL;
    CREATE TABLE sessions (
        id_sha256   BLOB PRIMARY KEY,
        user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        csrf        TEXT NOT NULL,
        created_at  INTEGER NOT NULL,
        expires_at  INTEGER NOT NULL
    );
    CREATE TABLE uploads (
        id             INTEGER PRIMARY KEY,
        file_name      TEXT NOT NULL,           -- the sender's name for it, sanitised: shown, never a path
        workbook       INTEGER NOT NULL,        -- 1: a workbook (its files are .xlsx), 0: text (.csv)
        size           INTEGER NOT NULL,
        sha256         TEXT NOT NULL,
        uploaded_by    TEXT NOT NULL,
        uploaded_at    INTEGER NOT NULL,
        state          TEXT NOT NULL CHECK (state IN
                         ('validated', 'queued', 'running', 'finished', 'interrupted', 'aborted')),
        rows           INTEGER NOT NULL,
        counts         TEXT NOT NULL,           -- JSON: rows per status, as the check found them
        report         TEXT NOT NULL,           -- JSON: problems and the rows to fix (personal data)
        run_id         INTEGER REFERENCES runs (id),
        registered_by  TEXT,
        registered_at  INTEGER,
        started_at     INTEGER,
        ended_at       INTEGER,
        summary        TEXT,                    -- JSON: how its last job ended
        stop_reason    TEXT
    );
    CREATE INDEX uploads_by_state ON uploads (state, id);",
    // 5: claims against the customer, not only the row: the order id a customer's request went out
    // with while no answer says what became of it, so that any later run — of this file, an
    // edited one, another — sends the customer again only under that id. A state written before
    // keeps its unanswered rows' ids: every row sent without an answer, newest first.
    "CREATE TABLE claims (
        pan_key     BLOB PRIMARY KEY,           -- the ledger's key of the customer
        order_id    TEXT NOT NULL,              -- the id the customer's last request went out with
        run_id      INTEGER NOT NULL,
        line        INTEGER NOT NULL,
        open        INTEGER NOT NULL,           -- 1: sent, no answer yet (or none to trust)
        refusals    INTEGER NOT NULL DEFAULT 0, -- answers in which the vendor refused the customer
        updated_at  INTEGER NOT NULL
    );
    INSERT OR IGNORE INTO claims (pan_key, order_id, run_id, line, open, refusals, updated_at)
        SELECT pan_key, order_id, run_id, line, 1, 0, updated_at FROM rows
        WHERE pan_key IS NOT NULL AND order_id IS NOT NULL
          AND (status IN ('in_flight', 'failed') OR (status = 'pending' AND attempts > 0))
        ORDER BY updated_at DESC;",
    // 6: order ids that are the merchant's (`api::OrderIds`): the id made for a row's customer
    // before any refusal, kept beside the id it goes out under, so that after the vendor refuses
    // the customer the next id (`-N`) is made without the PAN. Rows made by this state's own key
    // before keep their ids (`CB` and the first 8 bytes of the ledger key, in hex); the state
    // remembers until when it made them.
    "ALTER TABLE rows ADD COLUMN made_order_id TEXT;
    UPDATE rows SET made_order_id = 'CB' || lower(hex(substr(pan_key, 1, 8)))
        WHERE pan_key IS NOT NULL
          AND (order_id = 'CB' || lower(hex(substr(pan_key, 1, 8)))
               OR order_id LIKE 'CB' || lower(hex(substr(pan_key, 1, 8))) || '-%');
    INSERT OR IGNORE INTO meta (key, value)
        SELECT 'order_ids_of_the_state_until', CAST(strftime('%s', 'now') AS INTEGER) * 1000
        WHERE EXISTS (SELECT 1 FROM rows WHERE made_order_id IS NOT NULL);",
    // 7: least privilege and retention for the server. People are clerks or admins (those added
    // before are clerks: an admin is made on purpose); a token may do only what its scopes say
    // (tokens made before keep what they could do: every upload); an upload whose personal data was erased
    // says when; and the audit log — who did what, when, to which upload; never a customer's data.
    "ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'clerk' CHECK (role IN ('clerk', 'admin'));
    ALTER TABLE api_tokens ADD COLUMN scopes TEXT NOT NULL DEFAULT 'upload register read-results all-uploads';
    ALTER TABLE uploads ADD COLUMN purged_at INTEGER;
    CREATE TABLE audit (
        id      INTEGER PRIMARY KEY,
        at      INTEGER NOT NULL,
        who     TEXT NOT NULL,              -- a person's name, `token NAME`, or `cibil-bulk purge`
        action  TEXT NOT NULL,              -- sign-in, sign-in-failed, upload, register, download...
        upload  INTEGER,
        detail  TEXT NOT NULL DEFAULT ''    -- what else helps: never a customer's data
    );
    CREATE INDEX audit_by_time ON audit (at);",
    // 8: where a run's file was when last read, absolute, for `export` to keep whatever the
    // directory it is run from.
    "ALTER TABLE runs ADD COLUMN input_place TEXT;",
    // 9: who an order id went out for, found by the id: a file's order id that already went out
    // for another customer is not sent for this one.
    "CREATE INDEX IF NOT EXISTS ledger_by_order_id ON ledger (order_id);
    CREATE INDEX IF NOT EXISTS claims_by_order_id ON claims (order_id);",
    // 10: order ids that differ only in case are one id: found by the id without its case.
    "DROP INDEX IF EXISTS ledger_by_order_id;
    DROP INDEX IF EXISTS claims_by_order_id;
    CREATE INDEX IF NOT EXISTS ledger_by_order_id_nocase ON ledger (order_id COLLATE NOCASE);
    CREATE INDEX IF NOT EXISTS claims_by_order_id_nocase ON claims (order_id COLLATE NOCASE);",
    // 11: every order id a customer went out under (or may have: a claim is made before the
    // request leaves), whatever the answer — registered, refused, none — so that no other customer
    // is sent under it: a keyed hash of the id without its case (`ledger::order_id_key_with`), so
    // that a purge, which masks an id that repeats its customer's details, takes nothing of it.
    // The ids the state sent before are learned from its rows, claims and ledger once the ledger's
    // key is read (`ledger::learn_sent_ids`). It takes over from the indexes of migration 10 (and
    // from a table of the ids themselves that a build between the two kept). The next purge also
    // masks what earlier purges kept of anyone's PAN in an id (`purge`).
    "DROP INDEX IF EXISTS ledger_by_order_id_nocase;
    DROP INDEX IF EXISTS claims_by_order_id_nocase;
    DROP TABLE IF EXISTS sent_ids;
    CREATE TABLE sent_ids (
        id_key      BLOB NOT NULL,              -- the keyed hash of the order id
        pan_key     BLOB NOT NULL,              -- the ledger's key of the customer
        run_id      INTEGER NOT NULL,           -- the row that claimed it
        line        INTEGER NOT NULL,
        PRIMARY KEY (id_key, pan_key)
    ) WITHOUT ROWID;
    INSERT OR REPLACE INTO meta (key, value) VALUES ('sent_ids_to_learn', 1);
    INSERT OR REPLACE INTO meta (key, value) VALUES ('purged_ids_to_mask', 1);",
];

/// The version this code writes.
pub const VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database to [`VERSION`].
pub fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found > VERSION {
        return Err(StoreError::NewerSchema { found, supported: VERSION });
    }
    for (version, sql) in MIGRATIONS.iter().enumerate().skip(usize::try_from(found).unwrap_or(0)) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", version as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}
