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
        events::{self, ChangeKind, PollState, Running, SourceChange},
    },
};

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
    /// Every change up to `revision` is final and has been handed out.
    fn advance(&self, revision: i64) {
        self.revision.store(revision, Ordering::Release);
    }

    fn polled(&self, polled_at: std::time::Instant) {
        let millis = polled_at.saturating_duration_since(self.origin).as_millis();
        self.polled.store(
            u64::try_from(millis).unwrap_or(u64::MAX).saturating_add(1),
            Ordering::Release,
        );
    }

    /// The newest change-log revision this replica has handled: every
    /// change up to it is committed (or abandoned for good) and handed out.
    pub fn revision(&self) -> i64 {
        self.revision.load(Ordering::Acquire)
    }

    /// Time since the last successful poll, `None` before the first.
    pub fn since_last_poll(&self) -> Option<Duration> {
        let millis = self.polled.load(Ordering::Acquire).checked_sub(1)?;
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

    /// The access epoch as the feed last read it.
    pub fn access_epoch(&self) -> i64 {
        *self.access.borrow()
    }

    /// Asks for a check now: this replica just committed a change.
    pub fn poke(&self) {
        self.wake.notify_one();
    }

    /// Polls until aborted; entries older than `retention` are pruned.
    pub async fn run(self, db: DatabaseConnection, poll: Duration, retention: Duration) {
        let mut last_prune = tokio::time::Instant::now();
        let mut position = Position::Unknown;
        loop {
            let started = std::time::Instant::now();
            match self.poll(&db, &mut position).await {
                Ok(()) => {
                    if let Position::At { .. } = position {
                        self.progress.polled(started);
                        self.cache.mark_fresh(started);
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
            }
        }
    }

    /// One poll: what changed since `position` is dropped from the cache
    /// and broadcast, and `position` moves on. On an error the position
    /// stays, and the next poll reads the same changes again.
    async fn poll(
        &self,
        db: &DatabaseConnection,
        position: &mut Position,
    ) -> Result<(), StoreError> {
        let state = events::poll_state(db).await?;
        let waiting = match position {
            Position::Starting { writers, .. }
            | Position::At {
                gap: Some(Gap { writers, .. }),
                ..
            } => writers.waiting(&state),
            // A first poll with writes running looks at once.
            Position::Unknown => !state.running.ended(state.running),
            Position::At { .. } => false,
        };
        let holders = if waiting {
            Some(events::write_lock_holders(db).await?)
        } else {
            None
        };
        let seen = Seen { state, holders };
        let (cursor, known_access, gap, backlog) = match position {
            Position::At {
                cursor,
                access,
                gap,
                backlog,
            } if state.revision >= *cursor => (*cursor, *access, gap.take(), backlog.take()),
            // The log went back (a restored database): start over.
            Position::At { .. } | Position::Unknown => {
                *position = Position::Starting {
                    revision: state.revision,
                    writers: Writers::at(&seen),
                };
                return self.start(&seen, position);
            }
            Position::Starting { revision, .. } if state.revision < *revision => {
                *position = Position::Unknown;
                return Ok(());
            }
            Position::Starting { .. } => return self.start(&seen, position),
        };
        if state.access != known_access {
            self.cache.access_changed();
        }
        let mut delivered = Delivered {
            cursor,
            gap,
            blocked: false,
        };
        let (backlog, result) = match self.read(db, &seen, &mut delivered, backlog).await {
            Ok(backlog) => (backlog, Ok(())),
            Err(err) => {
                // What changed is unknown: drop everything.
                self.cache.invalidate();
                (None, Err(err))
            }
        };
        *position = Position::At {
            cursor: delivered.cursor,
            backlog,
            access: if result.is_ok() {
                state.access
            } else {
                known_access
            },
            gap: delivered.gap,
        };
        result?;
        // Streams learn of access changes after the cache dropped callers.
        self.access.send_if_modified(|known| {
            let changed = state.access != *known;
            *known = state.access;
            changed
        });
        Ok(())
    }

    /// Reads the log past the cursor up to what the poll saw: every change
    /// leaves the cache, and those that can go out are broadcast. Returns
    /// what was read past a gap that still blocks.
    async fn read(
        &self,
        db: &DatabaseConnection,
        seen: &Seen,
        delivered: &mut Delivered,
        backlog: Option<Backlog>,
    ) -> Result<Option<Backlog>, StoreError> {
        let state = &seen.state;
        let mut read_from = delivered.cursor;
        let mut missing = Vec::new();
        // Too many missing revisions to remember: no backlog.
        let mut overflow = false;
        if let Some(backlog) = backlog {
            // Otherwise the backlog can go out now: read from the cursor.
            if let Some(backlog) = self.still_blocked(db, seen, delivered, backlog).await? {
                delivered.blocked = true;
                read_from = backlog.upto;
                missing = backlog.missing;
            }
        }
        while read_from < state.revision {
            let mut changes = events::changes_after(db, read_from, BATCH).await?;
            // Only what the poll saw, so the batch's access epoch is not
            // older than its changes.
            changes.retain(|c| c.revision <= state.revision);
            let Some(last) = changes.last() else { break };
            let mut expected = read_from + 1;
            read_from = last.revision;
            // Every committed change leaves the cache at once, even one
            // that waits behind a gap to be broadcast.
            for change in &changes {
                forget(&self.cache, change.kind, change.source_pk, &change.slug);
                let gap = usize::try_from(change.revision - expected).unwrap_or(usize::MAX);
                if overflow || missing.len().saturating_add(gap) > MAX_MISSING {
                    overflow = true;
                } else {
                    missing.extend(expected..change.revision);
                }
                expected = change.revision + 1;
            }
            let after = delivered.cursor;
            let mut ready = delivered.take(seen, changes);
            if ready.is_empty() {
                continue;
            }
            // Tokens only for streams; with none open the read is saved.
            let streams = self.batches.receiver_count() > 0;
            if streams && let Err(err) = events::fill_current_tokens(db, &mut ready).await {
                delivered.cursor = after;
                return Err(err);
            }
            // A stream that catches up from the log for this batch reads
            // as far as it goes.
            self.progress.advance(delivered.cursor);
            // No receiver (no open stream) is fine.
            let _ = self.batches.send(Arc::new(ChangeBatch {
                after,
                changes: ready,
                access: state.access,
                tokens: streams,
            }));
        }
        if !delivered.blocked {
            return Ok(None);
        }
        let cursor = delivered.cursor;
        missing.retain(|&revision| revision > cursor);
        Ok((!overflow).then_some(Backlog {
            upto: read_from,
            missing,
        }))
    }

    /// Reads what came of the revisions missing behind a gap that blocked
    /// the last poll (dropping it from the cache); the backlog if the gap
    /// still blocks, `None` if delivery can go on from the cursor.
    async fn still_blocked(
        &self,
        db: &DatabaseConnection,
        seen: &Seen,
        delivered: &mut Delivered,
        mut backlog: Backlog,
    ) -> Result<Option<Backlog>, StoreError> {
        let found = events::changes_at(db, &backlog.missing).await?;
        for change in &found {
            forget(&self.cache, change.kind, change.source_pk, &change.slug);
        }
        backlog
            .missing
            .retain(|r| found.binary_search_by_key(r, |c| c.revision).is_err());
        let next_missing = backlog.missing.first() == Some(&(delivered.cursor + 1));
        let passable = match &mut delivered.gap {
            Some(gap) if delivered.cursor < gap.below => gap.writers.ended(seen),
            _ => true,
        };
        Ok((next_missing && !passable).then_some(backlog))
    }
    /// The first position: every revision up to the newest visible one,
    /// once the writes running then have ended (a revision below it may
    /// still be committing). Until then nothing is vouched for.
    fn start(&self, seen: &Seen, position: &mut Position) -> Result<(), StoreError> {
        let Position::Starting { revision, writers } = position else {
            return Ok(());
        };
        if !writers.ended(seen) {
            return Ok(());
        }
        let revision = *revision;
        let state = &seen.state;
        // Nothing is known about what changed before.
        self.cache.invalidate();
        self.access.send_replace(state.access);
        self.progress.advance(revision);
        *position = Position::At {
            cursor: revision,
            access: state.access,
            gap: None,
            backlog: None,
        };
        Ok(())
    }
}

/// Where the feed stands in the change log.
#[derive(Debug)]
enum Position {
    /// Before the first poll, or after the log went back.
    Unknown,
    /// Waiting for the writes running at the first poll to end.
    Starting { revision: i64, writers: Writers },
    /// Every revision up to `cursor` has been handled.
    At {
        cursor: i64,
        access: i64,
        gap: Option<Gap>,
        backlog: Option<Backlog>,
    },
}

/// What a feed blocked by a gap has read past it: every change up to
/// `upto` except those at `missing` (ascending) has left the cache, and
/// waits to be handed out. The next poll asks for the missing ones and
/// for what is newer, instead of reading it all again.
#[derive(Debug)]
struct Backlog {
    upto: i64,
    missing: Vec<i64>,
}

/// Revisions found missing below a visible one: each is still being
/// written, or was rolled back. Those below `below` were drawn by
/// `writers`, and may be passed once those have ended and they still have
/// not come.
#[derive(Debug)]
struct Gap {
    below: i64,
    writers: Writers,
}

/// The writes running at one poll, to be waited out. PostgreSQL's snapshot
/// tells cheaply when every transaction then running has ended; while it
/// says not (a long transaction of anyone on the server holds it back), the
/// transactions holding this service's writer lock are looked at instead,
/// and only those are waited for: a write holds the lock from before it
/// draws a revision until it ends.
#[derive(Debug)]
struct Writers {
    running: Running,
    /// The lock's holders when first looked at.
    holders: Option<Vec<String>>,
}

impl Writers {
    fn at(seen: &Seen) -> Self {
        Self {
            running: seen.state.running,
            holders: None,
        }
    }

    /// Whether every write running when these were noted had ended when
    /// `seen` was read (and so before the poll's reads of the log).
    fn ended(&mut self, seen: &Seen) -> bool {
        if seen.state.running.ended(self.running) {
            return true;
        }
        let Some(now) = &seen.holders else {
            return false;
        };
        match &self.holders {
            // Each of those writes either holds the lock now or has ended.
            None => {
                self.holders = Some(now.clone());
                now.is_empty()
            }
            Some(then) => !then.iter().any(|holder| now.contains(holder)),
        }
    }

    /// Whether the next poll should look at the lock's holders: the
    /// snapshot alone does not tell yet.
    fn waiting(&self, state: &PollState) -> bool {
        !state.running.ended(self.running)
    }
}

/// What a poll read before it reads the log.
struct Seen {
    state: PollState,
    /// The writer lock's holders, read only when a wait needs them.
    holders: Option<Vec<String>>,
}

/// The changes of one poll that can go out: consecutive from the cursor,
/// across gaps known to be final, up to the first gap that is not.
struct Delivered {
    cursor: i64,
    gap: Option<Gap>,
    /// A gap that may still fill stopped delivery in this poll.
    blocked: bool,
}

impl Delivered {
    fn take(&mut self, seen: &Seen, changes: Vec<SourceChange>) -> Vec<SourceChange> {
        let mut ready = Vec::new();
        for change in changes {
            if self.blocked
                || (change.revision > self.cursor + 1 && !self.passable(change.revision, seen))
            {
                self.blocked = true;
                break;
            }
            self.cursor = change.revision;
            ready.push(change);
        }
        if self
            .gap
            .as_ref()
            .is_some_and(|gap| self.cursor >= gap.below)
        {
            self.gap = None;
        }
        ready
    }

    /// Whether the revisions between the cursor and `next` are known never
    /// to come. The first time a gap is seen, the writes running at this
    /// poll are noted: the missing revisions' writers are among them (each
    /// drew its revision before the writer of a later one visible at the
    /// poll did).
    fn passable(&mut self, next: i64, seen: &Seen) -> bool {
        let gap = match &mut self.gap {
            Some(gap) if next <= gap.below => gap,
            other => other.insert(Gap {
                below: seen.state.revision,
                writers: Writers::at(seen),
            }),
        };
        gap.writers.ended(seen)
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
