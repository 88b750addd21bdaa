//! Persistence: connecting, migrating, and every query the service runs,
//! on SQLite or PostgreSQL. The operations (`plex-source-core`), blueprint
//! import and the management commands call these functions and never build
//! a query; nothing in this crate's API names a sea-orm or sqlx type, so
//! no other crate can.

pub mod access;
mod catalog;
mod connect;
mod entities;
mod error;
pub mod events;
mod handle;
mod links;
mod listing;
mod lookup;
pub mod pool;
mod rows;
pub mod secrets;
mod snapshot;
mod sources;
mod sql;
mod turns;
mod validate;

use sea_orm::{ConnectionTrait, DatabaseBackend};

pub use catalog::{FlowRow, MappingRow, flows, mappings};
pub use connect::{
    ACQUIRE_TIMEOUT, DEFAULT_LOCK_TIMEOUT, connect, connect_bounded, connect_lazy, connect_with,
    describe_connect_error, migrate, ping,
};
pub use error::{DbError, StoreError};
pub use events::{begin_exclusive_write, begin_write};
pub(crate) use handle::Raw;
pub use handle::{Backend, Conn, Db, Txn};
pub use listing::{Page, SourceFilter, cursor_of, list_sources, list_sources_at};
pub use lookup::Match;
pub use sources::{
    delete_locked_source, delete_source_by_pk, find_source, find_source_by_pk, find_source_by_slug,
    insert_source, lock_source_by_slug, slug_owner, update_locked_source, update_source_by_pk,
};
pub use sql::Row;
pub use turns::{WriteTurns, WriteTxn};
pub use validate::{SLUG_TAKEN, check_source, only_slug_taken};

/// A handle as sea-orm sees it.
pub(crate) fn raw<C: Conn>(conn: &C) -> Raw<'_> {
    handle::Sealed::raw(conn)
}

/// The span of a query a call runs: an OpenTelemetry client span named
/// `name`, with the database, the operation and the table. DEBUG: exported
/// while traces are, never carrying SQL or its parameters.
pub(crate) fn db_span<C: Conn>(
    db: &C,
    name: &'static str,
    operation: &'static str,
    collection: Option<&'static str>,
) -> tracing::Span {
    tracing::debug_span!(
        "db",
        otel.name = name,
        otel.kind = "client",
        db.system = db_system(db),
        db.operation.name = operation,
        db.collection.name = collection,
    )
}

/// The OpenTelemetry `db.system` of a connection.
fn db_system<C: Conn>(db: &C) -> &'static str {
    match raw(db).get_database_backend() {
        DatabaseBackend::Postgres => "postgresql",
        DatabaseBackend::Sqlite => "sqlite",
        DatabaseBackend::MySql => "mysql",
        _ => "other_sql",
    }
}
