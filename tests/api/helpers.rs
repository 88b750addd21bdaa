//! Test harness: a fresh, migrated database per test (SQLite file or a new
//! PostgreSQL database), the real server on 127.0.0.1:0 and one method per
//! RPC on [`TestApp`], so that tests read like calls to the API.

use std::{
    io::{BufRead, BufReader, Read},
    path::PathBuf,
    sync::mpsc,
    time::Duration,
};

use plex_source_service::store::Db;
use plex_source_service::{
    domain::access::TokenKey,
    store::{self, access},
};

pub use plex_source_service::proto as pb;

mod app;
mod requests;

pub use app::*;
pub use requests::*;

/// Server that tests start when they don't need anything special.
pub const ADMIN_URL_ENV: &str = "TEST_POSTGRES_URL";
const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// How soon a change made elsewhere (another replica, the CLI) must reach
/// every server (docs/operations.md, "Caching and how fast changes apply");
/// tests measure against it rather than settling.
pub const REPLICA_BOUND: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// True under CI, where nothing may be skipped.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Skips (returns None) locally, fails under `CI=true`.
pub fn skip(reason: &str) {
    if in_ci() {
        panic!("CI=true: cannot skip: {reason}");
    }
    eprintln!("skipped: {reason}");
}

/// The PostgreSQL server tests create their databases on.
pub fn admin_url() -> String {
    std::env::var(ADMIN_URL_ENV).unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned())
}

/// `postgres://user@host:port/` part of a URL, without the database name.
fn server_part(url: &str) -> &str {
    match url.rfind('/') {
        Some(i) if i > "postgres://".len() => &url[..=i],
        _ => url,
    }
}

/// A database that exists for one test and is removed after it.
pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg_name: Option<String>,
}

impl TestDb {
    /// An empty database; `None` when PostgreSQL is unreachable locally.
    pub async fn empty(backend: Backend) -> Option<TestDb> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("plex.db").display());
                Some(TestDb {
                    url,
                    _dir: Some(dir),
                    pg_name: None,
                })
            }
            Backend::Postgres => {
                let admin = match store::connect(&admin_url()).await {
                    Ok(db) => db,
                    Err(err) => {
                        skip(&format!("PostgreSQL unreachable at {ADMIN_URL_ENV}: {err}"));
                        return None;
                    }
                };
                let name = format!("pss_test_{}", uuid::Uuid::new_v4().simple());
                admin
                    .execute(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create test database");
                admin.close().await.ok();
                Some(TestDb {
                    url: format!("{}{}", server_part(&admin_url()), name),
                    _dir: None,
                    pg_name: Some(name),
                })
            }
        }
    }

    /// An empty database with every migration applied.
    pub async fn migrated(backend: Backend) -> Option<TestDb> {
        let test_db = TestDb::empty(backend).await?;
        let db = test_db.connect().await;
        store::migrate(&db).await.expect("migrations apply");
        db.close().await.ok();
        Some(test_db)
    }

    /// A handle on a database another test value owns (never dropped here).
    fn shared(url: &str) -> TestDb {
        TestDb {
            url: url.to_owned(),
            _dir: None,
            pg_name: None,
        }
    }

    pub async fn connect(&self) -> Db {
        store::connect(&self.url)
            .await
            .expect("connect to test database")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else {
            return;
        };
        // Dropping runs outside any async context: use a thread of its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                if let Ok(admin) = store::connect(&admin_url()).await {
                    let _ = admin
                        .execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                    admin.close().await.ok();
                }
            });
        })
        .join();
    }
}

/// Writes `yaml` to a temporary file and imports it.
pub async fn import_yaml(
    db: &Db,
    yaml: &str,
) -> Result<plex_source_service::blueprint::ImportReport, plex_source_service::blueprint::ImportError>
{
    let dir = tempfile::tempdir().expect("temp dir");
    let path: PathBuf = dir.path().join("blueprint.yaml");
    std::fs::write(&path, yaml).expect("write blueprint");
    plex_source_service::blueprint::import_file(db, &path).await
}

/// The example blueprint shipped with the service.
pub fn example_blueprint() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/plex-login.yaml")
}

/// Runs each listed `async fn name(backend: Backend)` on SQLite and on
/// PostgreSQL, as `sqlite::name` and `postgres::name`.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        $crate::backend_tests!(@both [$($name),*] []);
    };
    (apps: [$($app:ident),* $(,)?] $(, backends: [$($name:ident),* $(,)?])? $(,)?) => {
        $crate::backend_tests!(@both [$($($name),*)?] [$($app),*]);
    };
    (@both [$($name:ident),*] [$($app:ident),*]) => {
        mod sqlite {
            $crate::backend_tests!(@one Sqlite [$($name),*] [$($app),*]);
        }
        mod postgres {
            $crate::backend_tests!(@one Postgres [$($name),*] [$($app),*]);
        }
    };
    (@one $backend:ident [$($name:ident),*] [$($app:ident),*]) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name($crate::helpers::Backend::$backend).await
            }
        )*
        $(
            /// On a fresh server of its own (skipped locally when the
            /// backend is missing, never under CI).
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $app() {
                if let Some(app) =
                    $crate::helpers::spawn_app($crate::helpers::Backend::$backend).await
                {
                    super::$app(app).await
                }
            }
        )*
    };
}

/// Path of an external client, or `None` (and a skip) when it is missing.
pub fn tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join(name);
        if candidate.is_file() {
            return Some(candidate);
        }
    }
    skip(&format!("{name} is not installed (see .ci/run)"));
    None
}

/// The lines of a child's output, read on a thread so that a test can
/// wait for one with a deadline (`recv_timeout`).
pub fn lines(output: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(output).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Reads `lines` until one satisfies `found` and returns it; every line
/// read is kept in `seen`. Fails when none does within `patience`, or when
/// the output ends first.
pub fn read_until(
    lines: &mpsc::Receiver<String>,
    seen: &mut Vec<String>,
    patience: Duration,
    found: impl Fn(&str) -> bool,
) -> String {
    let deadline = std::time::Instant::now() + patience;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let line = lines.recv_timeout(left).unwrap_or_else(|err| {
            panic!(
                "expected line not read within {patience:?} ({err}):\n{}",
                seen.join("\n")
            )
        });
        seen.push(line.clone());
        if found(&line) {
            return line;
        }
    }
}

/// Creates a user with one token and returns the token's key.
pub async fn create_caller(db: &Db, username: &str, superuser: bool) -> String {
    access::create_user(db, username, superuser)
        .await
        .expect("create user");
    let key = TokenKey::generate();
    access::create_token(
        db,
        &format!("{username}-token"),
        username,
        key.hash(),
        None,
        "test",
    )
    .await
    .expect("create token");
    key.expose().to_owned()
}

/// Retries `check` until it holds, failing if that takes longer than
/// `bound`; returns how long it took. For changes that reach a server
/// through its poll (other replicas, the CLI), whose contract is a bound,
/// not "the next call".
pub async fn within<F, Fut>(bound: Duration, what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = std::time::Instant::now();
    loop {
        if check().await {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < bound,
            "{what}: not observed within {bound:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
