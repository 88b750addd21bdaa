//! Statements written by hand, for diagnostics and for tests that look at
//! what is stored as a database dump would. The service's own queries are
//! the functions of this crate; none of them goes through here.

use sea_orm::{ConnectionTrait, QueryResult, Statement, TransactionTrait};

use crate::{Db, StoreError, Txn};

/// One row of [`Db::query`].
pub struct Row(QueryResult);

impl Row {
    /// The column as text; `None` when it is null or not text.
    pub fn text(&self, column: &str) -> Option<String> {
        self.0.try_get("", column).ok()
    }

    /// The column as an integer; `None` when it is null or not one.
    pub fn int(&self, column: &str) -> Option<i64> {
        self.0.try_get("", column).ok()
    }
}

impl Db {
    /// Runs statements; the rows they changed.
    pub async fn execute(&self, sql: &str) -> Result<u64, StoreError> {
        Ok(self.0.execute_unprepared(sql).await?.rows_affected())
    }

    /// Runs a query; its rows.
    pub async fn query(&self, sql: &str) -> Result<Vec<Row>, StoreError> {
        let statement = Statement::from_string(self.0.get_database_backend(), sql);
        let rows = self.0.query_all_raw(statement).await?;
        Ok(rows.into_iter().map(Row).collect())
    }

    /// A plain transaction (no writer lock), e.g. to hold one open.
    pub async fn begin(&self) -> Result<Txn, StoreError> {
        Ok(Txn(self.0.begin().await?))
    }
}

impl Txn {
    /// Runs statements in the transaction; the rows they changed.
    pub async fn execute(&self, sql: &str) -> Result<u64, StoreError> {
        Ok(self.0.execute_unprepared(sql).await?.rows_affected())
    }
}
