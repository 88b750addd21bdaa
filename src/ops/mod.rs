//! The service's operations, apart from any transport.
//!
//! Each operation takes the authenticated
//! [`Caller`](crate::domain::access::Caller) and domain values and
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

use std::sync::{Arc, OnceLock};

use sea_orm::DatabaseConnection;
use tokio::sync::Semaphore;

use crate::{
    audit::AuditTrail, domain::listing::PageTokenKey, feed::ChangeFeed, store::WriteTurns,
};

pub use authenticate::{Credentials, bearer_key, credentials};
pub use error::{AuthFailure, ServiceError, texts};
pub use list::{ListPage, ListParams};
pub use reveal::{TokenVisibility, Visible};
pub use sources::{SourceUpdate, Write};
pub use watch::{EventKind, WatchEvent, WatchEvents, WatchLimits, WatchParams};

/// Everything an operation needs: the store's connection pool, the change
/// feed (which also owns the read cache), the audit trail and the
/// deployment's page token key.
#[derive(Clone)]
pub struct Operations {
    db: DatabaseConnection,
    feed: ChangeFeed,
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
    /// Watchers' callers, re-read once per token and access epoch.
    rechecks: Arc<authenticate::Rechecks>,
    /// The tokens' key hashes, so bogus keys cost a bounded number of
    /// queries.
    known_keys: Arc<known_keys::KnownKeys>,
}

impl Operations {
    pub fn new(
        db: DatabaseConnection,
        feed: ChangeFeed,
        audit: AuditTrail,
        writes: WriteTurns,
        watch_limits: WatchLimits,
    ) -> Self {
        Self {
            db,
            feed,
            audit,
            writes,
            page_tokens: Arc::default(),
            watch_slots: Arc::new(Semaphore::new(watch_limits.max_streams)),
            watch_quota: Arc::default(),
            watch_limits,
            rechecks: Arc::default(),
            known_keys: Arc::default(),
        }
    }

    /// The database is migrated and answers: operations may run. Starts
    /// following the tokens' key hashes (until the server stops).
    pub fn start(&self, page_tokens: PageTokenKey) {
        if self.page_tokens.set(page_tokens).is_ok() {
            let mut stopping = self.feed.subscribe_stopping();
            let follow = self
                .known_keys
                .clone()
                .follow(self.db.clone(), self.feed.clone());
            tokio::spawn(async move {
                tokio::select! {
                    () = follow => {}
                    _ = stopping.wait_for(|stopping| *stopping) => {}
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
    pub fn write_waits(&self) -> &crate::store::pool::AcquireWaits {
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
