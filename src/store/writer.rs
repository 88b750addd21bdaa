//! Group commit: the writes of concurrent calls share one transaction and
//! one commit.
//!
//! Writes to sources are serialized anyway (one writer lock, so revisions
//! commit in order), and a commit costs a disk flush. So one task takes
//! every write waiting at that moment (up to [`MAX_BATCH`]), runs each in a
//! savepoint of one transaction opened with [`begin_write`], commits once,
//! and only then answers each caller: a write that failed was rolled back
//! to its savepoint and answers its own error, the others are acknowledged
//! after the commit (or all get the commit's error). Sixteen concurrent
//! writers then cost one flush, not sixteen, and never contend for
//! SQLite's lock among themselves.

use futures::future::BoxFuture;
use sea_orm::{DatabaseConnection, DatabaseTransaction, TransactionTrait};
use tokio::sync::{mpsc, oneshot};

use super::{StoreError, events::begin_write};

/// Writes sharing one transaction at most.
const MAX_BATCH: usize = 64;
/// Writes queued before callers wait for room.
const QUEUE: usize = 1_024;

/// Where operations send their writes; cheap to clone.
#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Box<dyn Job>>,
}

impl Writer {
    /// Starts the writer task on `db`; it ends when every clone is gone.
    pub fn start(db: DatabaseConnection) -> Self {
        let (jobs, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(db, rx));
        Self { jobs }
    }

    /// Runs `work` in the shared write transaction, which holds the writer
    /// lock; returns its result once the transaction committed. An error
    /// of `work` rolls back only what `work` wrote.
    pub async fn write<T, E, F>(&self, work: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: for<'t> FnOnce(&'t DatabaseTransaction) -> BoxFuture<'t, Result<T, E>> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(WriteJob {
            work: Box::new(work),
            reply,
        });
        self.jobs
            .send(job)
            .await
            .map_err(|_| E::from(StoreError::Stopped))?;
        answer.await.map_err(|_| E::from(StoreError::Stopped))?
    }
}

async fn run(db: DatabaseConnection, mut rx: mpsc::Receiver<Box<dyn Job>>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let txn = match begin_write(&db).await {
            Ok(txn) => txn,
            Err(err) => {
                for job in batch {
                    job.fail(err.again());
                }
                continue;
            }
        };
        // A write alone needs no savepoint: if it fails, the whole
        // transaction is rolled back instead of committed.
        let alone = batch.len() == 1;
        let mut outcomes = Vec::with_capacity(batch.len());
        let mut failed = false;
        for job in batch {
            let outcome = job.run(&txn, !alone).await;
            failed |= outcome.failed();
            outcomes.push(outcome);
        }
        let committed = if alone && failed {
            txn.rollback().await.map_err(StoreError::from)
        } else {
            txn.commit().await.map_err(StoreError::from)
        };
        for outcome in outcomes {
            outcome.tell(committed.as_ref().map(|_| ()).map_err(StoreError::again));
        }
    }
}

type Work<T, E> =
    Box<dyn for<'t> FnOnce(&'t DatabaseTransaction) -> BoxFuture<'t, Result<T, E>> + Send>;

/// A write waiting for the shared transaction, whatever it returns.
trait Job: Send {
    /// Runs the write in `txn`, in a savepoint of its own if `isolated`;
    /// what it returned is told to its caller once the commit's outcome is
    /// known.
    fn run<'t>(
        self: Box<Self>,
        txn: &'t DatabaseTransaction,
        isolated: bool,
    ) -> BoxFuture<'t, Box<dyn Outcome>>;
    /// The shared transaction could not start.
    fn fail(self: Box<Self>, err: StoreError);
}

/// A write that ran, waiting for the commit.
trait Outcome: Send {
    /// Whether the write failed (and wrote nothing that stays).
    fn failed(&self) -> bool;
    fn tell(self: Box<Self>, committed: Result<(), StoreError>);
}

struct WriteJob<T, E> {
    work: Work<T, E>,
    reply: oneshot::Sender<Result<T, E>>,
}

struct Ran<T, E> {
    result: Result<T, E>,
    reply: oneshot::Sender<Result<T, E>>,
}

impl<T, E> Job for WriteJob<T, E>
where
    T: Send + 'static,
    E: From<StoreError> + Send + 'static,
{
    fn run<'t>(
        self: Box<Self>,
        txn: &'t DatabaseTransaction,
        isolated: bool,
    ) -> BoxFuture<'t, Box<dyn Outcome>> {
        Box::pin(async move {
            let WriteJob { work, reply } = *self;
            let result = if isolated {
                in_savepoint(txn, work).await
            } else {
                work(txn).await
            };
            Box::new(Ran { result, reply }) as Box<dyn Outcome>
        })
    }

    fn fail(self: Box<Self>, err: StoreError) {
        // The caller may have gone (its deadline passed): nothing to tell.
        let _ = self.reply.send(Err(E::from(err)));
    }
}

impl<T: Send, E: From<StoreError> + Send> Outcome for Ran<T, E> {
    fn failed(&self) -> bool {
        self.result.is_err()
    }

    fn tell(self: Box<Self>, committed: Result<(), StoreError>) {
        let result = match (self.result, committed) {
            // Rolled back to its savepoint: nothing of it was written.
            (Err(err), _) => Err(err),
            (Ok(value), Ok(())) => Ok(value),
            (Ok(_), Err(err)) => Err(E::from(err)),
        };
        let _ = self.reply.send(result);
    }
}

/// Runs `work` so that its failure undoes its own writes only.
async fn in_savepoint<T, E: From<StoreError>>(
    txn: &DatabaseTransaction,
    work: Work<T, E>,
) -> Result<T, E> {
    let savepoint = txn.begin().await.map_err(StoreError::from)?;
    match work(&savepoint).await {
        Ok(value) => {
            savepoint.commit().await.map_err(StoreError::from)?;
            Ok(value)
        }
        Err(err) => {
            savepoint.rollback().await.map_err(StoreError::from)?;
            Err(err)
        }
    }
}
