//! Accepting connections: at most `--max-connections` open at once (a
//! connection over the limit is closed as it is accepted, and counted),
//! TCP options set, and under TLS each handshake on a task of its own,
//! finished within the header read timeout. What comes out is ready for
//! HTTP (see `http`).

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use socket2::{SockRef, TcpKeepalive};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::{Semaphore, mpsc},
    time::Instant,
};
use tokio_util::sync::CancellationToken;

use super::{
    conn::{Conn, Stream},
    tls::LiveTls,
};

/// A pause after a failed accept (out of file descriptors, say), so the
/// loop does not spin while the cause lasts.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

/// How a listener accepts.
#[derive(Debug, Clone, Copy)]
pub struct ListenerLimits {
    /// From accept to a complete first request head (TLS handshake
    /// included).
    pub header_read_timeout: Duration,
    /// Idle time before a TCP keepalive probe.
    pub keepalive: Duration,
}

/// Connections of a listener, as its metrics show them.
#[derive(Debug)]
pub struct ConnectionCounts {
    accepted: AtomicU64,
    refused: AtomicU64,
    open: Arc<Semaphore>,
    max: usize,
}

impl ConnectionCounts {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            accepted: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            open: Arc::new(Semaphore::new(max)),
            max,
        }
    }

    /// Connections accepted so far (refused ones not counted).
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    /// Connections closed at accept because the limit was reached.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.max - self.open.available_permits()
    }
}

/// Accepts on `listener` until `stop`, then closes it; at most as many
/// connections open at once as `counts` allows. Connections come
/// out of the returned channel; the accept loop waits while nobody takes
/// them.
pub(crate) fn accept(
    listener: TcpListener,
    tls: Option<LiveTls>,
    limits: ListenerLimits,
    counts: Arc<ConnectionCounts>,
    stop: CancellationToken,
) -> mpsc::Receiver<Conn> {
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        let tls = tls.map(Arc::new);
        loop {
            let tcp = tokio::select! {
                () = stop.cancelled() => break,
                () = tx.closed() => break,
                accepted = listener.accept() => match accepted {
                    Ok((tcp, _)) => tcp,
                    Err(err) => {
                        tracing::debug!(%err, "cannot accept a connection");
                        tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                        continue;
                    }
                },
            };
            let Ok(slot) = counts.open.clone().try_acquire_owned() else {
                counts.refused.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(
                    peer = ?tcp.peer_addr().ok(),
                    max_connections = counts.max,
                    "connection refused: too many open connections"
                );
                continue;
            };
            counts.accepted.fetch_add(1, Ordering::Relaxed);
            configure(&tcp, limits.keepalive);
            let deadline = Instant::now() + limits.header_read_timeout;
            match &tls {
                None => {
                    if tx
                        .send(Conn::new(Stream::Plain(tcp), deadline, slot))
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
                Some(tls) => {
                    let (tls, tx) = (tls.clone(), tx.clone());
                    tokio::spawn(async move {
                        let peer = tcp.peer_addr().ok();
                        let handshake = tls.acceptor().accept(tcp);
                        match tokio::time::timeout_at(deadline, handshake).await {
                            Ok(Ok(stream)) => {
                                let conn = Conn::new(Stream::Tls(Box::new(stream)), deadline, slot);
                                // Fails only once the server takes no more.
                                let _ = tx.send(conn).await;
                            }
                            Ok(Err(err)) => tracing::debug!(?peer, %err, "TLS handshake failed"),
                            Err(_) => tracing::debug!(?peer, "TLS handshake timed out"),
                        }
                    });
                }
            }
        }
    });
    rx
}

/// No Nagle delay (answers are small), and keepalive probes so that
/// connections of clients that vanished are noticed.
fn configure(tcp: &TcpStream, keepalive: Duration) {
    if let Err(err) = tcp.set_nodelay(true) {
        tracing::debug!(%err, "cannot set TCP_NODELAY");
    }
    let probes = TcpKeepalive::new().with_time(keepalive);
    if let Err(err) = SockRef::from(tcp).set_tcp_keepalive(&probes) {
        tracing::debug!(%err, "cannot set TCP keepalive");
    }
}
