//! Hostile answers: servers on 127.0.0.1 port 0, written by hand so that each can misbehave in
//! one exact way (a body that is too big or never ends, bytes that are not UTF-8 or nest without
//! end, a redirect, a certificate nobody vouches for, a Retry-After of a year). The real client
//! must classify each one (transient, abort), never crash, never hang past its timeout, never
//! hold more than its cap in memory, and never mistake one for a registration.

mod common;

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
    let head = format!("{head}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body).await;
    let _ = stream.shutdown().await;
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

#[tokio::test]
async fn a_certificate_nobody_vouches_for_is_refused() {
    use tokio_rustls::rustls::ServerConfig;
    use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

    // A self-signed certificate for the very name the client asks for: only trust is missing.
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
            // Were the certificate accepted, this server would answer a registration: a client
            // that trusted it would report a success that never happened.
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
    let endpoint = format!("https://localhost:{}/registeration", addr.port());
    let client = Client::new(&settings(&endpoint, Duration::from_secs(5))).expect("a client");
    let outcome = tokio::time::timeout(Duration::from_secs(15), client.send(client.body(&applicant())))
        .await
        .expect("the client's own timeout ends every request");
    let t = transient(&outcome);
    assert!(t.reason.contains("certificate"), "{}", t.reason);
    assert!(connections.load(Ordering::SeqCst) >= 1, "the client never reached the server");
    assert_eq!(requests.load(Ordering::SeqCst), 0, "the request (and its credentials) crossed");
}

/// A Retry-After of a year is cut to `--max-retry-after`, and the run says so in its log.
#[test]
fn a_retry_after_of_a_year_is_capped_and_said() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let answered = Arc::new(AtomicU64::new(0));
    let count = answered.clone();
    let (addr, _) = runtime.block_on(serve(move |stream| {
        let first = count.fetch_add(1, Ordering::SeqCst) == 0;
        async move {
            if first {
                answer(stream, "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 31536000", b"").await;
            } else {
                answer(stream, "HTTP/1.1 200 OK\r\nContent-Type: application/json", SUCCESS.as_bytes()).await;
            }
        }
    }));
    let endpoint = format!("http://{addr}/registeration");
    let file = format!("{}\n{}\n", common::HEADER, common::customer(1));
    let run = common::Test::new()
        .file("in.csv", file)
        .env("AOPAY_REGISTRATION_ID", "AOP-554")
        .env("AOPAY_COMPANY_CODE", "CMP1045")
        .args(["run", "in.csv", "--endpoint", &endpoint, "--max-retry-after", "1s", "-v"])
        .run();
    run.code(0).stderr_contains("asked to wait longer than --max-retry-after allows");
    assert!(run.stderr.contains("asked_secs=31536000"), "{}", run.stderr);
    assert_eq!(run.csv("in.results.csv").column("status"), ["registered"]);
    assert_eq!(answered.load(Ordering::SeqCst), 2);
}
