//! The change log of Plex sources, read by `WatchPlexSources`.
//!
//! Every write of a source appends a row in the same transaction (an
//! outbox), so the log never disagrees with the table. Each row keeps the
//! source as it was after the change (before it, for a delete, with the
//! users who could view it), so a watcher that resumes later is told what
//! happened then, not what is true now. Revisions come from
//! the auto-increment key; writers serialize on a lock before appending,
//! so revisions become visible in order and a reader never skips one.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum PlexSourceEvents {
    Table,
    Revision,
    Kind,
    SourcePk,
    Slug,
    Snapshot,
    Created,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(PlexSourceEvents::Table)
                    .col(big_pk_auto(PlexSourceEvents::Revision))
                    .col(string_len(PlexSourceEvents::Kind, 16))
                    .col(uuid(PlexSourceEvents::SourcePk))
                    .col(string_len(PlexSourceEvents::Slug, 50))
                    .col(text_null(PlexSourceEvents::Snapshot))
                    .col(timestamp_with_time_zone(PlexSourceEvents::Created))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_plex_source_events_created")
                    .table(PlexSourceEvents::Table)
                    .col(PlexSourceEvents::Created)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(PlexSourceEvents::Table).to_owned())
            .await
    }
}
