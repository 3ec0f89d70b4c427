//! The server under attack and under the retention rule, over real HTTP: a burst of sign-ins
//! held by the throttle as it arrives, what a stranger may send capped before it is read, tokens
//! held to their scopes and their own uploads, the admins' page and the audit log, personal data
//! erased while the server runs (by `cibil-bulk purge` and by the server's own schedule) from
//! every file under the state's folder, and the smaller promises: JSON for every API refusal,
//! file names that cannot disguise themselves, HSTS behind https, slow clients dropped.

use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, COOKIE, STRICT_TRANSPORT_SECURITY};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::common::serving::{
    ADMIN, PASSWORD, Served, Session, USER, csv_rows, hidden_csrf, sample, set_cookie,
};

/// The sample's customers' personal data that must not outlive a purge: PANs, e-mails, mobiles.
fn sample_personal_data() -> Vec<String> {
    let bytes = sample("customers.csv");
    let mut reader = csv::Reader::from_reader(&bytes[..]);
    let headers = reader.headers().unwrap().clone();
    let column = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let (pan, email, mobile) = (column("pancard"), column("email_id"), column("mobile_number"));
    let mut found = Vec::new();
    for record in reader.records() {
        let record = record.unwrap();
        for at in [pan, email, mobile] {
            let value = record[at].trim();
            // Short or empty cells would match by accident.
            if value.len() >= 8 {
                found.push(value.to_owned());
            }
        }
    }
    assert!(found.len() > 50, "the sample has customers");
    found
}

/// Every file under `dir`, every byte of it (the database, its `-wal` and `-shm`, the uploads).
fn files_holding(dir: &std::path::Path, values: &[String]) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(at) = stack.pop() {
        for entry in std::fs::read_dir(&at).unwrap().filter_map(Result::ok) {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let bytes = std::fs::read(&path).unwrap_or_default();
            for value in values {
                if bytes.windows(value.len()).any(|w| w == value.as_bytes()) {
                    found.push(format!("{} holds {value}", path.display()));
                }
            }
        }
    }
    found
}

/// The sign-in form's cookie and CSRF token, fetched once.
async fn login_form(served: &Served) -> (String, String) {
    let form = served.http.get(served.url("/login")).send().await.unwrap();
    let cookie = set_cookie(&form, "cibil_bulk_login").unwrap();
    (cookie, hidden_csrf(&form.text().await.unwrap()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_sign_ins_costs_one_step_each_and_the_right_password_is_not_let_through() {
    let served = Served::start(&[]).await;
    let (cookie, csrf) = login_form(&served).await;
    // 200 wrong passwords at once, for one name: each is counted before it is checked, so only
    // the throttle's free failures are checked at all (before, all 200 were, and a right
    // password among them signed in).
    let attempts = (0..200).map(|n| {
        let request =
            served.http.post(served.url("/login")).header(COOKIE, format!("cibil_bulk_login={cookie}")).form(
                &[("name", USER), ("password", &format!("guess number {n}")), ("csrf", &csrf), ("next", "/")],
            );
        async move { request.send().await.unwrap() }
    });
    let answers = futures_util::future::join_all(attempts).await;
    let status_count = |status: StatusCode| answers.iter().filter(|a| a.status() == status).count();
    let checked = status_count(StatusCode::UNAUTHORIZED);
    let held = status_count(StatusCode::TOO_MANY_REQUESTS);
    assert!(checked <= 4, "{checked} of 200 simultaneous attempts were checked");
    assert_eq!(held + checked, 200, "every other attempt is held at once, none waits for a password check");
    // And the right password right after is held too.
    let after = served.sign_in_as(USER, PASSWORD).await.unwrap_err();
    assert_eq!(after.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_stranger_sends_to_sign_in_is_capped_before_it_is_read() {
    let served = Served::start(&[]).await;
    let (cookie, csrf) = login_form(&served).await;
    let name = "n".repeat(2 * 1024 * 1024);
    let answer = served
        .http
        .post(served.url("/login"))
        .header(COOKIE, format!("cibil_bulk_login={cookie}"))
        .form(&[("name", name.as_str()), ("password", "x"), ("csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // The rest of the body is never read: the connection ends, and the client is told so, lest it
    // send its next request on it and meet a reset.
    assert_eq!(answer.headers().get("connection").map(|v| v.to_str().unwrap()), Some("close"));
    // A name no one can have is refused like a wrong password, never looked up or remembered.
    let odd = "<script>".repeat(4);
    let refused = served.sign_in_as(&odd, PASSWORD).await.unwrap_err();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert!(!refused.text().await.unwrap().contains("<script>"), "the name is not shown back");
    // A password past the longest accepted is refused, never hashed.
    let refused = served.sign_in_as(USER, &"p".repeat(5000)).await.unwrap_err();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_may_do_only_what_its_scopes_say_to_only_the_uploads_it_made() {
    let served = Served::start(&[]).await;
    let token = |name: &str, scopes: &[cibil_bulk::store::Scope]| {
        let secret = format!("cbk_{name}_{}", "0".repeat(40));
        let store = cibil_bulk::store::Store::open(&served.state).unwrap();
        assert!(store.add_token(name, &cibil_bulk::server::auth::secret_hash(&secret), scopes).unwrap());
        secret
    };
    use cibil_bulk::store::Scope;
    let reader = token("reports", &[Scope::ReadResults]);
    let uploader = token("intake", &[Scope::Upload]);

    // The nightly token (every scope) uploads and registers.
    let (status, created) = served.upload("nightly.csv", sample("customers.csv")).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_u64().unwrap();
    let as_who = |secret: &str, method: Method, path: &str| {
        served.http.request(method, served.url(path)).bearer_auth(secret.to_owned())
    };
    let json_of = |response: reqwest::Response| async move {
        let status = response.status();
        let kind = response.headers()[CONTENT_TYPE].to_str().unwrap().to_owned();
        assert!(kind.starts_with("application/json"), "{status}: {kind}");
        (status, response.json::<Value>().await.unwrap())
    };

    // Another token sees none of it: not in the list, and not by id (as if it were not there).
    let (status, list) = json_of(as_who(&reader, Method::GET, "/api/uploads").send().await.unwrap()).await;
    assert_eq!((status, list.as_array().unwrap().len()), (StatusCode::OK, 0), "{list}");
    for path in [
        format!("/api/uploads/{id}"),
        format!("/api/uploads/{id}/results"),
        format!("/api/uploads/{id}/errors"),
    ] {
        let (status, said) = json_of(as_who(&reader, Method::GET, &path).send().await.unwrap()).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {said}");
    }
    // A scope it lacks is refused, saying which it needs.
    let part = reqwest::multipart::Part::bytes(sample("customers.csv")).file_name("x.csv");
    let form = reqwest::multipart::Form::new().part("file", part);
    let (status, said) =
        json_of(as_who(&reader, Method::POST, "/api/uploads").multipart(form).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(said["error"].as_str().unwrap().contains("upload"), "{said}");

    // The uploader's own upload: it may upload, not register or read the results.
    let part = reqwest::multipart::Part::bytes(sample("customers.csv")).file_name("mine.csv");
    let form = reqwest::multipart::Form::new().part("file", part);
    let (status, mine) =
        json_of(as_who(&uploader, Method::POST, "/api/uploads").multipart(form).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::CREATED, "{mine}");
    let mine = mine["id"].as_u64().unwrap();
    let (status, said) = json_of(
        as_who(&uploader, Method::POST, &format!("/api/uploads/{mine}/register")).send().await.unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{said}");
    assert!(said["error"].as_str().unwrap().contains("register"), "{said}");
    let (status, _) =
        json_of(as_who(&uploader, Method::GET, &format!("/api/uploads/{mine}/errors")).send().await.unwrap())
            .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(served.stats().requests, 0, "nothing was sent");

    // A token with all-uploads sees every upload, and still only does what its scopes say.
    let export = token("export", &[Scope::ReadResults, Scope::AllUploads]);
    let (status, list) = json_of(as_who(&export, Method::GET, "/api/uploads").send().await.unwrap()).await;
    assert_eq!((status, list.as_array().unwrap().len()), (StatusCode::OK, 2), "{list}");
    let (status, said) =
        json_of(as_who(&export, Method::GET, &format!("/api/uploads/{id}")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{said}");
    let (status, _) = json_of(
        as_who(&export, Method::POST, &format!("/api/uploads/{mine}/register")).send().await.unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A person sees the team's uploads, the tokens' included.
    let clerk = served.sign_in().await;
    let page = served.page(&clerk, Method::GET, &format!("/uploads/{mine}")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
}

/// Every API call that takes an upload's id, and how it is asked (and one it never answers).
const ID_CALLS: [(&str, &str); 5] = [
    ("GET", "/api/uploads/{id}"),
    ("POST", "/api/uploads/{id}/register"),
    ("GET", "/api/uploads/{id}/results"),
    ("GET", "/api/uploads/{id}/errors"),
    ("DELETE", "/api/uploads/{id}"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_api_refusal_is_json_whatever_the_path_and_id() {
    let served = Served::start(&[]).await;
    let bad_ids = ["abc", "99999999999999999999", "-1", "1.5", "%E2%80%AE", "0x10", "", "1;drop"];
    for (method, path) in ID_CALLS {
        for id in bad_ids {
            let path = path.replace("{id}", id);
            let answer = served.api(method.parse().unwrap(), &path).send().await.unwrap();
            let status = answer.status();
            let kind = answer.headers().get(CONTENT_TYPE).map(|v| v.to_str().unwrap().to_owned());
            assert!(status.is_client_error(), "{method} {path}: {status}");
            assert!(
                kind.as_deref().is_some_and(|k| k.starts_with("application/json")),
                "{method} {path}: {kind:?}"
            );
            let body: Value = answer.json().await.unwrap();
            assert!(body["error"].is_string(), "{method} {path}: {body}");
        }
    }
    for path in ["/api/", "/api/nothing", "/api/uploads/1/nothing", "/api/%FF"] {
        let answer = served.api(Method::GET, path).send().await.unwrap();
        assert_eq!(answer.status(), StatusCode::NOT_FOUND, "{path}");
        let body: Value = answer.json().await.unwrap();
        assert!(body["error"].is_string(), "{path}: {body}");
    }
    // The pages say the same in a page.
    let clerk = served.sign_in().await;
    let page = served.page(&clerk, Method::GET, "/uploads/abc").send().await.unwrap();
    assert_eq!(page.status(), StatusCode::NOT_FOUND);
    assert!(page.text().await.unwrap().contains("There is no such upload"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_name_cannot_reorder_what_it_shows_and_https_asks_for_https() {
    let served = Served::start(&[]).await;
    let (status, created) = served.upload("invoice\u{202E}xslx.csv", sample("customers.csv")).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["file"], "invoicexslx.csv");

    let plain = served.http.get(served.url("/login")).send().await.unwrap();
    assert!(plain.headers().get(STRICT_TRANSPORT_SECURITY).is_none(), "no HSTS over plain http");
    let proxied =
        served.http.get(served.url("/login")).header("x-forwarded-proto", "https").send().await.unwrap();
    let hsts = proxied.headers()[STRICT_TRANSPORT_SECURITY].to_str().unwrap();
    assert!(hsts.contains("max-age=31536000"), "{hsts}");
}

/// The admin's page, and the CSRF token of its forms.
async fn admin_page(served: &Served, admin: &Session) -> (String, String) {
    let page = served.page(admin, Method::GET, "/admin").send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    let csrf = hidden_csrf(&html);
    (html, csrf)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_manage_people_and_tokens_on_the_page_and_clerks_cannot() {
    let served = Served::start(&[]).await;
    let clerk = served.sign_in().await;
    for (method, path) in
        [(Method::GET, "/admin"), (Method::GET, "/admin/audit.csv"), (Method::POST, "/admin/people")]
    {
        let answer = served
            .page(&clerk, method.clone(), path)
            .form(&[
                ("csrf", clerk.csrf.as_str()),
                ("name", "mallory"),
                ("password", PASSWORD),
                ("role", "admin"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::FORBIDDEN, "{method} {path}");
        assert!(answer.text().await.unwrap().contains("Only an admin"));
    }
    assert!(served.sign_in_as("mallory", PASSWORD).await.is_err(), "a clerk added nobody");

    let admin = served.sign_in_as(ADMIN, PASSWORD).await.unwrap();
    let (html, csrf) = admin_page(&served, &admin).await;
    assert!(
        html.contains(USER) && html.contains(ADMIN) && html.contains("nightly-cron"),
        "people and tokens listed"
    );
    let home = served.page(&admin, Method::GET, "/").send().await.unwrap().text().await.unwrap();
    assert!(home.contains("href=\"/admin\""), "the admin's header links to the page");

    // Add a clerk; they can sign in.
    let post = |path: &str, form: Vec<(&str, &str)>| {
        let mut fields = vec![("csrf", csrf.as_str())];
        fields.extend(form);
        served.page(&admin, Method::POST, path).form(&fields)
    };
    let added = post(
        "/admin/people",
        vec![("name", "ravi"), ("password", "ravi's long password"), ("role", "clerk")],
    )
    .send()
    .await
    .unwrap();
    assert_eq!(added.status(), StatusCode::SEE_OTHER);
    served.sign_in_as("ravi", "ravi's long password").await.expect("the new clerk signs in");
    // Without the form's token, nothing.
    let forged = served
        .page(&admin, Method::POST, "/admin/people")
        .form(&[("name", "eve"), ("password", PASSWORD), ("role", "admin")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    // The last admin stays.
    let refused = post("/admin/people/role", vec![("name", ADMIN), ("role", "clerk")]).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    assert!(refused.text().await.unwrap().contains("only admin"));
    let refused = post("/admin/people/remove", vec![("name", ADMIN)]).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    // A clerk made an admin is one at once; removed, they are signed out.
    let promoted =
        post("/admin/people/role", vec![("name", "ravi"), ("role", "admin")]).send().await.unwrap();
    assert_eq!(promoted.status(), StatusCode::SEE_OTHER);
    let ravi = served.sign_in_as("ravi", "ravi's long password").await.unwrap();
    assert_eq!(served.page(&ravi, Method::GET, "/admin").send().await.unwrap().status(), StatusCode::OK);
    let removed = post("/admin/people/remove", vec![("name", "ravi")]).send().await.unwrap();
    assert_eq!(removed.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        served.page(&ravi, Method::GET, "/admin").send().await.unwrap().status(),
        StatusCode::SEE_OTHER
    );

    // A token with one scope, shown once, works for that and nothing else; revoked, for nothing.
    let made = served
        .page(&admin, Method::POST, "/admin/tokens")
        .body(format!("csrf={csrf}&name=reports&scope=read-results"))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), StatusCode::OK);
    let html = made.text().await.unwrap();
    let at = html.find("cbk_").expect("the token is shown");
    let token: String = html[at..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
    let (html_after, _) = admin_page(&served, &admin).await;
    assert!(!html_after.contains(&token), "shown once, never again");
    let listed = served.http.get(served.url("/api/uploads")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(listed.status(), StatusCode::OK);
    let part = reqwest::multipart::Part::bytes(sample("customers.csv")).file_name("x.csv");
    let upload = served
        .http
        .post(served.url("/api/uploads"))
        .bearer_auth(&token)
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status(), StatusCode::FORBIDDEN);
    let revoked = post("/admin/tokens/revoke", vec![("name", "reports")]).send().await.unwrap();
    assert_eq!(revoked.status(), StatusCode::SEE_OTHER);
    let listed = served.http.get(served.url("/api/uploads")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(listed.status(), StatusCode::UNAUTHORIZED);

    // Every change is in the audit log under the admin's name, on the page and in the CSV file.
    let csv = served.page(&admin, Method::GET, "/admin/audit.csv").send().await.unwrap();
    assert_eq!(csv.status(), StatusCode::OK);
    assert!(csv.headers()[CONTENT_TYPE].to_str().unwrap().starts_with("text/csv"));
    let entries = csv_rows(&csv.bytes().await.unwrap());
    for action in ["user-added", "role-changed", "user-removed", "token-added", "token-revoked"] {
        assert!(
            entries.iter().any(|e| e["action"] == action && e["who"] == ADMIN),
            "{action} by {ADMIN} in {entries:?}"
        );
    }
    for action in ["sign-in", "sign-in-failed"] {
        assert!(entries.iter().any(|e| e["action"] == action), "{action}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_says_who_did_what_to_which_upload_and_never_a_customer() {
    let served = Served::start(&[]).await;
    let (_, created) = served.upload("customers.csv", sample("customers.csv")).await;
    let id = created["id"].as_u64().unwrap();
    served.register(id).await;
    served.wait_for(id, "finished").await;
    let results = served.api(Method::GET, &format!("/api/uploads/{id}/results")).send().await.unwrap();
    assert_eq!(results.status(), StatusCode::OK);
    let admin = served.sign_in_as(ADMIN, PASSWORD).await.unwrap();
    let csv =
        served.page(&admin, Method::GET, "/admin/audit.csv").send().await.unwrap().bytes().await.unwrap();
    let entries = csv_rows(&csv);
    for action in ["upload", "register", "download"] {
        assert!(
            entries.iter().any(|e| e["action"] == action
                && e["who"] == "token nightly-cron"
                && e["upload"] == id.to_string()),
            "{action} of upload {id} in {entries:?}"
        );
    }
    let text = String::from_utf8_lossy(&csv);
    for value in sample_personal_data() {
        assert!(!text.contains(&value), "{value} is in the audit log");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_works_while_the_server_runs_and_leaves_no_customer_in_any_file() {
    let mut served = Served::start(&[]).await;
    // One upload registered to the end, one only checked, each with its files; their names hold
    // a customer's PAN, mobile and e-mail, as a clerk's file names can.
    let (_, done) = served.upload("Aarav ORHPH0606Q 9149709400.csv", sample("customers.csv")).await;
    let done = done["id"].as_u64().unwrap();
    served.register(done).await;
    served.wait_for(done, "finished").await;
    for kind in ["results", "errors"] {
        let file = served.api(Method::GET, &format!("/api/uploads/{done}/{kind}")).send().await.unwrap();
        assert_eq!(file.status(), StatusCode::OK, "{kind}");
    }
    let (_, checked) = served.upload("aarav.hegde@example.in.csv", sample("customers.csv")).await;
    let checked = checked["id"].as_u64().unwrap();
    let personal = sample_personal_data();
    assert!(!files_holding(served.dir.path(), &personal).is_empty(), "the data is there before");

    // `cibil-bulk purge` from cron, while the server holds the state.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let state = served.state.clone();
    let purge = tokio::task::spawn_blocking(move || {
        assert_cmd::Command::cargo_bin("cibil-bulk")
            .unwrap()
            .args(["purge", "--older-than", "1s", "--state"])
            .arg(&state)
            .timeout(Duration::from_secs(60))
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(purge.status.code(), Some(0), "{}", String::from_utf8_lossy(&purge.stderr));
    // The audit log says which uploads were erased.
    let audit = cibil_bulk::store::Store::open(&served.state).unwrap().audit_log(10).unwrap();
    let erased = audit.iter().find(|e| e.action == "purge").expect("the purge is in the audit log");
    assert!(erased.detail.contains(&format!("upload {done}, {checked}")), "{}", erased.detail);

    let left = files_holding(served.dir.path(), &personal);
    assert!(left.is_empty(), "personal data outlived the purge:\n{}", left.join("\n"));
    // Purged uploads say so, offer nothing, and cannot be registered.
    for id in [done, checked] {
        let (status, shown) = served.get_json(&format!("/api/uploads/{id}")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(shown["purged_at"].is_string(), "{shown}");
        for identifier in ["ORHPH0606Q", "9149709400", "aarav.hegde@example.in"] {
            assert!(!shown.to_string().contains(identifier), "{shown}");
        }
        let (status, said) = served.register(id).await;
        assert_eq!(status, StatusCode::GONE, "{id}: {said}");
        for kind in ["results", "errors"] {
            let file = served.api(Method::GET, &format!("/api/uploads/{id}/{kind}")).send().await.unwrap();
            assert_eq!(file.status(), StatusCode::GONE, "{id} {kind}");
        }
    }
    let clerk = served.sign_in().await;
    let page = served.page(&clerk, Method::GET, &format!("/uploads/{checked}")).send().await.unwrap();
    let html = page.text().await.unwrap();
    assert!(html.contains("Customer data erased") && !html.contains("/register"), "{html}");
    // The server goes on, and still knows who was registered: the same customers again are
    // recognised, not sent.
    let sent = served.stats().requests;
    // (A file not byte-identical: the same file again would go on from its own run.)
    let mut edited = sample("customers.csv");
    edited.extend_from_slice(b"\n");
    let (status, again) = served.upload("again.csv", edited).await;
    assert_eq!(status, StatusCode::CREATED);
    let again = again["id"].as_u64().unwrap();
    served.register(again).await;
    let finished = served.wait_for(again, "finished").await;
    assert!(finished["counts"]["known"].as_u64().unwrap() > 0, "{finished}");
    assert_eq!(finished["counts"]["registered"], 0, "{finished}");
    assert_eq!(served.stats().requests, sent, "nobody sent again");
    served.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_erases_what_is_older_than_it_keeps_by_itself() {
    let mut served = Served::start(&["--keep-personal-data", "30d"]).await;
    let (_, done) = served.upload("registered.csv", sample("customers.csv")).await;
    let done = done["id"].as_u64().unwrap();
    served.register(done).await;
    served.wait_for(done, "finished").await;
    let (_, fresh) = served.upload("fresh.csv", sample("customers.csv")).await;
    let fresh = fresh["id"].as_u64().unwrap();
    served.stop().await;

    // The first upload and its run finished 40 days ago; the second came today. And a server
    // killed mid-upload left a part file behind.
    let forty_days = 40 * 24 * 3600 * 1000_i64;
    let db = rusqlite::Connection::open(&served.state).unwrap();
    db.execute("UPDATE runs SET finished_at = finished_at - ?1, started_at = started_at - ?1", [forty_days])
        .unwrap();
    db.execute("UPDATE uploads SET uploaded_at = uploaded_at - ?1 WHERE id = ?2", [forty_days, done as i64])
        .unwrap();
    drop(db);
    let uploads = served.dir.path().join("cibil-bulk.uploads");
    std::fs::write(uploads.join(".incoming-crashed.part"), sample("customers.csv")).unwrap();

    served.restart().await;
    let erased = async {
        loop {
            let (_, shown) = served.get_json(&format!("/api/uploads/{done}")).await;
            if shown["purged_at"].is_string() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(60), erased).await.expect("erased at start");
    let (_, kept) = served.get_json(&format!("/api/uploads/{fresh}")).await;
    assert!(kept["purged_at"].is_null(), "today's upload is kept: {kept}");
    assert!(!uploads.join(".incoming-crashed.part").exists(), "what a crash left is gone");
    let store = cibil_bulk::store::Store::open(&served.state).unwrap();
    let log = store.audit_log(100).unwrap();
    assert!(log.iter().any(|e| e.who == "the server's retention" && e.action == "purge"), "{log:?}");
    // The fresh upload still holds its customers; the erased one's files are gone.
    assert!(!uploads.join(format!("{done}.upload")).exists());
    assert!(uploads.join(format!("{fresh}.upload")).exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_sending_is_dropped() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let served = Served::start(&[]).await;
    let addr = served.base.trim_start_matches("http://").to_owned();
    // Headers that never end, and an upload's body that stops half-way.
    let mut headers = tokio::net::TcpStream::connect(&addr).await.unwrap();
    headers.write_all(b"GET /login HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let mut body = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /api/uploads HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 1000000\r\n\r\n--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\n\r\nfirst_name,",
        crate::common::serving::TOKEN
    );
    body.write_all(head.as_bytes()).await.unwrap();
    let closed = |mut stream: tokio::net::TcpStream| async move {
        let mut rest = Vec::new();
        let _ = stream.read_to_end(&mut rest).await;
        String::from_utf8_lossy(&rest).into_owned()
    };
    let (headers_end, body_end) =
        tokio::time::timeout(Duration::from_secs(120), async { tokio::join!(closed(headers), closed(body)) })
            .await
            .expect("both are dropped, not held");
    assert!(!headers_end.contains("200 OK"), "{headers_end}");
    assert!(!body_end.contains("201"), "{body_end}");
    // Nothing was kept of the stalled upload.
    let (_, list) = served.get_json("/api/uploads").await;
    assert_eq!(list.as_array().unwrap().len(), 0);
}
