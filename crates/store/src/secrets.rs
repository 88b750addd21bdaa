//! Secrets kept in the database (created by the migrations), so that every
//! replica and every restart of a deployment uses the same ones.

use sea_orm::{ConnectionTrait, Statement};

use crate::StoreError;

/// The key page tokens are sealed with: 32 random bytes made when the
/// database was migrated. `None` when the migration has not run.
pub async fn page_token_key<C: crate::Conn>(db: &C) -> Result<Option<Vec<u8>>, StoreError> {
    let db = &crate::raw(db);
    let sql = "SELECT value FROM service_secrets WHERE name = 'page_token_key'";
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await?;
    let Some(row) = row else { return Ok(None) };
    let hex: String = row.try_get("", "value")?;
    hex::decode(&hex)
        .ok()
        .filter(|key| key.len() >= 32)
        .map(Some)
        .ok_or_else(|| StoreError::Corrupt("the page token key is not 32 hex-encoded bytes".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate as store;

    async fn migrated(dir: &tempfile::TempDir, name: &str) -> crate::Db {
        let url = format!("sqlite://{}", dir.path().join(name).display());
        let db = store::connect(&url).await.unwrap();
        store::migrate(&db).await.unwrap();
        db
    }

    #[tokio::test]
    async fn each_database_has_its_own_key_and_keeps_it() {
        let dir = tempfile::tempdir().unwrap();
        let db = migrated(&dir, "a.db").await;
        let key = page_token_key(&db).await.unwrap().expect("key");
        assert_eq!(key.len(), 32);
        db.close().await.unwrap();
        // A restart: a new pool, migrations applied again.
        let again = migrated(&dir, "a.db").await;
        assert_eq!(page_token_key(&again).await.unwrap(), Some(key.clone()));
        let other = migrated(&dir, "b.db").await;
        assert_ne!(page_token_key(&other).await.unwrap(), Some(key));
    }
}
