//! Where the server meets the network, with what a stranger can cost it bounded: at most
//! [`MOST_CONNECTIONS`] connections at once (past them, new ones wait in the kernel's queue until
//! one ends), [`HEADER_TIMEOUT`] for a client to send a request's headers, and — through the
//! router's layers — a body that stops arriving for [`BODY_IDLE_TIMEOUT`] is dropped. Each request
//! carries its peer's address (for the sign-in throttle). A shutdown stops accepting, lets every
//! connection finish the request it is on (for at most [`SHUTDOWN_GRACE`]), and then returns.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

/// Connections served at once, at most.
pub const MOST_CONNECTIONS: usize = 256;
/// How long a client has to send a request's headers, on a new connection or a kept-alive one.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a request's body may stop arriving before the request is dropped.
pub const BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a shutdown waits for the requests under way to finish.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Serves `router` on `listener` until `shutdown`, then lets the connections finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(MOST_CONNECTIONS));
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = shutdown.cancelled() => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was accepted:
                    // not the server's end. A moment's pause, then on.
                    tracing::warn!("cannot accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        let (router, shutdown) = (router.clone(), shutdown.clone());
        connections.spawn(async move {
            let _slot = slot;
            let service =
                hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
                    request.extensions_mut().insert(ConnectInfo(peer));
                    router.clone().oneshot(request.map(axum::body::Body::new))
                });
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new()).header_read_timeout(HEADER_TIMEOUT);
            let connection = http.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                () = shutdown.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
        });
        while connections.try_join_next().is_some() {}
    }
    // A client that stops reading an answer would hold the shutdown for ever: past a grace
    // period, whatever is left is dropped.
    let finished = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(SHUTDOWN_GRACE, finished).await.is_err() {
        tracing::warn!(
            "connections still open {} after the stop was asked: dropped",
            crate::output::show_duration(SHUTDOWN_GRACE)
        );
    }
    Ok(())
}
