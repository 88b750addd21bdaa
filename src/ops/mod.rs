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
pub use sources::SourceUpdate;
pub use watch::{EventKind, WatchEvent, WatchEvents, WatchParams};

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
    max_watch_streams: usize,
    /// Watchers' callers, re-read once per token and access epoch.
    rechecks: Arc<authenticate::Rechecks>,
}

impl Operations {
    pub fn new(
        db: DatabaseConnection,
        feed: ChangeFeed,
        audit: AuditTrail,
        writes: WriteTurns,
        max_watch_streams: usize,
    ) -> Self {
        Self {
            db,
            feed,
            audit,
            writes,
            page_tokens: Arc::default(),
            watch_slots: Arc::new(Semaphore::new(max_watch_streams)),
            max_watch_streams,
            rechecks: Arc::default(),
        }
    }

    /// The database is migrated and answers: operations may run.
    pub fn start(&self, page_tokens: PageTokenKey) {
        let _ = self.page_tokens.set(page_tokens);
    }

    pub fn is_started(&self) -> bool {
        self.page_tokens.get().is_some()
    }

    /// Open `WatchPlexSources` streams on this server.
    pub fn open_watch_streams(&self) -> usize {
        self.max_watch_streams - self.watch_slots.available_permits()
    }

    fn page_tokens(&self) -> Result<&PageTokenKey, ServiceError> {
        self.page_tokens.get().ok_or(ServiceError::Starting)
    }
}
