//! Watching sources: an optional snapshot, then one event per change of a
//! source the caller may view; each event carries the source as that
//! change left it.
//!
//! Changes come from the replica's change feed, which reads the log once
//! for every stream (see [`crate::feed`]). A stream reads the log itself
//! only from its own cursor: at the start (changes committed before it
//! subscribed), and when it fell too far behind the feed. Permissions are
//! re-read whenever the access epoch moves, once per token for all of its
//! streams, before the next event is sent.

use std::{
    collections::{HashMap, HashSet},
    panic::AssertUnwindSafe,
    sync::{Arc, Mutex, PoisonError},
};

use futures::FutureExt;
use tokio::sync::{broadcast::error::RecvError, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{Operations, ServiceError, Visible};
use crate::feed::ChangeBatch;
use domain::access::{Caller, Permission};
use store::{
    self, SourceFilter,
    events::{self, ChangeKind},
};

/// Where a watch starts, and what ends it early.
#[derive(Debug, Clone, Default)]
pub struct WatchParams {
    /// Resume after this revision; `None` starts at the newest.
    pub since_revision: Option<i64>,
    /// Send every visible source first, then [`EventKind::SnapshotComplete`].
    pub initial_snapshot: bool,
    /// Cancelled when the stream's connection is drained (it reached its
    /// maximum age): the stream ends, telling where to resume.
    pub connection_closing: Option<CancellationToken>,
}

/// Bounds on watch streams, so one caller cannot take what others need.
#[derive(Debug, Clone, Copy)]
pub struct WatchLimits {
    /// Open streams on this server.
    pub max_streams: usize,
    /// Open streams of one token on this server.
    pub max_streams_per_token: usize,
    /// Revisions a stream may resume behind the newest: a replay reads the
    /// log, so how far back is bounded like any other client input.
    pub max_replay: i64,
}

/// Open streams per token.
#[derive(Debug, Default)]
pub(super) struct Quota {
    open: Mutex<HashMap<Uuid, usize>>,
}

/// One open stream of a token, counted until dropped.
struct QuotaSlot {
    quota: Arc<Quota>,
    token: Uuid,
}

impl Quota {
    fn take(self: &Arc<Self>, token: Uuid, max: usize) -> Option<QuotaSlot> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(token).or_default();
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(QuotaSlot {
            quota: self.clone(),
            token,
        })
    }
}

impl Drop for QuotaSlot {
    fn drop(&mut self) {
        let mut open = self
            .quota
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.token) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.token);
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// A source as it stands, part of the initial snapshot.
    Existing,
    /// The snapshot is complete; changes follow.
    SnapshotComplete,
    Created,
    Updated,
    Deleted,
}

/// One event of a watch.
#[derive(Debug, Clone)]
pub struct WatchEvent {
    pub revision: i64,
    pub kind: EventKind,
    /// `None` for [`EventKind::SnapshotComplete`].
    pub pk: Option<Uuid>,
    pub slug: String,
    /// The source as the change left it; `None` for deletions and the
    /// snapshot marker.
    pub source: Option<Visible>,
}

/// The events of one watch; a failure ends the stream.
pub type WatchEvents = ReceiverStream<Result<WatchEvent, ServiceError>>;

/// Changes read from the log per query.
const BATCH: u64 = 500;
/// How long a watch opened as the server starts waits for the change
/// feed's first poll.
const FEED_WAIT: std::time::Duration = std::time::Duration::from_secs(5);
/// Sources per snapshot page.
const SNAPSHOT_PAGE: u64 = 500;

impl Operations {
    /// Checks the resume point, then streams from a task of its own.
    pub async fn watch(
        &self,
        caller: Caller,
        params: WatchParams,
    ) -> Result<WatchEvents, ServiceError> {
        // As for a list: a caller who may view no source has nothing to watch.
        if !caller.may_anywhere(Permission::View) {
            return Err(ServiceError::PermissionDenied);
        }
        let limits = self.watch_limits;
        let own = self
            .watch_quota
            .take(caller.token_id, limits.max_streams_per_token)
            .ok_or_else(|| {
                ServiceError::ResourceExhausted(format!(
                    "This token has {} watch streams open on this server, the most it may (--max-watch-streams-per-token); close one first.",
                    limits.max_streams_per_token
                ))
            })?;
        let slot = self.watch_slots.clone().try_acquire_owned().map_err(|_| {
            ServiceError::ResourceExhausted(
                "Too many open watch streams on this server; retry later or on another replica."
                    .into(),
            )
        })?;
        let db = &self.db;
        let newest = events::latest_revision(db).await?;
        // A stream starts where the feed stands, once it got as far as the
        // log: every change up to there is final (on PostgreSQL a newer
        // revision can be visible while an older one is still being
        // written; it is handed out after that one).
        let horizon = self
            .feed
            .horizon(newest, FEED_WAIT)
            .await
            .ok_or(ServiceError::Starting)?;
        let start = newest.min(horizon);
        let latest = newest.max(horizon);
        let cursor = match params.since_revision {
            None => start,
            Some(since) if since > latest => {
                return Err(ServiceError::OutOfRange(format!(
                    "revision {since} is ahead of the newest ({latest}); resync with initial_snapshot"
                )));
            }
            Some(since) if latest.saturating_sub(since) > limits.max_replay => {
                return Err(ServiceError::OutOfRange(format!(
                    "revision {since} is more than {} revisions behind the newest ({latest}), further than a watch may replay (--max-watch-replay); resync with initial_snapshot",
                    limits.max_replay
                )));
            }
            Some(since) => {
                let oldest = events::oldest_revision(db).await?.unwrap_or(latest + 1);
                if since + 1 < oldest && since < latest {
                    return Err(ServiceError::OutOfRange(format!(
                        "changes after revision {since} are no longer retained; resync with initial_snapshot"
                    )));
                }
                since
            }
        };
        let (tx, rx) = mpsc::channel(64);
        let mut stream = Watcher {
            ops: self.clone(),
            caller,
            checked_at: None,
            cursor,
            seen: HashSet::new(),
            tx,
            closing: params.connection_closing.unwrap_or_default(),
        };
        tokio::spawn(async move {
            // Held for the stream's life.
            let _slots = (slot, own);
            let run = AssertUnwindSafe(stream.run(params.initial_snapshot, start)).catch_unwind();
            let ended = match run.await {
                Ok(ended) => ended,
                // A bug, not the client's doing: the stream ends with
                // INTERNAL instead of silently.
                Err(_) => Err(ServiceError::Internal("a watch stream panicked".into())),
            };
            if let Err(err) = ended {
                let _ = stream.tx.send(Err(err)).await;
            }
        });
        Ok(ReceiverStream::new(rx))
    }
}

struct Watcher {
    ops: Operations,
    caller: Caller,
    /// The access epoch the caller was last re-checked at.
    checked_at: Option<i64>,
    /// Last revision handled.
    cursor: i64,
    /// Sources this stream has shown, so their deletion can be told even
    /// after the object permission went with them.
    seen: HashSet<Uuid>,
    tx: mpsc::Sender<Result<WatchEvent, ServiceError>>,
    /// The connection is being drained.
    closing: CancellationToken,
}

/// The client went away: stop quietly.
struct Gone;

impl Watcher {
    async fn run(&mut self, snapshot: bool, snapshot_revision: i64) -> Result<(), ServiceError> {
        // Subscribed before the log is read, so nothing falls in between.
        let mut batches = self.ops.feed.subscribe_changes();
        let mut access = self.ops.feed.subscribe_access();
        access.mark_unchanged();
        let stopping = self.ops.shutdown.clone();
        if stopping.is_cancelled() {
            return Err(ServiceError::ShuttingDown {
                resume_after: self.cursor,
            });
        }
        if snapshot && Box::pin(self.snapshot(snapshot_revision)).await.is_err() {
            return Ok(());
        }
        if Box::pin(self.catch_up()).await?.is_err() {
            return Ok(());
        }
        loop {
            // An idle stream still ends as soon as its token is revoked or
            // expires or its user is deactivated: access changes (seen by
            // the feed's poll) and the token's expiry wake it.
            let expiry = self.caller.expires.map(|at| {
                let left = (at - chrono::Utc::now()).to_std().unwrap_or_default();
                tokio::time::Instant::now() + left
            });
            let sent = tokio::select! {
                batch = batches.recv() => match batch {
                    Ok(batch) => self.apply(&batch).await?,
                    // Too far behind the feed: the log has what was missed.
                    Err(RecvError::Lagged(_)) => Box::pin(self.catch_up()).await?,
                    Err(RecvError::Closed) => return Ok(()),
                },
                changed = access.changed() => {
                    if changed.is_err() {
                        return Ok(());
                    }
                    let epoch = *access.borrow_and_update();
                    self.recheck(epoch).await?;
                    Ok(())
                }
                () = sleep_until_some(expiry) => {
                    self.caller = Box::pin(self.ops.reauthenticate(&self.caller)).await?;
                    Ok(())
                }
                () = self.tx.closed() => return Ok(()),
                () = stopping.cancelled() => {
                    return Err(ServiceError::ShuttingDown { resume_after: self.cursor });
                }
                () = self.closing.cancelled() => {
                    return Err(ServiceError::ConnectionClosing { resume_after: self.cursor });
                }
            };
            if sent.is_err() {
                return Ok(());
            }
        }
    }

    /// Re-reads the caller unless it was read at `epoch` already (every
    /// batch asks; the read itself is rare and boxed).
    async fn recheck(&mut self, epoch: i64) -> Result<(), ServiceError> {
        if self.checked_at != Some(epoch) {
            self.caller = Box::pin(self.ops.recheck(&self.caller, epoch)).await?;
            self.checked_at = Some(epoch);
        }
        Ok(())
    }

    /// Sends the changes of a batch from the feed that are past the cursor.
    async fn apply(&mut self, batch: &ChangeBatch) -> Result<Result<(), Gone>, ServiceError> {
        if batch.upto() <= self.cursor {
            return Ok(Ok(()));
        }
        if batch.after > self.cursor
            || (!batch.tokens && self.caller.may_anywhere(Permission::ViewPlexToken))
        {
            // Changes between the cursor and the batch, or tokens the
            // batch lacks: from the log.
            return Box::pin(self.catch_up()).await;
        }
        self.recheck(batch.access).await?;
        let from = self.cursor;
        for change in batch.changes.iter().filter(|c| c.revision > from) {
            self.cursor = change.revision;
            if self.deliver(change).await?.is_err() {
                return Ok(Err(Gone));
            }
        }
        Ok(Ok(()))
    }

    async fn send(&self, event: WatchEvent) -> Result<(), Gone> {
        self.tx.send(Ok(event)).await.map_err(|_| Gone)
    }

    /// Every visible source, then SNAPSHOT_COMPLETE, all at `revision`.
    async fn snapshot(&mut self, revision: i64) -> Result<(), Gone> {
        let ordering = domain::listing::parse_ordering("pk").unwrap_or_default();
        let mut filter = SourceFilter::default();
        if !self.caller.may_globally(Permission::View) {
            filter.visible = Some(self.caller.objects_with(Permission::View));
        }
        let mut after = None;
        loop {
            let page = match store::list_sources(
                &self.ops.db,
                &filter,
                &ordering,
                after.as_deref(),
                SNAPSHOT_PAGE,
            )
            .await
            {
                Ok(page) => page,
                Err(err) => {
                    let _ = self.tx.send(Err(err.into())).await;
                    return Err(Gone);
                }
            };
            let next = match (page.more, page.sources.last()) {
                (true, Some(last)) => Some(store::cursor_of(last, &ordering)),
                _ => None,
            };
            let sources = page.sources.into_iter().map(Arc::new).collect();
            for visible in self.ops.reveal_all(&self.caller, sources).await {
                self.seen.insert(visible.source.pk);
                self.send(event(revision, EventKind::Existing, visible))
                    .await?;
            }
            match next {
                Some(cursor) => after = Some(cursor),
                None => break,
            }
        }
        self.send(WatchEvent {
            revision,
            kind: EventKind::SnapshotComplete,
            pk: None,
            slug: String::new(),
            source: None,
        })
        .await
    }

    /// Sends every logged change after the cursor that the caller may see,
    /// read from the log by this stream alone.
    async fn catch_up(&mut self) -> Result<Result<(), Gone>, ServiceError> {
        loop {
            self.ops.watch_work.stream_log_read();
            // Only as far as the feed has gone: past it a revision may
            // still be missing that comes later.
            let horizon = self.ops.feed.progress().revision();
            let mut changes = events::changes_after(&self.ops.db, self.cursor, BATCH).await?;
            changes.retain(|c| c.revision <= horizon);
            if changes.is_empty() {
                return Ok(Ok(()));
            }
            // Permissions as they stand now: a revoked token, user or grant
            // ends or narrows the stream before the next event.
            self.caller = self.ops.reauthenticate(&self.caller).await?;
            self.checked_at = None;
            // Current tokens only for a caller who may receive some.
            if self.caller.may_anywhere(Permission::ViewPlexToken) {
                events::fill_current_tokens(&self.ops.db, &mut changes).await?;
            }
            for change in &changes {
                self.cursor = change.revision;
                if self.deliver(change).await?.is_err() {
                    return Ok(Err(Gone));
                }
            }
        }
    }

    async fn deliver(
        &mut self,
        change: &events::SourceChange,
    ) -> Result<Result<(), Gone>, ServiceError> {
        let pk = change.source_pk;
        if change.kind == ChangeKind::Deleted {
            // Object grants go with the source: those who held one then,
            // and streams that showed it, are told too.
            let known = self.seen.remove(&pk);
            if known
                || change.viewers.contains(&self.caller.user_id)
                || self.caller.may_globally(Permission::View)
            {
                return Ok(self
                    .send(WatchEvent {
                        revision: change.revision,
                        kind: EventKind::Deleted,
                        pk: Some(pk),
                        slug: change.slug.clone(),
                        source: None,
                    })
                    .await);
            }
            return Ok(Ok(()));
        }
        // The source as this change left it.
        if !self.caller.may(Permission::View, Some(pk)) {
            self.seen.remove(&pk);
            return Ok(Ok(()));
        }
        let visible = self.ops.reveal(&self.caller, change.source.clone()).await;
        self.seen.insert(pk);
        let kind = match change.kind {
            ChangeKind::Created => EventKind::Created,
            _ => EventKind::Updated,
        };
        Ok(self.send(event(change.revision, kind, visible)).await)
    }
}

/// Sleeps until `at`, or forever without one.
async fn sleep_until_some(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// An event carrying a source.
fn event(revision: i64, kind: EventKind, visible: Visible) -> WatchEvent {
    WatchEvent {
        revision,
        kind,
        pk: Some(visible.source.pk),
        slug: visible.source.fields.slug.as_str().to_owned(),
        source: Some(visible),
    }
}
