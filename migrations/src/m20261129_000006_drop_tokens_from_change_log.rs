//! The change log keeps no Plex token: format-1 snapshots (written before
//! this migration) copied the whole row, token included, and the newest
//! row is kept forever. This removes the token from each of them; readers
//! take the source's current token from `plex_sources` instead.

use sea_orm_migration::{
    prelude::*,
    sea_orm::{ConnectionTrait, Statement},
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let rows = db
            .query_all_raw(Statement::from_string(
                manager.get_database_backend(),
                "SELECT revision, snapshot FROM plex_source_events \
                 WHERE snapshot LIKE '%\"plex_token\"%'",
            ))
            .await?;
        for row in rows {
            let revision: i64 = row.try_get("", "revision")?;
            let text: Option<String> = row.try_get("", "snapshot")?;
            let Some(mut value) =
                text.and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            else {
                // Unreadable rows stay as they are; readers report them.
                continue;
            };
            let Some(columns) = value.get_mut("row").and_then(|r| r.as_object_mut()) else {
                continue;
            };
            columns.remove("plex_token");
            manager
                .exec_stmt(
                    Query::update()
                        .table(Alias::new("plex_source_events"))
                        .value(Alias::new("snapshot"), value.to_string())
                        .and_where(Expr::col(Alias::new("revision")).eq(revision))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        // Removed tokens cannot come back, and nothing needs them.
        Ok(())
    }
}
