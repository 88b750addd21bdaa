//! The access epoch: a counter every replica polls to learn that cached
//! callers are stale.

use sea_orm::ConnectionTrait;

use crate::store::StoreError;

/// Tells every replica that users, roles, tokens or grants changed, so
/// cached callers are dropped on their next poll. Runs in the caller's
/// transaction, if any.
pub async fn bump_access_epoch<C: ConnectionTrait>(db: &C) -> Result<(), StoreError> {
    db.execute_unprepared("UPDATE store_epochs SET value = value + 1 WHERE name = 'access'")
        .await?;
    Ok(())
}
