//! Assembling and running the server: the Plex source service, health,
//! reflection, per-call tracing and metrics, and authentik's REST API for
//! the same operations on one listener, metrics and
//! health on the admin listener, start-up that waits for the database, and
//! graceful shutdown.

mod admin_port;
mod health;
mod startup;
mod tls;

use std::{future::Future, io, net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use futures::future::BoxFuture;
use sea_orm::DatabaseConnection;
use tokio::{net::TcpListener, sync::watch, task::JoinHandle};
use tonic::transport::{Server, server::TcpIncoming};

use crate::{
    audit::AuditTrail,
    cache::ReadCache,
    feed::ChangeFeed,
    grpc::{AuthLayer, DeadlineLayer, ObserveLayer, PlexSources},
    metrics::{Metrics, ServerState},
    ops::Operations,
    proto::{FILE_DESCRIPTOR_SET, plex_source_service_server::PlexSourceServiceServer},
    rest,
    store::WriteTurns,
};

pub use health::{Health, LIVENESS, READINESS};
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
}

/// Bounds on streams and connections: one client cannot hold more than
/// its share, and connections of clients that vanished are reclaimed.
#[derive(Debug, Clone)]
pub struct StreamLimits {
    /// HTTP/2 streams (concurrent calls) per connection.
    pub max_concurrent_streams: u32,
    /// Open WatchPlexSources streams on this server.
    pub max_watch_streams: usize,
    /// Idle time before an HTTP/2 ping and TCP keepalive probe.
    pub keepalive_interval: Duration,
    /// Time a ping may go unanswered before the connection is closed.
    pub keepalive_timeout: Duration,
}

impl Default for StreamLimits {
    fn default() -> Self {
        Self {
            max_concurrent_streams: 100,
            max_watch_streams: 20_000,
            keepalive_interval: Duration::from_secs(30),
            keepalive_timeout: Duration::from_secs(10),
        }
    }
}

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

        let streams = self.settings.streams.clone();
        let ops = Operations::new(
            self.db.clone(),
            feed.clone(),
            self.audit.clone(),
            WriteTurns::new(&self.db, self.settings.lock_timeout),
            streams.max_watch_streams,
        );
        let state = ServerState::new(self.db.clone(), ops.clone(), feed.clone(), health.clone());
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
        let (stop_admin, admin_stopped) = watch::channel(false);
        let admin_task = self.admin_listener.map(|listener| {
            tokio::spawn(admin_port::serve(
                listener,
                health.service(),
                Arc::new(metrics),
                state,
                admin_stopped,
            ))
        });
        let reflection_v1 = reflection().build_v1()?;
        let reflection_v1alpha = reflection().build_v1alpha()?;

        let (stop_accepting, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = Server::builder()
            // authentik's REST clients speak HTTP/1.1 as well as HTTP/2.
            .accept_http1(true)
            .max_concurrent_streams(streams.max_concurrent_streams)
            .http2_keepalive_interval(Some(streams.keepalive_interval))
            .http2_keepalive_timeout(Some(streams.keepalive_timeout))
            // Outermost: REST requests leave here for their own router,
            // gRPC calls go on through the layers below.
            .layer(rest::layer(
                ops.clone(),
                self.settings.request_timeout,
                http_metrics,
            ))
            .layer(ObserveLayer::new(call_metrics))
            .layer(DeadlineLayer::new(self.settings.request_timeout))
            .layer(AuthLayer::new(ops.clone()))
            .add_service(health.service())
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .add_service(PlexSourceServiceServer::new(PlexSources::new(
                ops,
                self.settings.cache_max_bytes,
            )))
            .serve_with_incoming_shutdown(
                tls::incoming(
                    TcpIncoming::from(self.listener)
                        .with_nodelay(Some(true))
                        .with_keepalive(Some(streams.keepalive_interval)),
                    self.tls,
                ),
                async {
                    let _ = stopped.await;
                },
            );
        tokio::pin!(server);

        let background = [startup_task, feed_task];
        tokio::select! {
            result = &mut server => {
                background.iter().for_each(JoinHandle::abort);
                stop_admin.send_replace(true);
                self.audit.flush().await;
                return Ok(result?);
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
        let _ = stop_accepting.send(());
        // Open watch streams (the service's and health's) end now, with a
        // status that says how to go on, instead of holding the process
        // for the grace period.
        feed.end_streams();
        health.end_watches();
        let stopped = tokio::time::timeout(self.settings.shutdown_grace_period, server).await;
        // The admin port answers probes until the end.
        stop_admin.send_replace(true);
        if let Some(task) = admin_task {
            let _ = task.await;
        }
        // Every hand-out answered so far is written before the process ends.
        self.audit.flush().await;
        match stopped {
            Ok(result) => Ok(result?),
            Err(_) => {
                tracing::warn!(
                    grace_period = ?self.settings.shutdown_grace_period,
                    "grace period over with calls still in flight; stopping"
                );
                Ok(())
            }
        }
    }
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
