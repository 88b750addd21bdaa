//! Store failures, sorted by what a caller can do about them.

use sea_orm::{DbErr, RuntimeErr, SqlErr};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached now; retrying later may work.
    #[error("database unavailable")]
    Unavailable(#[source] DbErr),
    /// Another write held the lock past the lock timeout; retrying soon
    /// may work.
    #[error("database busy: lock wait timed out")]
    Busy(#[source] DbErr),
    /// A unique column already holds the value.
    #[error("unique constraint violated")]
    Duplicate(#[source] DbErr),
    /// A stored row breaks the domain rules (written by something else).
    #[error("stored row is invalid: {0}")]
    Corrupt(String),
    #[error("database error")]
    Other(#[source] DbErr),
}

impl From<DbErr> for StoreError {
    fn from(err: DbErr) -> Self {
        if is_busy(&err) {
            StoreError::Busy(err)
        } else if is_unavailable(&err) {
            StoreError::Unavailable(err)
        } else if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) {
            StoreError::Duplicate(err)
        } else {
            StoreError::Other(err)
        }
    }
}

/// A lock wait that ran out: SQLite's `SQLITE_BUSY`/`SQLITE_LOCKED`
/// ("database is locked", after the busy timeout) or PostgreSQL's
/// `lock_not_available` (after `lock_timeout`).
fn is_busy(err: &DbErr) -> bool {
    let (DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e))) = err
    else {
        return false;
    };
    let sea_orm::sqlx::Error::Database(db) = &**e else {
        return false;
    };
    match db.code().as_deref() {
        Some("55P03") => true,
        // SQLite reports extended codes; the primary code is the low byte.
        Some(code) => code.parse::<i32>().is_ok_and(|c| matches!(c & 0xff, 5 | 6)),
        None => false,
    }
}

/// Errors that mean "no working connection", as opposed to a bad statement.
fn is_unavailable(err: &DbErr) -> bool {
    use sea_orm::sqlx::Error as Sqlx;
    match err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => matches!(
            **e,
            Sqlx::Io(_)
                | Sqlx::Tls(_)
                | Sqlx::Protocol(_)
                | Sqlx::PoolTimedOut
                | Sqlx::PoolClosed
                | Sqlx::WorkerCrashed
        ),
        _ => false,
    }
}
