//! Retention (India's DPDP Act 2023: personal data kept no longer than its purpose needs). A
//! finished run's customer data — names, PAN, date of birth, mobile, e-mail, the cells of the
//! file, the messages quoting them, the access tokens, the raw answers — is removed, while its
//! counts, statuses, order ids and cibil_ids stay (masked where one repeats its customer's own
//! details: a PAN for an order id), and so does the ledger, which knows customers by
//! a keyed hash of the PAN, never the PAN: a customer registered long ago is still `known`. The
//! server's uploads go with their runs (or, never registered, once they are as old): the rows to
//! fix kept in their reports, and their files beside the state — the file as it arrived, its
//! results and errors files. Then the database is compacted and its write-ahead log emptied, so
//! the data is gone from every file, not only from the tables. Safe while a run or the server
//! uses the state: only what nothing may still send is erased, one transaction at a time.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::params;

use super::{Store, StoreError, now_ms};
use crate::mask::{
    Sought, contains_identifier, contains_pan, mask, mask_identifiers_in, masked_if_a_customers, spelled,
};

/// How long an unfinished file in the uploads directory (see [`UNFINISHED`]) must have been left
/// untouched before a purge takes it for one a stopped server left: far longer than the server
/// waits for the next bytes of an upload (30 s), so nothing still being written is taken.
const UNFINISHED_IDLE: Duration = Duration::from_secs(10 * 60);

/// What a purge keeps of a row, masked where it repeated the customer's own details: in the row,
/// and in the ledger's record and the settled claim the row made, each judged on its own text.
struct KeptOfRow {
    run_id: i64,
    line: i64,
    /// The ledger's and the claims' key of the row's customer (none for a row without a PAN).
    pan_key: Option<Vec<u8>>,
    order_id: Option<String>,
    cibil_id: Option<String>,
    merchant_trans_id: Option<String>,
    error_code: Option<String>,
    cibil_status: Option<String>,
    /// The ledger's order id and cibil_id, when the row registered its customer.
    ledger: Option<(String, String)>,
    /// The order id of the settled claim the row made, if any.
    claimed: Option<String>,
}

/// What is sought of each purged run's customers in the texts a purge keeps that may name them
/// (a file's name, a sheet's, what a job's summary says): the words of their names.
#[derive(Default)]
struct RunNames(HashMap<i64, Sought>);

impl RunNames {
    /// Whether the customers of run `run` are known here (it is purged now).
    fn knows(&self, run: i64) -> bool {
        self.0.contains_key(&run)
    }

    /// `text` with every identifier in it masked, and every word that is or holds a word of a
    /// name of run `run`'s customers.
    fn masked(&self, run: i64, text: &str) -> String {
        match self.0.get(&run) {
            Some(names) => names.masked_words_in(text),
            None => mask_identifiers_in(text),
        }
    }
}

/// What the purge keeps of the rows of the runs `runs` selects (a query taking the cutoff as
/// `?1`), for the rows where any of it changes, and what is sought of each run's customers:
/// - the order id and the vendor's ids are masked whole when they repeat the customer's own name,
///   PAN, date of birth, e-mail or mobile, however written ([`crate::mask::letters_and_digits`]), are
///   another customer's PAN or mobile from the same run (a vendor that mixed up its answers), or
///   hold anyone's PAN ([`crate::mask::contains_pan`]: a file that gave one customer another's);
/// - the vendor's code and status are masked where they repeat the customer or hold anything that
///   looks like an identifier, and whole when what repeats them cannot be masked alone.
fn kept_of_rows(
    tx: &rusqlite::Transaction<'_>,
    runs: &str,
    cutoff_ms: i64,
) -> Result<(Vec<KeptOfRow>, RunNames), StoreError> {
    // The runs' customers: the words of their names, and their PANs and mobiles as read; of a row
    // that was not valid (none of them kept apart), every cell but its order id.
    let mut customers: HashMap<i64, (HashSet<String>, HashSet<String>)> = HashMap::new();
    {
        let mut select = tx.prepare(&format!(
            "SELECT run_id, first_name, middle_name, last_name, pancard, mobile_number, cells, order_id
             FROM rows WHERE run_id IN ({runs})"
        ))?;
        let mut rows = select.query([cutoff_ms])?;
        while let Some(row) = rows.next()? {
            let (names, identifiers) = customers.entry(row.get(0)?).or_default();
            if let Some(cells) = cells_alone(&row.get(1)?, &row.get(4)?, row.get(6)?, row.get(7)?) {
                identifiers
                    .extend(cells.iter().filter(|cell| contains_identifier(cell)).map(|cell| spelled(cell)));
                names.extend(cells);
                continue;
            }
            for i in 1..=3 {
                names.extend(row.get::<_, Option<String>>(i)?);
            }
            for i in 4..=5 {
                identifiers.extend(row.get::<_, Option<String>>(i)?.map(|v| spelled(&v)));
            }
        }
    }
    // An id that is another customer's PAN or mobile, whole: one that only holds ten digits like
    // a mobile among its own (a vendor's long ids do, by chance) is the vendor's, and kept.
    let another_customers = |run: i64, id: &str| {
        customers.get(&run).is_some_and(|(_, identifiers)| identifiers.contains(&spelled(id)))
    };

    // The ledger's record and the settled claim of the row, found by their key (the customer's).
    let mut select = tx.prepare(&format!(
        "SELECT r.run_id, r.line, r.order_id, r.cibil_id, r.merchant_trans_id, r.error_code, r.cibil_status,
                r.first_name, r.middle_name, r.last_name, r.pancard, r.date_of_birth, r.email_id, r.mobile_number,
                r.pan_key, l.order_id, l.cibil_id, c.order_id, r.cells
         FROM rows r
         LEFT JOIN ledger l ON l.pan_key = r.pan_key AND l.run_id = r.run_id AND l.line = r.line
         LEFT JOIN claims c ON c.pan_key = r.pan_key AND c.run_id = r.run_id AND c.line = r.line AND c.open = 0
         WHERE r.run_id IN ({runs})"
    ))?;
    let mut kept = Vec::new();
    let mut rows = select.query([cutoff_ms])?;
    while let Some(row) = rows.next()? {
        let run_id: i64 = row.get(0)?;
        let text = |i: usize| row.get::<_, Option<String>>(i).map(Option::unwrap_or_default);
        // A row that was not valid has its cells read again here rather than held from the first
        // pass: holding them would cost memory in proportion to the run's invalid rows.
        let own = match cells_alone(&row.get(7)?, &row.get(10)?, row.get(18)?, row.get(2)?) {
            Some(cells) => Sought::new(cells.iter().map(String::as_str), cells.iter().map(String::as_str)),
            None => Sought::customer(
                [&text(7)?, &text(8)?, &text(9)?],
                &text(10)?,
                &text(11)?,
                &text(12)?,
                &text(13)?,
            ),
        };
        let id = |value: Option<String>| {
            value.map(|v| {
                if own.holds(&v) || another_customers(run_id, &v) || contains_pan(&v) { mask(&v) } else { v }
            })
        };
        let said = |value: Option<String>| {
            value.map(|v| {
                if !own.holds(&v) && !contains_identifier(&v) {
                    return v;
                }
                // Still there in a form neither finds: masked whole.
                own.masked_in(&v).unwrap_or_else(|| mask(&v))
            })
        };
        let kept_as = |i: usize| row.get::<_, Option<String>>(i);
        let before = (kept_as(2)?, kept_as(3)?, kept_as(4)?, kept_as(5)?, kept_as(6)?);
        let after = (
            id(before.0.clone()),
            id(before.1.clone()),
            id(before.2.clone()),
            said(before.3.clone()),
            said(before.4.clone()),
        );
        // The ledger and the claim hold the row's own ids, as a rule: judged again only where they
        // differ.
        let judged = |value: Option<String>| {
            if value == before.0 {
                after.0.clone()
            } else if value == before.1 {
                after.1.clone()
            } else {
                id(value)
            }
        };
        let (ledger_order_id, ledger_cibil_id, claimed) = (kept_as(15)?, kept_as(16)?, kept_as(17)?);
        let ledger = ledger_order_id.zip(ledger_cibil_id);
        let ledger_after = ledger.clone().map(|(order_id, cibil_id)| {
            (judged(Some(order_id)).unwrap_or_default(), judged(Some(cibil_id)).unwrap_or_default())
        });
        let claimed_after = judged(claimed.clone());
        if after != before || ledger_after != ledger || claimed_after != claimed {
            kept.push(KeptOfRow {
                run_id,
                line: row.get(1)?,
                pan_key: row.get(14)?,
                order_id: after.0,
                cibil_id: after.1,
                merchant_trans_id: after.2,
                error_code: after.3,
                cibil_status: after.4,
                ledger: ledger_after,
                claimed: claimed_after,
            });
        }
    }
    let names = customers
        .into_iter()
        .map(|(run, (names, _))| (run, Sought::new(names.iter().map(String::as_str), [])))
        .collect();
    Ok((kept, RunNames(names)))
}

/// Masks the ids kept by runs a version before schema migration 11 purged that hold anyone's PAN
/// ([`contains_pan`]): it masked only those that repeated the row's own customer, or another of the
/// same run, and left, say, another customer's PAN given as an order id. Done once, by the first
/// purge after the upgrade (the migration asks for it), so that this purge's compaction takes
/// them from the file too. The ids stay taken: `sent_ids` learned them before (at open). How many
/// values it masked.
fn mask_pans_earlier_purges_kept(tx: &rusqlite::Transaction<'_>) -> Result<usize, StoreError> {
    let asked: bool =
        tx.query_row("SELECT EXISTS (SELECT 1 FROM meta WHERE key = 'purged_ids_to_mask')", [], |r| {
            r.get(0)
        })?;
    if !asked {
        return Ok(0);
    }
    const PURGED: &str = "run_id IN (SELECT id FROM runs WHERE purged_at IS NOT NULL)";
    let mut masked = 0;
    for (table, column) in [
        ("rows", "order_id"),
        ("rows", "cibil_id"),
        ("rows", "merchant_trans_id"),
        ("ledger", "order_id"),
        ("ledger", "cibil_id"),
        ("claims", "order_id"),
    ] {
        let values: Vec<String> = tx
            .prepare(&format!(
                "SELECT DISTINCT {column} FROM {table} WHERE {PURGED} AND {column} IS NOT NULL"
            ))?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        for value in values.into_iter().filter(|value| contains_pan(value)) {
            masked += tx.execute(
                &format!("UPDATE {table} SET {column} = ?1 WHERE {PURGED} AND {column} = ?2"),
                params![mask(&value), value],
            )?;
        }
    }
    tx.execute("DELETE FROM meta WHERE key = 'purged_ids_to_mask'", [])?;
    Ok(masked)
}

/// The cells of a row that was not valid — whose name and PAN were not kept apart, `first_name`
/// and `pancard` — but its order id (one cell of that value: a PAN that is also the order id is
/// still there in its own cell): what is known of its customer. `None` for a row kept apart.
fn cells_alone(
    first_name: &Option<String>,
    pan: &Option<String>,
    cells: Option<String>,
    order_id: Option<String>,
) -> Option<Vec<String>> {
    if first_name.is_some() || pan.is_some() {
        return None;
    }
    let mut cells: Vec<String> = serde_json::from_str::<Vec<String>>(&cells?).ok()?;
    cells.retain(|cell| !cell.trim().is_empty());
    if let Some(order_id) = order_id
        && let Some(at) = cells.iter().position(|cell| cell.trim() == order_id.trim())
    {
        cells.remove(at);
    }
    Some(cells)
}

/// A file's name masked whole but its extension (`An*********************73.xlsx`): for a name
/// that may name customers nothing here knows.
fn masked_whole_name(name: &str) -> String {
    match name.rsplit_once('.') {
        Some((stem, extension)) if !stem.is_empty() && extension.len() <= 5 => {
            format!("{}.{extension}", mask(stem))
        }
        _ => mask(name),
    }
}

/// What a purge removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Purged {
    pub runs: u64,
    pub rows: u64,
    /// The server's uploads whose personal data was erased, with their files.
    pub uploads: Vec<i64>,
    /// Files of purged uploads that could not be removed, and why: they still hold the data.
    pub files_left: Vec<(PathBuf, String)>,
    /// Bytes the database file shrank by.
    pub bytes_freed: u64,
}

impl Purged {
    /// Whether nothing was erased.
    pub fn is_empty(&self) -> bool {
        self.runs == 0 && self.rows == 0 && self.uploads.is_empty() && self.files_left.is_empty()
    }
}

impl Store {
    /// Removes the personal data of runs done before `cutoff_ms` (Unix milliseconds), then
    /// compacts the file so the data is gone from disk too, not only from the tables. A run is done
    /// when it finished with nothing left to send: a run with pending or failed rows keeps its data,
    /// which those rows still need to be sent.
    pub fn purge(&mut self, cutoff_ms: i64, who: &str) -> Result<Purged, StoreError> {
        const DONE: &str = "SELECT id FROM runs WHERE status = 'finished' AND purged_at IS NULL AND finished_at < ?1
             AND NOT EXISTS (SELECT 1 FROM rows WHERE rows.run_id = runs.id AND rows.status IN ('pending', 'in_flight', 'failed'))";
        // An upload goes with its run once that is purged (in this purge or an earlier one); one
        // never registered, once it is as old; never while its job is queued or running.
        const UPLOADS: &str = "SELECT u.id FROM uploads u LEFT JOIN runs r ON r.id = u.run_id
             WHERE u.purged_at IS NULL AND u.state NOT IN ('queued', 'running')
               AND ((u.run_id IS NOT NULL AND r.purged_at IS NOT NULL)
                    OR (u.run_id IS NULL AND u.uploaded_at < ?1))";
        let size_before = std::fs::metadata(&self.path).map_or(0, |m| m.len());
        let now = now_ms();
        // Pages freed by the deletes are overwritten, not left holding what they held.
        self.conn.execute_batch("PRAGMA secure_delete = ON;")?;
        let tx = self.conn.transaction()?;
        let remasked = mask_pans_earlier_purges_kept(&tx)?;
        // What is kept of each row after the purge — its order id, the vendor's ids, code and
        // status — is masked where it repeats the customer's own details (a file's order id that
        // is their PAN, a cibil_id or transaction id a vendor made of their mobile, a status that
        // names them), while those details are still there to compare with, wherever it is kept;
        // and each run's customers' names are kept aside, to be found in its file's name.
        let done = format!("SELECT id FROM runs WHERE id IN ({DONE})");
        let (kept, names) = kept_of_rows(&tx, &done, cutoff_ms)?;
        for row in &kept {
            tx.execute(
                "UPDATE rows SET order_id = ?3, cibil_id = ?4, merchant_trans_id = ?5, error_code = ?6,
                    cibil_status = ?7 WHERE run_id = ?1 AND line = ?2",
                params![
                    row.run_id,
                    row.line,
                    row.order_id,
                    row.cibil_id,
                    row.merchant_trans_id,
                    row.error_code,
                    row.cibil_status
                ],
            )?;
            if let (Some(key), Some((order_id, cibil_id))) = (&row.pan_key, &row.ledger) {
                tx.execute(
                    "UPDATE ledger SET order_id = ?4, cibil_id = ?5 WHERE pan_key = ?1 AND run_id = ?2 AND line = ?3",
                    params![key, row.run_id, row.line, order_id, cibil_id],
                )?;
            }
            // A claim still open is a request that may yet be answered: its id is how the customer
            // is sent again, and it belongs to a run not done, which this purge does not touch.
            if let (Some(key), Some(order_id)) = (&row.pan_key, &row.claimed) {
                tx.execute(
                    "UPDATE claims SET order_id = ?4 WHERE pan_key = ?1 AND run_id = ?2 AND line = ?3 AND open = 0",
                    params![key, row.run_id, row.line, order_id],
                )?;
            }
        }
        let rows = tx.execute(
            &format!(
                "UPDATE rows SET first_name = NULL, middle_name = NULL, last_name = NULL, pancard = NULL,
                    date_of_birth = NULL, email_id = NULL, mobile_number = NULL, cells = NULL, error = NULL,
                    warnings = NULL, violations = NULL, access_token = NULL, raw_response = NULL, updated_at = ?2
                 WHERE run_id IN ({DONE})"
            ),
            params![cutoff_ms, now],
        )?;
        let runs = tx.execute(
            &format!("UPDATE runs SET purged_at = ?2 WHERE id IN ({DONE})"),
            params![cutoff_ms, now],
        )?;
        // The check's report keeps its counts of problems, never a row's cells.
        let uploads = tx
            .prepare(&format!(
                "UPDATE uploads SET purged_at = ?2, report = '{{}}' WHERE id IN ({UPLOADS}) RETURNING id"
            ))?
            .query_map(params![cutoff_ms, now], |r| r.get(0))?
            .collect::<Result<Vec<i64>, _>>()?;
        // A file's name can hold a customer's PAN or mobile ("Neha 9418804316.csv"), or name one
        // of the run's customers, and so can a workbook's sheet name; a file without its header
        // line has a customer's details for headers: masked.
        let named: Vec<(i64, String, String, String, String)> = tx
            .prepare(
                "SELECT id, input_path, COALESCE(input_place, ''), headers, COALESCE(locator, '')
                 FROM runs WHERE purged_at = ?1",
            )?
            .query_map([now], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))?
            .collect::<Result<_, _>>()?;
        for (id, path, place, headers, locator) in named {
            tx.execute(
                "UPDATE runs SET input_path = ?2, input_place = NULLIF(?3, ''), headers = ?4,
                    locator = NULLIF(?5, '') WHERE id = ?1",
                params![
                    id,
                    names.masked(id, &path),
                    names.masked(id, &place),
                    masked_headers(&headers),
                    mask_in_json(&locator, &|text| names.masked(id, text)),
                ],
            )?;
        }
        // Choices remembered for a file whose "headers" were a customer's details (a file without
        // its header line) name those details: forgotten. No other file has that first line.
        let remembered: Vec<(String, Vec<u8>)> = tx
            .prepare("SELECT key, value FROM meta WHERE key LIKE 'choices:%'")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        for (key, value) in remembered {
            if contains_identifier(&String::from_utf8_lossy(&value)) {
                tx.execute("DELETE FROM meta WHERE key = ?1", [key])?;
            }
        }
        // The name is in the upload's row, and in how its job ended (its summary names the file).
        for id in &uploads {
            let (run, name, summary, stop_reason): (Option<i64>, String, Option<String>, Option<String>) = tx
                .query_row(
                    "SELECT run_id, file_name, summary, stop_reason FROM uploads WHERE id = ?1",
                    [id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )?;
            // An upload whose customers this purge does not know — never registered, or whose run
            // an earlier purge erased (the same file uploaded again) — may be named after them in
            // any way: its name is masked whole, its extension kept.
            let unknown = run.is_none_or(|run| !names.knows(run));
            let whole = masked_whole_name(&name);
            let masked = |text: &str| {
                if unknown {
                    mask_identifiers_in(&text.replace(&name, &whole))
                } else {
                    names.masked(run.unwrap_or_default(), text)
                }
            };
            tx.execute(
                "UPDATE uploads SET file_name = ?2, summary = ?3, stop_reason = ?4 WHERE id = ?1",
                params![
                    id,
                    if unknown { whole.clone() } else { masked(&name) },
                    summary.as_deref().map(|summary| mask_in_json(summary, &masked)),
                    stop_reason.as_deref().map(masked),
                ],
            )?;
        }
        // Recorded in the audit log with the erasure itself: one is never without the other.
        if rows > 0 || runs > 0 || !uploads.is_empty() {
            tx.execute(
                "INSERT INTO audit (at, who, action, upload, detail) VALUES (?1, ?2, 'purge', NULL, ?3)",
                params![now, who, erased_detail(runs, rows, &uploads)],
            )?;
        }
        tx.commit()?;
        // Every purged upload's files, those of earlier purges too: one stopped between its
        // commit and here left them.
        let all_purged = self
            .conn
            .prepare("SELECT id FROM uploads WHERE purged_at IS NOT NULL")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<Vec<i64>, _>>()?;
        let mut files_left = remove_upload_files(&self.path, &all_purged);
        // An upload a stopped server was receiving (or checking, or writing the results of): its
        // customers, in a file nothing refers to.
        files_left.extend(remove_unfinished_uploads(&uploads_dir(&self.path), UNFINISHED_IDLE));
        // Deleted values linger in free pages and in the write-ahead log until both are rewritten;
        // when nothing was erased, nothing new lingers, and the file is left as it is.
        if rows > 0 || runs > 0 || !uploads.is_empty() || remasked > 0 {
            self.conn.execute_batch("VACUUM;")?;
            self.empty_log()?;
        }
        let size_after = std::fs::metadata(&self.path).map_or(0, |m| m.len());
        Ok(Purged {
            runs: runs as u64,
            rows: rows as u64,
            uploads,
            files_left,
            bytes_freed: size_before.saturating_sub(size_after),
        })
    }

    /// Moves the whole write-ahead log into the database file and empties it. Another connection
    /// reading at that moment (the server's pages) holds it back: tried again a few times.
    fn empty_log(&self) -> Result<(), StoreError> {
        for attempt in 0..20 {
            let busy: i64 = self.conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
            if busy == 0 {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(50 * (attempt + 1)));
        }
        Err(StoreError::LogNotEmptied { path: self.path.clone() })
    }
}

/// What a purge erased, as the audit log keeps it: counts, and the uploads by id.
fn erased_detail(runs: usize, rows: usize, uploads: &[i64]) -> String {
    const LISTED: usize = 50;
    let mut detail = format!("{runs} runs, {rows} rows, {} uploads", uploads.len());
    if !uploads.is_empty() {
        let ids: Vec<String> = uploads.iter().take(LISTED).map(i64::to_string).collect();
        let more = uploads.len().saturating_sub(LISTED);
        let more = if more > 0 { format!(" and {more} more") } else { String::new() };
        detail.push_str(&format!(" (upload {}{more})", ids.join(", ")));
    }
    detail
}

/// `json` with `masked` applied to every string in it (numbers are counts and times); text that
/// is not JSON is masked as text.
fn mask_in_json(json: &str, masked: &dyn Fn(&str) -> String) -> String {
    fn each(value: &mut serde_json::Value, masked: &dyn Fn(&str) -> String) {
        match value {
            serde_json::Value::String(text) => *text = masked(text),
            serde_json::Value::Array(items) => items.iter_mut().for_each(|item| each(item, masked)),
            serde_json::Value::Object(fields) => fields.values_mut().for_each(|field| each(field, masked)),
            _ => {}
        }
    }
    match serde_json::from_str::<serde_json::Value>(json) {
        Ok(mut value) => {
            each(&mut value, masked);
            value.to_string()
        }
        Err(_) => masked(json),
    }
}

/// A header line as a purge leaves it: when any of its cells holds a customer's identifier (a
/// file without its header line), every one of them is masked, as the messages showed them.
fn masked_headers(json: &str) -> String {
    let Ok(headers) = serde_json::from_str::<Vec<String>>(json) else {
        return mask_in_json(json, &mask_identifiers_in);
    };
    match masked_if_a_customers(&headers) {
        Some(masked) => serde_json::to_string(&masked).unwrap_or_default(),
        None => json.to_owned(),
    }
}

/// What a server writes in its uploads directory before a file is in place, by the start of the
/// file's name: an upload on its way in, a file being checked, an output being written (the
/// `output` module's temporary files). They hold customers' data that nothing refers to.
const UNFINISHED: [&str; 3] = [INCOMING, SCRATCH, WRITING];
/// An output being written, under a temporary name beside its place (`output::atomic`).
pub const WRITING: &str = ".cibil-bulk-";
/// An upload on its way in.
pub const INCOMING: &str = ".incoming-";
/// A file being checked.
pub const SCRATCH: &str = ".scratch-";

/// Removes the unfinished files in the uploads directory `dir` (see [`UNFINISHED`]) that nothing
/// has written to for `idle` or longer; returns those that could not be removed, with why.
pub fn remove_unfinished_uploads(dir: &Path, idle: Duration) -> Vec<(PathBuf, String)> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut left = Vec::new();
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name();
        let unfinished = UNFINISHED.iter().any(|p| name.to_string_lossy().starts_with(p));
        let untouched = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|at| at.elapsed().is_ok_and(|age| age >= idle));
        if unfinished
            && (idle.is_zero() || untouched)
            && let Err(e) = std::fs::remove_file(entry.path())
        {
            left.push((entry.path(), e.to_string()));
        }
    }
    left
}

/// The file that marks a directory as a server's uploads (made as the server starts): no other
/// command writes into such a directory, whatever its state.
pub const UPLOADS_MARK: &str = ".uploads-of-cibil-bulk";

/// The server's uploads directory beside the state database `state` (`cibil-bulk.uploads/`
/// beside `cibil-bulk.db`).
pub fn uploads_dir(state: &Path) -> PathBuf {
    let stem = state.file_stem().map_or_else(|| "cibil-bulk".into(), |s| s.to_string_lossy().into_owned());
    state.with_file_name(format!("{stem}.uploads"))
}

/// Removes the files of uploads `ids` in the uploads directory beside `state`: the file as it
/// arrived (`ID.upload`) and every file made from it (`ID.results.csv`, `ID.errors.xlsx`, ...).
/// Returns the files that could not be removed, with why.
fn remove_upload_files(state: &Path, ids: &[i64]) -> Vec<(PathBuf, String)> {
    let dir = uploads_dir(state);
    let Ok(entries) = std::fs::read_dir(&dir) else { return Vec::new() };
    let ids: std::collections::HashSet<i64> = ids.iter().copied().collect();
    let mut left = Vec::new();
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name();
        let of = name.to_string_lossy().split('.').next().and_then(|id| id.parse::<i64>().ok());
        if of.is_some_and(|id| ids.contains(&id))
            && let Err(e) = std::fs::remove_file(entry.path())
        {
            left.push((entry.path(), e.to_string()));
        }
    }
    left
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Registration;
    use crate::input::Locator;
    use crate::store::{NewRow, NewUpload, RowResult, RowStatus, RunStatus, UploadState};
    use crate::validate::Applicant;

    #[test]
    fn identifiers_in_a_files_name_are_masked_and_the_rest_kept() {
        let masked = mask_identifiers_in("/home/clerk/Neha 9418804316_ABCPK1234F.csv");
        assert!(masked.starts_with("/home/clerk/Neha "), "{masked}");
        assert!(masked.ends_with(".csv"), "{masked}");
        assert!(!masked.contains("9418804316") && !masked.contains("ABCPK1234F"), "{masked}");
        assert_eq!(mask_identifiers_in("/srv/in/customers.csv"), "/srv/in/customers.csv");
        let summary = mask_in_json(
            r#"{"file":"Neha ABCPK1234F.csv","rows":1234567,"files":{"results":"x/neha.kapoor@example.in.csv"}}"#,
            &mask_identifiers_in,
        );
        assert!(!summary.contains("ABCPK1234F") && !summary.contains("neha.kapoor@"), "{summary}");
        assert!(summary.contains("\"rows\":1234567"), "{summary}");
    }

    #[test]
    fn finished_runs_lose_their_personal_data_and_keep_their_ledger() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let mut store = Store::open(&path).unwrap();
        let a = Applicant::sample("ORD-2", "ABCPK1234F");
        let row = NewRow::valid(2, &a);
        // A workbook named after a customer, on a sheet named after another, exported without its
        // header line: its "headers" are the first customer's details.
        let first_line = ["Kiran".to_owned(), "KLMPD4321Q".to_owned(), "(99887) 76655".to_owned()];
        let sheet = Locator::Sheet { name: "Lata LMNPQ5432R 9988776644".into(), first_column: 0 };
        let mut import = store
            .begin_import(
                "/data/Rávi KumarSales_ABCPK1234F 9876543210.csv",
                "aa",
                &first_line,
                &sheet,
                &serde_json::json!({}),
                None,
            )
            .unwrap();
        import.add(&row, ["ABCPK1234F"]).unwrap();
        // A file whose order ids are its customers' PAN and mobile, and a vendor that gives a
        // customer's mobile, and another's date of birth, for their cibil_id.
        let by_pan = Applicant::sample("DEFPK5678H", "DEFPK5678H");
        let by_mobile = Applicant {
            mobile_number: "9123456780".into(),
            ..Applicant::sample("Ravi_98765_43210", "GHIPK2468J")
        };
        import.add(&NewRow::valid(3, &by_pan), ["DEFPK5678H"]).unwrap();
        import.add(&NewRow::valid(4, &by_mobile), ["GHIPK2468J"]).unwrap();
        let run = import.finish().unwrap();
        let keys = [(2, "ABCPK1234F"), (3, "DEFPK5678H"), (4, "GHIPK2468J")]
            .map(|(line, pan)| (line, store.pan_key(pan)));
        store.claim(run, &keys).unwrap();
        let registered = |line, cibil_id: &str| RowResult::Registered {
            line,
            attempts: 1,
            registration: Registration {
                http_status: 200,
                cibil_id: cibil_id.into(),
                // A vendor that repeats the customer in its status (once with accents), and in its
                // transaction id: as they are, in base64, or another customer's mobile.
                cibil_status: Some(
                    if line == 2 { "Pending for Rávi Kümar" } else { "Pending for RAVI KUMAR, ABCPK1234F" }
                        .into(),
                ),
                is_returning_customer: false,
                merchant_trans_id: Some(
                    match line {
                        2 => "9123456780",
                        3 => "ravi.kumar",
                        _ => "R0hJUEsyNDY4Sg==",
                    }
                    .into(),
                ),
                access_token: Some("331ce37a".into()),
            },
        };
        store
            .record(
                run,
                &[
                    // The vendor's own id, which holds another customer's mobile among its digits
                    // by chance: kept.
                    registered(2, "591234567801"),
                    registered(3, "+91 98765 43210"),
                    registered(4, "19850131"),
                ],
            )
            .unwrap();
        // What the uploader chose for that first line, and a file a stopped server was receiving
        // an hour ago (and one arriving now, which is left alone).
        store.remember_choices("shape", r#"{"columns":[["mobile_number","(99887) 76655"]]}"#).unwrap();
        store.remember_choices("plain", r#"{"columns":[["mobile_number","Phone"]]}"#).unwrap();
        let uploads = uploads_dir(&path);
        std::fs::create_dir(&uploads).unwrap();
        let (stale, arriving) = (uploads.join(".incoming-aaaa.part"), uploads.join(".incoming-bbbb.part"));
        for file in [&stale, &arriving] {
            std::fs::write(file, "Ravi,Kumar,ABCPK1234F").unwrap();
        }
        let an_hour_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
        std::fs::File::options().write(true).open(&stale).unwrap().set_modified(an_hour_ago).unwrap();

        // Not finished yet: kept, whatever its age.
        assert_eq!(store.purge(i64::MAX, "test").unwrap().runs, 0);
        store.end_run(run, RunStatus::Finished, 0).unwrap();
        // Finished, but more recently than the cutoff: kept.
        assert_eq!(store.purge(0, "test").unwrap().runs, 0);
        let purged = store.purge(i64::MAX, "test").unwrap();
        assert_eq!((purged.runs, purged.rows), (1, 3));
        // Recorded with the erasure, by whoever purged; a purge that erased nothing is not.
        let audit = store.audit_log(10).unwrap();
        assert_eq!(audit.len(), 1, "{audit:?}");
        assert_eq!((audit[0].who.as_str(), audit[0].detail.as_str()), ("test", "1 runs, 3 rows, 0 uploads"));
        // The ids that are the merchant's and the vendor's own are kept as they were; those that
        // repeat the customer are masked, in the rows, the ledger and the settled claims alike.
        let kept = |sql: &str| -> Vec<(i64, String, String)> {
            store
                .conn
                .prepare(sql)
                .unwrap()
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .unwrap()
                .map(Result::unwrap)
                .collect()
        };
        let ids = vec![
            (2, "ORD-2".to_owned(), "591234567801".to_owned()),
            (3, "DE******8H".to_owned(), "+9***********10".to_owned()),
            (4, "Ra************10".to_owned(), "19****31".to_owned()),
        ];
        assert_eq!(kept("SELECT line, order_id, cibil_id FROM rows ORDER BY line"), ids);
        assert_eq!(kept("SELECT line, order_id, cibil_id FROM ledger ORDER BY line"), ids);
        assert_eq!(
            kept("SELECT line, merchant_trans_id, cibil_status FROM rows ORDER BY line"),
            [
                (2, "91******80".to_owned(), "Pending for R*** K****".to_owned()),
                (3, "ra******ar".to_owned(), "Pending for R*** K****, AB******4F".to_owned()),
                (4, "R0************==".to_owned(), "Pending for R*** K****, AB******4F".to_owned()),
            ]
        );
        let claims = kept("SELECT line, order_id, '' FROM claims ORDER BY line");
        assert_eq!(
            claims.iter().map(|(_, order_id, _)| order_id.as_str()).collect::<Vec<_>>(),
            ["ORD-2", "DE******8H", "Ra************10"]
        );
        let purged_run = store.run(run).unwrap().unwrap();
        assert!(purged_run.purged_at.is_some());
        assert_eq!(purged_run.input_path, "/data/R*** Ku******es_AB******4F 98******10.csv");
        assert_eq!(purged_run.headers, ["K****", "KL******1Q", "(9*********55"]);
        assert_eq!(store.remembered_choices("shape").unwrap(), None);
        assert!(store.remembered_choices("plain").unwrap().is_some());
        assert!(!stale.exists() && arriving.exists());
        std::fs::remove_file(&arriving).unwrap();
        drop(store);

        // Nothing of the customer is left in the file, and the ledger still knows them.
        nothing_left_of(
            &path,
            &[
                "ABCPK1234F",
                "9876543210",
                "ravi@example.com",
                "331ce37a",
                "31/01/1985",
                "KLMPD4321Q",
                "(99887) 76655",
                "LMNPQ5432R",
                "9988776644",
                "DEFPK5678H",
                "98765_43210",
                "98765 43210",
                "19850131",
                "Kumar",
                "KUMAR",
                "Kümar",
                "R0hJUEsyNDY4Sg==",
            ],
        );
        let mut store = Store::open(&path).unwrap();
        let mut import = store
            .begin_import("again.csv", "bb", &[], &Locator::Lines, &serde_json::json!({}), None)
            .unwrap();
        assert_eq!(import.add(&row, ["x"]).unwrap(), RowStatus::Known);
    }

    #[test]
    fn a_row_that_was_not_valid_is_sought_by_its_cells() {
        // An invalid row (no e-mail) keeps only its cells: its order id repeats its mobile, and
        // the file and the workbook's sheet are named after it, the name beside the mobile.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let mut store = Store::open(&path).unwrap();
        let sheet = Locator::Sheet { name: "Rodrigues 78123 45673".into(), first_column: 0 };
        let mut import = store
            .begin_import(
                "/in/Anil Rodrigues 7812345673.xlsx",
                "aa",
                &[],
                &sheet,
                &serde_json::json!({}),
                None,
            )
            .unwrap();
        let invalid = NewRow {
            line: 2,
            status: RowStatus::Invalid,
            order_id: Some("ORD-7812345673"),
            duplicate_of: None,
            applicant: None,
            error_code: "email.missing",
            error: "e-mail missing",
            warnings: "",
            violations: &[],
        };
        // The order id's own cell, and a PAN that is also another invalid row's order id.
        import
            .add(
                &invalid,
                ["Anil", "Rodrigues", "NKEPR8027B", "12/03/1982", "", "7812345673", "ORD-7812345673"],
            )
            .unwrap();
        let by_pan = NewRow { line: 3, order_id: Some("NKEPD8077C"), ..invalid };
        import
            .add(&by_pan, ["Lata", "Pereira", "NKEPD8077C", "12/03/1982", "", "9812345676", "NKEPD8077C"])
            .unwrap();
        // The PAN of a customer of no row of this run (a file that gave one customer another's):
        // a PAN all the same.
        let anyones = NewRow { line: 4, order_id: Some("zzz-pk-9999-q"), ..invalid };
        import.add(&anyones, ["Mona", "Shah", "", "12/03/1982", "", "", "zzz-pk-9999-q"]).unwrap();
        let run = import.finish().unwrap();
        store.end_run(run, RunStatus::Finished, 1).unwrap();
        assert_eq!(store.purge(i64::MAX, "test").unwrap().rows, 3);
        assert_eq!(
            strings(&store, "SELECT order_id FROM rows ORDER BY line"),
            ["OR**********73", "NK******7C", "zz*********-q"]
        );
        let purged = store.run(run).unwrap().unwrap();
        assert!(
            !purged.input_path.contains("Rodrigues") && !purged.input_path.contains("Anil"),
            "{}",
            purged.input_path
        );
        drop(store);
        nothing_left_of(
            &path,
            &["7812345673", "Rodrigues", "rodrigues", "NKEPR8027B", "NKEPD8077C", "9812345676", "Pereira"],
        );
    }

    #[test]
    fn an_upload_whose_customers_are_not_known_here_loses_its_whole_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let (mut store, run) = a_finished_upload(&path);
        assert_eq!(store.purge(i64::MAX, "test").unwrap().uploads.len(), 1);
        fn upload(name: &str) -> NewUpload<'_> {
            NewUpload {
                file_name: name,
                workbook: false,
                size: 100,
                sha256: "aa",
                uploaded_by: "asha",
                rows: 1,
                counts: "{}",
                report: "{}",
            }
        }
        // Never registered, named after its customer; and the purged run's file uploaded again
        // under another customer's name, its job finished (the run resumed, already purged).
        let never = store.add_upload::<StoreError>(&upload("Sunil Gavaskar.csv"), |_| Ok(())).unwrap();
        let again = store.add_upload::<StoreError>(&upload("Bela Chopra.xlsx"), |_| Ok(())).unwrap();
        store.queue_upload(again, "asha").unwrap();
        assert!(store.start_job(again).unwrap());
        store.set_upload_run(again, run).unwrap();
        assert!(store.end_job(again, UploadState::Finished, r#"{"file":"Bela Chopra.xlsx"}"#, None).unwrap());
        let purged = store.purge(i64::MAX, "test").unwrap();
        assert_eq!(purged.uploads, [never, again]);
        let names = [never, again].map(|id| store.upload(id).unwrap().unwrap().file_name);
        assert_eq!(names, ["Su**********ar.csv", "Be*******ra.xlsx"]);
        drop(store);
        nothing_left_of(&path, &["Gavaskar", "Chopra"]);
    }

    /// What a purge leaves of a run's customer written into a column of the state.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Fate {
        /// Erased or masked: a customer's detail written here is gone from the file.
        Gone,
        /// Not about a run's customers, for the reason given: kept as it is.
        Kept(&'static str),
    }

    /// Every column of the state that can hold text, and its fate in a purge: the one list, read
    /// against the schema itself, so that a column added later fails
    /// `every_column_of_the_state_has_a_fate_in_a_purge` until its fate is written here.
    const COLUMNS: &[(&str, &str, Fate)] = {
        use Fate::{Gone, Kept};
        const STATUS: Fate = Kept("one of the statuses the program writes");
        const HASH: Fate = Kept("a hash, never the value hashed");
        const PEOPLE: Fate = Kept("the server's people and tokens, not a run's customers");
        const RECORDS: Fate = Kept(
            "the state's records: its secret, the quota learned, schema marks; choices that name a \
             customer are forgotten (tested above)",
        );
        const FLAGS: Fate =
            Kept("the run's flags as the program resolved them (endpoint, rate, date order), never a cell");
        const MADE: Fate =
            Kept("the merchant's id for the customer: CB and an HMAC of the PAN, never the PAN");
        &[
            ("meta", "key", Kept("the names of the state's own records")),
            ("meta", "value", RECORDS),
            ("runs", "input_path", Gone),
            ("runs", "input_sha256", HASH),
            ("runs", "headers", Gone),
            ("runs", "settings", FLAGS),
            ("runs", "status", STATUS),
            ("runs", "locator", Gone),
            ("runs", "input_place", Gone),
            ("rows", "status", STATUS),
            ("rows", "order_id", Gone),
            ("rows", "pan_key", HASH),
            ("rows", "payload_sha256", HASH),
            ("rows", "first_name", Gone),
            ("rows", "middle_name", Gone),
            ("rows", "last_name", Gone),
            ("rows", "pancard", Gone),
            ("rows", "date_of_birth", Gone),
            ("rows", "email_id", Gone),
            ("rows", "mobile_number", Gone),
            ("rows", "cells", Gone),
            ("rows", "error_code", Gone),
            ("rows", "error", Gone),
            ("rows", "warnings", Gone),
            ("rows", "cibil_id", Gone),
            ("rows", "cibil_status", Gone),
            ("rows", "merchant_trans_id", Gone),
            ("rows", "access_token", Gone),
            ("rows", "raw_response", Gone),
            ("rows", "violations", Gone),
            ("rows", "made_order_id", MADE),
            ("ledger", "pan_key", HASH),
            ("ledger", "cibil_id", Gone),
            ("ledger", "order_id", Gone),
            ("lock", "host", Kept("the name of the machine holding the run lock")),
            ("users", "name", PEOPLE),
            ("users", "password_hash", PEOPLE),
            ("users", "role", PEOPLE),
            ("api_tokens", "name", PEOPLE),
            ("api_tokens", "token_sha256", HASH),
            ("api_tokens", "scopes", PEOPLE),
            ("sessions", "id_sha256", HASH),
            ("sessions", "csrf", PEOPLE),
            ("uploads", "file_name", Gone),
            ("uploads", "sha256", HASH),
            ("uploads", "uploaded_by", PEOPLE),
            ("uploads", "state", STATUS),
            ("uploads", "counts", Kept("rows per status: counts only")),
            ("uploads", "report", Gone),
            ("uploads", "registered_by", PEOPLE),
            ("uploads", "summary", Gone),
            ("uploads", "stop_reason", Gone),
            ("claims", "pan_key", HASH),
            ("claims", "order_id", Gone),
            ("sent_ids", "id_key", HASH),
            ("sent_ids", "pan_key", HASH),
            ("audit", "who", PEOPLE),
            ("audit", "action", STATUS),
            (
                "audit",
                "detail",
                Kept("what was done, in counts and people's and tokens' names; never a customer"),
            ),
        ]
    };

    /// The columns of the state's tables that can hold text (all but INTEGER ones), as the
    /// schema declares them.
    fn text_columns(store: &Store) -> Vec<(String, String)> {
        let tables = strings(
            store,
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY rowid",
        );
        let mut columns = Vec::new();
        for table in tables {
            let mut select = store.conn.prepare("SELECT name, type FROM pragma_table_info(?1)").unwrap();
            let mut rows = select.query([&table]).unwrap();
            while let Some(row) = rows.next().unwrap() {
                let (name, kind): (String, String) = (row.get(0).unwrap(), row.get(1).unwrap());
                if !kind.eq_ignore_ascii_case("INTEGER") {
                    columns.push((table.clone(), name));
                }
            }
        }
        columns
    }

    /// Which of `secrets` are still anywhere in the state at `path`, its write-ahead log included.
    fn left_in<'a>(path: &Path, secrets: &[&'a str]) -> Vec<&'a str> {
        let mut bytes = std::fs::read(path).unwrap();
        bytes.extend(std::fs::read(crate::store::sibling(path, "-wal")).unwrap_or_default());
        secrets
            .iter()
            .copied()
            .filter(|secret| bytes.windows(secret.len()).any(|w| w == secret.as_bytes()))
            .collect()
    }

    /// Fails if anything of `secrets` is left in the state at `path` (see [`left_in`]).
    #[track_caller]
    fn nothing_left_of(path: &Path, secrets: &[&str]) {
        let left = left_in(path, secrets);
        assert!(left.is_empty(), "{left:?} still in the state after a purge");
    }

    #[test]
    fn a_pan_an_earlier_version_kept_in_a_purged_runs_ids_is_masked_by_the_next_purge() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let (mut store, _) = a_finished_upload(&path);
        store.purge(i64::MAX, "test").unwrap();
        // As a version before left it: another customer's PAN kept as the order id, and the
        // schema's migration asking for it to be masked.
        store
            .conn
            .execute_batch(
                "UPDATE rows SET order_id = 'bcd-pk-2345-g'; UPDATE ledger SET order_id = 'bcd-pk-2345-g';
                 INSERT OR REPLACE INTO meta (key, value) VALUES ('purged_ids_to_mask', 1);",
            )
            .unwrap();
        let again = store.purge(i64::MAX, "test").unwrap();
        assert_eq!((again.runs, again.rows), (0, 0), "nothing more of its customers to erase");
        assert_eq!(strings(&store, "SELECT order_id FROM rows"), ["bc*********-g"]);
        assert_eq!(strings(&store, "SELECT order_id FROM ledger"), ["bc*********-g"]);
        assert!(strings(&store, "SELECT key FROM meta WHERE key = 'purged_ids_to_mask'").is_empty(), "once");
        drop(store);
        nothing_left_of(&path, &["bcd-pk-2345-g"]);
    }

    /// The first column of what `sql` selects, as text.
    fn strings(store: &Store, sql: &str) -> Vec<String> {
        store.conn.prepare(sql).unwrap().query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
    }

    /// A state at `path` holding one finished run of one registered customer (Ravi Kumar,
    /// ABCPK1234F), sent from an upload of the server's; the run's id.
    fn a_finished_upload(path: &Path) -> (Store, i64) {
        let store = Store::open(path).unwrap();
        let upload = NewUpload {
            file_name: "customers.csv",
            workbook: false,
            size: 100,
            sha256: "aa",
            uploaded_by: "asha",
            rows: 1,
            counts: r#"{"valid":1}"#,
            report: r#"{"problems":[]}"#,
        };
        let upload = store.add_upload::<StoreError>(&upload, |_| Ok(())).unwrap();
        store.queue_upload(upload, "asha").unwrap();
        assert!(store.start_job(upload).unwrap());
        let mut store = store;
        let a = Applicant::sample("ORD-2", "ABCPK1234F");
        let mut import = store
            .begin_import(
                "/in/customers.csv",
                "aa",
                &["PAN".to_owned()],
                &Locator::Lines,
                &serde_json::json!({}),
                None,
            )
            .unwrap();
        import.add(&NewRow::valid(2, &a), ["ABCPK1234F"]).unwrap();
        let run = import.finish().unwrap();
        store.set_upload_run(upload, run).unwrap();
        let key = store.pan_key("ABCPK1234F");
        store.claim(run, &[(2, key)]).unwrap();
        store.record(run, &[crate::store::tests::registered(2)]).unwrap();
        store.end_run(run, RunStatus::Finished, 0).unwrap();
        assert!(store.end_job(upload, UploadState::Finished, r#"{"rows":1}"#, None).unwrap());
        (store, run)
    }

    #[test]
    fn every_column_of_the_state_has_a_fate_in_a_purge() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = a_finished_upload(&dir.path().join("s.db"));
        let schema = text_columns(&store);
        let listed: Vec<(String, String)> =
            COLUMNS.iter().map(|(table, column, _)| ((*table).to_owned(), (*column).to_owned())).collect();
        let unlisted: Vec<_> = schema.iter().filter(|c| !listed.contains(c)).collect();
        let gone: Vec<_> = listed.iter().filter(|c| !schema.contains(c)).collect();
        assert!(
            unlisted.is_empty(),
            "columns without a fate in a purge: {unlisted:?}; say in COLUMNS whether a customer written there is gone after it"
        );
        assert!(gone.is_empty(), "COLUMNS lists what the schema no longer has: {gone:?}");
    }

    /// The record of `table` that belongs to `run`'s customer, as a WHERE clause.
    fn of_the_run(table: &str, run: i64) -> String {
        match table {
            "runs" => format!("id = {run}"),
            "rows" | "ledger" | "claims" | "uploads" => format!("run_id = {run}"),
            other => panic!("no record of a run in {other}: say which one belongs to it"),
        }
    }

    /// `value` with `secret` written into it in its own shape: pushed into a JSON array, set in a
    /// JSON object, appended to text.
    fn with_secret(value: Option<String>, secret: &str) -> String {
        let Some(value) = value else { return secret.to_owned() };
        match serde_json::from_str::<serde_json::Value>(&value) {
            Ok(serde_json::Value::Array(mut items)) => {
                items.push(secret.into());
                serde_json::Value::Array(items).to_string()
            }
            Ok(serde_json::Value::Object(mut fields)) => {
                fields.insert("note".into(), secret.into());
                serde_json::Value::Object(fields).to_string()
            }
            _ => format!("{value} {secret}"),
        }
    }

    #[test]
    fn a_customer_written_into_any_column_a_purge_erases_is_gone_from_the_file() {
        // Generated from the list above (checked against the schema): each column whose fate is
        // Gone, in turn, holds the customer's details beside what it held, in its own shape.
        let secrets = ["ABCPK1234F", "9876543210", "ravi@example.com"];
        for (table, column, fate) in COLUMNS {
            if *fate != Fate::Gone {
                continue;
            }
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("s.db");
            let (mut store, run) = a_finished_upload(&path);
            let filter = of_the_run(table, run);
            let before: Option<String> = store
                .conn
                .query_row(&format!("SELECT {column} FROM {table} WHERE {filter}"), [], |r| r.get(0))
                .unwrap();
            let written = with_secret(before, &format!("Ravi Kumar {}", secrets.join(" ")));
            let changed = store
                .conn
                .execute(&format!("UPDATE {table} SET {column} = ?1 WHERE {filter}"), [&written])
                .unwrap();
            assert_eq!(changed, 1, "{table}.{column}");
            let purged = store.purge(i64::MAX, "test").unwrap();
            assert_eq!((purged.runs, purged.rows, purged.uploads.len()), (1, 1, 1), "{table}.{column}");
            drop(store);
            let left = left_in(&path, &secrets);
            assert!(
                left.is_empty(),
                "{left:?}, written into {table}.{column}, is still in the state after a purge"
            );
        }
    }
}
