//! Connections: the accept loop, HTTP/1.1 on each connection with the routes inside, the dropped
//! connection the `reset` and `hang` faults need, and shutdown. Served with hyper directly rather
//! than `axum::serve` because a handler there cannot end its connection without an answer: here
//! a response marked [`DropConnection`] makes the service fail, hyper closes the connection
//! without writing a byte, and the socket is closed with `SO_LINGER` 0, which sends an RST.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::{Service as _, service_fn};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::responses::DropConnection;

/// How long a connection may take to finish its answer after shutdown began. Hangs and delays
/// end at once on shutdown; this bounds only the writing of answers already under way.
const GRACE: Duration = Duration::from_secs(2);

/// Accepts connections until `stop`, each served on its own task in `connections`.
pub async fn accept(
    listener: TcpListener,
    router: Router,
    stop: CancellationToken,
    connections: TaskTracker,
) {
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, _)) => {
                connections.spawn(serve(stream, router.clone(), stop.clone()));
            }
            Err(error) => {
                // Out of file descriptors, or a connection that died in the backlog: wait a
                // little instead of spinning, and go on.
                tracing::warn!("sandbox: cannot accept a connection: {error}");
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_millis(50)) => {}
                }
            }
        }
    }
}

/// The error that makes hyper drop a connection without answering.
#[derive(Debug, thiserror::Error)]
#[error("connection dropped on purpose (sandbox fault)")]
struct Dropped;

async fn serve(stream: TcpStream, router: Router, stop: CancellationToken) {
    // Answers are small and written at once: do not let Nagle hold them.
    let _ = stream.set_nodelay(true);
    let abort = Arc::new(AtomicBool::new(false));
    let io = TokioIo::new(Resettable { stream, abort: abort.clone() });
    let routes = TowerToHyperService::new(router);
    let service = service_fn(move |request: hyper::Request<Incoming>| {
        let answer = routes.call(request);
        let abort = abort.clone();
        async move {
            let response = match answer.await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            if response.extensions().get::<DropConnection>().is_some() {
                abort.store(true, Ordering::Relaxed);
                return Err(Dropped);
            }
            Ok(response)
        }
    });
    // No header timeout (it needs a timer): idle keep-alive connections stay open until the
    // client closes them or the sandbox shuts down, as a patient server's would.
    let connection = http1::Builder::new().header_read_timeout(None).serve_connection(io, service);
    let mut connection = std::pin::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => return,
        () = stop.cancelled() => {}
    }
    connection.as_mut().graceful_shutdown();
    let _ = tokio::time::timeout(GRACE, connection).await;
}

/// The connection's socket, closed with an RST instead of a FIN when a fault dropped it.
struct Resettable {
    stream: TcpStream,
    abort: Arc<AtomicBool>,
}

impl Drop for Resettable {
    fn drop(&mut self) {
        if self.abort.load(Ordering::Relaxed) {
            // Linger 0: close() discards unsent data and sends RST, as a crashed server or a
            // middlebox killing the flow does. Tokio's socket is non-blocking, so no wait.
            let _ = self.stream.set_zero_linger();
        }
    }
}

impl AsyncRead for Resettable {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Resettable {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
