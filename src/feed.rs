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

use std::{
    sync::{
        Arc,
        atomic::{AtomicI64, AtomicU64, Ordering},
    },
    time::Duration,
};

use sea_orm::DatabaseConnection;
use tokio::sync::{Notify, broadcast, watch};
use uuid::Uuid;

use crate::{
    cache::ReadCache,
    store::{
        StoreError,
        events::{self, ChangeKind, SourceChange},
    },
};

/// How often old change log entries are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// Changes per broadcast batch.
const BATCH: u64 = 100;
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
    cache: Arc<ReadCache>,
    /// Successful polls so far.
    polls: Arc<watch::Sender<u64>>,
    work: Arc<WatchWork>,
    /// Set once, when the server stops: every open stream ends.
    stopping: Arc<watch::Sender<bool>>,
    progress: Arc<FeedProgress>,
}

/// How far the feed got, for metrics: the newest revision handled and
/// when a poll last succeeded.
#[derive(Debug)]
pub struct FeedProgress {
    origin: std::time::Instant,
    revision: AtomicI64,
    /// Milliseconds after `origin` of the last successful poll, plus one
    /// (zero: none yet).
    polled: AtomicU64,
}

impl FeedProgress {
    fn record(&self, revision: i64, polled_at: std::time::Instant) {
        self.revision.store(revision, Ordering::Relaxed);
        let millis = polled_at.saturating_duration_since(self.origin).as_millis();
        self.polled.store(
            u64::try_from(millis).unwrap_or(u64::MAX).saturating_add(1),
            Ordering::Relaxed,
        );
    }

    /// The newest change-log revision this replica has handled.
    pub fn revision(&self) -> i64 {
        self.revision.load(Ordering::Relaxed)
    }

    /// Time since the last successful poll, `None` before the first.
    pub fn since_last_poll(&self) -> Option<Duration> {
        let millis = self.polled.load(Ordering::Relaxed).checked_sub(1)?;
        let at = self.origin + Duration::from_millis(millis);
        Some(at.elapsed())
    }
}

/// Database reads made for watch streams, beyond the feed's own: what must
/// not grow with the number of streams.
#[derive(Debug, Default)]
pub struct WatchWork {
    /// Log reads by a single stream (its start, or catching up).
    stream_log_reads: AtomicU64,
    /// Callers re-read from the store.
    caller_reads: AtomicU64,
}

impl WatchWork {
    pub fn stream_log_read(&self) {
        self.stream_log_reads.fetch_add(1, Ordering::Relaxed);
    }

    pub fn caller_read(&self) {
        self.caller_reads.fetch_add(1, Ordering::Relaxed);
    }

    /// Log reads by single streams so far.
    pub fn stream_log_reads(&self) -> u64 {
        self.stream_log_reads.load(Ordering::Relaxed)
    }

    /// Callers re-read for streams so far.
    pub fn caller_reads(&self) -> u64 {
        self.caller_reads.load(Ordering::Relaxed)
    }
}

impl ChangeFeed {
    pub fn new(cache: Arc<ReadCache>) -> Self {
        Self {
            batches: broadcast::channel(BACKLOG).0,
            access: Arc::new(watch::channel(0).0),
            wake: Arc::new(Notify::new()),
            cache,
            polls: Arc::new(watch::channel(0).0),
            work: Arc::default(),
            stopping: Arc::new(watch::channel(false).0),
            progress: Arc::new(FeedProgress {
                origin: std::time::Instant::now(),
                revision: AtomicI64::new(0),
                polled: AtomicU64::new(0),
            }),
        }
    }

    /// How far the feed got.
    pub fn progress(&self) -> &FeedProgress {
        &self.progress
    }

    /// Database reads made for single streams.
    pub fn watch_work(&self) -> &WatchWork {
        &self.work
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

    /// This replica committed a change of a source: drop what it affects
    /// in the cache now (the next call sees it) and check the log at once
    /// (watchers see it).
    pub fn committed(&self, kind: ChangeKind, pk: Uuid, slug: &str) {
        forget(&self.cache, kind, pk, slug);
        self.poke();
    }

    /// The server is stopping: every open stream ends (see
    /// [`ChangeFeed::subscribe_stopping`]).
    pub fn end_streams(&self) {
        self.stopping.send_replace(true);
    }

    /// Turns `true` when the server stops.
    pub fn subscribe_stopping(&self) -> watch::Receiver<bool> {
        self.stopping.subscribe()
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

    /// Asks for a check now: this replica just committed a change.
    pub fn poke(&self) {
        self.wake.notify_one();
    }

    /// Polls until aborted; entries older than `retention` are pruned.
    pub async fn run(self, db: DatabaseConnection, poll: Duration, retention: Duration) {
        let mut last_prune = tokio::time::Instant::now();
        // The revision and access epoch this replica has handled.
        let mut seen: Option<(i64, i64)> = None;
        loop {
            let started = std::time::Instant::now();
            match self.poll(&db, seen).await {
                Ok(state) => {
                    seen = Some(state);
                    self.progress.record(state.0, started);
                    self.cache.mark_fresh(started);
                    self.polls.send_modify(|n| *n += 1);
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

    /// One poll: what changed since `seen` is dropped from the cache and
    /// broadcast. Returns the state now handled; on an error nothing is
    /// marked handled, and the next poll reads the same changes again.
    async fn poll(
        &self,
        db: &DatabaseConnection,
        seen: Option<(i64, i64)>,
    ) -> Result<(i64, i64), StoreError> {
        let (revision, access) = events::poll_state(db).await?;
        let Some((mut cursor, known_access)) = seen else {
            // First poll: nothing is known about what changed before.
            self.cache.invalidate();
            self.access.send_replace(access);
            return Ok((revision, access));
        };
        if access != known_access {
            self.cache.access_changed();
        }
        if revision < cursor {
            // The log went back (a restored database): start over.
            self.cache.invalidate();
            cursor = revision;
        }
        while cursor < revision {
            let mut changes = match events::changes_after(db, cursor, BATCH).await {
                Ok(changes) => changes,
                Err(err) => {
                    // What changed is unknown: drop everything.
                    self.cache.invalidate();
                    return Err(err);
                }
            };
            // Only what the poll saw, so the batch's access epoch is not
            // older than its changes.
            changes.retain(|c| c.revision <= revision);
            if changes.is_empty() {
                break;
            }
            // Tokens only for streams; with none open the read is saved.
            let streams = self.batches.receiver_count() > 0;
            if streams && let Err(err) = events::fill_current_tokens(db, &mut changes).await {
                self.cache.invalidate();
                return Err(err);
            }
            for change in &changes {
                forget(&self.cache, change.kind, change.source_pk, &change.slug);
            }
            let batch = ChangeBatch {
                after: cursor,
                changes,
                access,
                tokens: streams,
            };
            cursor = batch.upto();
            // No receiver (no open stream) is fine.
            let _ = self.batches.send(Arc::new(batch));
        }
        // Streams learn of access changes after the cache dropped callers.
        self.access.send_if_modified(|known| {
            let changed = access != *known;
            *known = access;
            changed
        });
        Ok((revision.max(cursor), access))
    }
}

/// Drops what a change of a source affects from the cache. A deletion
/// also took the object grants on it with it: callers go too.
fn forget(cache: &ReadCache, kind: ChangeKind, pk: Uuid, slug: &str) {
    cache.source_changed(pk, slug);
    if kind == ChangeKind::Deleted {
        cache.access_changed();
    }
}
