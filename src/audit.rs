//! The audit trail of Plex token hand-outs, written off the request path.
//!
//! A caller that receives a Plex token gets its answer at once; the
//! hand-out goes into a queue that one task writes to `audit_events` in
//! batches every [`FLUSH_EVERY`]. A batch that cannot be written (the
//! database is down, or a long import holds SQLite's write lock) is kept
//! and retried, so the trail stays complete; when the queue is full the
//! next hand-out waits for room rather than go unrecorded. A graceful stop
//! writes everything queued ([`AuditTrail::flush`]); a crash loses at most
//! what was queued since the last write, normally one flush interval.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::{
    domain::{Slug, access::Caller},
    store::{self, access::TokenView},
};

/// How often queued hand-outs are written.
pub const FLUSH_EVERY: Duration = Duration::from_millis(250);
/// Hand-outs queued before callers wait for room.
const QUEUE: usize = 65_536;
/// Rows per insert statement (well under every parameter limit).
const ROWS_PER_INSERT: usize = 1_000;

enum Message {
    Viewed(TokenView),
    /// Write everything queued before this message, then answer.
    Flush(oneshot::Sender<()>),
}

/// Where operations record hand-outs; cheap to clone.
#[derive(Clone)]
pub struct AuditTrail {
    tx: mpsc::Sender<Message>,
}

impl AuditTrail {
    /// Starts the writer task on `db`.
    pub fn start(db: DatabaseConnection) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(write_batches(db, rx));
        Self { tx }
    }

    /// Records that `caller` received the Plex token of each source.
    pub async fn token_views(&self, caller: &Caller, sources: &[(Uuid, &Slug)], at: DateTime<Utc>) {
        for (pk, slug) in sources {
            tracing::info!(
                target: "audit",
                action = store::access::SECRET_VIEW,
                user = %caller.username,
                source = %slug,
                "plex token handed out"
            );
            let view = TokenView {
                user_id: caller.user_id,
                username: caller.username.clone(),
                source_pk: *pk,
                slug: slug.as_str().to_owned(),
                at,
            };
            if self.tx.send(Message::Viewed(view)).await.is_err() {
                tracing::error!(target: "audit", "audit writer stopped; hand-out not recorded");
            }
        }
    }

    /// Returns once every hand-out recorded before the call is written
    /// (or the writer has given up on a database that stays away).
    pub async fn flush(&self) {
        let (ack, done) = oneshot::channel();
        if self.tx.send(Message::Flush(ack)).await.is_ok() {
            let _ = done.await;
        }
    }
}

async fn write_batches(db: DatabaseConnection, mut rx: mpsc::Receiver<Message>) {
    let mut pending: Vec<TokenView> = Vec::new();
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            message = rx.recv() => match message {
                Some(Message::Viewed(view)) => pending.push(view),
                Some(Message::Flush(ack)) => {
                    // What is still pending stays queued for the next tick.
                    write_until_done(&db, &mut pending).await;
                    let _ = ack.send(());
                }
                None => {
                    if !write_until_done(&db, &mut pending).await {
                        tracing::error!(
                            target: "audit",
                            lost = pending.len(),
                            "audit records could not be written before stopping"
                        );
                    }
                    return;
                }
            },
            _ = tick.tick() => write(&db, &mut pending).await,
        }
    }
}

/// Writes what is pending; on failure keeps it for the next attempt.
async fn write(db: &DatabaseConnection, pending: &mut Vec<TokenView>) {
    while !pending.is_empty() {
        let n = pending.len().min(ROWS_PER_INSERT);
        match store::access::record_token_views(db, &pending[..n]).await {
            Ok(()) => {
                pending.drain(..n);
            }
            Err(err) => {
                tracing::warn!(
                    target: "audit",
                    error = %err,
                    queued = pending.len(),
                    "audit write failed; retrying"
                );
                return;
            }
        }
    }
}

/// Writes everything pending, retrying for a while (a flush outlasts a
/// lock held by an import, not a database that is gone); whether it did.
async fn write_until_done(db: &DatabaseConnection, pending: &mut Vec<TokenView>) -> bool {
    for _ in 0..40 {
        write(db, pending).await;
        if pending.is_empty() {
            return true;
        }
        tokio::time::sleep(FLUSH_EVERY).await;
    }
    false
}
