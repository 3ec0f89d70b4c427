//! Where the server meets the network, with what a stranger can cost it bounded: at most
//! [`MOST_CONNECTIONS`] connections at once (past them, new ones wait in the kernel's queue until
//! one ends), of which at most [`MOST_PER_ADDRESS`] from one address other than this machine's
//! (one client trickling bytes into many connections cannot take every slot; a reverse proxy on
//! this machine brings everyone's) and [`MOST_STREAMS`] live streams ([`MOST_STREAMS_EACH`] a
//! person's, counted by the pages with [`Shares`]), [`HEADER_TIMEOUT`] for a client to send a
//! request's headers, and — through the router's layers — a body that stops arriving for
//! [`BODY_IDLE_TIMEOUT`] is dropped. Each request carries its peer's address (for the sign-in throttle). A shutdown stops accepting, lets every
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
/// Live streams (an upload page's progress) open at once, at most: they outlive every timeout,
/// so that one signed-in person's pages cannot hold every connection the server has.
pub const MOST_STREAMS: usize = 64;
/// Live streams one person may hold open at once (a page each).
pub const MOST_STREAMS_EACH: usize = 8;
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
    let per_address = Shares::new(MOST_PER_ADDRESS, None);
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
        let Some(share) = share_of(&per_address, peer.ip()) else {
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

/// What is open at once, per key (an address, a person), at most `each` per key and, when
/// given, `in_all` together; each share is given back when dropped.
#[derive(Debug)]
pub struct Shares<K: std::hash::Hash + Eq + Clone> {
    each: usize,
    in_all: Option<usize>,
    open: std::sync::Mutex<(usize, std::collections::HashMap<K, usize>)>,
}

/// One share of a [`Shares`]: given back when dropped.
#[derive(Debug)]
pub struct Share<K: std::hash::Hash + Eq + Clone> {
    of: Arc<Shares<K>>,
    key: K,
}

impl<K: std::hash::Hash + Eq + Clone> Shares<K> {
    pub fn new(each: usize, in_all: Option<usize>) -> Arc<Shares<K>> {
        Arc::new(Shares { each, in_all, open: std::sync::Mutex::default() })
    }

    /// A share for `key`, unless it has `each` already, or all keys together `in_all`.
    pub fn take(self: &Arc<Self>, key: K) -> Option<Share<K>> {
        let mut open = self.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (total, by_key) = &mut *open;
        if self.in_all.is_some_and(|most| *total >= most) {
            return None;
        }
        let count = by_key.entry(key.clone()).or_insert(0);
        if *count >= self.each {
            return None;
        }
        *count += 1;
        *total += 1;
        Some(Share { of: self.clone(), key })
    }
}

impl<K: std::hash::Hash + Eq + Clone> Drop for Share<K> {
    fn drop(&mut self) {
        let mut open = self.of.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (total, by_key) = &mut *open;
        *total -= 1;
        if let Some(count) = by_key.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                by_key.remove(&self.key);
            }
        }
    }
}

/// A connection's share of its address (this machine's are not counted: `Some(None)`), or
/// `None` past [`MOST_PER_ADDRESS`].
fn share_of(
    shares: &Arc<Shares<std::net::IpAddr>>,
    address: std::net::IpAddr,
) -> Option<Option<Share<std::net::IpAddr>>> {
    if address.is_loopback() { Some(None) } else { shares.take(address).map(Some) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_address_takes_at_most_its_share_and_gives_it_back() {
        let shares = Shares::new(MOST_PER_ADDRESS, None);
        let stranger: std::net::IpAddr = [192, 0, 2, 7].into();
        let held: Vec<_> = (0..MOST_PER_ADDRESS).map(|_| share_of(&shares, stranger).unwrap()).collect();
        assert!(share_of(&shares, stranger).is_none(), "past its share");
        assert!(share_of(&shares, [192, 0, 2, 8].into()).is_some(), "another address has its own");
        assert!(
            share_of(&shares, std::net::Ipv4Addr::LOCALHOST.into()).is_some(),
            "a proxy here is not counted"
        );
        drop(held);
        let again = share_of(&shares, stranger);
        assert!(again.is_some(), "given back as connections end");
        drop(again);
        assert_eq!(
            *shares.open.lock().unwrap(),
            (0, Default::default()),
            "nothing kept for an address with none open"
        );
    }

    #[test]
    fn shares_are_bounded_in_all_too() {
        let shares = Shares::new(2, Some(3));
        let (a, b) = (shares.take("asha").unwrap(), shares.take("asha").unwrap());
        assert!(shares.take("asha").is_none(), "two each");
        let c = shares.take("ravi").unwrap();
        assert!(shares.take("neha").is_none(), "three in all");
        drop(a);
        assert!(shares.take("neha").is_some());
        drop((b, c));
    }
}
