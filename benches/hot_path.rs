//! The per-row hot path, piece by piece: reading and cleaning a CSV record, validating a row,
//! building and serialising the request body, classifying an answer, and the store's group
//! commits (a claim of 100 rows, the outcomes of 100 rows). Each figure is per row or per batch,
//! so a change to one stage shows up on its own; `benches/e2e.sh` measures them together.
//!
//! `cargo bench --bench hot_path` (all), `cargo bench --bench hot_path -- store` (some).
//! The store benchmarks commit with `synchronous = FULL` on a real file in the temporary
//! directory: they measure this machine's fsync as much as the code.

use std::cell::RefCell;
use std::hint::black_box;
use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use reqwest::header::{HeaderMap, HeaderValue};

use cibil_bulk::api::{ApiSettings, Client, Credentials, Method, Registration, classify};
use cibil_bulk::input::{self, ProbeOptions, RawRow, RowReader};
use cibil_bulk::store::{NewRow, RowResult, RowStatus, Store};
use cibil_bulk::validate::{Applicant, Rules, check_row};

const ROWS: usize = 1000;

/// `n` customer rows as a spreadsheet exports them: names with a middle name now and then, a
/// cell with spaces to trim, a branch column the tool carries along.
fn customer_file(n: usize) -> String {
    const FIRST: [&str; 6] = ["Aarav", "Priya", "Imran", "Gurpreet", "Meera", "Joseph"];
    const LAST: [&str; 6] = ["Kumar", "Sharma", "Khan", "Singh", "Iyer", "D'Souza"];
    let mut text = String::from(
        "first_name,middle_name,last_name,pancard,date_of_birth,email_id,mobile_number,branch\n",
    );
    for i in 0..n {
        let (first, last) = (FIRST[i % 6], LAST[(i / 6) % 6]);
        let middle = if i % 4 == 0 { " Mohan " } else { "" };
        let block = i / 9999;
        let letter = |k: usize| char::from(b'A' + (k % 26) as u8);
        let initial = last.chars().next().unwrap_or('K');
        text.push_str(&format!(
            "{first},{middle},{last},{}{}{}P{initial}{:04}F,{:02}/{:02}/{},{}.{}{i}@example.in,{},Mumbai\n",
            letter(block / 676),
            letter(block / 26),
            letter(block),
            i % 9999 + 1,
            i % 28 + 1,
            i % 12 + 1,
            1950 + i % 50,
            first.to_lowercase(),
            last.to_lowercase().replace('\'', ""),
            6_000_000_000u64 + i as u64 * 3,
        ));
    }
    text
}

struct Fixture {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    probe: input::Probe,
    rules: Rules,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("customers.csv");
    std::fs::File::create(&path)
        .and_then(|mut f| f.write_all(customer_file(ROWS).as_bytes()))
        .expect("write the customer file");
    let probe = input::probe(&path, ProbeOptions::default()).expect("probe");
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 25).expect("a date");
    let rules = Rules::new(today);
    Fixture { _dir: dir, path, probe, rules }
}

fn reader(f: &Fixture) -> RowReader {
    RowReader::open(&f.path, &f.probe, &[], &f.rules.required_fields(), &input::SheetOptions::default())
        .expect("open the customer file")
}

fn read_rows(f: &Fixture) -> Vec<RawRow> {
    let mut reader = reader(f);
    let mut rows = Vec::new();
    let mut row = RawRow::default();
    while reader.read_row(&mut row).expect("read a row") {
        rows.push(row.clone());
    }
    rows
}

fn applicants(f: &Fixture) -> Vec<Applicant> {
    let reader = reader(f);
    read_rows(f)
        .iter()
        .filter_map(|row| check_row(row, reader.columns(), &f.rules).customer.as_ref().map(Applicant::from))
        .collect()
}

fn read_and_clean(c: &mut Criterion) {
    let f = fixture();
    let mut group = c.benchmark_group("input");
    group.throughput(Throughput::Elements(ROWS as u64));
    group.bench_function("read and clean 1000 rows", |b| {
        b.iter(|| {
            let mut reader = reader(&f);
            let mut row = RawRow::default();
            let mut bytes = 0;
            while reader.read_row(&mut row).expect("read a row") {
                for i in 0..row.cells.len() {
                    bytes += row.value(i).len();
                }
            }
            black_box(bytes)
        });
    });
    group.finish();
}

fn validate(c: &mut Criterion) {
    let f = fixture();
    let rows = read_rows(&f);
    let columns = reader(&f).columns().clone();
    let mut group = c.benchmark_group("validate");
    group.throughput(Throughput::Elements(rows.len() as u64));
    group.bench_function("check 1000 rows", |b| {
        b.iter(|| {
            for row in &rows {
                black_box(check_row(row, &columns, &f.rules));
            }
        });
    });
    group.finish();
}

fn client() -> Client {
    Client::new(&ApiSettings {
        endpoint: "http://127.0.0.1:9/api/AOP/CibilScore/registeration".parse().expect("a URL"),
        method: Method::Get,
        timeout: Duration::from_secs(30),
        connect_timeout: Duration::from_secs(10),
        headers: Vec::new(),
        omit_empty_middle_name: false,
        credentials: Credentials { registration_id: "AOP-554".into(), company_code: "CMP1045".into() },
        pool_size: 8,
    })
    .expect("a client")
}

fn request(c: &mut Criterion) {
    let f = fixture();
    let applicants = applicants(&f);
    let client = client();
    let mut group = c.benchmark_group("api");
    group.throughput(Throughput::Elements(applicants.len() as u64));
    group.bench_function("build and serialise 1000 request bodies", |b| {
        b.iter(|| {
            for applicant in &applicants {
                black_box(client.body(applicant));
            }
        });
    });
    group.finish();
}

fn classify_answers(c: &mut Criterion) {
    let json = {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        headers
    };
    let html = {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("text/html"));
        headers
    };
    let answers: [(&str, u16, &HeaderMap, &[u8]); 3] = [
        (
            "registered",
            200,
            &json,
            br#"{"status":"SUCCESS","message":"success","error_code":"SPC-200","merchant_trans_id":"SPCBL2611251502178507b3S8ckeFd","access_token":"331ce0f1a6b2c3d4e5f60718293a4b5c6d7e8f90","result":{"cibil_id":"4417730058211","cibil_status":"Pending","is_returning_customer":0,"cibil_score_fetch_date":null}}"#,
        ),
        (
            "business error",
            200,
            &json,
            br#"{"code":"205","description":"pancard is not a valid PAN","merchantTrxnRefId":null,"token":null,"status":"False"}"#,
        ),
        (
            "proxy page",
            502,
            &html,
            b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>",
        ),
    ];
    let mut group = c.benchmark_group("classify");
    group.throughput(Throughput::Elements(1));
    for (name, status, headers, body) in answers {
        group.bench_function(name, |b| b.iter(|| black_box(classify(status, headers, black_box(body)))));
    }
    group.finish();
}

/// A state database holding `rows` pending rows of one run.
fn store_with_pending(dir: &Path, run: u32, applicants: &[Applicant]) -> (Store, i64, Vec<(u64, [u8; 16])>) {
    let mut store = Store::open(&dir.join(format!("state-{run}.db"))).expect("open the state");
    let sha = format!("{run:064x}");
    let mut import = store
        .begin_import(
            "customers.csv",
            &sha,
            &["first_name".to_owned()],
            &input::Locator::Lines,
            &serde_json::json!({}),
            None,
        )
        .expect("import");
    for (i, applicant) in applicants.iter().enumerate() {
        let new = NewRow {
            line: i as u64 + 2,
            status: RowStatus::Pending,
            order_id: Some(&applicant.order_id),
            duplicate_of: None,
            applicant: Some(applicant),
            error_code: "",
            error: "",
            warnings: "",
            violations: &[],
        };
        import.add(&new, ["Ravi"]).expect("add a row");
    }
    let run_id = import.finish().expect("finish the import");
    let keys =
        applicants.iter().enumerate().map(|(i, a)| (i as u64 + 2, store.pan_key(&a.pancard))).collect();
    (store, run_id, keys)
}

/// Rows to claim and record, refilled with a fresh run when used up.
struct Pending {
    dir: tempfile::TempDir,
    applicants: Vec<Applicant>,
    runs: u32,
    store: Store,
    run_id: i64,
    keys: Vec<(u64, [u8; 16])>,
}

impl Pending {
    fn new() -> Pending {
        let dir = tempfile::tempdir().expect("a temporary directory");
        // Ten thousand distinct customers: ten copies of the fixture's, order ids made distinct.
        let base = applicants(&fixture());
        let applicants: Vec<Applicant> = (0..10)
            .flat_map(|copy| {
                base.iter().map(move |a| {
                    let mut a = a.clone();
                    a.order_id = format!("{}-{copy}", a.order_id);
                    a.pancard = format!("{}{}", &a.pancard[..9], char::from(b'A' + copy as u8));
                    a
                })
            })
            .collect();
        let (store, run_id, keys) = store_with_pending(dir.path(), 0, &applicants);
        Pending { dir, applicants, runs: 1, store, run_id, keys }
    }

    /// The next `n` pending rows.
    fn take(&mut self, n: usize) -> Vec<(u64, [u8; 16])> {
        if self.keys.len() < n {
            let (store, run_id, keys) = store_with_pending(self.dir.path(), self.runs, &self.applicants);
            (self.store, self.run_id, self.keys) = (store, run_id, keys);
            self.runs += 1;
        }
        self.keys.split_off(self.keys.len() - n)
    }
}

fn registered(line: u64) -> RowResult {
    RowResult::Registered {
        line,
        attempts: 1,
        registration: Registration {
            http_status: 200,
            cibil_id: format!("44177300{line:05}"),
            cibil_status: Some("Pending".into()),
            is_returning_customer: false,
            merchant_trans_id: Some("SPCBL2611251502178507b3S8ckeFd".into()),
            access_token: Some("331ce0f1a6b2c3d4e5f60718293a4b5c6d7e8f90".into()),
        },
    }
}

fn store(c: &mut Criterion) {
    // Setup and measured routine both reach the one store.
    let pending = RefCell::new(Pending::new());
    let mut group = c.benchmark_group("store");
    group.throughput(Throughput::Elements(100));
    group.bench_function("claim 100 rows (one commit)", |b| {
        b.iter_batched(
            || pending.borrow_mut().take(100),
            |rows| {
                let mut pending = pending.borrow_mut();
                let run_id = pending.run_id;
                black_box(pending.store.claim(run_id, &rows).expect("claim"))
            },
            BatchSize::PerIteration,
        );
    });
    group.bench_function("record 100 outcomes (one commit)", |b| {
        b.iter_batched(
            || {
                let mut pending = pending.borrow_mut();
                let rows = pending.take(100);
                let run_id = pending.run_id;
                pending.store.claim(run_id, &rows).expect("claim");
                rows.iter().map(|(line, _)| registered(*line)).collect::<Vec<_>>()
            },
            |results| {
                let mut pending = pending.borrow_mut();
                let run_id = pending.run_id;
                pending.store.record(run_id, &results).expect("record")
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

criterion_group!(benches, read_and_clean, validate, request, classify_answers, store);
criterion_main!(benches);
