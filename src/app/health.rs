//! Health reporting, under the names Kubernetes probes ask for:
//!
//! - `liveness`: `SERVING` whenever the process answers at all. It never
//!   follows the database, so a database outage does not make the kubelet
//!   restart every replica at once.
//! - `readiness`, `""` (the server as a whole) and
//!   `plexsource.v1.PlexSourceService`: `SERVING` only once the server has
//!   reached and migrated its database, while the database answers, and
//!   not once shutdown has begun, so traffic goes elsewhere.
//!
//! `Watch` streams end at shutdown with UNAVAILABLE, like the service's own
//! streams, instead of holding the process until its grace period ends.

use std::{
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU8, Ordering},
    },
    time::Duration,
};

use crate::store::Db;
use futures::{Stream, StreamExt};
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};
use tonic_health::{
    ServingStatus,
    pb::{
        HealthCheckRequest, HealthCheckResponse,
        health_server::{Health as HealthApi, HealthServer},
    },
    server::{HealthReporter, HealthService},
};

use super::SERVICE_NAME;
use crate::store;

/// Longest a database check may take before it counts as failed.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// [`Health::last`] before the first check.
const UNKNOWN: u8 = 0;
const SERVING: u8 = 1;
const NOT_SERVING: u8 = 2;

/// The name that answers whether the process is alive.
pub const LIVENESS: &str = "liveness";
/// The names that answer whether the server can take calls now.
pub const READINESS: [&str; 3] = ["", "readiness", SERVICE_NAME];

/// The server's health: what the health service reports, set from database
/// checks, start-up and shutdown.
#[derive(Clone)]
pub struct Health {
    reporter: HealthReporter,
    db: Db,
    /// The readiness last reported, shared by every clone, so a transition
    /// is logged once whichever clone saw it.
    last: Arc<AtomicU8>,
    /// The server stops: open `Watch` streams end, checks stop.
    shutdown: CancellationToken,
}

impl Health {
    /// `liveness` is `SERVING` from here on; readiness is `NOT_SERVING`
    /// until [`Health::check_once`] finds the database.
    pub async fn new(db: Db, shutdown: CancellationToken) -> Self {
        let reporter = HealthReporter::new();
        reporter
            .set_service_status(LIVENESS, ServingStatus::Serving)
            .await;
        for name in READINESS {
            reporter
                .set_service_status(name, ServingStatus::NotServing)
                .await;
        }
        Self {
            reporter,
            db,
            last: Arc::new(AtomicU8::new(UNKNOWN)),
            shutdown,
        }
    }

    /// The gRPC health service (one per listener; all share the statuses).
    pub fn service(&self) -> HealthServer<EndingHealth> {
        HealthServer::new(EndingHealth {
            inner: HealthService::from_health_reporter(self.reporter.clone()),
            stopping: self.shutdown.clone(),
        })
    }

    /// Whether each name reports `SERVING`, for metrics.
    pub fn statuses(&self) -> impl Iterator<Item = (&'static str, bool)> {
        let ready = self.last.load(Ordering::Relaxed) == SERVING;
        std::iter::once((LIVENESS, true)).chain(READINESS.map(|name| (name, ready)))
    }

    /// One check. Logs only when the status changes: `NOT_SERVING` at WARN
    /// (including a first check that finds the database down), back to
    /// `SERVING` at INFO; a healthy first check is silent.
    pub async fn check_once(&self) -> bool {
        let healthy = matches!(
            tokio::time::timeout(CHECK_TIMEOUT, store::ping(&self.db)).await,
            Ok(Ok(()))
        );
        let status = if healthy {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        let now = if healthy { SERVING } else { NOT_SERVING };
        let before = self.last.swap(now, Ordering::Relaxed);
        // Only changes: a client watching health hears of each once.
        if before != now {
            self.set(status).await;
        }
        match (before, now) {
            (UNKNOWN | SERVING, NOT_SERVING) => {
                tracing::warn!("database unreachable: NOT_SERVING");
            }
            (NOT_SERVING, SERVING) => tracing::info!("database reachable again: SERVING"),
            _ => {}
        }
        healthy
    }

    /// Checks at `interval` until the server stops.
    pub async fn watch(self, interval: Duration) {
        loop {
            tokio::select! {
                () = tokio::time::sleep(interval) => {}
                () = self.shutdown.cancelled() => return,
            }
            self.check_once().await;
        }
    }

    /// At shutdown: `NOT_SERVING` for good (the caller logs why).
    pub async fn set_not_serving(&self) {
        self.last.store(NOT_SERVING, Ordering::Relaxed);
        self.set(ServingStatus::NotServing).await;
    }

    async fn set(&self, status: ServingStatus) {
        for name in READINESS {
            self.reporter.set_service_status(name, status).await;
        }
    }
}

/// The standard health service, whose `Watch` streams end with UNAVAILABLE
/// when the server stops.
pub struct EndingHealth {
    inner: HealthService,
    stopping: CancellationToken,
}

/// Told to a health watcher when the server stops.
const STOPPING_MESSAGE: &str = "This server is shutting down; watch health on another replica.";

#[tonic::async_trait]
impl HealthApi for EndingHealth {
    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        self.inner.check(request).await
    }

    type WatchStream =
        Pin<Box<dyn Stream<Item = Result<HealthCheckResponse, Status>> + Send + 'static>>;

    async fn watch(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let statuses = self.inner.watch(request).await?.into_inner();
        let stopping = self.stopping.clone();
        let stopped = async move { stopping.cancelled().await };
        let ending = futures::stream::once(async { Err(Status::unavailable(STOPPING_MESSAGE)) });
        Ok(Response::new(Box::pin(
            statuses.take_until(stopped).chain(ending),
        )))
    }
}
