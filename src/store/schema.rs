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
