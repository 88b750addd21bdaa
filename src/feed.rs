//! The change feed: wakes `WatchPlexSources` streams when the change log
//! grows, whichever replica wrote it.
//!
//! One task per server polls the newest revision (a single indexed query)
//! every poll interval, and at once when this replica commits a change.
//! Streams then read the log itself, so a slow stream never loses events:
//! it catches up from its own cursor. The same task prunes old entries.

use std::{sync::Arc, time::Duration};

use sea_orm::DatabaseConnection;
use tokio::sync::{Notify, watch};

use crate::store::events;

/// How often old change log entries are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

#[derive(Clone)]
pub struct ChangeFeed {
    latest: Arc<watch::Sender<i64>>,
    wake: Arc<Notify>,
}

impl Default for ChangeFeed {
    fn default() -> Self {
        Self::new()
    }
}

impl ChangeFeed {
    pub fn new() -> Self {
        Self {
            latest: Arc::new(watch::channel(0).0),
            wake: Arc::new(Notify::new()),
        }
    }

    /// Receives the newest known revision whenever it grows.
    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.latest.subscribe()
    }

    /// Asks for a check now: this replica just committed a change.
    pub fn poke(&self) {
        self.wake.notify_one();
    }

    /// Polls until aborted; entries older than `retention` are pruned.
    pub async fn run(self, db: DatabaseConnection, poll: Duration, retention: Duration) {
        let mut last_prune = tokio::time::Instant::now();
        loop {
            match events::latest_revision(&db).await {
                Ok(revision) => {
                    self.latest.send_if_modified(|known| {
                        let grew = revision > *known;
                        if grew {
                            *known = revision;
                        }
                        grew
                    });
                }
                Err(err) => tracing::debug!(error = %err, "change feed poll failed"),
            }
            if last_prune.elapsed() >= PRUNE_EVERY {
                last_prune = tokio::time::Instant::now();
                let cutoff = chrono::Utc::now()
                    - chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::days(1));
                match events::prune(&db, cutoff).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(pruned = n, "change log pruned"),
                    Err(err) => tracing::warn!(error = %err, "change log pruning failed"),
                }
            }
            tokio::select! {
                () = tokio::time::sleep(poll) => {}
                () = self.wake.notified() => {}
            }
        }
    }
}
