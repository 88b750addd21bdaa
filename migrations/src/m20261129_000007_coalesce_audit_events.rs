//! One audit row per caller, source and flush interval: `occurrences`
//! counts the hand-outs it stands for (from `created` to `last_seen`), so a
//! login path that reads the Plex token thousands of times a second writes
//! a handful of rows, not one per read. Rows written before this migration
//! stand for one hand-out each.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Occurrences,
    LastSeen,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite takes one column per ALTER TABLE.
        manager
            .alter_table(
                Table::alter()
                    .table(AuditEvents::Table)
                    .add_column(big_integer(AuditEvents::Occurrences).default(1))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(AuditEvents::Table)
                    .add_column(timestamp_with_time_zone_null(AuditEvents::LastSeen))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [AuditEvents::Occurrences, AuditEvents::LastSeen] {
            manager
                .alter_table(
                    Table::alter()
                        .table(AuditEvents::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
