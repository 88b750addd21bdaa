//! Store failures, sorted by what a caller can do about them.

use sea_orm::{DbErr, RuntimeErr, SqlErr};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached now; retrying later may work.
    #[error("database unavailable")]
    Unavailable(#[source] DbError),
    /// Another write held the lock past the lock timeout; retrying soon
    /// may work.
    #[error("database busy: lock wait timed out")]
    Busy(#[source] DbError),
    /// A unique column already holds the value.
    #[error("unique constraint violated")]
    Duplicate(#[source] DbError),
    /// A stored row breaks the domain rules (written by something else).
    #[error("stored row is invalid: {0}")]
    Corrupt(String),
    #[error("database error")]
    Other(#[source] DbError),
}

/// What the database driver said, for logs (never sent to a client).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct DbError(DbErr);

impl DbError {
    /// An error with this message, as a driver would report it (tests).
    pub fn custom(message: impl Into<String>) -> Self {
        Self(DbErr::Custom(message.into()))
    }
}

impl From<DbErr> for StoreError {
    fn from(err: DbErr) -> Self {
        let kind = if is_busy(&err) {
            StoreError::Busy
        } else if is_unavailable(&err) {
            StoreError::Unavailable
        } else if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) {
            StoreError::Duplicate
        } else {
            StoreError::Other
        };
        kind(DbError(err))
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
    let code = db.code();
    if db
        .try_downcast_ref::<sea_orm::sqlx::sqlite::SqliteError>()
        .is_some()
    {
        // SQLite reports extended codes; the primary code is the low byte.
        return code
            .and_then(|c| c.parse::<i32>().ok())
            .is_some_and(|c| matches!(c & 0xff, 5 | 6));
    }
    code.as_deref() == Some("55P03")
}

/// Errors that mean "no working connection", as opposed to a bad statement:
/// the database restarting, shutting down, out of connection slots or
/// unreachable, a connection that broke mid-call, or a statement the
/// server cancelled (`statement_timeout`: the caller's deadline passed).
/// Each is worth a retry once the database is back.
fn is_unavailable(err: &DbErr) -> bool {
    use sea_orm::sqlx::Error as Sqlx;
    match err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            match &**e {
                Sqlx::Io(_)
                | Sqlx::Tls(_)
                | Sqlx::Protocol(_)
                | Sqlx::PoolTimedOut
                | Sqlx::PoolClosed
                | Sqlx::WorkerCrashed
                // `BEGIN` ran but the session is not in a transaction:
                // the connection broke or was reset under it.
                | Sqlx::BeginFailed => true,
                Sqlx::Database(db) => db.code().as_deref().is_some_and(is_unavailable_state),
                _ => false,
            }
        }
        _ => false,
    }
}

/// PostgreSQL SQLSTATEs of a database that is (going) away or overloaded,
/// rather than of a statement that is wrong.
fn is_unavailable_state(code: &str) -> bool {
    // connection_exception and its subclasses (08000, 08003, 08006, …).
    code.starts_with("08")
        || matches!(
            code,
            // admin_shutdown, crash_shutdown, cannot_connect_now
            "57P01" | "57P02" | "57P03"
            // database_dropped
            | "57P04"
            // idle_session_timeout
            | "57P05"
            // query_canceled: statement_timeout, or a cancel request
            | "57014"
            // too_many_connections
            | "53300"
        )
}

#[cfg(test)]
mod tests {
    use std::{borrow::Cow, sync::Arc};

    use sea_orm::{ConnAcquireErr, sqlx};

    use super::*;

    /// A database error with a SQLSTATE, as the drivers report one.
    #[derive(Debug)]
    struct Coded(&'static str);

    impl std::fmt::Display for Coded {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "error {}", self.0)
        }
    }

    impl std::error::Error for Coded {}

    impl sqlx::error::DatabaseError for Coded {
        fn message(&self) -> &str {
            "error"
        }
        fn code(&self) -> Option<Cow<'_, str>> {
            Some(Cow::Borrowed(self.0))
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> sqlx::error::ErrorKind {
            sqlx::error::ErrorKind::Other
        }
    }

    fn exec(err: sqlx::Error) -> DbErr {
        DbErr::Exec(RuntimeErr::SqlxError(Arc::new(err)))
    }

    fn query(err: sqlx::Error) -> DbErr {
        DbErr::Query(RuntimeErr::SqlxError(Arc::new(err)))
    }

    fn coded(code: &'static str) -> sqlx::Error {
        sqlx::Error::Database(Box::new(Coded(code)))
    }

    fn reset() -> sqlx::Error {
        sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset))
    }

    fn unavailable(err: DbErr) -> bool {
        matches!(StoreError::from(err), StoreError::Unavailable(_))
    }

    #[test]
    fn connection_exceptions_are_unavailable() {
        for code in ["08000", "08003", "08006", "08001", "08004", "08P01"] {
            assert!(unavailable(exec(coded(code))), "{code}");
            assert!(unavailable(query(coded(code))), "{code}");
        }
    }

    #[test]
    fn a_shutdown_or_restart_is_unavailable() {
        // admin_shutdown: the session was ended by a shutdown or
        // pg_terminate_backend; crash_shutdown: another backend crashed;
        // cannot_connect_now: still starting up or already shutting down.
        for code in ["57P01", "57P02", "57P03", "57P04", "57P05"] {
            assert!(unavailable(exec(coded(code))), "{code}");
            assert!(unavailable(query(coded(code))), "{code}");
        }
    }

    #[test]
    fn too_many_connections_is_unavailable() {
        assert!(unavailable(query(coded("53300"))));
    }

    #[test]
    fn a_cancelled_statement_is_unavailable() {
        assert!(unavailable(query(coded("57014"))));
    }

    #[test]
    fn a_broken_connection_is_unavailable() {
        assert!(unavailable(exec(reset())));
        assert!(unavailable(query(sqlx::Error::Io(std::io::Error::from(
            std::io::ErrorKind::UnexpectedEof
        )))));
        assert!(unavailable(query(sqlx::Error::Protocol(
            "unexpected message".into()
        ))));
        assert!(unavailable(exec(sqlx::Error::WorkerCrashed)));
    }

    #[test]
    fn a_begin_that_did_not_begin_is_unavailable() {
        assert!(unavailable(query(sqlx::Error::BeginFailed)));
    }

    #[test]
    fn connecting_and_acquiring_failures_are_unavailable() {
        assert!(unavailable(DbErr::Conn(RuntimeErr::SqlxError(Arc::new(
            reset()
        )))));
        assert!(unavailable(DbErr::Conn(RuntimeErr::SqlxError(Arc::new(
            coded("57P03")
        )))));
        // sea-orm's own words for a pool that is gone.
        assert!(unavailable(DbErr::Conn(RuntimeErr::Internal(
            "Disconnected".into()
        ))));
        assert!(unavailable(DbErr::ConnectionAcquire(
            ConnAcquireErr::Timeout
        )));
        assert!(unavailable(DbErr::ConnectionAcquire(
            ConnAcquireErr::ConnectionClosed
        )));
        assert!(unavailable(exec(sqlx::Error::PoolTimedOut)));
        assert!(unavailable(query(sqlx::Error::PoolClosed)));
    }

    #[test]
    fn lock_timeouts_stay_busy() {
        assert!(matches!(
            StoreError::from(exec(coded("55P03"))),
            StoreError::Busy(_)
        ));
        // SQLite's busy codes count only from SQLite itself (covered end
        // to end by tests/api/contention.rs): a PostgreSQL code whose
        // number ends alike, insufficient_privilege, is no lock wait.
        assert!(!matches!(
            StoreError::from(exec(coded("42501"))),
            StoreError::Busy(_)
        ));
        assert!(!matches!(
            StoreError::from(exec(coded("517"))),
            StoreError::Busy(_)
        ));
    }

    #[test]
    fn statement_errors_stay_other() {
        // syntax_error, undefined_table, foreign_key_violation: bugs or bad
        // data, not an outage; retrying would not help.
        for code in ["42601", "42P01", "23503"] {
            assert!(
                matches!(StoreError::from(exec(coded(code))), StoreError::Other(_)),
                "{code}"
            );
        }
        // sea-orm's own statement errors (a relation misused) are bugs too.
        assert!(matches!(
            StoreError::from(DbErr::Query(RuntimeErr::Internal(
                "Relation is not ManyToMany".into()
            ))),
            StoreError::Other(_)
        ));
        assert!(matches!(
            StoreError::from(query(sqlx::Error::RowNotFound)),
            StoreError::Other(_)
        ));
    }
}
