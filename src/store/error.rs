//! Store failures, sorted by what a caller can do about them.

use sea_orm::{DbErr, RuntimeErr, SqlErr};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached now; retrying later may work.
    #[error("database unavailable")]
    Unavailable(#[source] DbErr),
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
        if is_unavailable(&err) {
            StoreError::Unavailable(err)
        } else if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) {
            StoreError::Duplicate(err)
        } else {
            StoreError::Other(err)
        }
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
