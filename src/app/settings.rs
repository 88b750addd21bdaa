//! What a server is configured with (`serve`'s flags, or a test's).

use std::{net::SocketAddr, time::Duration};

use super::TlsFiles;

/// Runtime settings of a server.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub listen: SocketAddr,
    /// Plaintext port for `GET /metrics` and the gRPC health service
    /// (probes); `None`: no such port.
    pub admin_listen: Option<SocketAddr>,
    /// After the shutdown signal, serving goes on this long (readiness
    /// already `NOT_SERVING`) before the listener closes.
    pub shutdown_delay: Duration,
    pub shutdown_grace_period: Duration,
    pub health_check_interval: Duration,
    /// How often the database is polled for changes of other replicas
    /// (watch events, cache invalidation).
    pub change_poll_interval: Duration,
    /// How long changes stay available for resuming watchers.
    pub change_retention: Duration,
    pub streams: StreamLimits,
    /// Memory the read caches may hold, estimated.
    pub cache_max_bytes: u64,
    /// Longest a write waits for another write's lock.
    pub lock_timeout: Duration,
    /// Deadline of calls that bring none, and the longest one a caller
    /// may ask for (see [`crate::grpc::deadline`]).
    pub request_timeout: Duration,
    /// TLS on the listener (mutual with a client CA); plaintext when `None`.
    pub tls: Option<TlsFiles>,
    /// Tests only: install [`PANIC_HOOK`](super::PANIC_HOOK) on both transports.
    #[doc(hidden)]
    pub panic_hook: bool,
}

/// Bounds on connections, requests and streams: one client cannot hold
/// more than its share, a caller cannot make the server spend more than
/// its permissions allow, and connections of clients that vanished (or
/// never spoke) are reclaimed. The defaults are `serve`'s (docs/security.md
/// lists each).
#[derive(Debug, Clone)]
pub struct StreamLimits {
    /// HTTP/2 streams (concurrent calls) per connection.
    pub max_concurrent_streams: u32,
    /// Open WatchPlexSources streams on this server.
    pub max_watch_streams: usize,
    /// Open WatchPlexSources streams of one token on this server.
    pub max_watch_streams_per_token: usize,
    /// Revisions a watch may resume behind the newest.
    pub max_watch_replay: i64,
    /// Idle time before an HTTP/2 ping and TCP keepalive probe.
    pub keepalive_interval: Duration,
    /// Time a ping may go unanswered before the connection is closed.
    pub keepalive_timeout: Duration,
    /// Largest gRPC message decoded and REST body read.
    pub max_request_bytes: usize,
    /// Unary calls and REST requests served at once.
    pub max_requests_in_flight: usize,
    /// Connections open at once on the main port.
    pub max_connections: usize,
    /// From accept to a complete request head (or HTTP/2 preface).
    pub header_read_timeout: Duration,
    /// Age at which a connection is drained; `None`: never.
    pub max_connection_age: Option<Duration>,
    /// How long a drained connection may finish its calls.
    pub max_connection_age_grace: Duration,
}

impl Default for StreamLimits {
    fn default() -> Self {
        Self {
            max_concurrent_streams: 100,
            max_watch_streams: 20_000,
            max_watch_streams_per_token: 1_000,
            max_watch_replay: 100_000,
            keepalive_interval: Duration::from_secs(30),
            keepalive_timeout: Duration::from_secs(10),
            max_request_bytes: crate::rest::DEFAULT_MAX_BODY_BYTES,
            max_requests_in_flight: 1_024,
            max_connections: 10_000,
            header_read_timeout: Duration::from_secs(10),
            max_connection_age: None,
            max_connection_age_grace: Duration::from_secs(30),
        }
    }
}
