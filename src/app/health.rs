//! Health reporting: the Plex source service (and the server as a whole,
//! `""`) is `SERVING` only while its database answers.

use std::time::Duration;

use sea_orm::DatabaseConnection;
use tonic_health::{ServingStatus, server::HealthReporter};

use super::SERVICE_NAME;
use crate::store;

/// Longest a database check may take before it counts as failed.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Checks the database and sets both health entries accordingly.
#[derive(Clone)]
pub struct HealthChecker {
    reporter: HealthReporter,
    db: DatabaseConnection,
}

impl HealthChecker {
    pub fn new(reporter: HealthReporter, db: DatabaseConnection) -> Self {
        Self { reporter, db }
    }

    /// One check; logs only when the state changes.
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
        self.set(status).await;
        healthy
    }

    /// Checks forever at `interval`; run as a task and abort it to stop.
    pub async fn watch(self, interval: Duration) {
        let mut last = None;
        loop {
            tokio::time::sleep(interval).await;
            let healthy = self.check_once().await;
            if last != Some(healthy) {
                if healthy {
                    tracing::info!("database reachable: SERVING");
                } else {
                    tracing::warn!("database unreachable: NOT_SERVING");
                }
                last = Some(healthy);
            }
        }
    }

    pub async fn set_not_serving(&self) {
        self.set(ServingStatus::NotServing).await;
    }

    async fn set(&self, status: ServingStatus) {
        self.reporter.set_service_status("", status).await;
        self.reporter.set_service_status(SERVICE_NAME, status).await;
    }
}
