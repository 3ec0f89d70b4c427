//! Where the server meets the network, with what a stranger can cost it bounded: at most
//! [`MOST_CONNECTIONS`] connections at once (past them, new ones wait in the kernel's queue until
//! one ends), of which at most [`MOST_PER_ADDRESS`] from one address other than this machine's
//! (one client trickling bytes into many connections cannot take every slot; a reverse proxy on
//! this machine brings everyone's), [`HEADER_TIMEOUT`] for a client to send a request's headers,
//! and — through the router's layers — a body that stops arriving for [`BODY_IDLE_TIMEOUT`] is
//! dropped. Each request
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
/// Connections from one address at once, at most (but from this machine: a reverse proxy).
pub const MOST_PER_ADDRESS: usize = 32;
/// How long a client has to send a request's headers, on a new connection or a kept-alive one.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a sign-in form may take to arrive whole (it is at most 8 KiB).
pub const FORM_DEADLINE: Duration = Duration::from_secs(10);
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
    let per_address = Arc::new(PerAddress::default());
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
        // One address past its share: closed at once, its slot given back.
        let Some(share) = per_address.take(peer.ip()) else {
            continue;
        };
        let (router, shutdown) = (router.clone(), shutdown.clone());
        connections.spawn(async move {
            let _slot = (slot, share);
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

/// Connections open per address (this machine's are not counted).
#[derive(Debug, Default)]
struct PerAddress(std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>);

/// One connection's share of its address: given back when dropped.
struct Share {
    of: Arc<PerAddress>,
    address: std::net::IpAddr,
}

impl PerAddress {
    /// A share for a connection from `address`, unless it has [`MOST_PER_ADDRESS`] already.
    fn take(self: &Arc<Self>, address: std::net::IpAddr) -> Option<Option<Share>> {
        if address.is_loopback() {
            return Some(None);
        }
        let mut open = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = open.entry(address).or_insert(0);
        if *count >= MOST_PER_ADDRESS {
            return None;
        }
        *count += 1;
        Some(Some(Share { of: self.clone(), address }))
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        let mut open = self.of.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.address);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_address_takes_at_most_its_share_and_gives_it_back() {
        let shares = Arc::new(PerAddress::default());
        let stranger: std::net::IpAddr = [192, 0, 2, 7].into();
        let held: Vec<_> = (0..MOST_PER_ADDRESS).map(|_| shares.take(stranger).unwrap()).collect();
        assert!(shares.take(stranger).is_none(), "past its share");
        assert!(shares.take([192, 0, 2, 8].into()).is_some(), "another address has its own");
        assert!(shares.take(std::net::Ipv4Addr::LOCALHOST.into()).is_some(), "a proxy here is not counted");
        drop(held);
        let again = shares.take(stranger);
        assert!(again.is_some(), "given back as connections end");
        drop(again);
        assert!(shares.0.lock().unwrap().is_empty(), "nothing kept for an address with none open");
    }
}
