//! Secrets the deployment keeps in its database, so every replica (and
//! every restart) shares them: for now the key page tokens are sealed with.
//!
//! The key is generated here, once per database, from the operating
//! system's generator; it is never configured, logged or sent.

use rand::TryRngCore;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ServiceSecrets {
    Table,
    Name,
    Value,
}

/// Name of the page token key's row (the service reads it by this name).
const PAGE_TOKEN_KEY: &str = "page_token_key";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ServiceSecrets::Table)
                    .col(string_len(ServiceSecrets::Name, 64).primary_key())
                    .col(text(ServiceSecrets::Value))
                    .to_owned(),
            )
            .await?;
        let mut key = [0u8; 32];
        rand::rngs::OsRng
            .try_fill_bytes(&mut key)
            .map_err(|err| DbErr::Migration(format!("cannot generate a secret: {err}")))?;
        let hex = hex::encode(key);
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(ServiceSecrets::Table)
                    .columns([ServiceSecrets::Name, ServiceSecrets::Value])
                    .values_panic([PAGE_TOKEN_KEY.into(), hex.into()])
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ServiceSecrets::Table).to_owned())
            .await
    }
}
