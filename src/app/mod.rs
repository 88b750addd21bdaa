//! Assembling and running the server: the Plex source service, health,
//! reflection, per-call tracing and metrics, and authentik's REST API for
//! the same operations on one listener ([`stack`]); metrics and health on
//! the admin listener; connections accepted and served with their bounds
//! ([`listener`], [`http`]); start-up that waits for the database; and
//! graceful shutdown, which every part follows from one cancellation token.

mod admin_port;
mod conn;
mod guards;
mod health;
mod http;
mod listener;
mod settings;
mod signal;
mod stack;
mod startup;
mod tls;

use std::{future::Future, io, net::SocketAddr, sync::Arc};

use anyhow::Context;
use futures::future::BoxFuture;
use tokio::{net::TcpListener, sync::watch};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{
    audit::AuditTrail,
    cache::ReadCache,
    feed::ChangeFeed,
    metrics::{Metrics, ServerState},
    ops::{Operations, Parts, WatchLimits, WatchWork},
    store::{Db, WriteTurns},
};
use http::HttpSettings;
use listener::ListenerLimits;

pub use conn::Connection;
pub use guards::{PANIC_HEADER, PANIC_HOOK, catch_panic, in_flight};
pub use health::{Health, LIVENESS, READINESS};
pub use listener::ConnectionCounts;
pub use settings::{ServerSettings, StreamLimits};
pub use signal::shutdown_signal;
pub use tls::TlsFiles;

/// Name under which the health service reports the Plex source service.
pub const SERVICE_NAME: &str = "plexsource.v1.PlexSourceService";

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
    db: Db,
    settings: ServerSettings,
    feed: ChangeFeed,
    cache: Arc<ReadCache>,
    watch_work: Arc<WatchWork>,
    audit: AuditTrail,
    preparation: Option<Preparation>,
    started: watch::Sender<bool>,
    tls: Option<tls::Tls>,
}

impl Application {
    /// Binds the listeners. Nothing here needs the database: the server
    /// answers health (liveness `SERVING`, readiness `NOT_SERVING`) while
    /// it waits for it.
    pub async fn build(db: Db, settings: ServerSettings) -> anyhow::Result<Self> {
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
        let cache = Arc::new(ReadCache::new(settings.cache_max_bytes));
        Ok(Self {
            listener,
            admin_listener,
            audit: AuditTrail::start(db.clone()),
            db,
            feed: ChangeFeed::new(cache.invalidation()),
            cache,
            watch_work: Arc::default(),
            settings,
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

    /// The server's read cache, for its figures.
    pub fn cache(&self) -> Arc<ReadCache> {
        self.cache.clone()
    }

    /// Database reads made for single watch streams.
    pub fn watch_work(&self) -> Arc<WatchWork> {
        self.watch_work.clone()
    }

    /// Serves until `shutdown` resolves. Meanwhile the server reaches its
    /// database in the background (see [`startup`]). At shutdown, health
    /// turns `NOT_SERVING` and serving goes on for the shutdown delay; then
    /// one cancellation token stops everything that follows it: the
    /// listener stops accepting and connections drain (in-flight calls get
    /// the grace period), open watch streams (the service's and health's)
    /// end with a status that says how to go on, and the change feed,
    /// health checks and start-up stop. The admin port answers probes, and
    /// the audit trail takes hand-outs, until the calls have drained; then
    /// the trail is written out.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let stopping = CancellationToken::new();
        let tasks = TaskTracker::new();
        let health = Health::new(self.db.clone(), stopping.clone()).await;
        tasks.spawn(self.feed.clone().run(
            self.db.clone(),
            self.settings.change_poll_interval,
            self.settings.change_retention,
            stopping.clone(),
        ));

        let limits = self.settings.streams.clone();
        let ops = Operations::new(Parts {
            db: self.db.clone(),
            feed: self.feed.clone(),
            cache: self.cache.clone(),
            audit: self.audit.clone(),
            writes: WriteTurns::new(&self.db, self.settings.lock_timeout),
            watch_limits: WatchLimits {
                max_streams: limits.max_watch_streams,
                max_streams_per_token: limits.max_watch_streams_per_token,
                max_replay: limits.max_watch_replay,
            },
            watch_work: self.watch_work.clone(),
            shutdown: stopping.clone(),
        });
        let connections = Arc::new(ConnectionCounts::new(limits.max_connections));
        let state = ServerState::new(
            self.db.clone(),
            ops.clone(),
            self.feed.clone(),
            health.clone(),
            connections.clone(),
        );
        let (metrics, call_metrics, http_metrics) =
            Metrics::new(stack::DESCRIPTOR_SETS, state.clone());
        let startup = startup::run(
            startup::Startup {
                db: self.db.clone(),
                ops: ops.clone(),
                preparation: self.preparation,
                started: self.started,
                address: self.listener.local_addr()?,
            },
            health.clone(),
            self.settings.health_check_interval,
        );
        tasks.spawn(stopping.clone().run_until_cancelled_owned(startup));

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
        // The admin port outlasts the drain (probes are answered to the
        // end): it stops after the main port has.
        let admin_done = CancellationToken::new();
        if let Some(listener) = self.admin_listener {
            let accepted = listener::accept(
                listener,
                None,
                listener_limits,
                Arc::new(ConnectionCounts::new(ADMIN_MAX_CONNECTIONS)),
                admin_done.clone(),
            );
            tasks.spawn(http::serve(
                accepted,
                admin_port::service(health.service(), Arc::new(metrics)),
                HttpSettings {
                    max_connection_age: None,
                    ..http.clone()
                },
                admin_done.clone(),
            ));
        }

        let service = stack::service(
            ops.clone(),
            health.service(),
            call_metrics,
            http_metrics,
            &self.settings,
        )?;
        let accepted = listener::accept(
            self.listener,
            self.tls.map(tls::Tls::serve),
            listener_limits,
            connections,
            stopping.clone(),
        );
        let server = http::serve(accepted, service, http, stopping.clone());
        tokio::pin!(server);

        let mut drained = true;
        tokio::select! {
            () = &mut server => stopping.cancel(),
            () = shutdown => {
                tracing::info!("shutting down: reporting NOT_SERVING, finishing in-flight calls");
                health.set_not_serving().await;
                // Load balancers see NOT_SERVING and stop routing here first.
                tokio::time::sleep(self.settings.shutdown_delay).await;
                stopping.cancel();
                let grace = self.settings.shutdown_grace_period;
                drained = tokio::time::timeout(grace, server).await.is_ok();
            }
        }
        if !drained {
            tracing::warn!(
                grace_period = ?self.settings.shutdown_grace_period,
                "grace period over with calls still in flight; stopping"
            );
        }
        admin_done.cancel();
        tasks.close();
        tasks.wait().await;
        // Every hand-out answered so far is written before the process ends.
        self.audit.flush().await;
        Ok(())
    }
}
