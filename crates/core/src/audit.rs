//! The audit trail of Plex token hand-outs, written off the request path.
//!
//! A caller that receives a Plex token gets its answer at once; the
//! hand-out is counted in memory, per (user, source), and one task writes
//! the counts to `audit_events` every [`FLUSH_EVERY`]: one row per user and
//! source per interval, with the number of hand-outs and the first and last
//! time. So the trail is complete (every hand-out is counted) while the
//! login path, which reads the token on every login, costs a map update
//! rather than a database write.
//!
//! Rows that cannot be written (the database is down, or a long import
//! holds SQLite's write lock) are kept and retried; when more than
//! [`MAX_PENDING`] pairs wait, the next new pair waits for a write rather
//! than go unrecorded. A graceful stop writes everything counted
//! ([`AuditTrail::flush`], and the writer's last write when the trail is
//! dropped); a crash loses at most what was counted since the last write,
//! normally one flush interval.

use std::{
    collections::HashMap,
    mem,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use chrono::{DateTime, Utc};
use store::Db;
use tokio::sync::{Notify, mpsc, oneshot};
use uuid::Uuid;

use domain::{Slug, access::Caller};
use store::{self, access::TokenViews};

/// How often counted hand-outs are written.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// (user, source) pairs counted before a new pair waits for a write.
const MAX_PENDING: usize = 65_536;
/// Most rows per insert statement (well under every parameter limit).
const ROWS_PER_INSERT: usize = 512;

type Pending = HashMap<(Uuid, Uuid), TokenViews>;

/// Write everything counted before the request, then answer.
struct Flush(oneshot::Sender<()>);

/// Where operations record hand-outs; cheap to clone. The writer stops,
/// after a last write, when every clone is gone.
#[derive(Clone)]
pub struct AuditTrail {
    counts: Arc<Counts>,
    flushes: mpsc::Sender<Flush>,
}

/// Hand-outs counted and not yet written.
#[derive(Default)]
struct Counts {
    pending: Mutex<Pending>,
    /// Signalled after each write, for callers waiting for room.
    written: Notify,
}

impl Counts {
    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        // A panic while holding the lock leaves a map that is still whole.
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds `views` back (after a failed write), merging with what was
    /// counted meanwhile.
    fn restore(&self, views: Vec<TokenViews>) {
        let mut pending = self.lock();
        for view in views {
            merge(&mut pending, view);
        }
    }
}

impl AuditTrail {
    /// Starts the writer task on `db`.
    pub fn start(db: Db) -> Self {
        let counts = Arc::new(Counts::default());
        let (flushes, rx) = mpsc::channel(16);
        tokio::spawn(write_batches(db, counts.clone(), rx));
        Self { counts, flushes }
    }

    /// Records that `caller` received the Plex token of each source.
    pub async fn token_views(&self, caller: &Caller, sources: &[(Uuid, &Slug)], at: DateTime<Utc>) {
        for (pk, slug) in sources {
            let key = (caller.user_id, *pk);
            loop {
                // Registered before the check, so a write in between wakes us.
                let room = self.counts.written.notified();
                {
                    let mut pending = self.counts.lock();
                    // The hot path: a pair already counted this interval.
                    if let Some(known) = pending.get_mut(&key) {
                        known.count += 1;
                        known.last = known.last.max(at);
                        break;
                    }
                    if pending.len() < MAX_PENDING {
                        pending.insert(
                            key,
                            TokenViews {
                                user_id: caller.user_id,
                                username: caller.username.clone(),
                                source_pk: *pk,
                                slug: slug.as_str().to_owned(),
                                first: at,
                                last: at,
                                count: 1,
                            },
                        );
                        break;
                    }
                }
                room.await;
            }
        }
    }

    /// Returns once every hand-out recorded before the call is written
    /// (or the writer has given up on a database that stays away).
    pub async fn flush(&self) {
        let (ack, done) = oneshot::channel();
        if self.flushes.send(Flush(ack)).await.is_ok() {
            let _ = done.await;
        }
    }
}

/// Counts `view` into `pending`.
fn merge(pending: &mut Pending, view: TokenViews) {
    match pending.entry((view.user_id, view.source_pk)) {
        std::collections::hash_map::Entry::Occupied(mut known) => {
            let known = known.get_mut();
            known.count += view.count;
            known.first = known.first.min(view.first);
            known.last = known.last.max(view.last);
            // The newest names, as the last hand-out saw them.
            known.username = view.username;
            known.slug = view.slug;
        }
        std::collections::hash_map::Entry::Vacant(slot) => {
            slot.insert(view);
        }
    }
}

async fn write_batches(db: Db, counts: Arc<Counts>, mut rx: mpsc::Receiver<Flush>) {
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            flush = rx.recv() => match flush {
                Some(Flush(ack)) => {
                    write_until_done(&db, &counts).await;
                    let _ = ack.send(());
                }
                None => {
                    if !write_until_done(&db, &counts).await {
                        tracing::error!(
                            target: "audit",
                            lost = counts.lock().len(),
                            "audit records could not be written before stopping"
                        );
                    }
                    return;
                }
            },
            _ = tick.tick() => {
                write(&db, &counts).await;
            }
        }
    }
}

/// Writes what is counted; what fails stays counted for the next attempt.
/// Whether everything was written.
async fn write(db: &Db, counts: &Counts) -> bool {
    let mut batch: Vec<TokenViews> = mem::take(&mut *counts.lock()).into_values().collect();
    // Rows in the order of their first hand-out, as they would have come.
    batch.sort_by_key(|view| view.first);
    let mut written = true;
    while !batch.is_empty() {
        let n = rows_per_statement(batch.len());
        match store::access::record_token_views(db, &batch[..n]).await {
            Ok(()) => {
                for view in batch.drain(..n) {
                    tracing::info!(
                        target: "audit",
                        action = store::access::SECRET_VIEW,
                        user = %view.username,
                        source = %view.slug,
                        count = view.count,
                        "plex token handed out"
                    );
                }
            }
            Err(err) => {
                tracing::warn!(
                    target: "audit",
                    error = %err,
                    queued = batch.len(),
                    "audit write failed; retrying"
                );
                counts.restore(batch);
                written = false;
                break;
            }
        }
    }
    counts.written.notify_waiters();
    written
}

/// Rows for the next insert of `pending`: a power of two, so that inserts
/// take one of ten shapes. Each shape is a prepared statement that every
/// pooled connection caches; one shape per row count would fill those
/// caches with hundreds of large statements.
fn rows_per_statement(pending: usize) -> usize {
    let n = pending.min(ROWS_PER_INSERT);
    if n == 0 { 0 } else { 1 << n.ilog2() }
}

/// Writes everything counted, retrying for a while (a flush outlasts a
/// lock held by an import, not a database that is gone); whether it did.
async fn write_until_done(db: &Db, counts: &Counts) -> bool {
    for _ in 0..40 {
        if write(db, counts).await {
            return true;
        }
        tokio::time::sleep(FLUSH_EVERY).await;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(user: Uuid, source: Uuid, at: i64) -> TokenViews {
        TokenViews {
            user_id: user,
            username: "u".into(),
            source_pk: source,
            slug: "s".into(),
            first: DateTime::from_timestamp(at, 0).unwrap(),
            last: DateTime::from_timestamp(at, 0).unwrap(),
            count: 1,
        }
    }

    #[test]
    fn hand_outs_are_counted_per_user_and_source() {
        let (a, b, s) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let mut pending = Pending::new();
        merge(&mut pending, view(a, s, 20));
        merge(&mut pending, view(a, s, 10));
        merge(&mut pending, view(a, s, 30));
        merge(&mut pending, view(b, s, 15));
        assert_eq!(pending.len(), 2);
        let row = &pending[&(a, s)];
        assert_eq!(row.count, 3);
        assert_eq!(row.first.timestamp(), 10);
        assert_eq!(row.last.timestamp(), 30);
        assert_eq!(pending[&(b, s)].count, 1);
    }

    #[test]
    fn inserts_take_few_shapes() {
        let mut shapes = std::collections::BTreeSet::new();
        for pending in 1..5_000 {
            let mut left = pending;
            while left > 0 {
                let n = rows_per_statement(left);
                assert!(n >= 1 && n <= left && n <= ROWS_PER_INSERT);
                shapes.insert(n);
                left -= n;
            }
        }
        assert_eq!(shapes.len(), 10, "{shapes:?}");
    }

    #[test]
    fn a_failed_write_keeps_its_counts() {
        let (a, s) = (Uuid::new_v4(), Uuid::new_v4());
        let counts = Counts::default();
        merge(&mut counts.lock(), view(a, s, 10));
        let taken: Vec<_> = mem::take(&mut *counts.lock()).into_values().collect();
        // Counted while the write was failing.
        merge(&mut counts.lock(), view(a, s, 40));
        counts.restore(taken);
        let pending = counts.lock();
        assert_eq!(pending[&(a, s)].count, 2);
        assert_eq!(pending[&(a, s)].first.timestamp(), 10);
        assert_eq!(pending[&(a, s)].last.timestamp(), 40);
    }
}
