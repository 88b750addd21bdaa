//! The access epoch: a counter every replica polls to learn that cached
//! callers are stale.

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, SqliteTransactionMode,
    TransactionOptions, TransactionTrait,
};

use crate::StoreError;

/// Opens the transaction an administrative change and its epoch bump
/// commit in together, so no replica sees one without the other. SQLite
/// takes the write lock at once (`BEGIN IMMEDIATE`): a deferred transaction
/// that reads before it writes fails outright when another writer commits
/// in between, instead of waiting its turn.
pub(super) async fn begin_change(
    db: &DatabaseConnection,
) -> Result<DatabaseTransaction, StoreError> {
    Ok(db
        .begin_with_options(TransactionOptions {
            isolation_level: None,
            access_mode: None,
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        })
        .await?)
}

/// Tells every replica that users, roles, tokens or grants changed, so
/// cached callers are dropped on their next poll. Runs in the caller's
/// transaction, if any.
pub async fn bump_access_epoch<C: crate::Conn>(db: &C) -> Result<(), StoreError> {
    let db = &crate::raw(db);
    db.execute_unprepared("UPDATE store_epochs SET value = value + 1 WHERE name = 'access'")
        .await?;
    Ok(())
}
