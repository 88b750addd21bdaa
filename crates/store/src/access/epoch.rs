//! The access epoch: a counter every replica polls to learn that cached
//! callers are stale.

use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction};

use super::AccessError;
use crate::StoreError;

/// Opens the transaction an administrative change and its epoch bump
/// commit in together, so no replica sees one without the other. On SQLite
/// it takes the write lock at once (see [`crate::handle::begin_immediate`]).
pub(super) async fn begin_change(
    db: &DatabaseConnection,
) -> Result<DatabaseTransaction, StoreError> {
    Ok(crate::handle::begin_immediate(db).await?)
}

/// Makes an administrative change that always changes something: `change`
/// runs in the transaction of [`begin_change`], and commits with the epoch
/// bump. An error from `change` rolls it back.
pub(super) async fn commit_change(
    db: &crate::Db,
    change: impl AsyncFnOnce(crate::Raw<'_>) -> Result<(), AccessError>,
) -> Result<(), AccessError> {
    let txn = begin_change(&db.0).await?;
    let conn = crate::Raw::Txn(&txn);
    change(conn).await?;
    bump_access_epoch(&conn).await?;
    txn.commit().await?;
    Ok(())
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
