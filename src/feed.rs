//! The change feed: notices changes made by any replica (or the CLI) and
//! wakes `WatchPlexSources` streams and drops cached reads.
//!
//! One task per server polls the newest source revision and the access
//! epoch (one round trip) every poll interval, and at once when this
//! replica commits a change. Streams then read the log itself, so a slow
//! stream never loses events: it catches up from its own cursor. Each
//! successful poll also vouches for the read cache (see [`crate::cache`]).
//! The same task prunes old log entries.

use std::{sync::Arc, time::Duration};

use sea_orm::DatabaseConnection;
use tokio::sync::{Notify, watch};

use crate::{cache::ReadCache, store::events};

/// How often old change log entries are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

#[derive(Clone)]
pub struct ChangeFeed {
    latest: Arc<watch::Sender<i64>>,
    /// The access epoch: bumped by any change to users, roles, tokens or
    /// grants, by anyone.
    access: Arc<watch::Sender<i64>>,
    wake: Arc<Notify>,
    cache: Arc<ReadCache>,
    /// Successful polls so far.
    polls: Arc<watch::Sender<u64>>,
}

impl ChangeFeed {
    pub fn new(cache: Arc<ReadCache>) -> Self {
        Self {
            latest: Arc::new(watch::channel(0).0),
            access: Arc::new(watch::channel(0).0),
            wake: Arc::new(Notify::new()),
            cache,
            polls: Arc::new(watch::channel(0).0),
        }
    }

    /// Returns once a poll that started after this call has succeeded:
    /// from then on this replica reflects every change committed before
    /// the call, by anyone.
    pub async fn settle(&self) {
        let mut polls = self.polls.subscribe();
        // The poll running now may have started before the call: wait for
        // the one after it.
        let target = *polls.borrow_and_update() + 2;
        self.poke();
        while *polls.borrow_and_update() < target {
            self.poke();
            if polls.changed().await.is_err() {
                return;
            }
        }
    }

    pub fn cache(&self) -> &ReadCache {
        &self.cache
    }

    pub fn cache_handle(&self) -> Arc<ReadCache> {
        self.cache.clone()
    }

    /// This replica committed a change: drop cached reads now (the next
    /// call sees it) and check the log at once (watchers see it).
    pub fn committed(&self) {
        self.cache.invalidate();
        self.poke();
    }

    /// Receives the newest known revision whenever it grows.
    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.latest.subscribe()
    }

    /// Receives the access epoch whenever it changes: open streams re-check
    /// their caller then.
    pub fn subscribe_access(&self) -> watch::Receiver<i64> {
        self.access.subscribe()
    }

    /// Asks for a check now: this replica just committed a change.
    pub fn poke(&self) {
        self.wake.notify_one();
    }

    /// Polls until aborted; entries older than `retention` are pruned.
    pub async fn run(self, db: DatabaseConnection, poll: Duration, retention: Duration) {
        let mut last_prune = tokio::time::Instant::now();
        let mut seen = None;
        loop {
            let started = std::time::Instant::now();
            match events::poll_state(&db).await {
                Ok(state) => {
                    if seen != Some(state) {
                        self.cache.invalidate();
                        seen = Some(state);
                    }
                    self.cache.mark_fresh(started);
                    self.polls.send_modify(|n| *n += 1);
                    let (revision, access) = state;
                    self.access.send_if_modified(|known| {
                        let changed = access != *known;
                        *known = access;
                        changed
                    });
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
