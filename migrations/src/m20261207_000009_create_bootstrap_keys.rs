//! Every key `BOOTSTRAP_TOKEN` has provisioned, by hash: a bootstrap token
//! that an operator revoked (or replaced with another key) stays revoked,
//! even while the variable still holds its key at the next start.
//!
//! The bootstrap token of a database migrated before this table existed is
//! recorded here at once, so revoking it later holds too.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum BootstrapKeys {
    Table,
    KeyHash,
}

#[derive(DeriveIden)]
enum Tokens {
    Table,
    Identifier,
    KeyHash,
}

/// The bootstrap token's identifier (the service creates it by this name).
const BOOTSTRAP_TOKEN_IDENTIFIER: &str = "authentik-bootstrap-token";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(BootstrapKeys::Table)
                    .col(string_len(BootstrapKeys::KeyHash, 64).primary_key())
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(BootstrapKeys::Table)
                    .columns([BootstrapKeys::KeyHash])
                    .select_from(
                        Query::select()
                            .column(Tokens::KeyHash)
                            .from(Tokens::Table)
                            .and_where(Expr::col(Tokens::Identifier).eq(BOOTSTRAP_TOKEN_IDENTIFIER))
                            .to_owned(),
                    )
                    .map_err(|err| DbErr::Migration(err.to_string()))?
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(BootstrapKeys::Table).to_owned())
            .await
    }
}
