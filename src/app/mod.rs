//! Assembling and running the server: the Plex source service, health,
//! reflection, per-call tracing and metrics, and authentik's REST API for
//! the same operations on one listener, metrics and
//! health on the admin listener, start-up that waits for the database, and
//! graceful shutdown.

mod admin_port;
mod conn;
mod guards;
mod health;
mod http;
mod listener;
mod startup;
mod tls;

use std::{future::Future, io, net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use futures::future::BoxFuture;
use sea_orm::DatabaseConnection;
use tokio::{net::TcpListener, sync::watch, task::JoinHandle};
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;
use tower::ServiceBuilder;

use crate::{
    audit::AuditTrail,
    cache::ReadCache,
    feed::ChangeFeed,
    grpc::{AuthLayer, DeadlineLayer, ObserveLayer, PlexSources},
    metrics::{Metrics, ServerState},
    ops::{Operations, WatchLimits},
    proto::{FILE_DESCRIPTOR_SET, plex_source_service_server::PlexSourceServiceServer},
    rest,
    store::WriteTurns,
};
use http::HttpSettings;
use listener::ListenerLimits;

pub use conn::Connection;
pub use guards::{InFlightLayer, PANIC_HEADER, PanicHookLayer, catch_panic};
pub use health::{Health, LIVENESS, READINESS};
pub use listener::ConnectionCounts;
pub use tls::TlsFiles;

/// Name under which the health service reports the Plex source service.
pub const SERVICE_NAME: &str = "plexsource.v1.PlexSourceService";

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
    /// may ask for (see [`DeadlineLayer`]).
    pub request_timeout: Duration,
    /// TLS on the listener (mutual with a client CA); plaintext when `None`.
    pub tls: Option<TlsFiles>,
    /// Tests only: install [`PanicHookLayer`] on both transports.
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

/// Connections the admin port holds at once: probes and scrapes, a few.
const ADMIN_MAX_CONNECTIONS: usize = 256;

/// Whatever must happen before the server can use its database (in
/// `serve`: connect, migrate, create the bootstrap user). Run again, after
/// a backoff, until it succeeds.
pub type Preparation = Box<dyn FnMut() -> BoxFuture<'static, anyhow::Result<()>> + Send>;

/// A server bound to its ports but not yet serving, so callers (tests
/// especially) can learn the ports first.
pub struct Application {
    listener: TcpListener,
    admin_listener: Option<TcpListener>,
    db: DatabaseConnection,
    settings: ServerSettings,
    feed: ChangeFeed,
    audit: AuditTrail,
    preparation: Option<Preparation>,
    started: watch::Sender<bool>,
    tls: Option<tls::Tls>,
}

impl Application {
    /// Binds the listeners. Nothing here needs the database: the server
    /// answers health (liveness `SERVING`, readiness `NOT_SERVING`) while
    /// it waits for it.
    pub async fn build(db: DatabaseConnection, settings: ServerSettings) -> anyhow::Result<Self> {
        let tls = settings.tls.as_ref().map(tls::Tls::load).transpose()?;
        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("cannot listen on {}", settings.listen))?;
        let admin_listener = match settings.admin_listen {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen on {addr} (admin)"))?,
            ),
            None => None,
        };
        let db_for_audit = db.clone();
        Ok(Self {
            listener,
            admin_listener,
            db,
            feed: ChangeFeed::new(Arc::new(ReadCache::new(settings.cache_max_bytes))),
            settings,
            audit: AuditTrail::start(db_for_audit),
            preparation: None,
            started: watch::channel(false).0,
            tls,
        })
    }

    /// Runs `preparation` (until it succeeds) before the server uses its
    /// database.
    pub fn with_preparation(mut self, preparation: Preparation) -> Self {
        self.preparation = Some(preparation);
        self
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The admin listener's address, if it has one.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_listener
            .as_ref()
            .and_then(|listener| listener.local_addr().ok())
    }

    /// Turns `true` once the server has reached its database and takes
    /// calls.
    pub fn started(&self) -> watch::Receiver<bool> {
        self.started.subscribe()
    }

    /// The server's change feed, e.g. to [`ChangeFeed::settle`] after
    /// writing to the database directly.
    pub fn feed(&self) -> ChangeFeed {
        self.feed.clone()
    }

    /// The server's audit trail, e.g. to [`AuditTrail::flush`] before
    /// reading `audit_events`.
    pub fn audit(&self) -> AuditTrail {
        self.audit.clone()
    }

    /// Serves until `shutdown` resolves. Meanwhile the server reaches its
    /// database in the background (see [`startup`]). At shutdown, health
    /// turns `NOT_SERVING`, serving goes on for the shutdown delay, then
    /// the listener stops accepting, open streams end, and in-flight calls
    /// get the grace period to finish.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let health = Health::new(self.db.clone()).await;
        let feed = self.feed;
        let feed_task = tokio::spawn(feed.clone().run(
            self.db.clone(),
            self.settings.change_poll_interval,
            self.settings.change_retention,
        ));

        let limits = self.settings.streams.clone();
        let ops = Operations::new(
            self.db.clone(),
            feed.clone(),
            self.audit.clone(),
            WriteTurns::new(&self.db, self.settings.lock_timeout),
            WatchLimits {
                max_streams: limits.max_watch_streams,
                max_streams_per_token: limits.max_watch_streams_per_token,
                max_replay: limits.max_watch_replay,
            },
        );
        let connections = Arc::new(ConnectionCounts::new(limits.max_connections));
        let state = ServerState::new(
            self.db.clone(),
            ops.clone(),
            feed.clone(),
            health.clone(),
            connections.clone(),
        );
        let (metrics, call_metrics, http_metrics) = Metrics::new(DESCRIPTOR_SETS, state.clone());
        let startup_task = tokio::spawn(startup::run(
            startup::Startup {
                db: self.db.clone(),
                ops: ops.clone(),
                preparation: self.preparation,
                started: self.started,
                address: self.listener.local_addr()?,
            },
            health.clone(),
            self.settings.health_check_interval,
        ));
        let http = HttpSettings {
            max_concurrent_streams: limits.max_concurrent_streams,
            keepalive_interval: limits.keepalive_interval,
            keepalive_timeout: limits.keepalive_timeout,
            header_read_timeout: limits.header_read_timeout,
            max_connection_age: limits.max_connection_age,
            max_connection_age_grace: limits.max_connection_age_grace,
        };
        let listener_limits = ListenerLimits {
            header_read_timeout: limits.header_read_timeout,
            keepalive: limits.keepalive_interval,
        };
        let stop_admin = CancellationToken::new();
        let admin_task = self.admin_listener.map(|listener| {
            let accepted = listener::accept(
                listener,
                None,
                listener_limits,
                Arc::new(ConnectionCounts::new(ADMIN_MAX_CONNECTIONS)),
                stop_admin.clone(),
            );
            tokio::spawn(http::serve(
                accepted,
                admin_port::service(health.service(), Arc::new(metrics)),
                HttpSettings {
                    max_connection_age: None,
                    ..http.clone()
                },
                stop_admin.clone(),
            ))
        });

        let service = service(
            ops.clone(),
            health.service(),
            call_metrics,
            http_metrics,
            &self.settings,
        )?;
        let stop_accepting = CancellationToken::new();
        let accepted = listener::accept(
            self.listener,
            self.tls.map(tls::Tls::serve),
            listener_limits,
            connections,
            stop_accepting.clone(),
        );
        let server = http::serve(accepted, service, http, stop_accepting.clone());
        tokio::pin!(server);

        let background = [startup_task, feed_task];
        tokio::select! {
            () = &mut server => {
                background.iter().for_each(JoinHandle::abort);
                stop_admin.cancel();
                self.audit.flush().await;
                return Ok(());
            }
            () = shutdown => {}
        }
        tracing::info!("shutting down: reporting NOT_SERVING, finishing in-flight calls");
        // The periodic check must not turn readiness back to SERVING.
        background[0].abort();
        health.set_not_serving().await;
        // Load balancers see NOT_SERVING and stop routing here first.
        tokio::time::sleep(self.settings.shutdown_delay).await;
        background[1].abort();
        stop_accepting.cancel();
        // Open watch streams (the service's and health's) end now, with a
        // status that says how to go on, instead of holding the process
        // for the grace period.
        feed.end_streams();
        health.end_watches();
        let stopped = tokio::time::timeout(self.settings.shutdown_grace_period, server).await;
        // The admin port answers probes until the end.
        stop_admin.cancel();
        if let Some(task) = admin_task {
            let _ = task.await;
        }
        // Every hand-out answered so far is written before the process ends.
        self.audit.flush().await;
        if stopped.is_err() {
            tracing::warn!(
                grace_period = ?self.settings.shutdown_grace_period,
                "grace period over with calls still in flight; stopping"
            );
        }
        Ok(())
    }
}

/// Everything the main port serves, outermost first: the bound on
/// requests in flight, then REST (by content type) or the gRPC stack:
/// panics caught, each call observed (trace, log, metrics), its deadline
/// set, its caller authenticated, then tonic's routes.
fn service(
    ops: Operations,
    health: tonic_health::pb::health_server::HealthServer<health::EndingHealth>,
    call_metrics: crate::metrics::CallMetrics,
    http_metrics: crate::metrics::HttpMetrics,
    settings: &ServerSettings,
) -> anyhow::Result<
    impl tower::Service<
        tonic::codegen::http::Request<tonic::body::Body>,
        Response = tonic::codegen::http::Response<tonic::body::Body>,
        Error = rest::BoxError,
        Future = impl Send + use<>,
    >
    + Clone
    + Send
    + 'static
    + use<>,
> {
    let limits = &settings.streams;
    let routes = Routes::new(health)
        .add_service(reflection().build_v1()?)
        .add_service(reflection().build_v1alpha()?)
        .add_service(
            PlexSourceServiceServer::new(PlexSources::new(ops.clone(), settings.cache_max_bytes))
                .max_decoding_message_size(limits.max_request_bytes),
        )
        .prepare();
    let grpc = ServiceBuilder::new()
        .map_response(|response: tonic::codegen::http::Response<_>| {
            response.map(tonic::body::Body::new)
        })
        .layer(catch_panic(true))
        .layer(ObserveLayer::new(call_metrics))
        .layer(DeadlineLayer::new(settings.request_timeout))
        .layer(AuthLayer::new(ops.clone()))
        .option_layer(settings.panic_hook.then_some(PanicHookLayer))
        .service(routes);
    Ok(ServiceBuilder::new()
        .layer(InFlightLayer::new(limits.max_requests_in_flight))
        .layer(rest::layer(
            ops.clone(),
            rest::RestSettings {
                timeout: settings.request_timeout,
                max_body_bytes: limits.max_request_bytes,
            },
            http_metrics,
            settings.panic_hook,
        ))
        .service(grpc))
}

/// Every service the gRPC port serves, for reflection and metrics.
const DESCRIPTOR_SETS: &[&[u8]] = &[
    FILE_DESCRIPTOR_SET,
    tonic_health::pb::FILE_DESCRIPTOR_SET,
    tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
    tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
];

/// Reflection over every service on the listener (both reflection
/// versions list each other) and the `google.rpc` error details.
fn reflection() -> tonic_reflection::server::Builder<'static> {
    DESCRIPTOR_SETS.iter().fold(
        tonic_reflection::server::Builder::configure(),
        |builder, set| builder.register_encoded_file_descriptor_set(set),
    )
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(%err, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(%err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
