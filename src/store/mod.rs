//! Persistence: connecting, migrating, and the queries the service runs.
//! The gRPC layer and the blueprint importer call these functions and never
//! build a query themselves.

mod catalog;
pub mod entities;
mod error;
mod links;
mod lookup;
mod sources;

use std::time::Duration;

use migrations::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr};

pub use catalog::{FlowRow, MappingRow, flows, mappings};
pub use error::StoreError;
pub use lookup::Lookup;
pub use sources::{
    delete_source, find_source, find_source_by_slug, insert_source, slug_owner, update_source,
};

/// Opens a connection pool. SQLite files are created when missing and run in
/// WAL mode so readers never wait for the writer. Statement logging is off:
/// SQL text stays out of the logs.
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url);
    options
        .sqlx_logging(false)
        .max_connections(16)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5))
        .map_sqlx_sqlite_opts(|o| {
            o.create_if_missing(true)
                .journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .busy_timeout(Duration::from_secs(5))
        });
    Database::connect(options).await
}

/// Applies every pending migration.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}

/// Round trip to the database, for health checks.
pub async fn ping(db: &DatabaseConnection) -> Result<(), StoreError> {
    db.execute_unprepared("SELECT 1").await?;
    Ok(())
}
