//! Connecting (a pool per server, bounded in every wait), migrating and
//! pinging.

use std::time::Duration;

use migrations::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseBackend, TransactionTrait};

use crate::{Db, StoreError};

/// How long a write waits for another write's lock before giving up with
/// [`StoreError::Busy`], unless configured otherwise.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens a connection pool with [`DEFAULT_LOCK_TIMEOUT`].
pub async fn connect(url: &str) -> Result<Db, StoreError> {
    connect_with(url, DEFAULT_LOCK_TIMEOUT).await
}

/// Opens a connection pool with no statement timeout (see
/// [`connect_bounded`]).
pub async fn connect_with(url: &str, lock_timeout: Duration) -> Result<Db, StoreError> {
    connect_bounded(url, lock_timeout, None).await
}

/// Opens a connection pool. SQLite files are created when missing and run in
/// WAL mode so readers never wait for the writer, with `synchronous=NORMAL`:
/// a commit is in the log file before the call is answered, so it survives
/// the process crashing, but the log is flushed to disk at checkpoints, not
/// at every commit (SQLite's recommended setting for WAL; the file is never
/// corrupted, and a power loss can drop the last commits). Deployments that
/// need every acknowledged write on disk at once run on PostgreSQL.
///
/// Every lock wait is bounded by `lock_timeout` (SQLite's busy timeout,
/// PostgreSQL's `lock_timeout`), so a long write (a large import) makes
/// other writers fail fast and retryably instead of piling up. On PostgreSQL, `statement_timeout` (if
/// any) makes the server abandon a statement whose caller gave up at its
/// deadline, instead of running it to the end. Statement logging is off:
/// SQL text stays out of the logs.
///
/// After a PostgreSQL restart, pooled connections are dead: each is
/// pinged before it is handed out (`test_before_acquire`) and replaced. A
/// call waits at most [`ACQUIRE_TIMEOUT`] for a connection, retrying
/// refused connects meanwhile: it rides out a short restart, and otherwise
/// fails with UNAVAILABLE before common client deadlines, for the client to
/// retry.
pub async fn connect_bounded(
    url: &str,
    lock_timeout: Duration,
    statement_timeout: Option<Duration>,
) -> Result<Db, StoreError> {
    Ok(Db(Database::connect(pool_options(
        url,
        lock_timeout,
        statement_timeout,
    ))
    .await?))
}

/// As [`connect_bounded`], but connects only when first used: the server
/// listens (and answers health) while its database is still down. Fails
/// only for a URL no driver takes.
pub async fn connect_lazy(
    url: &str,
    lock_timeout: Duration,
    statement_timeout: Option<Duration>,
) -> Result<Db, StoreError> {
    let mut options = pool_options(url, lock_timeout, statement_timeout);
    options.connect_lazy(true);
    Ok(Db(Database::connect(options).await?))
}

fn pool_options(
    url: &str,
    lock_timeout: Duration,
    statement_timeout: Option<Duration>,
) -> ConnectOptions {
    let mut options = ConnectOptions::new(url);
    let mut pg_settings = vec![("lock_timeout", millis(lock_timeout))];
    if let Some(timeout) = statement_timeout {
        pg_settings.push(("statement_timeout", millis(timeout)));
    }
    options
        .sqlx_logging(false)
        .max_connections(16)
        .min_connections(1)
        .connect_timeout(ACQUIRE_TIMEOUT)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        // A SQLite connection is a file handle in this process: nothing
        // restarts under it, so it is not pinged before each use.
        .test_before_acquire(!is_sqlite(url))
        .map_sqlx_sqlite_opts(move |o| {
            o.create_if_missing(true)
                .journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(lock_timeout)
        })
        .map_sqlx_postgres_opts(move |o| o.options(pg_settings.iter().cloned()));
    options
}

fn is_sqlite(url: &str) -> bool {
    url.starts_with("sqlite:")
}

/// Longest a call waits for a pooled connection, including reconnecting to
/// a database that refuses connections (it may be restarting). Short, so
/// that an outage is reported as UNAVAILABLE rather than as the caller's
/// deadline; sqlx retries refused connects every `ACQUIRE_TIMEOUT / 5` at
/// most, so a waiting call notices the database's return within 400 ms.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

/// A PostgreSQL duration setting in milliseconds (0 would mean "none").
fn millis(duration: Duration) -> String {
    duration.as_millis().max(1).to_string()
}

/// Key of the PostgreSQL advisory lock that serializes migrations.
const MIGRATION_LOCK: i64 = 0x504c_4558_4d49_4731; // "PLEXMIG1"

/// Applies every pending migration. On PostgreSQL, replicas that start
/// together take turns: the migrations run in one transaction holding an
/// advisory lock (DDL is transactional there), so the first applies them
/// and the others, once it committed, find nothing left to do. The wait is
/// not bounded by the lock timeout: a migration may take longer.
pub async fn migrate(db: &Db) -> Result<(), StoreError> {
    let db = &db.0;
    if db.get_database_backend() != DatabaseBackend::Postgres {
        return Ok(Migrator::up(db, None).await?);
    }
    let txn = db.begin().await?;
    txn.execute_unprepared("SET LOCAL lock_timeout = 0").await?;
    txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"))
        .await?;
    Migrator::up(&txn, None).await?;
    Ok(txn.commit().await?)
}

/// Round trip to the database, for health checks.
pub async fn ping(db: &Db) -> Result<(), StoreError> {
    let db = &db.0;
    db.execute_unprepared("SELECT 1").await?;
    Ok(())
}

/// A connection failure for people to read: the database kind and the
/// driver's reason, with the URL's password (if any) masked.
pub fn describe_connect_error(url: &str, err: &StoreError) -> String {
    let kind = if is_sqlite(url) {
        "SQLite"
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        "PostgreSQL"
    } else {
        "configured"
    };
    let mut reason = err.to_string();
    if let Some(password) = url_password(url) {
        reason = reason.replace(password, "***");
    }
    format!("cannot connect to the {kind} database: {reason}")
}

/// The password part of `scheme://user:password@host/...`.
fn url_password(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let userinfo = rest.split_once('@')?.0;
    let password = userinfo.split_once(':')?.1;
    (!password.is_empty()).then_some(password)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sqlite_files_run_in_wal_mode_flushing_at_checkpoints() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("plex.db").display());
        let db = connect(&url).await.expect("connect");
        let pragma = async |name: &str| {
            db.0.query_one_raw(sea_orm::Statement::from_string(
                DatabaseBackend::Sqlite,
                format!("PRAGMA {name}"),
            ))
            .await
            .expect("pragma")
            .expect("a row")
        };
        let journal: String = pragma("journal_mode")
            .await
            .try_get_by_index(0)
            .expect("mode");
        assert_eq!(journal, "wal");
        let synchronous: i64 = pragma("synchronous")
            .await
            .try_get_by_index(0)
            .expect("level");
        // 1 is NORMAL; FULL (2) would flush the disk at every commit.
        assert_eq!(synchronous, 1);
    }

    #[test]
    fn connect_errors_mask_the_password() {
        let url = "postgres://app:s3cr3t@db.internal/plex";
        let err = StoreError::from(sea_orm::DbErr::Conn(sea_orm::RuntimeErr::Internal(
            format!("failed for {url}"),
        )));
        let text = describe_connect_error(url, &err);
        assert!(!text.contains("s3cr3t"), "{text}");
        assert!(text.starts_with("cannot connect to the PostgreSQL database"));
    }

    #[test]
    fn urls_without_password_have_none() {
        assert_eq!(url_password("sqlite://plex-sources.db"), None);
        assert_eq!(url_password("postgres://app@host/db"), None);
        assert_eq!(url_password("postgres://app:pw@host/db"), Some("pw"));
    }
}
