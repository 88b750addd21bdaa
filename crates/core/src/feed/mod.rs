//! The change feed: this replica's one reader of the change log. It
//! notices changes made by any replica (or the CLI), drops the cached reads
//! they affect and hands the changes to every `WatchPlexSources` stream of
//! the replica.
//!
//! One task per server polls the newest source revision and the access
//! epoch (one round trip) every poll interval, and at once when this
//! replica commits a change. When the revision grew it reads the new log
//! entries once, with the sources' current Plex tokens, drops exactly those
//! sources (and the list pages) from the cache, and broadcasts them in
//! [`ChangeBatch`]es: the database work per change does not grow with the
//! number of open streams. A stream that falls more than [`BACKLOG`]
//! batches behind reads the log from its own cursor instead, so a slow
//! stream neither holds up the others nor loses events. Each successful
//! poll also vouches for the read cache (see [`crate::cache`]). The same
//! task prunes old log entries.

use std::{sync::Arc, time::Duration};

use store::Db;
use tokio::sync::{Notify, broadcast, watch};

use store::events::{self, SourceChange};
use tokio_util::sync::CancellationToken;

mod poll;
mod progress;

use crate::cache::Invalidation;
use poll::Position;
pub use progress::FeedProgress;

/// How often old change log entries are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// Changes per broadcast batch.
const BATCH: u64 = 100;
/// Most revisions a blocked feed remembers as missing; past that it reads
/// from its cursor again on every poll until the gap is settled.
const MAX_MISSING: usize = 1_000;
/// Batches a stream may fall behind before it reads the log itself. With
/// [`BATCH`], bounds what the feed holds for slow streams.
pub const BACKLOG: usize = 64;

/// Consecutive changes from the log, as the feed read them.
#[derive(Debug)]
pub struct ChangeBatch {
    /// Every change after this revision up to the last one here is here.
    pub after: i64,
    /// In revision order; never empty. With `tokens`, each source holds
    /// its current Plex token (empty once deleted).
    pub changes: Vec<SourceChange>,
    /// Whether the tokens were read: not when no stream was open as the
    /// batch was read (a stream that opened since reads the log itself).
    pub tokens: bool,
    /// The access epoch no older than these changes: a stream re-checks
    /// its caller before delivering them if it checked at another epoch.
    pub access: i64,
}

impl ChangeBatch {
    /// The newest revision of the batch.
    pub fn upto(&self) -> i64 {
        self.changes.last().map_or(self.after, |c| c.revision)
    }
}

#[derive(Clone)]
pub struct ChangeFeed {
    batches: broadcast::Sender<Arc<ChangeBatch>>,
    /// The access epoch: bumped by any change to users, roles, tokens or
    /// grants, by anyone.
    access: Arc<watch::Sender<i64>>,
    wake: Arc<Notify>,
    /// Drops from this replica's read cache what changed.
    cache: Invalidation,
    /// Successful polls so far.
    polls: Arc<watch::Sender<u64>>,
    progress: Arc<FeedProgress>,
}

impl ChangeFeed {
    pub fn new(cache: Invalidation) -> Self {
        Self {
            batches: broadcast::channel(BACKLOG).0,
            access: Arc::new(watch::channel(0).0),
            wake: Arc::new(Notify::new()),
            cache,
            polls: Arc::new(watch::channel(0).0),
            progress: Arc::new(FeedProgress::new()),
        }
    }

    /// How far the feed got.
    pub fn progress(&self) -> &FeedProgress {
        &self.progress
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

    /// How far the feed has handed out changes, once it has reached
    /// `at_least` (a revision seen in the log): every change up to the
    /// answer is final and handed out. Waits up to `wait`, asking for
    /// polls; answers what it has then, or `None` before the first poll.
    pub async fn horizon(&self, at_least: i64, wait: Duration) -> Option<i64> {
        let mut polls = self.polls.subscribe();
        let reached = async {
            loop {
                if *polls.borrow_and_update() > 0 && self.progress.revision() >= at_least {
                    return;
                }
                self.poke();
                if polls.changed().await.is_err() {
                    return;
                }
            }
        };
        let _ = tokio::time::timeout(wait, reached).await;
        (*self.polls.borrow() > 0).then(|| self.progress.revision())
    }

    /// Receives every batch of changes the feed reads from now on.
    pub fn subscribe_changes(&self) -> broadcast::Receiver<Arc<ChangeBatch>> {
        self.batches.subscribe()
    }

    /// Receives the access epoch whenever it changes: open streams re-check
    /// their caller then.
    pub fn subscribe_access(&self) -> watch::Receiver<i64> {
        self.access.subscribe()
    }

    /// The access epoch as the feed last read it.
    pub fn access_epoch(&self) -> i64 {
        *self.access.borrow()
    }

    /// Asks for a check now: this replica just committed a change.
    pub fn poke(&self) {
        self.wake.notify_one();
    }

    /// Polls until `shutdown`; entries older than `retention` are pruned.
    pub async fn run(
        self,
        db: Db,
        poll: Duration,
        retention: Duration,
        shutdown: CancellationToken,
    ) {
        let mut last_prune = tokio::time::Instant::now();
        let mut position = Position::Unknown;
        loop {
            let started = std::time::Instant::now();
            match self.poll(&db, &mut position).await {
                Ok(()) => {
                    if let Position::At { .. } = position {
                        self.progress.polled(started);
                        self.cache.fresh_as_of(started);
                        self.polls.send_modify(|n| *n += 1);
                    }
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
                () = shutdown.cancelled() => return,
            }
        }
    }
}
