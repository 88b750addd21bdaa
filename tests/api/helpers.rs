//! Test harness: a fresh, migrated database per test (SQLite file or a new
//! PostgreSQL database), the real server on 127.0.0.1:0 and a typed client.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use plex_source_service::{
    app::{Application, ServerSettings},
    feed::ChangeFeed,
    proto::plex_source_service_client::PlexSourceServiceClient,
    store,
};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use tokio::{sync::oneshot, task::JoinHandle};
use tonic::transport::Channel;

pub use plex_source_service::proto as pb;

/// Server that tests start when they don't need anything special.
pub const ADMIN_URL_ENV: &str = "TEST_POSTGRES_URL";
const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

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
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
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

    /// A handle on a database another test value owns (never dropped here).
    fn shared(url: &str) -> TestDb {
        TestDb {
            url: url.to_owned(),
            _dir: None,
            pg_name: None,
        }
    }

    pub async fn connect(&self) -> DatabaseConnection {
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
                        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                    admin.close().await.ok();
                }
            });
        })
        .join();
    }
}

/// A running server with its own database.
pub struct TestApp {
    pub addr: SocketAddr,
    /// Key of a superuser's token, used by [`TestApp::retrieve`].
    pub admin_key: String,
    pub db: DatabaseConnection,
    pub client: PlexSourceServiceClient<Channel>,
    pub channel: Channel,
    /// The server's change feed (see [`TestApp::settle`]).
    pub feed: ChangeFeed,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
    /// Kept so the database outlives the server.
    _test_db: TestDb,
}

pub fn test_settings() -> ServerSettings {
    ServerSettings {
        listen: "127.0.0.1:0".parse().expect("address"),
        shutdown_grace_period: Duration::from_secs(2),
        health_check_interval: Duration::from_millis(100),
        change_poll_interval: Duration::from_millis(100),
        change_retention: Duration::from_secs(3600),
    }
}

/// A server on a fresh migrated database; `None` when the backend is not
/// available locally (never under CI).
pub async fn spawn_app(backend: Backend) -> Option<TestApp> {
    let test_db = TestDb::empty(backend).await?;
    let db = test_db.connect().await;
    store::migrate(&db).await.expect("migrations apply");
    let url = test_db.url.clone();
    Some(spawn_app_on(test_db, &url, test_settings()).await)
}

/// A server reaching its database through `server_url` (which may differ
/// from the test's own URL, e.g. through a proxy the test controls).
pub async fn spawn_app_on(test_db: TestDb, server_url: &str, settings: ServerSettings) -> TestApp {
    let server_db = store::connect(server_url).await.expect("server connects");
    let app = Application::build(server_db, settings).await.expect("bind");
    let addr = app.local_addr().expect("local addr");
    let feed = app.feed();
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async {
        let _ = rx.await;
    }));
    let channel = Channel::from_shared(format!("http://{addr}"))
        .expect("uri")
        .connect()
        .await
        .expect("client connects");
    let db = test_db.connect().await;
    let admin_key = create_caller(&db, "test-admin", true).await;
    TestApp {
        addr,
        admin_key,
        db,
        client: PlexSourceServiceClient::new(channel.clone()),
        channel,
        feed,
        shutdown: Some(tx),
        server: Some(server),
        _test_db: test_db,
    }
}

impl TestApp {
    /// Imports a blueprint given as YAML text through the real importer,
    /// then waits until the server has noticed (as the CLI's imports are
    /// noticed by every replica).
    pub async fn import(
        &self,
        yaml: &str,
    ) -> Result<
        plex_source_service::blueprint::ImportReport,
        plex_source_service::blueprint::ImportError,
    > {
        let report = import_yaml(&self.db, yaml).await;
        self.settle().await;
        report
    }

    /// Waits until the server reflects every change committed so far,
    /// however it was made (direct store calls in tests, like the CLI).
    pub async fn settle(&self) {
        tokio::time::timeout(Duration::from_secs(10), self.feed.settle())
            .await
            .expect("the server polls the database");
    }

    /// A request carrying `authorization: Bearer <key>`.
    pub fn authed<T>(&self, key: &str, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.metadata_mut().insert(
            "authorization",
            format!("Bearer {key}").parse().expect("ascii key"),
        );
        request
    }

    /// A request as the test superuser.
    pub fn admin<T>(&self, message: T) -> tonic::Request<T> {
        self.authed(&self.admin_key, message)
    }

    /// A second server on the same database (another replica).
    pub async fn replica(&self) -> TestApp {
        let settings = test_settings();
        let server_db = store::connect(&self._test_db.url)
            .await
            .expect("replica connects");
        let app = Application::build(server_db, settings).await.expect("bind");
        let addr = app.local_addr().expect("local addr");
        let feed = app.feed();
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until_stopped(async {
            let _ = rx.await;
        }));
        let channel = Channel::from_shared(format!("http://{addr}"))
            .expect("uri")
            .connect()
            .await
            .expect("client connects");
        TestApp {
            addr,
            admin_key: self.admin_key.clone(),
            db: self._test_db.connect().await,
            client: PlexSourceServiceClient::new(channel.clone()),
            channel,
            feed,
            shutdown: Some(tx),
            server: Some(server),
            _test_db: TestDb::shared(&self._test_db.url),
        }
    }

    /// RetrievePlexSource as a superuser.
    pub async fn retrieve(&self, slug: &str) -> Result<pb::PlexSource, tonic::Status> {
        self.retrieve_as(Some(&format!("Bearer {}", self.admin_key)), slug)
            .await
    }

    /// RetrievePlexSource with this `authorization` value (or none).
    pub async fn retrieve_as(
        &self,
        authorization: Option<&str>,
        slug: &str,
    ) -> Result<pb::PlexSource, tonic::Status> {
        let mut request = tonic::Request::new(pb::RetrievePlexSourceRequest {
            slug: slug.to_owned(),
        });
        if let Some(value) = authorization {
            request
                .metadata_mut()
                .insert("authorization", value.parse().expect("ascii header"));
        }
        self.client
            .clone()
            .retrieve_plex_source(request)
            .await
            .map(tonic::Response::into_inner)
    }

    /// Signals shutdown; returns the server task to await.
    pub fn begin_shutdown(&mut self) -> Option<JoinHandle<anyhow::Result<()>>> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.server.take()
    }
}

/// Writes `yaml` to a temporary file and imports it.
pub async fn import_yaml(
    db: &DatabaseConnection,
    yaml: &str,
) -> Result<plex_source_service::blueprint::ImportReport, plex_source_service::blueprint::ImportError>
{
    let dir = tempfile::tempdir().expect("temp dir");
    let path: PathBuf = dir.path().join("blueprint.yaml");
    std::fs::write(&path, yaml).expect("write blueprint");
    plex_source_service::blueprint::import_file(db, &path).await
}

/// Runs each listed `async fn name(backend: Backend)` on SQLite and on
/// PostgreSQL, as `sqlite::name` and `postgres::name`.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Postgres).await
                }
            )*
        }
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

/// Creates a user with one token and returns the token's key.
pub async fn create_caller(db: &DatabaseConnection, username: &str, superuser: bool) -> String {
    use plex_source_service::{domain::access::TokenKey, store::access};
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
