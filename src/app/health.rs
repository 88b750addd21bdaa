//! Health reporting, under the names Kubernetes probes ask for:
//!
//! - `liveness`: `SERVING` whenever the process answers at all. It never
//!   follows the database, so a database outage does not make the kubelet
//!   restart every replica at once.
//! - `readiness`, `""` (the server as a whole) and
//!   `plexsource.v1.PlexSourceService`: `SERVING` only while the database
//!   answers (and not once shutdown has begun), so traffic goes elsewhere.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU8, Ordering},
    },
    time::Duration,
};

use sea_orm::DatabaseConnection;
use tonic_health::{ServingStatus, server::HealthReporter};

use super::SERVICE_NAME;
use crate::store;

/// Longest a database check may take before it counts as failed.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// [`HealthChecker::last`] before the first check.
const UNKNOWN: u8 = 0;
const SERVING: u8 = 1;
const NOT_SERVING: u8 = 2;

/// The name that answers whether the process is alive.
pub const LIVENESS: &str = "liveness";
/// The names that answer whether the server can take calls now.
const READINESS: [&str; 3] = ["", "readiness", SERVICE_NAME];

/// Checks the database and sets the readiness entries accordingly.
#[derive(Clone)]
pub struct HealthChecker {
    reporter: HealthReporter,
    db: DatabaseConnection,
    /// The status last reported, shared by every clone, so a transition is
    /// logged once whichever clone saw it.
    last: Arc<AtomicU8>,
}

impl HealthChecker {
    /// Also reports `liveness` as `SERVING`: from here on the process
    /// answers.
    pub async fn new(reporter: HealthReporter, db: DatabaseConnection) -> Self {
        reporter
            .set_service_status(LIVENESS, ServingStatus::Serving)
            .await;
        Self {
            reporter,
            db,
            last: Arc::new(AtomicU8::new(UNKNOWN)),
        }
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

    /// Checks forever at `interval`; run as a task and abort it to stop.
    pub async fn watch(self, interval: Duration) {
        loop {
            tokio::time::sleep(interval).await;
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
