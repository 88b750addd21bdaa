//! One poll of the change log: what changed since the feed's position is
//! dropped from the cache and handed out, in revision order across gaps
//! that PostgreSQL's writers running side by side may leave.

use std::sync::Arc;

use store::{
    Db, StoreError,
    events::{self, PollState, Running, SourceChange},
};

use super::{BATCH, ChangeBatch, ChangeFeed, MAX_MISSING};

impl ChangeFeed {
    /// One poll: what changed since `position` is dropped from the cache
    /// and broadcast, and `position` moves on. On an error the position
    /// stays, and the next poll reads the same changes again.
    pub(super) async fn poll(&self, db: &Db, position: &mut Position) -> Result<(), StoreError> {
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
                self.cache.everything();
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
        db: &Db,
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
                self.cache
                    .change(change.kind, change.source_pk, &change.slug);
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
        db: &Db,
        seen: &Seen,
        delivered: &mut Delivered,
        mut backlog: Backlog,
    ) -> Result<Option<Backlog>, StoreError> {
        let found = events::changes_at(db, &backlog.missing).await?;
        for change in &found {
            self.cache
                .change(change.kind, change.source_pk, &change.slug);
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
        self.cache.everything();
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
pub(super) enum Position {
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
pub(super) struct Backlog {
    upto: i64,
    missing: Vec<i64>,
}

/// Revisions found missing below a visible one: each is still being
/// written, or was rolled back. Those below `below` were drawn by
/// `writers`, and may be passed once those have ended and they still have
/// not come.
#[derive(Debug)]
pub(super) struct Gap {
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
pub(super) struct Writers {
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
