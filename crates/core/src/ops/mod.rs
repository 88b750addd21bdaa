//! The service's operations, apart from any transport.
//!
//! Each operation takes the authenticated
//! [`Caller`](domain::access::Caller) and domain values and
//! returns domain values or a [`ServiceError`]. Authentication, permission
//! checks, validation, the write transaction, the audit of Plex token
//! hand-outs, the read cache and the change log all happen here, once, so a
//! transport (gRPC today, authentik's REST contract next) only decodes a
//! request, calls one function and maps the result; it cannot forget a check.
//!
//! Layout: [`authenticate`] turns a bearer key into a caller, [`sources`]
//! holds retrieve, create, update and delete, [`list`] the list arguments
//! and pages, [`watch`] the change stream, [`reveal`] decides per caller
//! whether the Plex token is handed out (and audits it), and [`error`] is
//! the one error type every transport maps.

mod authenticate;
mod error;
mod known_keys;
mod list;
mod reveal;
mod sources;
mod watch;

use std::sync::{
    Arc, OnceLock,
    atomic::{AtomicU64, Ordering},
};

use domain::listing::PageTokenKey;
use store::{Db, WriteTurns, events::ChangeKind};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{audit::AuditTrail, cache::ReadCache, feed::ChangeFeed};

pub use authenticate::{Credentials, bearer_key, credentials};
pub use error::{AuthFailure, ServiceError, texts};
pub use list::{ListPage, ListParams};
pub use reveal::{TokenVisibility, Visible};
pub use sources::{SourceUpdate, Write};
pub use watch::{EventKind, WatchEvent, WatchEvents, WatchLimits, WatchParams};

/// What the operations run on. Each part is shared with whoever else needs
/// it: the change feed drops the cache's entries through its invalidation
/// handle, metrics read the cache's and the watch work's figures.
pub struct Parts {
    pub db: Db,
    pub feed: ChangeFeed,
    pub cache: Arc<ReadCache>,
    pub audit: AuditTrail,
    pub writes: WriteTurns,
    pub watch_limits: WatchLimits,
    pub watch_work: Arc<WatchWork>,
    /// Cancelled when the server stops: open streams end, and the tasks
    /// the operations started stop.
    pub shutdown: CancellationToken,
}

/// Everything an operation needs: the store's connection pool, the change
/// feed, the read cache, the audit trail and the deployment's page token
/// key.
#[derive(Clone)]
pub struct Operations {
    db: Db,
    feed: ChangeFeed,
    cache: Arc<ReadCache>,
    audit: AuditTrail,
    /// This server's writers, in turn.
    writes: WriteTurns,
    /// Read from the migrated database once it answers (see
    /// [`Operations::start`]); until then every operation is refused as
    /// [`ServiceError::Starting`].
    page_tokens: Arc<OnceLock<PageTokenKey>>,
    /// One permit per open watch stream.
    watch_slots: Arc<Semaphore>,
    /// Open watch streams per token.
    watch_quota: Arc<watch::Quota>,
    watch_limits: WatchLimits,
    watch_work: Arc<WatchWork>,
    shutdown: CancellationToken,
    /// Watchers' callers, re-read once per token and access epoch.
    rechecks: Arc<authenticate::Rechecks>,
    /// The tokens' key hashes, so bogus keys cost a bounded number of
    /// queries.
    known_keys: Arc<known_keys::KnownKeys>,
}

impl Operations {
    pub fn new(parts: Parts) -> Self {
        let Parts {
            db,
            feed,
            cache,
            audit,
            writes,
            watch_limits,
            watch_work,
            shutdown,
        } = parts;
        Self {
            db,
            feed,
            cache,
            audit,
            writes,
            page_tokens: Arc::default(),
            watch_slots: Arc::new(Semaphore::new(watch_limits.max_streams)),
            watch_quota: Arc::default(),
            watch_limits,
            watch_work,
            shutdown,
            rechecks: Arc::default(),
            known_keys: Arc::default(),
        }
    }

    /// The read cache, for its figures.
    pub fn cache(&self) -> &ReadCache {
        &self.cache
    }

    /// Database reads made for single watch streams, for tests and metrics.
    pub fn watch_work(&self) -> &WatchWork {
        &self.watch_work
    }

    /// This replica committed a change of a source: what it affects leaves
    /// the cache now (the next call sees it), and the feed reads the log at
    /// once (watchers see it).
    fn committed(&self, kind: ChangeKind, pk: Uuid, slug: &str) {
        self.cache.changed(kind, pk, slug);
        self.feed.poke();
    }

    /// The database is migrated and answers: operations may run. Starts
    /// following the tokens' key hashes (until the server stops).
    pub fn start(&self, page_tokens: PageTokenKey) {
        if self.page_tokens.set(page_tokens).is_ok() {
            let follow = self
                .known_keys
                .clone()
                .follow(self.db.clone(), self.feed.clone());
            let shutdown = self.shutdown.clone();
            tokio::spawn(async move {
                tokio::select! {
                    () = follow => {}
                    () = shutdown.cancelled() => {}
                }
            });
        }
    }

    /// Key lookups refused without a query: keys of no token, past the
    /// budget (see [`known_keys`]).
    pub fn refused_key_lookups(&self) -> u64 {
        self.known_keys.refused()
    }

    pub fn is_started(&self) -> bool {
        self.page_tokens.get().is_some()
    }

    /// How long writes waited to open their transactions.
    pub fn write_waits(&self) -> &store::pool::AcquireWaits {
        self.writes.acquire_waits()
    }

    /// Open `WatchPlexSources` streams on this server.
    pub fn open_watch_streams(&self) -> usize {
        self.watch_limits.max_streams - self.watch_slots.available_permits()
    }

    fn page_tokens(&self) -> Result<&PageTokenKey, ServiceError> {
        self.page_tokens.get().ok_or(ServiceError::Starting)
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
