//! The sandbox seen from outside: a real HTTP client (reqwest) against a sandbox started on a
//! free loopback port, checking what a client of the vendor would see and what the sandbox says
//! it received. Every async test runs under a timeout, so a hang fails instead of stalling CI;
//! no test asserts how fast anything is.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use cibil_bulk::sandbox::{
    BusinessError, SANDBOX_COMPANY_CODE, SANDBOX_REGISTRATION_ID, Sandbox, SandboxConfig, Stats,
};
use serde_json::{Value, json};

const LOOPBACK: &str = "127.0.0.1:0";

async fn within<F: Future>(test: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(30), test).await.expect("the test did not finish in 30 s")
}

/// A sandbox on a free port and a client for it (one per test: building a client is slow, and
/// its pooled connections belong to the test's runtime).
struct Harness {
    sandbox: Sandbox,
    http: reqwest::Client,
}

impl std::ops::Deref for Harness {
    type Target = Sandbox;
    fn deref(&self) -> &Sandbox {
        &self.sandbox
    }
}

impl Harness {
    async fn shutdown(self) {
        self.sandbox.shutdown().await;
    }
}

async fn start(config: SandboxConfig) -> Harness {
    let sandbox =
        Sandbox::start(LOOPBACK.parse::<SocketAddr>().unwrap(), config).await.expect("the sandbox starts");
    Harness { sandbox, http: client() }
}

fn client() -> reqwest::Client {
    crate::common::http_client().timeout(Duration::from_secs(10)).build().unwrap()
}

/// A body the sandbox accepts.
fn body(order_id: &str, pan: &str) -> Value {
    json!({
        "order_id": order_id,
        "first_name": "Ravi",
        "middle_name": "",
        "last_name": "Kumar",
        "pancard": pan,
        "date_of_birth": "31/01/1985",
        "email_id": "ravi@example.com",
        "mobile_number": "9876543210",
        "RegistrationID": SANDBOX_REGISTRATION_ID,
        "CompanyCode": SANDBOX_COMPANY_CODE,
    })
}

fn with(mut body: Value, key: &str, value: Value) -> Value {
    body[key] = value;
    body
}

fn without(mut body: Value, key: &str) -> Value {
    body.as_object_mut().unwrap().remove(key);
    body
}

/// GET with the JSON body, as the vendor documents; status and raw body.
async fn get(sandbox: &Harness, body: &Value) -> (u16, Vec<u8>) {
    let response = sandbox.http.get(sandbox.endpoint()).json(body).send().await.expect("an answer");
    (response.status().as_u16(), response.bytes().await.unwrap().to_vec())
}

async fn get_json(sandbox: &Harness, body: &Value) -> (u16, Value) {
    let (status, bytes) = get(sandbox, body).await;
    (status, serde_json::from_slice(&bytes).expect("a JSON answer"))
}

async fn stats_over_http(sandbox: &Harness) -> Stats {
    let url = format!("{}/__sandbox/stats", sandbox.base_url());
    sandbox.http.get(url).send().await.unwrap().error_for_status().unwrap().json().await.unwrap()
}

fn business(code: &str, description: &Value) -> Value {
    json!({"code": code, "description": description, "merchantTrxnRefId": null, "token": null, "status": "False"})
}

#[tokio::test]
async fn success_has_the_documented_shape() {
    within(async {
        let sandbox = start(SandboxConfig::default()).await;
        let (status, answer) = get_json(&sandbox, &body("ORD-1", "ABCPK1234F")).await;
        assert_eq!(status, 200);
        let keys: Vec<&str> = answer.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["access_token", "error_code", "merchant_trans_id", "message", "result", "status"]);
        assert_eq!(
            (answer["status"].as_str(), answer["message"].as_str()),
            (Some("SUCCESS"), Some("success"))
        );
        assert_eq!(answer["error_code"], "SPC-200");
        let mtid = answer["merchant_trans_id"].as_str().unwrap();
        assert!(mtid.starts_with("SPCBL") && mtid.len() == 30, "{mtid}");
        let token = answer["access_token"].as_str().unwrap();
        assert!(token.len() == 40 && token.bytes().all(|b| b.is_ascii_hexdigit()), "{token}");
        let result = &answer["result"];
        let cibil_id = result["cibil_id"].as_str().expect("cibil_id is a string by default");
        assert!(cibil_id.len() == 13 && cibil_id.bytes().all(|b| b.is_ascii_digit()), "{cibil_id}");
        assert_eq!(result["cibil_status"], "Pending");
        assert_eq!(result["is_returning_customer"], 0);
        assert_eq!(result["cibil_score_fetch_date"], Value::Null);

        // Derived from the PAN alone: another sandbox gives the same id, another PAN another.
        let other = start(SandboxConfig::default()).await;
        let (_, again) = get_json(&other, &body("ORD-77", "ABCPK1234F")).await;
        assert_eq!(again["result"]["cibil_id"], cibil_id);
        let (_, different) = get_json(&other, &body("ORD-78", "ABCPK1234G")).await;
        assert_ne!(different["result"]["cibil_id"], cibil_id);
        sandbox.shutdown().await;
        other.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn get_carries_the_body_and_post_works_too() {
    within(async {
        let sandbox = start(SandboxConfig::default()).await;
        let (status, answer) = get_json(&sandbox, &body("ORD-GET", "ABCPK1234F")).await;
        assert_eq!((status, answer["status"].as_str()), (200, Some("SUCCESS")));

        let response =
            sandbox.http.post(sandbox.endpoint()).json(&body("ORD-POST", "BCDPK2345G")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["status"], "SUCCESS");

        // A GET without a body has nothing to register: the body is what is read.
        let response = sandbox.http.get(sandbox.endpoint()).send().await.unwrap();
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["code"], "201");

        // Other methods are refused as an ASP.NET route would.
        let response =
            sandbox.http.put(sandbox.endpoint()).json(&body("ORD-PUT", "ABCPK1234F")).send().await.unwrap();
        assert_eq!(response.status(), 405);
        assert_eq!(response.headers()["allow"], "GET, POST");

        let stats = sandbox.stats();
        assert_eq!(
            stats.by_method,
            BTreeMap::from([("GET".into(), 2), ("POST".into(), 1), ("PUT".into(), 1)])
        );
        assert_eq!(stats.registered, 2);
        sandbox.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn wrong_credentials_get_401_in_the_documented_shape() {
    within(async {
        let sandbox = start(SandboxConfig::default()).await;
        for bad in [
            with(body("ORD-1", "ABCPK1234F"), "RegistrationID", json!("AOP-554")),
            with(body("ORD-1", "ABCPK1234F"), "CompanyCode", json!("CMP1045")),
            without(body("ORD-1", "ABCPK1234F"), "RegistrationID"),
            with(body("ORD-1", "ABCPK1234F"), "CompanyCode", json!(null)),
            // Credentials are checked before fields.
            with(with(body("ORD-1", "FRS23456"), "CompanyCode", json!("x")), "order_id", json!("")),
        ] {
            let (status, answer) = get_json(&sandbox, &bad).await;
            assert_eq!(status, 401, "{bad}");
            let object = answer.as_object().unwrap();
            assert_eq!(object.len(), 3, "{answer}");
            assert_eq!((&answer["responsecode"], &answer["status"]), (&json!(401), &json!(false)));
            assert!(answer["message"].as_str().is_some_and(|m| !m.is_empty()));
        }
        let stats = sandbox.stats();
        assert_eq!((stats.unauthorized, stats.registered, stats.by_status["401"]), (5, 0, 5));

        // Configured credentials replace the sandbox's.
        let custom = start(SandboxConfig {
            registration_id: "AOP-1".into(),
            company_code: "CMP-1".into(),
            ..SandboxConfig::default()
        })
        .await;
        let (status, _) = get_json(&custom, &body("ORD-1", "ABCPK1234F")).await;
        assert_eq!(status, 401);
        let mine = with(
            with(body("ORD-1", "ABCPK1234F"), "RegistrationID", json!("AOP-1")),
            "CompanyCode",
            json!("CMP-1"),
        );
        assert_eq!(get_json(&custom, &mine).await.0, 200);
        sandbox.shutdown().await;
        custom.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn each_business_error_comes_with_http_200_and_its_code() {
    within(async {
        let sandbox = start(SandboxConfig::default()).await;
        let valid = || body("ORD-1", "ABCPK1234F");
        let cases: Vec<(Value, BusinessError)> = vec![
            (json!(["not", "an", "object"]), BusinessError::Body),
            (without(valid(), "order_id"), BusinessError::OrderId),
            (with(valid(), "order_id", json!("")), BusinessError::OrderId),
            (with(valid(), "first_name", json!("R2D2")), BusinessError::FirstName),
            (without(valid(), "last_name"), BusinessError::LastName),
            (with(valid(), "pancard", json!("FRS23456")), BusinessError::Pan),
            (with(valid(), "pancard", json!("abcpk1234f")), BusinessError::Pan),
            (with(valid(), "date_of_birth", json!("1985-01-31")), BusinessError::DateOfBirth),
            (with(valid(), "date_of_birth", json!("30/02/1985")), BusinessError::DateOfBirth),
            (with(valid(), "mobile_number", json!(9876543210u64)), BusinessError::Mobile),
            (with(valid(), "mobile_number", json!("1234567890")), BusinessError::Mobile),
            (with(valid(), "email_id", json!("ravi.example.com")), BusinessError::Email),
            (with(valid(), "middle_name", json!("M4ry")), BusinessError::MiddleName),
        ];
        for (request, error) in &cases {
            let (status, answer) = get_json(&sandbox, request).await;
            assert_eq!(status, 200, "{request}");
            assert_eq!(answer, business(error.code(), &json!(error.description())), "{request}");
        }

        // Not JSON at all: the vendor's own sample, with its missing comma.
        let sample =
            "{\"order_id\": \"1234\", \"RegistrationID\": \"AOP-SANDBOX\"\n\"CompanyCode\": \"CMP-SANDBOX\"}";
        let response = sandbox
            .http
            .get(sandbox.endpoint())
            .header("content-type", "application/json")
            .body(sample)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["code"], "201");
        assert_eq!(answer["status"], "False");

        let stats = sandbox.stats();
        assert_eq!(stats.registered, 0);
        assert_eq!(stats.by_status, BTreeMap::from([("200".into(), cases.len() as u64 + 1)]));
        assert_eq!(stats.rejected.values().sum::<u64>(), cases.len() as u64 + 1);
        assert_eq!(stats.rejected["205"], 2);
        sandbox.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn a_repeated_order_id_gets_the_same_bytes() {
    within(async {
        let sandbox = start(SandboxConfig::default()).await;
        let request = body("ORD-1", "ABCPK1234F");
        let (status, first) = get(&sandbox, &request).await;
        assert_eq!(status, 200);
        // Even later, by another method, with another name spelling: the order_id decides.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let (_, second) = get(&sandbox, &request).await;
        let response = sandbox
            .http
            .post(sandbox.endpoint())
            .json(&with(request.clone(), "first_name", json!("RAVI")))
            .send()
            .await
            .unwrap();
        let third = response.bytes().await.unwrap().to_vec();
        assert_eq!(String::from_utf8(second).unwrap(), String::from_utf8(first.clone()).unwrap());
        assert_eq!(third, first);

        let stats = sandbox.stats();
        assert_eq!((stats.registered, stats.new_customers, stats.returning, stats.replays), (1, 1, 0, 2));
        assert_eq!(stats.order_ids_sent_more_than_once, BTreeMap::from([("ORD-1".into(), 3)]));
        assert!(stats.order_ids_registered_more_than_once.is_empty());
        assert!(stats.pans_registered_more_than_once.is_empty());
        sandbox.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn a_pan_registered_before_makes_a_returning_customer() {
    within(async {
        let sandbox = start(SandboxConfig::default()).await;
        let (_, first) = get_json(&sandbox, &body("ORD-1", "ABCPK1234F")).await;
        let (status, second) = get_json(&sandbox, &body("ORD-2", "ABCPK1234F")).await;
        assert_eq!(status, 200);
        assert_eq!(second["status"], "SUCCESS");
        assert_eq!(second["result"]["is_returning_customer"], 1);
        assert_eq!(second["result"]["cibil_id"], first["result"]["cibil_id"]);
        assert_ne!(second["access_token"], first["access_token"]);
        assert_ne!(second["merchant_trans_id"], first["merchant_trans_id"]);

        let stats = sandbox.stats();
        assert_eq!((stats.registered, stats.new_customers, stats.returning, stats.replays), (2, 1, 1, 0));
        assert_eq!(stats.pans_registered_more_than_once, BTreeMap::from([("ABCPK1234F".into(), 2)]));
        assert!(stats.order_ids_sent_more_than_once.is_empty());
        sandbox.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn the_same_order_id_with_another_pan_is_refused() {
    within(async {
        let sandbox = start(SandboxConfig::default()).await;
        assert_eq!(get_json(&sandbox, &body("ORD-1", "ABCPK1234F")).await.1["status"], "SUCCESS");
        let (status, answer) = get_json(&sandbox, &body("ORD-1", "XYZPK9876Q")).await;
        assert_eq!(status, 200);
        let reused = BusinessError::OrderIdReused;
        assert_eq!(answer, business(reused.code(), &json!(reused.description())));
        assert_eq!(reused.code(), "209");
        // The first registration stands: its replay still works.
        assert_eq!(
            get_json(&sandbox, &body("ORD-1", "ABCPK1234F")).await.1["result"]["is_returning_customer"],
            0
        );

        let stats = sandbox.stats();
        assert_eq!((stats.registered, stats.new_customers, stats.replays), (1, 1, 1));
        assert_eq!(stats.rejected, BTreeMap::from([("209".into(), 1)]));
        assert_eq!(stats.order_ids_sent_more_than_once, BTreeMap::from([("ORD-1".into(), 3)]));
        sandbox.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn cibil_id_can_be_a_number() {
    within(async {
        let sandbox = start(SandboxConfig { numeric_cibil_id: true, ..SandboxConfig::default() }).await;
        let (_, answer) = get_json(&sandbox, &body("ORD-1", "ABCPK1234F")).await;
        let plain = start(SandboxConfig::default()).await;
        let (_, text) = get_json(&plain, &body("ORD-1", "ABCPK1234F")).await;
        assert!(answer["result"]["cibil_id"].is_u64(), "{answer}");
        assert_eq!(answer["result"]["cibil_id"].to_string(), text["result"]["cibil_id"].as_str().unwrap());
        sandbox.shutdown().await;
        plain.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn a_hang_makes_the_client_time_out_and_ends_when_it_gives_up() {
    within(async {
        let sandbox = start(SandboxConfig { hang_rate: 1.0, ..SandboxConfig::default() }).await;
        let impatient = crate::common::http_client().timeout(Duration::from_millis(300)).build().unwrap();
        let error =
            impatient.get(sandbox.endpoint()).json(&body("ORD-1", "ABCPK1234F")).send().await.unwrap_err();
        assert!(error.is_timeout(), "{error:?}");
        // The client closed its connection: the sandbox lets the request go.
        while sandbox.stats().in_flight > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let stats = sandbox.stats();
        assert_eq!((stats.requests, stats.faults.hangs, stats.max_in_flight), (1, 1, 1));
        assert!(stats.by_status.is_empty());
        sandbox.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn hangs_count_in_flight_and_shutdown_ends_them() {
    within(async {
        let sandbox = start(SandboxConfig { hang_rate: 1.0, ..SandboxConfig::default() }).await;
        let patient = crate::common::http_client().timeout(Duration::from_secs(60)).build().unwrap();
        let requests: Vec<_> = (0..3)
            .map(|i| {
                let request = patient.get(sandbox.endpoint()).json(&body(&format!("ORD-{i}"), "ABCPK1234F"));
                tokio::spawn(request.send())
            })
            .collect();
        while sandbox.stats().in_flight < 3 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(sandbox.stats().max_in_flight, 3);
        // Shutdown must not wait for the 60 s client timeout (the test's own timeout is 30 s).
        sandbox.shutdown().await;
        for request in requests {
            let error = request.await.unwrap().unwrap_err();
            assert!(!error.is_timeout() && error.status().is_none(), "{error:?}");
        }
    })
    .await;
}

#[tokio::test]
async fn a_reset_drops_the_connection_without_an_answer() {
    within(async {
        let sandbox = start(SandboxConfig { reset_rate: 1.0, ..SandboxConfig::default() }).await;
        let error = sandbox.http.get(sandbox.endpoint()).json(&body("ORD-1", "ABCPK1234F")).send().await.unwrap_err();
        assert!(error.status().is_none() && !error.is_timeout(), "{error:?}");

        // On the wire: not a byte of answer, and an RST rather than an orderly close.
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let mut stream = tokio::net::TcpStream::connect(sandbox.addr()).await.unwrap();
        let payload = body("ORD-2", "ABCPK1234F").to_string();
        let request = format!(
            "GET /api/AOP/CibilScore/registeration HTTP/1.1\r\nHost: sandbox\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{payload}",
            payload.len()
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut received = Vec::new();
        let read = stream.read_to_end(&mut received).await;
        assert!(received.is_empty(), "{}", String::from_utf8_lossy(&received));
        assert_eq!(read.map_err(|e| e.kind()), Err(std::io::ErrorKind::ConnectionReset));

        let stats = sandbox.stats();
        assert_eq!((stats.requests, stats.faults.resets), (2, 2));
        assert!(stats.by_status.is_empty());
        sandbox.shutdown().await;
    })
    .await;
}

/// With one fault at a rate of 0.5 and this seed, the first request meets the fault and the next
/// three meet none (the tests below check that they did).
const SEED_FIRST_REQUEST_FAULTS: u64 = 44;

/// Every hang, reset or error after the commit, and only the first request faulted.
fn commit_then(config: SandboxConfig) -> SandboxConfig {
    SandboxConfig { commit_before_fault: 1.0, seed: Some(SEED_FIRST_REQUEST_FAULTS), ..config }
}

#[tokio::test]
async fn commit_then_hang_the_client_times_out_and_a_retry_is_a_replay() {
    within(async {
        let sandbox = start(commit_then(SandboxConfig { hang_rate: 0.5, ..SandboxConfig::default() })).await;
        let impatient = crate::common::http_client().timeout(Duration::from_millis(300)).build().unwrap();
        let error =
            impatient.get(sandbox.endpoint()).json(&body("ORD-1", "ABCPK1234F")).send().await.unwrap_err();
        assert!(error.is_timeout(), "{error:?}");
        // Recorded before the hang, and never answered.
        let stats = sandbox.stats();
        assert_eq!((stats.registered, stats.faults.hangs, stats.faults.hangs_after_commit), (1, 1, 1));
        assert_eq!(stats.order_ids_registered_without_answer, BTreeSet::from(["ORD-1".to_owned()]));
        assert!(stats.by_status.is_empty());

        // The retry under the same order id: the replay of that registration, not a new one.
        let (status, replay) = get_json(&sandbox, &body("ORD-1", "ABCPK1234F")).await;
        assert_eq!(status, 200);
        assert_eq!(
            (&replay["status"], &replay["result"]["is_returning_customer"]),
            (&json!("SUCCESS"), &json!(0))
        );
        let stats = sandbox.stats();
        assert_eq!((stats.registered, stats.new_customers, stats.replays), (1, 1, 1));
        assert!(stats.order_ids_registered_without_answer.is_empty(), "{stats:?}");
        assert!(stats.pans_with_several_order_ids.is_empty());

        // The same customer sent under a new order id instead: registered twice, and on show.
        let (_, twice) = get_json(&sandbox, &body("ORD-2", "ABCPK1234F")).await;
        assert_eq!(twice["result"]["is_returning_customer"], 1);
        assert_eq!(twice["result"]["cibil_id"], replay["result"]["cibil_id"]);
        let stats = stats_over_http(&sandbox).await;
        assert_eq!(
            stats.pans_with_several_order_ids,
            BTreeMap::from([("ABCPK1234F".to_owned(), vec!["ORD-1".to_owned(), "ORD-2".to_owned()])])
        );
        assert_eq!((stats.registered, stats.returning, stats.faults.hangs), (2, 1, 1));
        sandbox.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn commit_then_reset_the_connection_drops_and_a_retry_is_a_replay() {
    within(async {
        let sandbox = start(commit_then(SandboxConfig { reset_rate: 0.5, ..SandboxConfig::default() })).await;
        let error =
            sandbox.http.get(sandbox.endpoint()).json(&body("ORD-1", "ABCPK1234F")).send().await.unwrap_err();
        assert!(error.status().is_none() && !error.is_timeout(), "{error:?}");
        let stats = sandbox.stats();
        assert_eq!((stats.registered, stats.faults.resets, stats.faults.resets_after_commit), (1, 1, 1));
        assert_eq!(stats.order_ids_registered_without_answer, BTreeSet::from(["ORD-1".to_owned()]));

        let (status, replay) = get_json(&sandbox, &body("ORD-1", "ABCPK1234F")).await;
        assert_eq!((status, &replay["result"]["is_returning_customer"]), (200, &json!(0)));
        let stats = sandbox.stats();
        assert_eq!((stats.registered, stats.replays, stats.by_status["200"]), (1, 1, 1));
        assert!(stats.order_ids_registered_without_answer.is_empty());
        sandbox.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn commit_then_5xx_and_a_retry_is_a_replay_while_a_fault_before_commits_nothing() {
    within(async {
        let config = SandboxConfig { error_rate: 0.5, ..SandboxConfig::default() };
        let sandbox = start(commit_then(config.clone())).await;
        let (failed, _) = get(&sandbox, &body("ORD-1", "ABCPK1234F")).await;
        assert!((500..600).contains(&failed), "{failed}");
        let stats = sandbox.stats();
        assert_eq!((stats.registered, stats.faults.errors, stats.faults.errors_after_commit), (1, 1, 1));
        assert_eq!(stats.order_ids_registered_without_answer, BTreeSet::from(["ORD-1".to_owned()]));

        let (status, replay) = get_json(&sandbox, &body("ORD-1", "ABCPK1234F")).await;
        assert_eq!((status, &replay["result"]["is_returning_customer"]), (200, &json!(0)));
        let stats = sandbox.stats();
        assert_eq!((stats.registered, stats.replays), (1, 1));
        assert!(stats.order_ids_registered_without_answer.is_empty());
        sandbox.shutdown().await;

        // The same seed with the fault before the application: the same 5xx, and nothing
        // recorded, so the retry is the first registration.
        let before = start(SandboxConfig { commit_before_fault: 0.0, ..commit_then(config) }).await;
        let (status_before, _) = get(&before, &body("ORD-1", "ABCPK1234F")).await;
        assert_eq!(status_before, failed);
        let stats = before.stats();
        assert_eq!((stats.registered, stats.faults.errors, stats.faults.errors_after_commit), (0, 1, 0));
        assert_eq!(get_json(&before, &body("ORD-1", "ABCPK1234F")).await.0, 200);
        assert_eq!((before.stats().registered, before.stats().replays), (1, 0));
        before.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn garbage_is_a_200_that_does_not_parse() {
    within(async {
        let sandbox = start(SandboxConfig { garbage_rate: 1.0, ..SandboxConfig::default() }).await;
        for i in 0..6 {
            let response = sandbox
                .http
                .get(sandbox.endpoint())
                .json(&body(&format!("ORD-{i}"), "ABCPK1234F"))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
            let bytes = response.bytes().await.unwrap();
            assert!(!bytes.is_empty());
            assert!(serde_json::from_slice::<Value>(&bytes).is_err(), "{}", String::from_utf8_lossy(&bytes));
        }
        let stats = sandbox.stats();
        assert_eq!((stats.faults.garbage, stats.registered, stats.by_status["200"]), (6, 0, 6));
        sandbox.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn errors_are_5xx_and_some_are_html() {
    within(async {
        let sandbox =
            start(SandboxConfig { error_rate: 1.0, seed: Some(1), ..SandboxConfig::default() }).await;
        let (mut html, mut json_bodies) = (0, 0);
        let mut statuses = std::collections::BTreeSet::new();
        for i in 0..60 {
            let response = sandbox
                .http
                .get(sandbox.endpoint())
                .json(&body(&format!("ORD-{i}"), "ABCPK1234F"))
                .send()
                .await
                .unwrap();
            statuses.insert(response.status().as_u16());
            let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
            let text = response.text().await.unwrap();
            if content_type.starts_with("text/html") {
                assert!(text.starts_with("<html>") && text.contains("nginx"), "{text}");
                html += 1;
            } else {
                assert!(serde_json::from_str::<Value>(&text).is_ok(), "{text}");
                json_bodies += 1;
            }
        }
        assert_eq!(statuses.into_iter().collect::<Vec<_>>(), [500, 502, 503]);
        assert!(html > 0 && json_bodies > html, "{html} HTML, {json_bodies} JSON");
        let stats = sandbox.stats();
        assert_eq!((stats.faults.errors, stats.faults.html_errors, stats.registered), (60, html, 0));
        assert_eq!(stats.by_status.values().sum::<u64>(), 60);
        sandbox.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn throttling_is_a_429_with_retry_after() {
    within(async {
        let sandbox = start(SandboxConfig { throttle_rate: 1.0, ..SandboxConfig::default() }).await;
        let response =
            sandbox.http.get(sandbox.endpoint()).json(&body("ORD-1", "ABCPK1234F")).send().await.unwrap();
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers()["retry-after"], "1");
        let stats = sandbox.stats();
        assert_eq!((stats.faults.throttled, stats.rate_limit_violations, stats.by_status["429"]), (1, 0, 1));
        sandbox.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn the_rate_limit_refuses_requests_beyond_n_in_a_second_and_counts_them() {
    within(async {
        let sandbox = start(SandboxConfig { rate_limit: Some(2), ..SandboxConfig::default() }).await;
        let client = client();
        // Sent at once. For none to be refused, no three of them may arrive within a second,
        // which would take the 20 of them over 9 seconds to arrive.
        let requests = (0..20).map(|i| {
            let request = client.get(sandbox.endpoint()).json(&body(&format!("ORD-{i}"), "ABCPK1234F"));
            async move { request.send().await.unwrap() }
        });
        let responses = futures_join_all(requests).await;
        let mut refused = 0;
        for response in &responses {
            if response.status() == 429 {
                assert_eq!(response.headers()["retry-after"], "1");
                refused += 1;
            } else {
                assert_eq!(response.status(), 200);
            }
        }
        assert!(refused > 0);
        let stats = sandbox.stats();
        assert_eq!(stats.rate_limit_violations, refused);
        assert_eq!(stats.registered, 20 - refused);
        assert!(stats.busiest_second > 2, "{stats:?}");
        assert_eq!(stats.faults, Default::default());
        sandbox.shutdown().await;
    })
    .await;
}

/// Polls every future to completion, concurrently (the tests do not depend on `futures`).
async fn futures_join_all<F: Future + Send + 'static>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output>
where
    F::Output: Send,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut outputs = Vec::new();
    for handle in handles {
        outputs.push(handle.await.unwrap());
    }
    outputs
}

#[tokio::test]
async fn latency_delays_every_answer() {
    within(async {
        let sandbox =
            start(SandboxConfig { latency: Duration::from_millis(200), ..SandboxConfig::default() }).await;
        let started = std::time::Instant::now();
        let (status, _) = get(&sandbox, &body("ORD-1", "ABCPK1234F")).await;
        // A lower bound only: a sleep never ends early.
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert_eq!(status, 200);
        sandbox.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn the_same_seed_gives_the_same_faults() {
    within(async {
        let config = |seed| SandboxConfig {
            error_rate: 0.3,
            throttle_rate: 0.2,
            garbage_rate: 0.2,
            seed: Some(seed),
            ..SandboxConfig::default()
        };
        let mut runs = Vec::new();
        for seed in [5, 5, 6] {
            let sandbox = start(config(seed)).await;
            let mut statuses = Vec::new();
            for i in 0..40 {
                let (status, bytes) = get(&sandbox, &body(&format!("ORD-{i}"), "ABCPK1234F")).await;
                let parses = serde_json::from_slice::<Value>(&bytes).is_ok();
                statuses.push((status, parses));
            }
            assert_eq!(sandbox.stats().seed, seed);
            runs.push(statuses);
            sandbox.shutdown().await;
        }
        assert_eq!(runs[0], runs[1]);
        assert_ne!(runs[0], runs[2]);
    })
    .await;
}

#[tokio::test]
async fn stats_are_exact_after_a_known_sequence() {
    within(async {
        let sandbox = start(SandboxConfig { seed: Some(99), ..SandboxConfig::default() }).await;
        let requests = [
            body("A", "ABCPK1234F"),                                     // registered, new
            body("B", "BCDPK2345G"),                                     // registered, new
            body("A", "ABCPK1234F"),                                     // replay
            body("C", "ABCPK1234F"),                                     // registered, returning
            body("B", "ABCPK1234F"),                                     // 209
            with(body("D", "ABCPK1234F"), "CompanyCode", json!("nope")), // 401
            with(body("E", "ABCPK123"), "first_name", json!("Ravi")),    // 205
            json!("just a string"),                                      // 201
        ];
        for request in &requests {
            get(&sandbox, request).await;
        }
        let response =
            sandbox.http.post(sandbox.endpoint()).json(&body("F", "CDEPK3456H")).send().await.unwrap();
        assert_eq!(response.status(), 200);

        let stats = stats_over_http(&sandbox).await;
        assert_eq!(stats, sandbox.stats(), "over HTTP and in-process agree");
        assert!((1..=9).contains(&stats.busiest_second));
        let expected = Stats {
            requests: 9,
            by_status: BTreeMap::from([("200".into(), 8), ("401".into(), 1)]),
            by_method: BTreeMap::from([("GET".into(), 8), ("POST".into(), 1)]),
            faults: Default::default(),
            unauthorized: 1,
            rejected: BTreeMap::from([("201".into(), 1), ("205".into(), 1), ("209".into(), 1)]),
            registered: 4,
            new_customers: 3,
            returning: 1,
            replays: 1,
            order_ids_sent_more_than_once: BTreeMap::from([("A".into(), 2), ("B".into(), 2)]),
            order_ids_registered_more_than_once: BTreeMap::new(),
            pans_registered_more_than_once: BTreeMap::from([("ABCPK1234F".into(), 2)]),
            pans_with_several_order_ids: BTreeMap::from([(
                "ABCPK1234F".into(),
                vec!["A".into(), "C".into()],
            )]),
            order_ids_registered_without_answer: BTreeSet::new(),
            busiest_second: stats.busiest_second,
            arrivals_span_ms: stats.arrivals_span_ms,
            rate_limit_violations: 0,
            in_flight: 0,
            max_in_flight: 1,
            seed: 99,
        };
        assert_eq!(stats, expected);
        sandbox.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn reset_forgets_registrations_and_statistics() {
    within(async {
        let sandbox = start(SandboxConfig { seed: Some(3), ..SandboxConfig::default() }).await;
        get(&sandbox, &body("A", "ABCPK1234F")).await;
        get(&sandbox, &body("A", "ABCPK1234F")).await;
        assert_eq!(sandbox.stats().replays, 1);

        let response =
            sandbox.http.post(format!("{}/__sandbox/reset", sandbox.base_url())).send().await.unwrap();
        assert!(response.status().is_success());
        assert_eq!(stats_over_http(&sandbox).await, Stats { seed: 3, ..Stats::default() });

        // Forgotten: the same order_id and PAN make a new customer again, not a replay.
        let (_, answer) = get_json(&sandbox, &body("A", "ABCPK1234F")).await;
        assert_eq!(answer["result"]["is_returning_customer"], 0);
        let stats = sandbox.stats();
        assert_eq!((stats.requests, stats.registered, stats.new_customers, stats.replays), (1, 1, 1, 0));

        // The stats and reset routes are not registration requests.
        sandbox.reset();
        stats_over_http(&sandbox).await;
        assert_eq!(sandbox.stats().requests, 0);
        sandbox.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn an_unusable_config_is_refused_at_start() {
    within(async {
        let error = Sandbox::start(
            LOOPBACK.parse().unwrap(),
            SandboxConfig { error_rate: 1.5, ..SandboxConfig::default() },
        )
        .await
        .unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
        assert!(error.to_string().contains("error_rate"), "{error}");
        let error = Sandbox::start(
            LOOPBACK.parse().unwrap(),
            SandboxConfig { error_rate: 0.6, hang_rate: 0.6, ..SandboxConfig::default() },
        )
        .await
        .unwrap_err();
        assert!(error.to_string().contains("add up to"), "{error}");
    })
    .await;
}

// The command line: `cibil-bulk sandbox`.

fn cibil_bulk() -> assert_cmd::Command {
    let mut command = assert_cmd::Command::new(env!("CARGO_BIN_EXE_cibil-bulk"));
    // Away from any cibil-bulk.toml of the developer's.
    command.current_dir(std::env::temp_dir());
    command
}

#[test]
fn the_sandbox_command_explains_its_flags() {
    let assert = cibil_bulk().args(["sandbox", "--help"]).assert().success();
    let help = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    for flag in [
        "--listen",
        "--latency",
        "--jitter",
        "--error-rate",
        "--throttle-rate",
        "--rate-limit",
        "--hang-rate",
        "--reset-rate",
        "--garbage-rate",
        "--commit-before-fault",
        "--seed",
        "--numeric-cibil-id",
    ] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
    assert!(help.contains("Example: --latency 50ms"), "{help}");
}

#[test]
fn a_rate_above_one_is_a_usage_error_naming_the_flag() {
    cibil_bulk()
        .args(["sandbox", "--error-rate", "2"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("--error-rate"));
    cibil_bulk()
        .args(["sandbox", "--commit-before-fault", "2"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("--commit-before-fault"));
    cibil_bulk()
        .args(["sandbox", "--latency", "soon"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("--latency"));
}

#[tokio::test]
async fn the_sandbox_command_serves_until_interrupted() {
    use tokio::io::AsyncBufReadExt as _;
    within(async {
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_cibil-bulk"))
            .args(["sandbox", "--listen", "127.0.0.1:0", "--seed", "11", "--commit-before-fault", "0.5"])
            .current_dir(std::env::temp_dir())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let mut banner = Vec::new();
        let mut endpoint = None;
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(url) = line.trim().strip_prefix("endpoint") {
                endpoint = url.split_whitespace().next().map(str::to_owned);
            }
            let done = line.contains("curl");
            banner.push(line);
            if done {
                break;
            }
        }
        let banner = banner.join("\n");
        assert!(
            banner.contains(SANDBOX_REGISTRATION_ID) && banner.contains(SANDBOX_COMPANY_CODE),
            "{banner}"
        );
        assert!(banner.contains("seed            11"), "{banner}");
        assert!(
            banner.contains("50% of hangs, resets and errors after the registration is recorded"),
            "{banner}"
        );
        let endpoint = endpoint.expect("the banner shows the endpoint");
        assert!(
            endpoint.starts_with("http://127.0.0.1:")
                && endpoint.ends_with("/api/AOP/CibilScore/registeration")
        );

        let answer: Value = client()
            .get(&endpoint)
            .json(&body("ORD-1", "ABCPK1234F"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(answer["status"], "SUCCESS");
        let stats_url = endpoint.replace("/api/AOP/CibilScore/registeration", "/__sandbox/stats");
        let stats: Stats = client().get(stats_url).send().await.unwrap().json().await.unwrap();
        assert_eq!((stats.requests, stats.registered, stats.seed), (1, 1, 11));

        let pid = child.id().unwrap().to_string();
        let killed = std::process::Command::new("kill").args(["-INT", &pid]).status().unwrap();
        assert!(killed.success());
        let status = child.wait().await.unwrap();
        assert_eq!(status.code(), Some(0));
    })
    .await;
}
