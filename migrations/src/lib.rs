//! Schema history of plex-source-service, one migration a file.
//!
//! The same migrations run on SQLite and PostgreSQL: `serve` applies them at
//! start (unless `--no-migrate`), `migrate` applies them on their own.

pub use sea_orm_migration::prelude::*;

mod m20261129_000001_create_plex_sources;
mod m20261129_000002_create_access_control;
mod m20261129_000003_create_source_events;
mod m20261129_000004_create_store_epochs;
mod m20261129_000005_create_service_secrets;
mod m20261129_000006_drop_tokens_from_change_log;
mod m20261129_000007_coalesce_audit_events;
mod m20261129_000008_add_flow_titles;
mod m20261207_000009_create_bootstrap_keys;

/// Every migration, oldest first.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261129_000001_create_plex_sources::Migration),
            Box::new(m20261129_000002_create_access_control::Migration),
            Box::new(m20261129_000003_create_source_events::Migration),
            Box::new(m20261129_000004_create_store_epochs::Migration),
            Box::new(m20261129_000005_create_service_secrets::Migration),
            Box::new(m20261129_000006_drop_tokens_from_change_log::Migration),
            Box::new(m20261129_000007_coalesce_audit_events::Migration),
            Box::new(m20261129_000008_add_flow_titles::Migration),
            Box::new(m20261207_000009_create_bootstrap_keys::Migration),
        ]
    }
}
