//! The store's own handles: a pool of connections ([`Db`]), a transaction
//! ([`Txn`]), and [`Conn`], either of them, which every query takes. They
//! keep sea-orm and sqlx inside this crate: callers hold handles, never a
//! driver type.

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, ExecResult,
    QueryResult, SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};

use crate::StoreError;

/// A pool of database connections (cheap to clone: clones share the pool).
#[derive(Clone)]
pub struct Db(pub(crate) DatabaseConnection);

/// A database transaction: committed by [`Txn::commit`], rolled back when
/// dropped.
pub struct Txn(pub(crate) DatabaseTransaction);

/// The database behind a handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Db").field(&self.backend()).finish()
    }
}

impl std::fmt::Debug for Txn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Txn")
    }
}

impl Db {
    pub fn backend(&self) -> Backend {
        backend(self.0.get_database_backend())
    }

    /// Closes the pool's connections.
    pub async fn close(self) -> Result<(), StoreError> {
        Ok(self.0.close().await?)
    }
}

impl Txn {
    pub async fn commit(self) -> Result<(), StoreError> {
        Ok(self.0.commit().await?)
    }

    pub async fn rollback(self) -> Result<(), StoreError> {
        Ok(self.0.rollback().await?)
    }

    pub fn backend(&self) -> Backend {
        backend(self.0.get_database_backend())
    }
}

/// Opens a transaction that takes SQLite's write lock at once (`BEGIN
/// IMMEDIATE`; PostgreSQL begins as usual). A deferred transaction that
/// reads before it writes fails outright when another writer commits in
/// between, instead of waiting its turn.
pub(crate) async fn begin_immediate(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        isolation_level: None,
        access_mode: None,
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
    })
    .await
}

fn backend(db: DbBackend) -> Backend {
    match db {
        DbBackend::Postgres => Backend::Postgres,
        _ => Backend::Sqlite,
    }
}

/// Where a query runs: the pool ([`Db`]) or a transaction ([`Txn`]).
pub trait Conn: sealed::Sealed {}

impl Conn for Db {}
impl Conn for Txn {}
impl Conn for Raw<'_> {}

mod sealed {
    use sea_orm::{DatabaseConnection, DatabaseTransaction};

    /// What a handle gives the store's queries.
    pub trait Sealed: Sync {
        fn raw(&self) -> Raw<'_>;
    }

    /// A handle as sea-orm sees it, inside this crate only.
    #[derive(Clone, Copy)]
    pub enum Raw<'a> {
        Pool(&'a DatabaseConnection),
        Txn(&'a DatabaseTransaction),
    }
}

pub(crate) use sealed::{Raw, Sealed};

impl sealed::Sealed for Db {
    fn raw(&self) -> Raw<'_> {
        Raw::Pool(&self.0)
    }
}

impl sealed::Sealed for Txn {
    fn raw(&self) -> Raw<'_> {
        Raw::Txn(&self.0)
    }
}

impl sealed::Sealed for Raw<'_> {
    fn raw(&self) -> Raw<'_> {
        *self
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for Raw<'_> {
    fn get_database_backend(&self) -> DbBackend {
        match self {
            Raw::Pool(db) => db.get_database_backend(),
            Raw::Txn(txn) => txn.get_database_backend(),
        }
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        match self {
            Raw::Pool(db) => db.execute_raw(stmt).await,
            Raw::Txn(txn) => txn.execute_raw(stmt).await,
        }
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        match self {
            Raw::Pool(db) => db.execute_unprepared(sql).await,
            Raw::Txn(txn) => txn.execute_unprepared(sql).await,
        }
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        match self {
            Raw::Pool(db) => db.query_one_raw(stmt).await,
            Raw::Txn(txn) => txn.query_one_raw(stmt).await,
        }
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        match self {
            Raw::Pool(db) => db.query_all_raw(stmt).await,
            Raw::Txn(txn) => txn.query_all_raw(stmt).await,
        }
    }

    fn support_returning(&self) -> bool {
        match self {
            Raw::Pool(db) => db.support_returning(),
            Raw::Txn(txn) => txn.support_returning(),
        }
    }
}
