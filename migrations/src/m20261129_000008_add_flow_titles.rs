//! Flows keep their `title` (the heading authentik shows on the flow's
//! page), so a blueprint that sets one stores it. Existing flows get an
//! empty title.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Flows {
    Table,
    Title,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Flows::Table)
                    .add_column(text(Flows::Title).default(""))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Flows::Table)
                    .drop_column(Flows::Title)
                    .to_owned(),
            )
            .await
    }
}
