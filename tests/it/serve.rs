//! `cibil-bulk serve` over HTTP: a real server on 127.0.0.1 port 0 in the test's process, a real
//! client (reqwest), and the sandbox's statistics to prove from the vendor's side what was sent.
//! One test per rule of the server: who may ask (nobody, a wrong or revoked token, an expired
//! session, a form without its CSRF token, too many failed logins), the limits (413, 422), each
//! call of the API, and two uploads that share customers, sent once.

use std::future::Future;
use std::time::Duration;

use crate::common::serving::{PASSWORD, Served, TOKEN, USER, csv_rows, sample, set_cookie_header};
use crate::common::{HEADER, customer};
use reqwest::header::{COOKIE, RETRY_AFTER, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// Every test ends within a minute, or fails: a hang is a failure, not a stuck suite.
async fn within_a_minute(test: impl Future<Output = ()>) {
    tokio::time::timeout(Duration::from_secs(60), test).await.expect("the test took over a minute");
}

/// A CSV of the customers numbered `from..from + n` (see `crate::common::customer`).
fn customers(from: u32, n: u32) -> Vec<u8> {
    let mut text = format!("{HEADER}\n");
    for i in from..from + n {
        text.push_str(&customer(i));
        text.push('\n');
    }
    text.into_bytes()
}

fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value.as_object().expect("an object").keys().map(String::as_str).collect();
    keys.sort_unstable();
    keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_alone_answers_without_a_login_or_a_token() {
    within_a_minute(async {
        let served = Served::start(&[]).await;
        let health = served.http.get(served.url("/healthz")).send().await.unwrap();
        assert_eq!(health.status(), StatusCode::OK);
        assert_eq!(health.json::<Value>().await.unwrap()["status"], "ok");

        // Pages send to the sign-in page, remembering where the person was going.
        for path in ["/", "/uploads/1", "/uploads/1/results"] {
            let page = served.http.get(served.url(path)).send().await.unwrap();
            assert_eq!(page.status(), StatusCode::SEE_OTHER, "{path}");
            let to = page.headers()["location"].to_str().unwrap();
            assert!(to.starts_with("/login"), "{path} → {to}");
        }
        // The API answers 401 with how to authenticate.
        for (method, path) in [
            (Method::GET, "/api/uploads"),
            (Method::POST, "/api/uploads"),
            (Method::GET, "/api/uploads/1"),
            (Method::POST, "/api/uploads/1/register"),
            (Method::GET, "/api/uploads/1/results"),
            (Method::GET, "/api/uploads/1/errors"),
        ] {
            let answer = served.http.request(method.clone(), served.url(path)).send().await.unwrap();
            assert_eq!(answer.status(), StatusCode::UNAUTHORIZED, "{method} {path}");
            assert_eq!(answer.headers()[WWW_AUTHENTICATE], "Bearer");
            let body: Value = answer.json().await.unwrap();
            assert!(body["error"].as_str().unwrap().contains("Authorization: Bearer"), "{body}");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_or_revoked_token_opens_nothing() {
    within_a_minute(async {
        let served = Served::start(&[]).await;
        let wrong =
            served.http.get(served.url("/api/uploads")).bearer_auth("cbk_not-a-token").send().await.unwrap();
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
        // The session cookie is no API credential, nor the token a page's.
        let session = served.sign_in().await;
        let with_cookie = served.http.get(served.url("/api/uploads")).header(COOKIE, &session.cookie);
        assert_eq!(with_cookie.send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
        let page_with_token = served.http.get(served.url("/")).bearer_auth(TOKEN).send().await.unwrap();
        assert_eq!(page_with_token.status(), StatusCode::SEE_OTHER);

        assert_eq!(served.get_json("/api/uploads").await.0, StatusCode::OK);
        // Revoked while the server runs (as `cibil-bulk tokens revoke` does): refused at once.
        let store = cibil_bulk::store::Store::open(&served.state).unwrap();
        assert!(store.revoke_token("nightly-cron").unwrap());
        let (status, body) = served.get_json("/api/uploads").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(body["error"].as_str().unwrap().contains("revoked"), "{body}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_cookie_is_private_and_an_expired_session_signs_out() {
    within_a_minute(async {
        let served = Served::start(&[]).await;
        let session = served.sign_in().await;
        let home = served.page(&session, Method::GET, "/").send().await.unwrap();
        assert_eq!(home.status(), StatusCode::OK);
        assert!(home.text().await.unwrap().contains("Signed in as"));

        // The cookie: HttpOnly, SameSite=Strict, expiring; Secure behind https.
        let form = served.http.get(served.url("/login")).send().await.unwrap();
        let login_cookie = set_cookie_header(&form, "cibil_bulk_login").unwrap();
        let token = login_cookie.split(';').next().unwrap().to_owned();
        let csrf = crate::common::serving::hidden_csrf(&form.text().await.unwrap());
        let answer = served
            .http
            .post(served.url("/login"))
            .header(COOKIE, &token)
            .header("x-forwarded-proto", "https")
            .form(&[("name", USER), ("password", PASSWORD), ("csrf", &csrf), ("next", "/uploads/9")])
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::SEE_OTHER);
        assert_eq!(answer.headers()["location"], "/uploads/9", "back where the person was going");
        let cookie = set_cookie_header(&answer, "cibil_bulk_session").unwrap();
        for part in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=36000", "Secure"] {
            assert!(cookie.contains(part), "{cookie}");
        }
        assert!(
            !set_cookie_header(&form_answer(&served).await, "cibil_bulk_login").unwrap().contains("Secure")
        );

        // Only a hash of the session's id is kept: the cookie's value is nowhere in the state.
        let value = session.cookie.trim_start_matches("cibil_bulk_session=").to_owned();
        let bytes = std::fs::read(&served.state).unwrap();
        let wal = std::fs::read(served.state.with_file_name("cibil-bulk.db-wal")).unwrap_or_default();
        assert!(!contains(&bytes, value.as_bytes()) && !contains(&wal, value.as_bytes()));

        // Expired (as it would be ten hours later): back to the sign-in page, cookie removed.
        let db = rusqlite::Connection::open(&served.state).unwrap();
        db.busy_timeout(Duration::from_secs(5)).unwrap();
        assert!(db.execute("UPDATE sessions SET expires_at = 0", []).unwrap() >= 1);
        let expired = served.page(&session, Method::GET, "/").send().await.unwrap();
        assert_eq!(expired.status(), StatusCode::SEE_OTHER);
        assert!(expired.headers()["location"].to_str().unwrap().starts_with("/login"));
        assert!(set_cookie_header(&expired, "cibil_bulk_session").unwrap().contains("Max-Age=0"));

        // Signing out ends the session on the server, not only in the browser.
        let session = served.sign_in().await;
        let out = served.sign_out(&session).await;
        assert_eq!(out.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            served.page(&session, Method::GET, "/").send().await.unwrap().status(),
            StatusCode::SEE_OTHER
        );
    })
    .await;
}

async fn form_answer(served: &Served) -> reqwest::Response {
    served.http.get(served.url("/login")).send().await.unwrap()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_form_needs_its_csrf_token() {
    within_a_minute(async {
        let served = Served::start(&[]).await;
        let session = served.sign_in().await;
        let (status, upload) = served.upload("customers.csv", sample("customers.csv")).await;
        assert_eq!(status, StatusCode::CREATED);
        let id = upload["id"].as_u64().unwrap();

        // Upload form: without the token, or with another session's.
        for csrf in [None, Some("0".repeat(64))] {
            let mut form = reqwest::multipart::Form::new();
            if let Some(csrf) = csrf {
                form = form.text("csrf", csrf);
            }
            let part = reqwest::multipart::Part::bytes(sample("customers.csv")).file_name("customers.csv");
            let answer = served.page(&session, Method::POST, "/uploads").multipart(form.part("file", part));
            assert_eq!(answer.send().await.unwrap().status(), StatusCode::FORBIDDEN);
        }
        // Register and sign out: refused, and nothing changed.
        for path in [format!("/uploads/{id}/register"), "/logout".to_owned()] {
            let without =
                served.page(&session, Method::POST, &path).form(&[("other", "x")]).send().await.unwrap();
            assert_eq!(without.status(), StatusCode::FORBIDDEN, "{path}");
            let wrong = served
                .page(&session, Method::POST, &path)
                .form(&[("csrf", "0".repeat(64))])
                .send()
                .await
                .unwrap();
            assert_eq!(wrong.status(), StatusCode::FORBIDDEN, "{path}");
        }
        let (_, listed) = served.get_json("/api/uploads").await;
        assert_eq!(listed.as_array().unwrap().len(), 1, "no upload was added");
        assert_eq!(served.get_json(&format!("/api/uploads/{id}")).await.1["state"], "validated");
        assert_eq!(served.stats().requests, 0);
        assert_eq!(served.page(&session, Method::GET, "/").send().await.unwrap().status(), StatusCode::OK);

        // Sign-in form: its token must match its cookie.
        let answer = served
            .http
            .post(served.url("/login"))
            .form(&[("name", USER), ("password", PASSWORD), ("csrf", "x")])
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::FORBIDDEN);
        assert!(set_cookie_header(&answer, "cibil_bulk_session").is_none());

        // With the token, the form works.
        let part = reqwest::multipart::Part::bytes(sample("customers.csv")).file_name("again.csv");
        let form = reqwest::multipart::Form::new().text("csrf", session.csrf.clone()).part("file", part);
        let answer = served.page(&session, Method::POST, "/uploads").multipart(form).send().await.unwrap();
        assert_eq!(answer.status(), StatusCode::SEE_OTHER);
        assert!(answer.headers()["location"].to_str().unwrap().starts_with("/uploads/"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_slow_the_name_down() {
    within_a_minute(async {
        let served = Served::start(&[]).await;
        for _ in 0..3 {
            let refused = served.sign_in_as(USER, "not the password").await.unwrap_err();
            assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
            assert!(refused.text().await.unwrap().contains("do not match"));
        }
        // An unknown name is refused the same way.
        let refused = served.sign_in_as("nobody", PASSWORD).await.unwrap_err();
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
        // Now even the right password waits: the attempt is not checked at all.
        let held = served.sign_in_as(USER, PASSWORD).await.unwrap_err();
        assert_eq!(held.status(), StatusCode::TOO_MANY_REQUESTS);
        let wait: u64 = held.headers()[RETRY_AFTER].to_str().unwrap().parse().unwrap();
        assert!((1..=300).contains(&wait), "{wait}");
        assert!(held.text().await.unwrap().contains("Too many failed sign-in attempts"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_is_checked_and_nothing_is_sent() {
    within_a_minute(async {
        let served = Served::start(&[]).await;
        let (status, created) = served.upload("customers.xlsx", sample("customers.xlsx")).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        assert_eq!(keys(&created), ["counts", "file", "id", "rows", "state"]);
        assert_eq!(created["state"], "validated");
        assert_eq!(created["file"], "customers.xlsx");
        assert_eq!(created["rows"], 50);
        let counts = &created["counts"];
        assert_eq!((counts["pending"].as_u64(), counts["invalid"].as_u64()), (Some(43), Some(6)));
        assert_eq!(counts["duplicate"], 1);
        assert_eq!(
            keys(counts),
            ["duplicate", "failed", "in_flight", "invalid", "known", "pending", "registered", "rejected"]
        );
        assert_eq!(served.stats().requests, 0, "checking sends nothing");

        let (status, listed) = served.get_json("/api/uploads").await;
        assert_eq!(status, StatusCode::OK);
        let first = &listed.as_array().unwrap()[0];
        assert_eq!(keys(first), ["counts", "file", "id", "state", "uploaded_at", "uploaded_by"]);
        assert_eq!(first["uploaded_by"], "token nightly-cron");
        assert!(first["uploaded_at"].as_str().unwrap().ends_with('Z'));

        let id = created["id"].as_u64().unwrap();
        let (status, summary) = served.get_json(&format!("/api/uploads/{id}")).await;
        assert_eq!(status, StatusCode::OK);
        for key in [
            "command",
            "file",
            "sha256",
            "run_id",
            "resumed",
            "endpoint",
            "dry_run",
            "rows",
            "counts",
            "returning_customers",
            "requests",
            "duration_seconds",
            "requests_per_second",
            "stopped",
            "stop_reason",
            "files",
            "exit_code",
            "state",
        ] {
            assert!(summary.get(key).is_some(), "{key} missing from {summary}");
        }
        assert_eq!((summary["state"].as_str(), summary["run_id"].as_null()), (Some("validated"), Some(())));

        // The annotated errors workbook, and the same rows as CSV on demand.
        let errors = served.api(Method::GET, &format!("/api/uploads/{id}/errors")).send().await.unwrap();
        assert_eq!(errors.status(), StatusCode::OK);
        assert!(errors.headers()["content-disposition"].to_str().unwrap().contains("customers.errors.xlsx"));
        assert!(errors.bytes().await.unwrap().starts_with(b"PK"), "a workbook");
        let csv =
            served.api(Method::GET, &format!("/api/uploads/{id}/errors?format=csv")).send().await.unwrap();
        let rows = csv_rows(&csv.bytes().await.unwrap());
        assert_eq!(rows.len(), 6);
        assert!(
            rows.iter().all(|r| !r["error"].is_empty() && r.contains_key("PAN No")),
            "the file's own columns"
        );
        // No results before registering.
        let early = served.api(Method::GET, &format!("/api/uploads/{id}/results")).send().await.unwrap();
        assert_eq!(early.status(), StatusCode::CONFLICT);
        // No such upload.
        assert_eq!(served.get_json("/api/uploads/999").await.0, StatusCode::NOT_FOUND);
        assert_eq!(served.register(999).await.0, StatusCode::NOT_FOUND);
    })
    .await;
}

/// A file named after the merchant's credentials, plainly or in disguise: the name is shown, kept
/// and logged with them masked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_named_after_a_credential_is_kept_without_it() {
    within_a_minute(async {
        let served = Served::start(&[]).await;
        for name in ["CMP-SANDBOX.csv", "aop sandbox customers.csv", "Report_AOP_SANDBOX.csv"] {
            let (status, created) = served.upload(name, sample("customers.csv")).await;
            assert_eq!(status, StatusCode::CREATED, "{created}");
            let (_, listed) = served.get_json("/api/uploads").await;
            for shown in [&created["file"], &listed[0]["file"]] {
                let read = cibil_bulk::mask::letters_and_digits(shown.as_str().unwrap());
                assert!(
                    !read.contains("cmpsandbox") && !read.contains("aopsandbox"),
                    "{name} shown as {shown}"
                );
            }
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_over_the_limit_is_413() {
    within_a_minute(async {
        let served = Served::start(&["--max-upload", "2kB"]).await;
        let (status, body) = served.upload("big.csv", customers(0, 60)).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
        assert!(body["error"].as_str().unwrap().contains("2,000 bytes"), "{body}");
        let (status, _) = served.upload("small.csv", customers(0, 5)).await;
        assert_eq!(status, StatusCode::CREATED, "a file under the limit passes");
        let leftovers: Vec<_> = std::fs::read_dir(served.dir.path().join("cibil-bulk.uploads"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.') && n != cibil_bulk::store::UPLOADS_MARK)
            .collect();
        assert!(leftovers.is_empty(), "nothing of the refused file stays: {leftovers:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_cannot_be_used_is_422_with_why() {
    within_a_minute(async {
        let served = Served::start(&[]).await;
        let cases: [(&str, Vec<u8>, &str); 4] = [
            ("no-pan.csv", b"first_name,last_name,date_of_birth,email_id,mobile_number\nRavi,Kumar,31/01/1985,r@example.com,9876543210\n".to_vec(), "no column for pancard"),
            ("empty.csv", Vec::new(), "is empty"),
            ("scan.pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n".to_vec(), "not a customer file"),
            // The start of a workbook, and then nothing a workbook is made of.
            ("broken.xlsx", b"PK\x03\x04\x14\x00\x00\x00\x08\x00garbage that is not a zip".to_vec(), "not a customer file"),
        ];
        for (name, bytes, why) in cases {
            let (status, body) = served.upload(name, bytes).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{name}: {body}");
            let error = body["error"].as_str().unwrap();
            assert!(error.contains(why), "{name}: {error}");
            assert!(error.contains(name), "the sender's name for the file: {error}");
            assert!(!error.contains(".incoming") && !error.contains("cibil-bulk.uploads"), "no server path: {error}");
        }
        assert!(served.get_json("/api/uploads").await.1.as_array().unwrap().is_empty());
        // Not multipart at all.
        let answer = served.api(Method::POST, "/api/uploads").body("first_name\n").send().await.unwrap();
        assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registering_sends_the_valid_rows_and_the_results_come_back() {
    within_a_minute(async {
        let served = Served::start(&[]).await;
        let (_, created) = served.upload("customers.xlsx", sample("customers.xlsx")).await;
        let id = created["id"].as_u64().unwrap();
        let (status, queued) = served.register(id).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
        assert!(["queued", "running"].contains(&queued["state"].as_str().unwrap()), "{queued}");

        let summary = served.wait_for(id, "finished").await;
        assert_eq!(summary["counts"]["registered"], 43, "{summary}");
        assert_eq!((summary["requests"].as_u64(), summary["exit_code"].as_u64()), (Some(43), Some(1)));
        assert_eq!(summary["registered_by"], "token nightly-cron");
        assert_eq!(summary["files"]["results"], format!("/api/uploads/{id}/results"));
        let stats = served.stats();
        assert_eq!((stats.requests, stats.registered), (43, 43));

        // A workbook upload gets workbooks; ?format=csv the same as CSV, with the CLI's columns.
        let workbook = served.api(Method::GET, &format!("/api/uploads/{id}/results")).send().await.unwrap();
        assert!(
            workbook.headers()["content-disposition"].to_str().unwrap().contains("customers.results.xlsx")
        );
        assert!(workbook.bytes().await.unwrap().starts_with(b"PK"));
        let csv =
            served.api(Method::GET, &format!("/api/uploads/{id}/results?format=csv")).send().await.unwrap();
        let rows = csv_rows(&csv.bytes().await.unwrap());
        assert_eq!(rows.len(), 50);
        let registered =
            rows.iter().filter(|r| r["status"] == "registered" && !r["cibil_id"].is_empty()).count();
        assert_eq!(registered, 43);
        assert!(rows.iter().all(|r| r.contains_key("order_id") && r.contains_key("Branch")));

        // Registering again: nothing left to send, so nothing changes, and the answer says so.
        let (status, again) = served.register(id).await;
        assert_eq!(status, StatusCode::OK, "{again}");
        assert_eq!(
            (again["state"].as_str(), again["nothing_to_send"].as_bool()),
            (Some("finished"), Some(true))
        );
        let same = served.wait_for(id, "finished").await;
        assert_eq!(same["registered_at"], summary["registered_at"]);
        assert_eq!(served.stats().requests, 43);
    })
    .await;
}

/// A job that ends moves the state's log into its database file, though the server keeps the
/// state open: a plain copy of the `.db` alone, taken then, holds the whole job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_of_the_database_file_after_a_job_holds_the_whole_job() {
    within_a_minute(async {
        let served = Served::start(&[]).await;
        let (_, created) = served.upload("in.csv", customers(0, 40)).await;
        let id = created["id"].as_u64().unwrap();
        served.register(id).await;
        served.wait_for(id, "finished").await;
        let copy = served.dir.path().join("copy.db");
        std::fs::copy(&served.state, &copy).unwrap();
        let conn = rusqlite::Connection::open(&copy).unwrap();
        let registered: i64 = conn.query_row("SELECT count(*) FROM ledger", [], |r| r.get(0)).unwrap();
        assert_eq!(registered, 40, "the copy lags the job");
    })
    .await;
}

/// `serve --metrics-file`: every job that ends writes how it ended, for the nightly alerting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_job_writes_the_metrics_file() {
    within_a_minute(async {
        let metrics = tempfile::tempdir().unwrap();
        let path = metrics.path().join("cibil-bulk.prom");
        let served = Served::start(&["--metrics-file", path.to_str().unwrap()]).await;
        let (_, created) = served.upload("in.csv", customers(0, 5)).await;
        let id = created["id"].as_u64().unwrap();
        assert!(!path.exists(), "nothing ended yet");
        served.register(id).await;
        served.wait_for(id, "finished").await;
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\ncibil_bulk_last_run_exit_code 0\n"), "{text}");
        assert!(text.contains("cibil_bulk_last_run_rows{status=\"registered\"} 5\n"), "{text}");
        assert!(text.contains("\ncibil_bulk_last_run_requests_total 5\n"), "{text}");
    })
    .await;
}

/// A job the server cannot go on with ends `aborted`, and the API says so as `run --summary`
/// would: exit status 3, what stopped it and why; nothing is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aborted_job_says_so_with_its_exit_status() {
    within_a_minute(async {
        let served = Served::start(&[]).await;
        let (_, created) = served.upload("in.csv", customers(0, 5)).await;
        let id = created["id"].as_u64().unwrap();
        // The upload changes on the server's disk between its check and its job.
        std::fs::write(served.dir.path().join(format!("cibil-bulk.uploads/{id}.upload")), customers(10, 5))
            .unwrap();
        assert_eq!(served.register(id).await.0, StatusCode::ACCEPTED);
        let summary = served.wait_for(id, "aborted").await;
        assert_eq!(summary["exit_code"], 3, "{summary}");
        assert_eq!(summary["stopped"], "aborted", "{summary}");
        let reason = summary["stop_reason"].as_str().unwrap_or_default();
        assert!(reason.contains("changed on the server's disk"), "{summary}");
        assert!(summary["sha256"].is_string(), "{summary}");
        assert_eq!(served.stats().requests, 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_uploads_sharing_customers_send_each_customer_once() {
    within_a_minute(async {
        let served = Served::start(&[]).await;
        // Customers 0-39 and 20-59: twenty in both.
        let (_, first) = served.upload("monday.csv", customers(0, 40)).await;
        let (_, second) = served.upload("tuesday.csv", customers(20, 40)).await;
        let (first, second) = (first["id"].as_u64().unwrap(), second["id"].as_u64().unwrap());
        // Registered together; they run one after the other.
        assert_eq!(served.register(first).await.0, StatusCode::ACCEPTED);
        assert_eq!(served.register(second).await.0, StatusCode::ACCEPTED);
        let a = served.wait_for(first, "finished").await;
        let b = served.wait_for(second, "finished").await;
        assert_eq!(a["counts"]["registered"], 40, "{a}");
        assert_eq!(
            (b["counts"]["registered"].as_u64(), b["counts"]["known"].as_u64()),
            (Some(20), Some(20)),
            "{b}"
        );
        let stats = served.stats();
        assert_eq!(stats.requests, 60, "sixty customers, sixty requests");
        assert!(
            stats.pans_registered_more_than_once.is_empty(),
            "{:?}",
            stats.pans_registered_more_than_once
        );
        assert_eq!(stats.returning, 0);
        // The second's results give the shared customers the ids the first registered.
        let csv = served.api(Method::GET, &format!("/api/uploads/{second}/results")).send().await.unwrap();
        let rows = csv_rows(&csv.bytes().await.unwrap());
        assert!(rows.iter().take(20).all(|r| r["status"] == "known" && !r["cibil_id"].is_empty()));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_show_the_rows_to_fix_and_register_after_a_confirmation() {
    within_a_minute(async {
        let served = Served::start(&[]).await;
        let session = served.sign_in().await;
        let part = reqwest::multipart::Part::bytes(sample("customers.csv")).file_name("customers.csv");
        let form = reqwest::multipart::Form::new().text("csrf", session.csrf.clone()).part("file", part);
        let answer = served.page(&session, Method::POST, "/uploads").multipart(form).send().await.unwrap();
        let page_path = answer.headers()["location"].to_str().unwrap().to_owned();
        let page = served.page(&session, Method::GET, &page_path).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("Register 43 customers"), "the count on the button");
        assert_eq!(page.matches("class=\"bad\"").count(), 6, "six offending cells highlighted");
        // The uploader sees the real values of the rows to fix; masked examples elsewhere.
        assert!(
            page.contains("AAACR5678K") && page.contains("997361233"),
            "a PAN and a mobile to fix, in full"
        );
        assert!(!page.contains("ORHPH0606Q"), "nothing of the rows that are fine");
        assert!(page.contains("uploaded by asha"));

        let confirm =
            served.page(&session, Method::GET, &format!("{page_path}/register")).send().await.unwrap();
        let confirm = confirm.text().await.unwrap();
        assert!(
            confirm.contains("Register 43 customers with 127.0.0.1?"),
            "the count and the endpoint's host"
        );
        assert_eq!(served.stats().requests, 0, "looking at the confirmation sends nothing");
        let go = served
            .page(&session, Method::POST, &format!("{page_path}/register"))
            .form(&[("csrf", &session.csrf)])
            .send()
            .await
            .unwrap();
        assert_eq!(go.status(), StatusCode::SEE_OTHER);
        let id: u64 = page_path.trim_start_matches("/uploads/").parse().unwrap();
        let upload = served.wait_in_state(id, "finished").await;
        assert_eq!(upload.registered_by.as_deref(), Some(USER));
        let done = served.page(&session, Method::GET, &page_path).send().await.unwrap().text().await.unwrap();
        assert!(done.contains("Download the results"));
        assert!(done.contains("registered by asha"));
        let results =
            served.page(&session, Method::GET, &format!("{page_path}/results")).send().await.unwrap();
        assert_eq!(results.status(), StatusCode::OK);
        assert_eq!(results.headers()["cache-control"], "no-store");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_persons_live_pages_cannot_hold_every_connection() {
    use cibil_bulk::server::listen::MOST_STREAMS_EACH;
    within_a_minute(async {
        let served = Served::start(&[]).await;
        let (status, upload) = served.upload("in.csv", customers(0, 3)).await;
        assert_eq!(status, StatusCode::CREATED, "{upload}");
        let events = format!("/uploads/{}/events", upload["id"]);
        let session = served.sign_in().await;
        let mut open = Vec::new();
        for _ in 0..MOST_STREAMS_EACH {
            let stream = served.page(&session, Method::GET, &events).send().await.unwrap();
            assert_eq!(stream.status(), StatusCode::OK);
            open.push(stream);
        }
        let refused = served.page(&session, Method::GET, &events).send().await.unwrap();
        assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(refused.headers().contains_key(RETRY_AFTER));
        // The rest of the server answers, and a page closed gives its stream back.
        assert_eq!(served.http.get(served.url("/healthz")).send().await.unwrap().status(), StatusCode::OK);
        drop(open.pop());
        loop {
            let stream = served.page(&session, Method::GET, &events).send().await.unwrap();
            if stream.status() == StatusCode::OK {
                open.push(stream);
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Signing out ends every stream of the session: each one's body comes to its end.
        let out = served.sign_out(&session).await;
        assert_eq!(out.status(), StatusCode::SEE_OTHER);
        for stream in open {
            stream.bytes().await.expect("the stream ends");
        }
    })
    .await;
}
