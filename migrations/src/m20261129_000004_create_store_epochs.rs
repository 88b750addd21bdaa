//! Counters that replicas poll to drop cached reads.
//!
//! Source changes already have a log (`plex_source_events`); changes to
//! users, roles, tokens and grants bump the `access` counter instead, in
//! the same transaction, so every replica notices a revocation on its next
//! poll.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum StoreEpochs {
    Table,
    Name,
    Value,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(StoreEpochs::Table)
                    .col(string_len(StoreEpochs::Name, 32).primary_key())
                    .col(big_integer(StoreEpochs::Value))
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(StoreEpochs::Table)
                    .columns([StoreEpochs::Name, StoreEpochs::Value])
                    .values_panic(["access".into(), 0i64.into()])
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(StoreEpochs::Table).to_owned())
            .await
    }
}
