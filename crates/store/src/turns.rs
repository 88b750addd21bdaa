//! Writers of one server take turns before they open a write transaction.
//!
//! SQLite has one write lock per file, and a writer that finds it taken
//! waits in SQLite's busy handler, which sleeps between tries (up to 100 ms
//! at a time): under many concurrent writers the lock sits idle while the
//! next writer sleeps, and unlucky writers wait far longer than the rest.
//! Queueing the server's own writers first, in arrival order, hands the
//! lock straight from one commit to the next writer; the busy handler is
//! left for what another process holds (an import, another replica).
//! PostgreSQL needs no turns: its writers run side by side, each locking
//! only the rows it changes (see [`begin_write`]).

use std::{ops::Deref, sync::Arc, time::Duration};

use tokio::sync::{Mutex, OwnedMutexGuard};

use super::{StoreError, begin_write, pool::AcquireWaits};

/// The queue of one server's writers.
#[derive(Clone, Debug)]
pub struct WriteTurns {
    /// `None` where the database queues writers itself.
    turn: Option<Arc<Mutex<()>>>,
    /// Longest a writer waits for its turn: the lock timeout, as for a
    /// lock held by another process.
    wait: Duration,
    /// How long each write waited to open its transaction.
    opened: Arc<AcquireWaits>,
}

impl WriteTurns {
    pub fn new(db: &crate::Db, lock_timeout: Duration) -> Self {
        let turn = (db.backend() == crate::Backend::Sqlite).then(|| Arc::new(Mutex::new(())));
        Self {
            turn,
            wait: lock_timeout,
            opened: Arc::default(),
        }
    }

    /// How long writes waited for a pooled connection and `BEGIN`.
    pub fn acquire_waits(&self) -> &AcquireWaits {
        &self.opened
    }

    /// Waits for this writer's turn, then opens its write transaction (see
    /// [`begin_write`]). The turn passes on when the transaction ends.
    pub async fn begin(&self, db: &crate::Db) -> Result<WriteTxn, StoreError> {
        let turn = match &self.turn {
            Some(turn) => Some(
                tokio::time::timeout(self.wait, Arc::clone(turn).lock_owned())
                    .await
                    .map_err(|_| {
                        StoreError::Busy(crate::DbError::custom(
                            "another write of this server held the lock past the lock timeout",
                        ))
                    })?,
            ),
            None => None,
        };
        let asked = std::time::Instant::now();
        let txn = begin_write(db).await?;
        self.opened.observe(asked.elapsed());
        Ok(WriteTxn { txn, _turn: turn })
    }
}

/// A write transaction holding its writer's turn until commit or drop.
pub struct WriteTxn {
    txn: crate::Txn,
    _turn: Option<OwnedMutexGuard<()>>,
}

impl WriteTxn {
    pub async fn commit(self) -> Result<(), StoreError> {
        self.txn.commit().await
    }
}

impl Deref for WriteTxn {
    type Target = crate::Txn;

    fn deref(&self) -> &crate::Txn {
        &self.txn
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    #[tokio::test]
    async fn a_writer_waits_for_the_turn_at_most_the_lock_timeout() {
        let db = crate::connect("sqlite::memory:").await.expect("connect");
        let turns = WriteTurns::new(&db, Duration::from_millis(100));
        let first = turns.begin(&db).await.expect("first writer");

        let started = Instant::now();
        let second = turns.begin(&db).await;
        assert!(
            matches!(second, Err(StoreError::Busy(_))),
            "the second writer must give up while the first holds its turn"
        );
        assert!(started.elapsed() >= Duration::from_millis(100));

        drop(first);
        let second = turns.begin(&db).await.expect("the turn passes on");
        second.commit().await.expect("commit");
        turns.begin(&db).await.expect("and on after a commit");
    }

    #[tokio::test]
    async fn writers_get_their_turns_in_arrival_order() {
        let db = crate::connect("sqlite::memory:").await.expect("connect");
        let turns = WriteTurns::new(&db, Duration::from_secs(5));
        let first = turns.begin(&db).await.expect("first writer");
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut waiting = Vec::new();
        for n in 0..4 {
            let (turns, db, order) = (turns.clone(), db.clone(), Arc::clone(&order));
            waiting.push(tokio::spawn(async move {
                let txn = turns.begin(&db).await.expect("writer");
                order.lock().expect("order").push(n);
                txn.commit().await.expect("commit");
            }));
            // Each writer queues before the next arrives.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        drop(first);
        for writer in waiting {
            writer.await.expect("writer task");
        }
        assert_eq!(*order.lock().expect("order"), vec![0, 1, 2, 3]);
    }
}
