//! Assembling and running the server: the Plex source service, health,
//! reflection and per-call tracing on one listener, with graceful shutdown.

mod health;
mod tls;

use std::{future::Future, io, net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use sea_orm::DatabaseConnection;
use tokio::net::TcpListener;
use tonic::transport::{Server, server::TcpIncoming};

use crate::{
    audit::AuditTrail,
    cache::ReadCache,
    domain::listing::PageTokenKey,
    feed::ChangeFeed,
    grpc::{AuthLayer, DeadlineLayer, PlexSources, trace_layer},
    ops::Operations,
    proto::{FILE_DESCRIPTOR_SET, plex_source_service_server::PlexSourceServiceServer},
    store,
};

pub use health::HealthChecker;
pub use tls::TlsFiles;

/// Name under which the health service reports the Plex source service.
pub const SERVICE_NAME: &str = "plexsource.v1.PlexSourceService";

/// Runtime settings of a server.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub listen: SocketAddr,
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

/// A server bound to its port but not yet serving, so callers (tests
/// especially) can learn the port first.
pub struct Application {
    listener: TcpListener,
    db: DatabaseConnection,
    settings: ServerSettings,
    feed: ChangeFeed,
    audit: AuditTrail,
    page_tokens: PageTokenKey,
    tls: Option<tls::Tls>,
}

impl Application {
    /// Reads the deployment's page token key (made by the migrations) and
    /// binds the listener.
    pub async fn build(db: DatabaseConnection, settings: ServerSettings) -> anyhow::Result<Self> {
        let tls = settings.tls.as_ref().map(tls::Tls::load).transpose()?;
        let key = store::secrets::page_token_key(&db)
            .await
            .context("cannot read the page token key")?
            .context("the page token key is missing: apply the migrations (`migrate`)")?;
        let listener = TcpListener::bind(settings.listen).await?;
        let db_for_audit = db.clone();
        Ok(Self {
            listener,
            db,
            feed: ChangeFeed::new(Arc::new(ReadCache::new(settings.cache_max_bytes))),
            settings,
            audit: AuditTrail::start(db_for_audit),
            page_tokens: PageTokenKey::new(&key),
            tls,
        })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
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

    /// Serves until `shutdown` resolves. Then health turns `NOT_SERVING`,
    /// the listener stops accepting, and in-flight calls get the grace
    /// period to finish.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let (reporter, health_service) = tonic_health::server::health_reporter();
        let checker = HealthChecker::new(reporter, self.db.clone()).await;
        checker.check_once().await;
        let watcher = tokio::spawn(checker.clone().watch(self.settings.health_check_interval));
        let feed = self.feed;
        let feed_task = tokio::spawn(feed.clone().run(
            self.db.clone(),
            self.settings.change_poll_interval,
            self.settings.change_retention,
        ));

        let streams = self.settings.streams.clone();
        let stop_streams = feed.clone();
        let ops = Operations::new(
            self.db.clone(),
            feed,
            self.audit.clone(),
            self.page_tokens,
            streams.max_watch_streams,
        );
        let reflection_v1 = reflection().build_v1()?;
        let reflection_v1alpha = reflection().build_v1alpha()?;

        let (stop_accepting, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = Server::builder()
            .max_concurrent_streams(streams.max_concurrent_streams)
            .http2_keepalive_interval(Some(streams.keepalive_interval))
            .http2_keepalive_timeout(Some(streams.keepalive_timeout))
            .layer(trace_layer())
            .layer(DeadlineLayer::new(self.settings.request_timeout))
            .layer(AuthLayer::new(ops.clone()))
            .add_service(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .add_service(PlexSourceServiceServer::new(PlexSources::new(ops)))
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

        tokio::select! {
            result = &mut server => {
                watcher.abort();
                feed_task.abort();
                self.audit.flush().await;
                return Ok(result?);
            }
            () = shutdown => {}
        }
        tracing::info!("shutting down: reporting NOT_SERVING, finishing in-flight calls");
        watcher.abort();
        checker.set_not_serving().await;
        // Load balancers see NOT_SERVING and stop routing here first.
        tokio::time::sleep(self.settings.shutdown_delay).await;
        feed_task.abort();
        let _ = stop_accepting.send(());
        // Open watch streams end now, with a status that says how to go
        // on, instead of holding the process for the grace period.
        stop_streams.end_streams();
        let stopped = tokio::time::timeout(self.settings.shutdown_grace_period, server).await;
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

/// Reflection over every service on the listener (both reflection
/// versions list each other) and the `google.rpc` error details.
fn reflection() -> tonic_reflection::server::Builder<'static> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET)
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
