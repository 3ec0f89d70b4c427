//! The store on a real file: imports, claims, outcomes, the ledger and crash recovery.

use std::os::unix::fs::PermissionsExt;

use super::results::cells_into;
use super::*;
use crate::api::{Registration, Rejection};
use crate::input::Locator;
use crate::validate::Applicant;

fn applicant(line: u64, pan: &str) -> Applicant {
    Applicant::sample(&format!("ORD-{line}"), pan)
}

/// A run of three rows: valid (2), invalid (3), duplicate of 2 (4).
fn import(store: &mut Store, sha: &str) -> i64 {
    let a = applicant(2, "ABCPK1234F");
    let mut import = store
        .begin_import(
            "in.csv",
            sha,
            &["pan".into(), "name".into()],
            &Locator::Lines,
            &serde_json::json!({}),
            None,
        )
        .unwrap();
    assert_eq!(import.add(&NewRow::valid(2, &a), ["ABCPK1234F", "Ravi"]).unwrap(), RowStatus::Pending);
    let invalid = NewRow {
        status: RowStatus::Invalid,
        applicant: None,
        order_id: None,
        error_code: "pan.format",
        error: "bad PAN",
        ..NewRow::valid(3, &a)
    };
    import.add(&invalid, ["FRS23456", "=cmd"]).unwrap();
    let dup = NewRow {
        status: RowStatus::Duplicate,
        duplicate_of: Some(2),
        applicant: None,
        ..NewRow::valid(4, &a)
    };
    import.add(&dup, ["abcpk1234f", "Ravi"]).unwrap();
    import.finish().unwrap()
}

fn results(store: &Store, run: i64) -> Vec<ResultRow> {
    let mut out = Vec::new();
    store
        .for_each_result::<StoreError>(run, |r| {
            out.push(r.clone());
            Ok(())
        })
        .unwrap();
    out
}

/// The vendor's refusal of the customer of the row at `line` (a business error, `code`).
fn vendor_refused(line: u64, code: &str, message: &str) -> RowResult {
    let rejection = Rejection {
        http_status: 200,
        code: Some(code.into()),
        message: message.into(),
        raw: String::new(),
        by_vendor: true,
        order_id_used: false,
    };
    RowResult::Rejected { line, attempts: 1, rejection }
}

/// A registration of the row at `line`, as the vendor answers one.
pub(super) fn registered(line: u64) -> RowResult {
    RowResult::Registered {
        line,
        attempts: 2,
        registration: Registration {
            http_status: 200,
            cibil_id: "9362678".into(),
            cibil_status: Some("Pending".into()),
            is_returning_customer: false,
            merchant_trans_id: Some("SPCBL1".into()),
            access_token: Some("secret".into()),
        },
    }
}

#[test]
fn a_file_goes_in_whole_and_comes_back_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("s.db")).unwrap();
    let run = import(&mut store, "aa");
    let counts = store.counts(run).unwrap();
    assert_eq!(
        (counts.get(RowStatus::Pending), counts.get(RowStatus::Invalid), counts.get(RowStatus::Duplicate)),
        (1, 1, 1)
    );
    assert_eq!((counts.total(), counts.left(), counts.needing_attention()), (3, 1, 1));
    let rows = results(&store, run);
    assert_eq!(rows.iter().map(|r| r.line).collect::<Vec<_>>(), vec![2, 3, 4]);
    assert_eq!(rows[1].cells, vec!["FRS23456", "=cmd"]);
    assert_eq!(rows[1].error.as_deref(), Some("bad PAN"));
    let record = store.find_run("aa").unwrap().unwrap();
    assert_eq!((record.id, record.rows_total, record.status), (run, 3, RunStatus::Running));
    assert_eq!(record.headers, vec!["pan", "name"]);
}

#[test]
fn an_unfinished_import_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("s.db")).unwrap();
    {
        let a = applicant(2, "ABCPK1234F");
        let mut import =
            store.begin_import("in.csv", "aa", &[], &Locator::Lines, &serde_json::json!({}), None).unwrap();
        import.add(&NewRow::valid(2, &a), ["x"]).unwrap();
    }
    assert!(store.find_run("aa").unwrap().is_none());
    assert!(store.runs().unwrap().is_empty());
}

#[test]
fn claim_send_record_and_the_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("s.db")).unwrap();
    let run = import(&mut store, "aa");
    let pending = store.reader().unwrap().pending(run, 0, 10).unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].applicant, applicant(2, "ABCPK1234F"));
    assert_eq!(pending[0].pan_key, store.pan_key("ABCPK1234F"));

    let claims = store.claim(run, &[(2, pending[0].pan_key)]).unwrap();
    assert_eq!(claims, vec![Claim::Send { line: 2, order_id: "ORD-2".into() }]);
    assert_eq!(store.counts(run).unwrap().get(RowStatus::InFlight), 1);
    // A row cannot be claimed twice.
    assert!(matches!(
        store.claim(run, &[(2, pending[0].pan_key)]),
        Err(StoreError::Transition { line: 2, .. })
    ));
    assert!(store.reader().unwrap().pending(run, 0, 10).unwrap().is_empty());

    store.record(run, &[registered(2)]).unwrap();
    let rows = results(&store, run);
    assert_eq!(
        (rows[0].status, rows[0].cibil_id.as_deref(), rows[0].attempts),
        (RowStatus::Registered, Some("9362678"), 2)
    );
    // The duplicate reports the result of the row it duplicates.
    assert_eq!((rows[2].status, rows[2].cibil_id.as_deref()), (RowStatus::Duplicate, Some("9362678")));
    assert_eq!(rows[2].duplicate_of_status, Some(RowStatus::Registered));
    // A recorded row cannot be recorded again.
    assert!(matches!(store.record(run, &[registered(2)]), Err(StoreError::Transition { .. })));

    // A new file with the same customer: known at import, never pending.
    let a = applicant(7, "ABCPK1234F");
    let mut import =
        store.begin_import("other.csv", "bb", &[], &Locator::Lines, &serde_json::json!({}), None).unwrap();
    assert_eq!(import.add(&NewRow::valid(7, &a), ["x"]).unwrap(), RowStatus::Known);
    let other = import.finish().unwrap();
    assert_eq!(results(&store, other)[0].cibil_id.as_deref(), Some("9362678"));
}

#[test]
fn a_customer_registered_meanwhile_is_known_at_claim_time() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("s.db")).unwrap();
    let first = import(&mut store, "aa");
    let second = import(&mut store, "bb");
    let key = store.pan_key("ABCPK1234F");
    // The second run's row failed first: known now, it carries none of that failure.
    store.claim(second, &[(2, key)]).unwrap();
    let failed =
        RowResult::Failed { line: 2, attempts: 1, http_status: Some(503), message: "HTTP 503".into() };
    store.record(second, &[failed]).unwrap();
    store.claim(first, &[(2, key)]).unwrap();
    store.record(first, &[registered(2)]).unwrap();
    assert_eq!(store.claim(second, &[(2, key)]).unwrap(), vec![Claim::Known { line: 2 }]);
    assert_eq!(store.counts(second).unwrap().get(RowStatus::Known), 1);
    let row = &results(&store, second)[0];
    assert_eq!((row.status, row.cibil_id.as_deref()), (RowStatus::Known, Some("9362678")));
    assert_eq!((row.http_status, row.error_code.as_deref(), row.error.as_deref()), (None, None, None));
}

#[test]
fn one_commit_holds_outcomes_and_claims_or_neither() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("s.db")).unwrap();
    let (a, b) = (applicant(2, "ABCPK1234F"), applicant(3, "XYZPK9999Z"));
    let mut import =
        store.begin_import("in.csv", "aa", &[], &Locator::Lines, &serde_json::json!({}), None).unwrap();
    import.add(&NewRow::valid(2, &a), ["a"]).unwrap();
    import.add(&NewRow::valid(3, &b), ["b"]).unwrap();
    let run = import.finish().unwrap();
    let (key_a, key_b) = (store.pan_key("ABCPK1234F"), store.pan_key("XYZPK9999Z"));
    store.claim(run, &[(2, key_a)]).unwrap();

    // An outcome that cannot be recorded (line 9 does not exist): neither the good outcome nor
    // the claim beside it is kept.
    let released = RowResult::Released { line: 9, attempts: 0 };
    let err = store.commit_group(run, &[registered(2), released], &[(3, key_b)]).unwrap_err();
    assert!(matches!(err, StoreError::Transition { line: 9, .. }), "{err:?}");
    let counts = store.counts(run).unwrap();
    assert_eq!((counts.get(RowStatus::InFlight), counts.get(RowStatus::Pending)), (1, 1));

    let claims = store.commit_group(run, &[registered(2)], &[(3, key_b)]).unwrap();
    assert!(matches!(&claims[..], [Claim::Send { line: 3, .. }]), "{claims:?}");
    let counts = store.counts(run).unwrap();
    assert_eq!((counts.get(RowStatus::Registered), counts.get(RowStatus::InFlight)), (1, 1));
}

#[test]
fn crash_recovery_and_release() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("s.db")).unwrap();
    let run = import(&mut store, "aa");
    let key = store.pan_key("ABCPK1234F");
    store.claim(run, &[(2, key)]).unwrap();
    assert_eq!(store.requeue_in_flight(run).unwrap(), 1);
    assert_eq!(store.counts(run).unwrap().get(RowStatus::Pending), 1);

    store.claim(run, &[(2, key)]).unwrap();
    store.record(run, &[RowResult::Released { line: 2, attempts: 0 }]).unwrap();
    // Two claims, one of them never sent.
    assert_eq!(results(&store, run)[0].attempts, 1);

    store.claim(run, &[(2, key)]).unwrap();
    let failed =
        RowResult::Failed { line: 2, attempts: 5, http_status: Some(503), message: "HTTP 503".into() };
    store.record(run, &[failed]).unwrap();
    let row = &results(&store, run)[0];
    assert_eq!(
        (row.status, row.attempts, row.error_code.as_deref()),
        (RowStatus::Failed, 6, Some("transient"))
    );
    // Failed rows are tried again by the next invocation.
    assert_eq!(store.reader().unwrap().pending(run, 0, 10).unwrap().len(), 1);
}

#[test]
fn runs_end_and_resume() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("s.db")).unwrap();
    let run = import(&mut store, "aa");
    store.end_run(run, RunStatus::Interrupted, 130).unwrap();
    let r = store.run(run).unwrap().unwrap();
    assert_eq!((r.status, r.exit_code, r.finished_at), (RunStatus::Interrupted, Some(130), None));
    store.resume_run(run, "moved/in.csv").unwrap();
    store.end_run(run, RunStatus::Finished, 0).unwrap();
    let r = store.run(run).unwrap().unwrap();
    assert_eq!((r.status, r.input_path.as_str()), (RunStatus::Finished, "moved/in.csv"));
    assert!(r.finished_at.is_some());
    // Guarded and checked: a run ends once per invocation, and a run that is not there is an
    // error, never an update of nothing.
    let err = store.end_run(run, RunStatus::Aborted, 3).unwrap_err();
    assert!(matches!(err, StoreError::RunTransition { from: "running", .. }), "{err:?}");
    assert_eq!(store.run(run).unwrap().unwrap().status, RunStatus::Finished, "unchanged");
    assert!(matches!(store.resume_run(run + 99, "x.csv"), Err(StoreError::RunTransition { .. })));
}

#[test]
fn the_database_is_private_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let mut store = Store::open(&path).unwrap();
    let run = import(&mut store, "aa");
    let key = store.pan_key("ABCPK1234F");
    drop(store);
    for file in ["s.db", "s.db-wal", "s.db-shm"] {
        let p = dir.path().join(file);
        if p.exists() {
            assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600, "{file}");
        }
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(store.pan_key("ABCPK1234F"), key, "the ledger key survives reopening");
    assert_eq!(store.counts(run).unwrap().total(), 3);
}

#[test]
fn damaged_or_foreign_databases_are_refused_with_advice() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let list = b"this is not a database, it is a customer list\n".repeat(200);
    std::fs::write(&path, &list).unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::NotAState { .. }), "{err:?}");
    assert!(err.to_string().contains("left as it is"));
    assert_eq!(std::fs::read(&path).unwrap(), list, "another kind of file is never written");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644, "nor is its mode touched");

    // A database whose pages are damaged past its header is damaged, not foreign.
    let damaged = dir.path().join("damaged.db");
    drop(Store::open(&damaged).unwrap());
    let mut bytes = std::fs::read(&damaged).unwrap();
    bytes[16..].fill(0xA5);
    std::fs::write(&damaged, bytes).unwrap();
    let err = Store::open(&damaged).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("another --state file"));

    let err = Store::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::Open { .. }), "{err:?}");

    let emptied = dir.path().join("emptied.db");
    std::fs::write(&emptied, b"").unwrap();
    assert!(matches!(Store::open(&emptied), Err(StoreError::Emptied { .. })));

    let newer = dir.path().join("newer.db");
    drop(Store::open(&newer).unwrap());
    rusqlite::Connection::open(&newer).unwrap().pragma_update(None, "user_version", 99).unwrap();
    assert!(matches!(Store::open(&newer), Err(StoreError::NewerSchema { found: 99, .. })));
}

#[test]
fn cells_are_read_back_into_the_same_strings() {
    let mut cells = Vec::new();
    cells_into(r#"["Ravi","=cmd","say \"hi\"","","\u00e9\n"]"#, &mut cells).unwrap();
    assert_eq!(cells, ["Ravi", "=cmd", "say \"hi\"", "", "é\n"]);
    let first = cells[0].as_ptr();
    cells_into(r#"["Anil"]"#, &mut cells).unwrap();
    assert_eq!(cells, ["Anil"]);
    assert_eq!(cells[0].as_ptr(), first, "the string was reused");
    cells_into("[]", &mut cells).unwrap();
    assert!(cells.is_empty());
    assert!(cells_into("[1, 2]", &mut cells).is_err());
    assert!(cells_into(r#"["a"] trailing"#, &mut cells).is_err());
}

#[test]
fn a_state_checked_while_the_run_goes_on_is_trusted_only_when_sound() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    {
        let mut store = Store::open(&path).unwrap();
        import(&mut store, "aa");
        // A table of one-page rows, whose last page is damaged below: opening never reads it.
        store.conn.execute_batch("CREATE TABLE filler (x BLOB)").unwrap();
        for _ in 0..20 {
            store.conn.execute("INSERT INTO filler VALUES (zeroblob(3000))", []).unwrap();
        }
    }
    {
        let (_store, mut check) = Store::open_checking(&path).unwrap();
        check.wait().unwrap();
        check.wait().expect("asking again gives the same answer");
    }

    // The last connection closed: everything is in the file, no write-ahead log left.
    let mut bytes = std::fs::read(&path).unwrap();
    let len = bytes.len();
    bytes[len - 4096..].fill(0xFF);
    std::fs::write(&path, bytes).unwrap();
    let (_store, mut check) = Store::open_checking(&path).expect("opening reads only what it needs");
    for _ in 0..2 {
        let err = check.wait().unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
        assert!(err.to_string().contains("another --state file"), "{err}");
    }
    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
}

#[test]
fn counts_shift_from_one_status_to_another_and_never_below_zero() {
    let mut counts = StatusCounts::default();
    counts.0.insert(RowStatus::Pending, 3);
    counts.0.insert(RowStatus::Failed, 2);
    counts.shift(RowStatus::Failed, RowStatus::Pending, counts.get(RowStatus::Failed));
    assert_eq!((counts.get(RowStatus::Pending), counts.get(RowStatus::Failed)), (5, 0));
    counts.shift(RowStatus::Pending, RowStatus::Registered, 1);
    assert_eq!((counts.get(RowStatus::Pending), counts.get(RowStatus::Registered)), (4, 1));
    counts.shift(RowStatus::InFlight, RowStatus::Known, 1);
    assert_eq!((counts.get(RowStatus::InFlight), counts.get(RowStatus::Known)), (0, 1));
    assert_eq!(counts.total(), 6);
}

#[test]
fn a_damaged_ledger_key_is_refused_not_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let key = {
        let store = Store::open(&path).unwrap();
        let key = store.pan_key("ABCPK1234F");
        store.conn.execute("UPDATE meta SET value = x'0102' WHERE key = 'ledger_key'", []).unwrap();
        key
    };
    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("ledger key"), "{err}");

    // Two stores on one database share its key.
    let other = dir.path().join("t.db");
    let (a, b) = (Store::open(&other).unwrap(), Store::open(&other).unwrap());
    assert_eq!(a.pan_key("ABCPK1234F"), b.pan_key("ABCPK1234F"));
    assert_ne!(a.pan_key("ABCPK1234F"), key, "each database has a key of its own");
}

#[test]
fn a_check_that_could_not_run_is_not_taken_for_damage() {
    use crate::store::{Check, CheckFailure};
    let checking = |work: fn() -> Result<(), CheckFailure>| Check {
        path: "s.db".into(),
        handle: Some(std::thread::spawn(work)),
        verdict: Ok(()),
    };
    let mut check = checking(|| Err(CheckFailure::Unchecked("disk I/O error".into())));
    let err = check.wait().unwrap_err();
    assert!(matches!(err, StoreError::Unchecked { .. }), "{err:?}");
    assert!(!err.to_string().contains("another --state"), "{err}");

    let mut check = checking(|| panic!("the check's own failure"));
    assert!(matches!(check.wait().unwrap_err(), StoreError::Unchecked { .. }));

    let mut check = checking(|| Err(CheckFailure::Damaged("page 7: btree corrupt".into())));
    assert!(matches!(check.wait().unwrap_err(), StoreError::Corrupt { .. }));
}

#[test]
fn a_damaged_row_key_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("s.db")).unwrap();
    let run = import(&mut store, "aa");
    store.conn.execute("UPDATE rows SET pan_key = x'01' WHERE run_id = ?1", [run]).unwrap();
    let err = store.reader().unwrap().pending(run, 0, 10).unwrap_err();
    assert!(err.to_string().contains("not 16"), "{err}");
}

#[test]
fn every_outcome_settles_its_own_columns_and_only_from_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("s.db")).unwrap();
    let run = import(&mut store, "aa");
    let key = store.pan_key("ABCPK1234F");
    let rejection = Rejection {
        http_status: 200,
        code: Some("207".into()),
        message: "Amount is Requaired".into(),
        raw: r#"{"code":"207"}"#.into(),
        by_vendor: true,
        order_id_used: false,
    };
    // Not claimed: nothing may settle it.
    let rejected = RowResult::Rejected { line: 2, attempts: 1, rejection };
    assert!(matches!(
        store.record(run, std::slice::from_ref(&rejected)),
        Err(StoreError::Transition { line: 2, from: "in_flight", .. })
    ));
    store.claim(run, &[(2, key)]).unwrap();
    store.record(run, &[rejected]).unwrap();
    let row = &results(&store, run)[0];
    assert_eq!(
        (row.status, row.error_code.as_deref(), row.error.as_deref(), row.http_status, row.attempts),
        (RowStatus::Rejected, Some("207"), Some("Amount is Requaired"), Some(200), 1)
    );
    let raw: String =
        store.conn.query_row("SELECT raw_response FROM rows WHERE line = 2", [], |r| r.get(0)).unwrap();
    assert_eq!(raw, r#"{"code":"207"}"#);
    // A rejection is not a registration: the ledger does not hold the customer.
    let ledger: i64 = store.conn.query_row("SELECT COUNT(*) FROM ledger", [], |r| r.get(0)).unwrap();
    assert_eq!(ledger, 0);

    // Failed, then released after three attempts: the attempts add up, the failure's text stays.
    let run = import(&mut store, "bb");
    store.claim(run, &[(2, key)]).unwrap();
    let failed =
        RowResult::Failed { line: 2, attempts: 2, http_status: Some(503), message: "HTTP 503".into() };
    store.record(run, &[failed]).unwrap();
    store.claim(run, &[(2, key)]).unwrap();
    store.record(run, &[RowResult::Released { line: 2, attempts: 1 }]).unwrap();
    let row = &results(&store, run)[0];
    assert_eq!(
        (row.status, row.error_code.as_deref(), row.http_status, row.attempts),
        (RowStatus::Pending, Some("transient"), Some(503), 3)
    );
}

/// A run of one valid row for the customer with `pan`, under `order_id` when the file gives one.
/// The sandbox merchant's order ids.
fn merchant() -> crate::api::OrderIds {
    crate::api::OrderIds::of(&crate::api::Credentials {
        registration_id: "AOP-SANDBOX".into(),
        company_code: "CMP-SANDBOX".into(),
    })
}

fn run_of(store: &mut Store, sha: &str, pan: &str, order_id: Option<&str>) -> (i64, String) {
    let mut a = applicant(2, pan);
    a.order_id = order_id.unwrap_or_default().to_owned();
    let ids = merchant();
    let mut import =
        store.begin_import("in.csv", sha, &[], &Locator::Lines, &serde_json::json!({}), Some(&ids)).unwrap();
    import.add(&NewRow { order_id, ..NewRow::valid(2, &a) }, ["x"]).unwrap();
    let run = import.finish().unwrap();
    let order_id = results(store, run)[0].order_id.clone().unwrap();
    (run, order_id)
}

#[test]
fn a_customer_keeps_one_order_id_until_the_vendor_answers() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("s.db")).unwrap();
    let key = store.pan_key("ABCPK1234F");

    // Made from the customer, not the file: two files, one id; no PAN in it.
    let (first, made) = run_of(&mut store, "aa", "ABCPK1234F", None);
    let (second, again) = run_of(&mut store, "bb", "ABCPK1234F", None);
    assert_eq!(made, again);
    assert_eq!(made, merchant().first("ABCPK1234F"), "the merchant's id, not the state's");
    assert!(made.starts_with("CB") && made.len() == 18 && !made.contains("1234"), "{made}");
    let (_, other) = run_of(&mut store, "cc", "ABCPK1235F", None);
    assert_ne!(made, other, "another customer, another id");

    // Sent, no answer: every later run sends the customer under that id, whatever its file says.
    store.claim(first, &[(2, key)]).unwrap();
    store
        .record(
            first,
            &[RowResult::Failed { line: 2, attempts: 1, http_status: None, message: "timeout".into() }],
        )
        .unwrap();
    let mut a = applicant(2, "ABCPK1234F");
    a.order_id = "ORD-FILE".into();
    let mut import =
        store.begin_import("in.csv", "dd", &[], &Locator::Lines, &serde_json::json!({}), None).unwrap();
    import.add(&NewRow { order_id: Some("ORD-FILE"), ..NewRow::valid(2, &a) }, ["x"]).unwrap();
    assert_eq!(import.resent(), 1);
    let edited = import.finish().unwrap();
    let row = &results(&store, edited)[0];
    assert_eq!(row.order_id.as_deref(), Some(made.as_str()));
    assert!(
        row.warnings.as_deref().unwrap_or("").contains(&format!("given order id {made} by an earlier run")),
        "{row:?}"
    );
    // A row imported before the claim meets it at its own claim.
    let (late, late_id) = run_of(&mut store, "ee", "ABCPK1234F", Some("ORD-LATE"));
    assert_eq!(late_id, made, "imported after the claim: adopted at import");
    store.conn.execute("UPDATE rows SET order_id = 'ORD-LATE' WHERE run_id = ?1", [late]).unwrap();
    let claims = store.claim(late, &[(2, key)]).unwrap();
    assert_eq!(claims, vec![Claim::Send { line: 2, order_id: made.clone() }]);

    // The vendor refuses the customer: settled, and the next id made for them is new.
    store.record(late, &[vendor_refused(2, "203", "first_name is invalid")]).unwrap();
    let (_, after_refusal) = run_of(&mut store, "ff", "ABCPK1234F", None);
    assert_eq!(after_refusal, format!("{made}-1"));
    // A row whose id was made before the refusal goes out, claimed after it, under the new one.
    let claims = store.claim(second, &[(2, key)]).unwrap();
    assert_eq!(claims, vec![Claim::Send { line: 2, order_id: format!("{made}-1") }]);

    // An answer not to be trusted (a cibil_id of the wrong shape) settles nothing: same id.
    let (run, id) = run_of(&mut store, "gg", "ABCPK1235F", None);
    store.claim(run, &[(2, store.pan_key("ABCPK1235F"))]).unwrap();
    let anomaly = Rejection {
        http_status: 200,
        code: Some("cibil_id.shape".into()),
        message: "not digits".into(),
        raw: String::new(),
        by_vendor: false,
        order_id_used: false,
    };
    store.record(run, &[RowResult::Rejected { line: 2, attempts: 1, rejection: anomaly }]).unwrap();
    let (_, next) = run_of(&mut store, "hh", "ABCPK1235F", Some("ORD-NEW"));
    assert_eq!(next, id);

    // Registered: known everywhere, under the id it was registered with.
    let (run, id) = run_of(&mut store, "ii", "ABCPK1236F", Some("ORD-REG"));
    store.claim(run, &[(2, store.pan_key("ABCPK1236F"))]).unwrap();
    store.record(run, &[registered(2)]).unwrap();
    let (known, _) = run_of(&mut store, "jj", "ABCPK1236F", None);
    let row = &results(&store, known)[0];
    assert_eq!((row.status, row.order_id.as_deref()), (RowStatus::Known, Some(id.as_str())));
}

/// What migrations 7 (roles, scopes, purged uploads, the audit log) and 8 (where a run's file is)
/// added, taken away again, for a state as an older version left it.
const UNDO_7: &str = "ALTER TABLE users DROP COLUMN role; ALTER TABLE api_tokens DROP COLUMN scopes;
    ALTER TABLE uploads DROP COLUMN purged_at; DROP TABLE audit; ALTER TABLE runs DROP COLUMN input_place;";

#[test]
fn a_state_written_before_claims_keeps_its_unanswered_ids() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let mut store = Store::open(&path).unwrap();
    let (run, _) = run_of(&mut store, "aa", "ABCPK1234F", Some("ORD-OLD"));
    let key = store.pan_key("ABCPK1234F");
    store.claim(run, &[(2, key)]).unwrap();
    // As an older version left it: the row in flight, no claims table, no made ids kept.
    store
        .conn
        .execute_batch(&format!(
            "{UNDO_7} DROP TABLE claims; ALTER TABLE rows DROP COLUMN made_order_id; PRAGMA user_version = 4;"
        ))
        .unwrap();
    drop(store);
    let mut store = Store::open(&path).unwrap();
    let (_, id) = run_of(&mut store, "bb", "ABCPK1234F", None);
    assert_eq!(id, "ORD-OLD");
}

#[test]
fn a_state_whose_ids_it_made_itself_keeps_those_sent_and_moves_to_the_merchants_after_a_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let mut store = Store::open(&path).unwrap();
    // As a version before the merchant's ids left it: the state's own id, `CB` and its ledger
    // key's first bytes, on a row sent without an answer.
    let key = store.pan_key("ABCPK1234F");
    let own = crate::api::hex_id(&key[..8]);
    let (run, _) = run_of(&mut store, "aa", "ABCPK1234F", Some(&own));
    store.claim(run, &[(2, key)]).unwrap();
    store
        .conn
        .execute_batch(&format!(
            "{UNDO_7} ALTER TABLE rows DROP COLUMN made_order_id; PRAGMA user_version = 5;"
        ))
        .unwrap();
    drop(store);
    let mut store = Store::open(&path).unwrap();
    assert!(store.order_ids_of_the_state_until().unwrap().is_some(), "the state says it made ids itself");
    // The unanswered customer goes out again under the id it went out with...
    let (_, id) = run_of(&mut store, "bb", "ABCPK1234F", None);
    assert_eq!(id, own);
    // ...and once the vendor refuses them, under that id's next.
    store.requeue_in_flight(run).unwrap();
    store.claim(run, &[(2, key)]).unwrap();
    let refused = RowResult::Rejected {
        line: 2,
        attempts: 1,
        rejection: Rejection {
            http_status: 200,
            code: Some("207".into()),
            message: "Invalid PAN".into(),
            raw: String::new(),
            by_vendor: true,
            order_id_used: false,
        },
    };
    store.record(run, &[refused]).unwrap();
    // A file imported after the refusal: the merchant's id for the customer, past the refusal.
    let (later, _) = run_of(&mut store, "cc", "ABCPK1234F", None);
    let claims = store.claim(later, &[(2, key)]).unwrap();
    assert_eq!(
        claims,
        vec![Claim::Send { line: 2, order_id: format!("{}-1", merchant().first("ABCPK1234F")) }]
    );
}

#[test]
fn an_order_id_the_vendor_says_was_used_is_never_replaced_by_another() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("s.db")).unwrap();
    let used = || Rejection {
        http_status: 200,
        code: Some("ORD-409".into()),
        message: "Duplicate order id".into(),
        raw: String::new(),
        by_vendor: true,
        order_id_used: true,
    };
    // A made id: the customer may be registered under it, so it needs attention, and a later
    // file of the same customer goes out under the same id, never the next.
    let (run, first) = run_of(&mut store, "aa", "ABCPK1234F", None);
    let key = store.pan_key("ABCPK1234F");
    store.claim(run, &[(2, key)]).unwrap();
    store.record(run, &[RowResult::Rejected { line: 2, attempts: 1, rejection: used() }]).unwrap();
    let row = &results(&store, run)[0];
    assert_eq!((row.status, row.error_code.as_deref()), (RowStatus::Rejected, Some("order_id.used")));
    let (later, _) = run_of(&mut store, "ab", "ABCPK1234F", None);
    let claims = store.claim(later, &[(2, key)]).unwrap();
    assert_eq!(claims, vec![Claim::Send { line: 2, order_id: first.clone() }]);
    // The file's own id is the file's: refused, as the vendor said.
    let (run, given) = run_of(&mut store, "bb", "ABCPK1235F", Some("ORD-7"));
    store.claim(run, &[(2, store.pan_key("ABCPK1235F"))]).unwrap();
    store.record(run, &[RowResult::Rejected { line: 2, attempts: 1, rejection: used() }]).unwrap();
    let row = &results(&store, run)[0];
    assert_eq!((row.status, row.order_id.as_deref()), (RowStatus::Rejected, Some(given.as_str())));
}

#[test]
fn another_programs_database_named_as_the_state_is_left_exactly_as_it_is() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let other = rusqlite::Connection::open(&path).unwrap();
    other.execute_batch("CREATE TABLE invoices (id INTEGER); INSERT INTO invoices VALUES (1);").unwrap();
    drop(other);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let before = std::fs::read(&path).unwrap();
    assert!(matches!(Store::open(&path), Err(StoreError::NotAState { .. })));
    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o644, "its mode untouched");
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from("app.db")], "no log, no lock beside it");
    // A file that only starts like a database keeps its mode too.
    let fake = dir.path().join("fake.db");
    std::fs::write(&fake, b"SQLite format 3\0 and then nothing a database holds, nothing at all here")
        .unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(Store::open(&fake).is_err());
    assert_eq!(std::fs::metadata(&fake).unwrap().permissions().mode() & 0o777, 0o644);
}

#[test]
fn a_state_with_a_second_name_is_refused_and_a_symlink_takes_the_one_lock() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("s.db");
    drop(Store::open(&state).unwrap());
    // A hard link: two logs, two locks for one database.
    std::fs::hard_link(&state, dir.path().join("h.db")).unwrap();
    for name in ["s.db", "h.db"] {
        let refused = Store::open(&dir.path().join(name)).unwrap_err();
        assert!(matches!(refused, StoreError::HardLinked { links: 2, .. }), "{name}: {refused}");
        assert!(refused.to_string().contains("-samefile"), "{refused}");
    }
    std::fs::remove_file(dir.path().join("h.db")).unwrap();
    // A symlink: one lock, beside the file itself.
    std::fs::create_dir(dir.path().join("other")).unwrap();
    std::os::unix::fs::symlink(&state, dir.path().join("other/s.db")).unwrap();
    let mut first = Store::open(&state).unwrap();
    let _held = first.acquire_lock(std::time::Duration::ZERO, |_| {}).unwrap();
    let mut second = Store::open(&dir.path().join("other/s.db")).unwrap();
    assert!(matches!(second.acquire_lock(std::time::Duration::ZERO, |_| {}), Err(StoreError::Locked(_))));
}

#[test]
fn a_state_is_opened_while_another_process_holds_its_write_lock() {
    // Another process stopped mid-commit (Ctrl-Z) holds SQLite's write lock for as long as it is
    // stopped: opening the state must not need it, so that the run lock, taken next, can say who
    // holds the state instead of SQLite's "database is locked" after its timeout.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let mut store = Store::open(&path).unwrap();
    import(&mut store, "aa");
    drop(store);
    let writer = Connection::open(&path).unwrap();
    writer.execute_batch("BEGIN IMMEDIATE; INSERT INTO meta (key, value) VALUES ('held', 1);").unwrap();
    let store = Store::open(&path).expect("opened without the write lock");
    assert_eq!(store.runs().unwrap().len(), 1);
    writer.execute_batch("ROLLBACK;").unwrap();
}

#[test]
fn a_files_order_id_that_went_out_for_another_customer_is_not_sent_for_this_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("s.db")).unwrap();
    // Its status, error code, and whether the row keeps the customer's values (a row that is not
    // valid keeps only its cells).
    let status = |store: &Store, run: i64| {
        let row = results(store, run).remove(0);
        let kept: bool = store
            .conn
            .query_row(
                "SELECT pancard IS NOT NULL AND pan_key IS NOT NULL FROM rows WHERE run_id = ?1",
                [run],
                |r| r.get(0),
            )
            .unwrap();
        (row.status, row.error_code, kept)
    };

    // ORD-7 registered Ravi; Sita's file gives her ORD-7 too.
    let (first, _) = run_of(&mut store, "aa", "ABCPK1234F", Some("ORD-7"));
    store.claim(first, &[(2, store.pan_key("ABCPK1234F"))]).unwrap();
    store.record(first, &[registered(2)]).unwrap();
    let (second, _) = run_of(&mut store, "bb", "BCDPR2345G", Some("ORD-7"));
    assert_eq!(status(&store, second), (RowStatus::Invalid, Some("order_id.taken".into()), false));
    let error = results(&store, second).remove(0).error.unwrap();
    assert!(error.contains("run 1, line 2") && !error.contains("ABCPK"), "{error}");
    // Ravi under his own id again is simply known.
    let (third, _) = run_of(&mut store, "cc", "ABCPK1234F", Some("ORD-7"));
    assert_eq!(status(&store, third).0, RowStatus::Known);

    // ORD-8 went out for Asha and no answer came: the id is hers until one does.
    let (fourth, _) = run_of(&mut store, "dd", "CDEPS3456H", Some("ORD-8"));
    store.claim(fourth, &[(2, store.pan_key("CDEPS3456H"))]).unwrap();
    let (fifth, _) = run_of(&mut store, "ee", "DEFPT4567J", Some("ORD-8"));
    assert_eq!(status(&store, fifth).0, RowStatus::Invalid);
    // An id nobody was sent under goes out.
    let (sixth, _) = run_of(&mut store, "ff", "DEFPT4567J", Some("ORD-9"));
    assert_eq!(status(&store, sixth), (RowStatus::Pending, None, true));

    // A run stopped before its row went out (the customer `stopped`, under the first id), resumed
    // after another file sent another customer under the second: its claim refuses it.
    let taken_at_claim = |store: &mut Store, shas: [&str; 2], stopped: [&str; 2], other: [&str; 2]| {
        let (stopped_run, _) = run_of(store, shas[0], stopped[0], Some(stopped[1]));
        let (other_run, _) = run_of(store, shas[1], other[0], Some(other[1]));
        store.claim(other_run, &[(2, store.pan_key(other[0]))]).unwrap();
        assert_eq!(
            store.claim(stopped_run, &[(2, store.pan_key(stopped[0]))]).unwrap(),
            vec![Claim::Taken { line: 2 }]
        );
        stopped_run
    };
    let stopped =
        taken_at_claim(&mut store, ["gg", "hh"], ["EFGPU5678K", "ORD-10"], ["FGHPV6789L", "ORD-10"]);
    assert_eq!(status(&store, stopped), (RowStatus::Invalid, Some("order_id.taken".into()), false));
    assert_eq!(results(&store, stopped)[0].attempts, 0, "nothing was sent");

    // Written in another case it is the same id: at import, and at the claim.
    let (lower, _) = run_of(&mut store, "ii", "GHIPW7890M", Some("ord-7"));
    assert_eq!(status(&store, lower), (RowStatus::Invalid, Some("order_id.taken".into()), false));
    let error = results(&store, lower).remove(0).error.unwrap();
    assert!(error.contains("written ORD-7 there"), "{error}");
    taken_at_claim(&mut store, ["jj", "kk"], ["HIJPX8901N", "Ord-11"], ["IJKPY9012P", "oRD-11"]);
    // Ravi under his own id in another case is still Ravi: known.
    let (again, _) = run_of(&mut store, "ll", "ABCPK1234F", Some("ord-7"));
    assert_eq!(status(&store, again).0, RowStatus::Known);

    // A file gave Mona the id made for Gita (a results sheet's ids pasted onto the wrong rows):
    // Gita is not sent under it, and the message says whose id it was and what to do.
    let gita_id = merchant().first("JKLPZ0123Q");
    let (mona, _) = run_of(&mut store, "mm", "KLMPA1234R", Some(&gita_id.to_lowercase()));
    store.claim(mona, &[(2, store.pan_key("KLMPA1234R"))]).unwrap();
    let (gita, _) = run_of(&mut store, "nn", "JKLPZ0123Q", None);
    assert_eq!(status(&store, gita), (RowStatus::Invalid, Some("order_id.taken".into()), false));
    let error = results(&store, gita).remove(0).error.unwrap();
    assert!(
        error.starts_with(&format!("the order id made for this customer, {gita_id}, already belongs")),
        "{error}"
    );
    assert!(error.contains("give this row an order id of its own in an order_id column"), "{error}");

    // In one file, Mona's row (first) gives Gita's made id: the first to be claimed goes out
    // under it, the other is refused at its claim.
    let (mona, gita) = (applicant(2, "LMNPB2345S"), applicant(3, "MNOPC3456T"));
    let gita_id = merchant().first("MNOPC3456T");
    let mut import = store
        .begin_import("both.csv", "oo", &[], &Locator::Lines, &serde_json::json!({}), Some(&merchant()))
        .unwrap();
    import.add(&NewRow { order_id: Some(&gita_id), ..NewRow::valid(2, &mona) }, ["x"]).unwrap();
    import.add(&NewRow { order_id: None, ..NewRow::valid(3, &gita) }, ["x"]).unwrap();
    let both = import.finish().unwrap();
    let claims =
        store.claim(both, &[(2, store.pan_key("LMNPB2345S")), (3, store.pan_key("MNOPC3456T"))]).unwrap();
    assert_eq!(claims, vec![Claim::Send { line: 2, order_id: gita_id }, Claim::Taken { line: 3 }]);

    // Refused under one id, then registered under the next: the first is still Gita's, and not
    // sent for Mona (a vendor that remembers it would answer her with Gita's refusal).
    let gita_key = store.pan_key("PQRPF6789W");
    let (refused, first_id) = run_of(&mut store, "rr", "PQRPF6789W", None);
    store.claim(refused, &[(2, gita_key)]).unwrap();
    store.record(refused, &[vendor_refused(2, "204", "Invalid Last Name")]).unwrap();
    let (fixed, next_id) = run_of(&mut store, "ss", "PQRPF6789W", None);
    assert_eq!(next_id, format!("{first_id}-1"));
    store.claim(fixed, &[(2, gita_key)]).unwrap();
    store.record(fixed, &[registered(2)]).unwrap();
    let (mona, _) = run_of(&mut store, "tt", "QRSPG7890X", Some(&first_id));
    assert_eq!(status(&store, mona), (RowStatus::Invalid, Some("order_id.taken".into()), false));

    // An id that is its customer's own PAN, masked by a purge since: still theirs.
    let (own_pan, _) = run_of(&mut store, "uu", "RSTPH8901Y", Some("RSTPH8901Y"));
    store.claim(own_pan, &[(2, store.pan_key("RSTPH8901Y"))]).unwrap();
    store.record(own_pan, &[registered(2)]).unwrap();
    store.end_run(own_pan, crate::store::RunStatus::Finished, 0).unwrap();
    assert!(store.purge(i64::MAX, "test").unwrap().runs >= 1);
    assert_eq!(results(&store, own_pan)[0].order_id.as_deref(), Some("RS******1Y"), "masked by the purge");
    let (after_purge, _) = run_of(&mut store, "vv", "STUPJ9012Z", Some("rstph8901y"));
    assert_eq!(status(&store, after_purge), (RowStatus::Invalid, Some("order_id.taken".into()), false));
    let error = results(&store, after_purge).remove(0).error.unwrap();
    assert!(!error.contains("written"), "the masked id is not how it was written: {error}");

    // An id that is a customer's PAN is masked in the message.
    let (pan_as_id, _) = run_of(&mut store, "pp", "NOPPD4567U", Some("ABCPK9999Z"));
    store.claim(pan_as_id, &[(2, store.pan_key("NOPPD4567U"))]).unwrap();
    let (other, _) = run_of(&mut store, "qq", "OPQPE5678V", Some("abcpk9999z"));
    let error = results(&store, other).remove(0).error.unwrap();
    assert!(!error.to_uppercase().contains("ABCPK9999Z"), "{error}");
}

#[test]
fn a_state_written_before_it_kept_every_id_sent_knows_them_from_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let mut store = Store::open(&path).unwrap();
    // Refused under ORD-A; another customer registered under ORD-B.
    let (refused, _) = run_of(&mut store, "aa", "ABCPK1234F", Some("ORD-A"));
    store.claim(refused, &[(2, store.pan_key("ABCPK1234F"))]).unwrap();
    store.record(refused, &[vendor_refused(2, "204", "Invalid Last Name")]).unwrap();
    let (registered_run, _) = run_of(&mut store, "bb", "BCDPK2345G", Some("ORD-B"));
    store.claim(registered_run, &[(2, store.pan_key("BCDPK2345G"))]).unwrap();
    store.record(registered_run, &[registered(2)]).unwrap();
    // As the version before left it: no record of the ids sent.
    store.conn.execute_batch("DROP TABLE sent_ids; PRAGMA user_version = 9;").unwrap();
    drop(store);
    let mut store = Store::open(&path).unwrap();
    for (sha, pan, id) in [("cc", "CDEPK3456H", "ord-a"), ("dd", "DEFPK4567J", "ord-b")] {
        let (run, _) = run_of(&mut store, sha, pan, Some(id));
        let row = results(&store, run).remove(0);
        assert_eq!(
            (row.status, row.error_code.as_deref()),
            (RowStatus::Invalid, Some("order_id.taken")),
            "{id}"
        );
    }
}

#[test]
fn a_customer_an_older_version_claimed_under_another_customers_id_in_another_case_is_not_sent() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("s.db")).unwrap();
    let (gita, xia) = ("ABGPR1234F", "AXLPL3005E");
    let (first, _) = run_of(&mut store, "aa", gita, Some("ORD-W1"));
    store.claim(first, &[(2, store.pan_key(gita))]).unwrap();
    store.record(first, &[registered(2)]).unwrap();
    // As a version that told ids apart by their case left it: Xia claimed under `ord-w1`, her
    // request perhaps sent, no answer.
    let claimed_under_ord_w1 = |store: &mut Store, sha: &str| {
        let (run, _) = run_of(store, sha, xia, Some("XIA-1"));
        store.claim(run, &[(2, store.pan_key(xia))]).unwrap();
        store.conn.execute("UPDATE rows SET order_id = 'ord-w1' WHERE run_id = ?1", [run]).unwrap();
        let key = store.pan_key(xia);
        store
            .conn
            .execute("UPDATE claims SET order_id = 'ord-w1', open = 1 WHERE pan_key = ?1", [key.as_slice()])
            .unwrap();
        run
    };
    // Resumed: refused at its claim, and the claim let go.
    let run = claimed_under_ord_w1(&mut store, "bb");
    store.requeue_in_flight(run).unwrap();
    assert_eq!(store.claim(run, &[(2, store.pan_key(xia))]).unwrap(), vec![Claim::Taken { line: 2 }]);
    let row = results(&store, run).remove(0);
    assert_eq!((row.status, row.error_code.as_deref()), (RowStatus::Invalid, Some("order_id.taken")));
    let error = row.error.unwrap();
    assert!(error.starts_with("an earlier run gave this customer order id ord-w1"), "{error}");
    assert!(error.contains("written ORD-W1 there") && error.contains("Ask AOPay"), "{error}");
    // In a new file: refused as it is read, and the claim let go, so that the clerk's next file,
    // after asking AOPay, sends her under the id it gives.
    claimed_under_ord_w1(&mut store, "cc");
    let (new_file, _) = run_of(&mut store, "dd", xia, Some("XIA-2"));
    let row = results(&store, new_file).remove(0);
    assert_eq!((row.status, row.error_code.as_deref()), (RowStatus::Invalid, Some("order_id.taken")));
    assert_eq!(row.warnings, None, "not 'sent again under that id'");
    let (after, id) = run_of(&mut store, "ee", xia, Some("XIA-3"));
    assert_eq!((results(&store, after)[0].status, id.as_str()), (RowStatus::Pending, "XIA-3"));
}

/// The state knows an id it sent by a keyed hash of it (`sent_ids`) that is one for ids the file
/// takes for one (`validate::order_id_key`), and another for any other, over every character an
/// id may have, in every pair.
#[test]
fn the_state_knows_order_ids_as_the_file_compares_them() {
    use super::ledger::{order_id_key_with, pan_key_with};
    let key = [7u8; 32];
    let allowed: Vec<char> =
        (0u8..=127).map(char::from).filter(|c| c.is_ascii_alphanumeric() || "_-".contains(*c)).collect();
    for a in &allowed {
        for b in &allowed {
            let (a, b) = (format!("ORD{a}"), format!("ord{b}"));
            let same_key = order_id_key_with(&key, &a) == order_id_key_with(&key, &b);
            let same_id = crate::validate::order_id_key(&a) == crate::validate::order_id_key(&b);
            assert_eq!(same_key, same_id, "{a} and {b}");
        }
    }
    // Keyed: another state's key, another hash; and an id that is a PAN is not that PAN's key.
    assert_ne!(order_id_key_with(&key, "ORD-1"), order_id_key_with(&[8; 32], "ORD-1"));
    assert_ne!(order_id_key_with(&key, "ABCPK1234F"), pan_key_with(&key, "ABCPK1234F"));
}
