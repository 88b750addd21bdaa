//! The server under test and one method per RPC, so that tests read like
//! calls to the API.

use std::{net::SocketAddr, time::Duration};

use plex_source_service::store::Db;
use plex_source_service::{
    app::{Application, ServerSettings},
    audit::AuditTrail,
    domain::access::Permission,
    feed::ChangeFeed,
    proto::plex_source_service_client::PlexSourceServiceClient,
    store::{
        self, Match,
        access::{self, Principal},
    },
};
use tokio::{sync::oneshot, task::JoinHandle};
use tonic::{Status, Streaming, transport::Channel};

use super::{Backend, TestDb, create_caller, import_yaml, pb};

/// What a call presents in its `authorization` header. A key is sent as
/// `Bearer <key>`; `&str` and `&String` convert to a key, so most calls
/// just pass one.
#[derive(Debug, Clone, Copy)]
pub enum Caller<'a> {
    Key(&'a str),
    /// The header's value exactly as given, for malformed credentials.
    Header(&'a str),
    /// No `authorization` header at all.
    Anonymous,
}

impl<'a> From<&'a str> for Caller<'a> {
    fn from(key: &'a str) -> Self {
        Caller::Key(key)
    }
}

impl<'a> From<&'a String> for Caller<'a> {
    fn from(key: &'a String) -> Self {
        Caller::Key(key)
    }
}

/// `message` as `caller` sends it, for clients other than [`TestApp`]'s.
pub fn request_as<'k, T>(caller: impl Into<Caller<'k>>, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    let value = match caller.into() {
        Caller::Key(key) => format!("Bearer {key}"),
        Caller::Header(value) => value.to_owned(),
        Caller::Anonymous => return request,
    };
    request.metadata_mut().insert(
        "authorization",
        value.parse().expect("ascii authorization header"),
    );
    request
}

/// A running server with its own database.
pub struct TestApp {
    pub addr: SocketAddr,
    /// The database the server runs on.
    pub backend: Backend,
    /// The admin listener: `/metrics` and plaintext health.
    pub admin_addr: Option<SocketAddr>,
    /// Key of a superuser's token (see [`TestApp::admin`]).
    pub admin_key: String,
    /// The test's own connection, for what the CLI would do.
    pub db: Db,
    pub channel: Channel,
    /// The server's change feed (see [`TestApp::settle`]).
    pub feed: ChangeFeed,
    /// The server's audit trail (flush it before reading `audit_events`).
    pub audit: AuditTrail,
    /// The server's read cache, for its figures.
    pub cache: std::sync::Arc<plex_source_service::cache::ReadCache>,
    /// Database reads made for single watch streams.
    pub watch_work: std::sync::Arc<plex_source_service::ops::WatchWork>,
    /// For requests the RPC methods below do not make.
    pub client: PlexSourceServiceClient<Channel>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
    /// Kept so the database outlives the server.
    test_db: TestDb,
}

pub fn test_settings() -> ServerSettings {
    ServerSettings {
        listen: "127.0.0.1:0".parse().expect("address"),
        admin_listen: Some("127.0.0.1:0".parse().expect("address")),
        shutdown_delay: Duration::ZERO,
        shutdown_grace_period: Duration::from_secs(2),
        health_check_interval: Duration::from_millis(100),
        change_poll_interval: Duration::from_millis(100),
        change_retention: Duration::from_secs(3600),
        cache_max_bytes: plex_source_service::cache::DEFAULT_MAX_BYTES,
        lock_timeout: plex_source_service::store::DEFAULT_LOCK_TIMEOUT,
        streams: plex_source_service::app::StreamLimits::default(),
        request_timeout: Duration::from_secs(30),
        tls: None,
        panic_hook: false,
    }
}

/// A server on a fresh migrated database; `None` when the backend is not
/// available locally (never under CI).
pub async fn spawn_app(backend: Backend) -> Option<TestApp> {
    let test_db = TestDb::migrated(backend).await?;
    let url = test_db.url.clone();
    Some(spawn_app_on(test_db, &url, test_settings()).await)
}

/// A server on a fresh migrated database with `settings`.
pub async fn spawn_app_with(backend: Backend, settings: ServerSettings) -> Option<TestApp> {
    let test_db = TestDb::migrated(backend).await?;
    let url = test_db.url.clone();
    Some(spawn_app_on(test_db, &url, settings).await)
}

/// A server reaching its database through `server_url` (which may differ
/// from the test's own URL, e.g. through a proxy the test controls).
pub async fn spawn_app_on(test_db: TestDb, server_url: &str, settings: ServerSettings) -> TestApp {
    serve(test_db, server_url, settings, None).await
}

/// Starts the real server on `server_url`; the test's own connection goes
/// to `test_db`. Creates the superuser unless its key is given (a replica
/// shares the first server's).
async fn serve(
    test_db: TestDb,
    server_url: &str,
    settings: ServerSettings,
    admin_key: Option<String>,
) -> TestApp {
    // As `serve` connects: statements end with the calls that wait for them.
    let server_db = store::connect_bounded(
        server_url,
        store::DEFAULT_LOCK_TIMEOUT,
        Some(settings.request_timeout),
    )
    .await
    .expect("server connects");
    let tls = settings.tls.is_some();
    let app = Application::build(server_db, settings).await.expect("bind");
    let addr = app.local_addr().expect("local addr");
    let admin_addr = app.admin_addr();
    let mut started = app.started();
    let feed = app.feed();
    let audit = app.audit();
    let cache = app.cache();
    let watch_work = app.watch_work();
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async {
        let _ = rx.await;
    }));
    // Calls are refused until the server has reached its database.
    tokio::time::timeout(
        Duration::from_secs(30),
        started.wait_for(|started| *started),
    )
    .await
    .expect("server starts within 30 s")
    .expect("server runs");
    let endpoint = Channel::from_shared(format!("http://{addr}")).expect("uri");
    // A TLS server's tests connect with clients of their own (`tls.rs`).
    let channel = if tls {
        endpoint.connect_lazy()
    } else {
        endpoint.connect().await.expect("client connects")
    };
    let db = test_db.connect().await;
    let admin_key = match admin_key {
        Some(key) => key,
        None => create_caller(&db, "test-admin", true).await,
    };
    let backend = if test_db.url.starts_with("sqlite") {
        Backend::Sqlite
    } else {
        Backend::Postgres
    };
    TestApp {
        addr,
        backend,
        admin_addr,
        admin_key,
        db,
        client: PlexSourceServiceClient::new(channel.clone()),
        channel,
        feed,
        audit,
        cache,
        watch_work,
        shutdown: Some(tx),
        server: Some(server),
        test_db,
    }
}

/// The RPCs, as `caller`.
impl TestApp {
    /// The URL of the server's database.
    pub fn database_url(&self) -> &str {
        &self.test_db.url
    }

    /// The superuser every app starts with.
    pub fn admin(&self) -> Caller<'_> {
        Caller::Key(&self.admin_key)
    }

    pub async fn retrieve<'k>(
        &self,
        caller: impl Into<Caller<'k>>,
        slug: &str,
    ) -> Result<pb::PlexSource, Status> {
        let request = pb::RetrievePlexSourceRequest {
            slug: slug.to_owned(),
        };
        self.client
            .clone()
            .retrieve_plex_source(request_as(caller, request))
            .await
            .map(tonic::Response::into_inner)
    }

    pub async fn list<'k>(
        &self,
        caller: impl Into<Caller<'k>>,
        request: pb::ListPlexSourcesRequest,
    ) -> Result<pb::ListPlexSourcesResponse, Status> {
        self.client
            .clone()
            .list_plex_sources(request_as(caller, request))
            .await
            .map(tonic::Response::into_inner)
    }

    pub async fn create<'k>(
        &self,
        caller: impl Into<Caller<'k>>,
        source: pb::PlexSource,
    ) -> Result<pb::PlexSource, Status> {
        let request = pb::CreatePlexSourceRequest {
            plex_source: Some(source),
        };
        self.client
            .clone()
            .create_plex_source(request_as(caller, request))
            .await
            .map(tonic::Response::into_inner)
    }

    /// See [`patch`] and [`put`] for the request.
    pub async fn update<'k>(
        &self,
        caller: impl Into<Caller<'k>>,
        request: pb::UpdatePlexSourceRequest,
    ) -> Result<pb::PlexSource, Status> {
        self.client
            .clone()
            .update_plex_source(request_as(caller, request))
            .await
            .map(tonic::Response::into_inner)
    }

    pub async fn delete<'k>(
        &self,
        caller: impl Into<Caller<'k>>,
        slug: &str,
    ) -> Result<(), Status> {
        let request = pb::DeletePlexSourceRequest {
            slug: slug.to_owned(),
        };
        self.client
            .clone()
            .delete_plex_source(request_as(caller, request))
            .await
            .map(|_| ())
    }

    pub async fn watch<'k>(
        &self,
        caller: impl Into<Caller<'k>>,
        request: pb::WatchPlexSourcesRequest,
    ) -> Result<Streaming<pb::WatchPlexSourcesResponse>, Status> {
        self.client
            .clone()
            .watch_plex_sources(request_as(caller, request))
            .await
            .map(tonic::Response::into_inner)
    }
}

/// Users, tokens and grants, written through the store as the CLI does.
impl TestApp {
    /// A user holding `grants` (permission, and the slug it applies to or
    /// `None` for every source), with one token named `<username>-token`;
    /// returns its key once the server has noticed the grants.
    pub async fn caller(&self, username: &str, grants: &[(Permission, Option<&str>)]) -> String {
        let key = create_caller(&self.db, username, false).await;
        for (permission, slug) in grants {
            self.grant(*permission, username, *slug).await;
        }
        key
    }

    /// A superuser with one token named `<username>-token`; returns its key.
    pub async fn superuser(&self, username: &str) -> String {
        create_caller(&self.db, username, true).await
    }

    /// Grants to a user, then waits until the server has noticed: tests
    /// grant to set a scene, not to time it.
    pub async fn grant(&self, permission: Permission, username: &str, slug: Option<&str>) {
        access::grant(
            &self.db,
            permission,
            &Principal::User(username.into()),
            slug,
        )
        .await
        .expect("grant");
        self.settle().await;
    }

    /// Withdraws a user's grant and returns at once: how soon servers
    /// notice is what tests of revocation check (see [`within`]).
    pub async fn revoke(&self, permission: Permission, username: &str, slug: Option<&str>) {
        access::revoke(
            &self.db,
            permission,
            &Principal::User(username.into()),
            slug,
        )
        .await
        .expect("revoke");
    }

    /// A role holding `grants`, assigned to `members`; returns once the
    /// server has noticed.
    pub async fn role(&self, name: &str, grants: &[(Permission, Option<&str>)], members: &[&str]) {
        access::create_role(&self.db, name).await.expect("role");
        for (permission, slug) in grants {
            access::grant(&self.db, *permission, &Principal::Role(name.into()), *slug)
                .await
                .expect("role grant");
        }
        for member in members {
            access::assign_role(&self.db, name, member)
                .await
                .expect("assign role");
        }
        self.settle().await;
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

    /// Primary key of the flow with this slug, as the API shows it.
    pub async fn flow_pk(&self, slug: &str) -> String {
        let lookup = Match {
            slug: Some(slug.into()),
            ..Match::default()
        };
        store::flows::find(&self.db, &lookup).await.expect("flow")[0]
            .pk
            .to_string()
    }

    /// Primary key of the property mapping with this name, as the API
    /// shows it.
    pub async fn mapping_pk(&self, name: &str) -> String {
        let lookup = Match {
            name: Some(name.into()),
            ..Match::default()
        };
        store::mappings::find(&self.db, &lookup)
            .await
            .expect("mapping")[0]
            .pk
            .to_string()
    }

    /// A second server on the same database (another replica), sharing
    /// the superuser.
    pub async fn replica(&self) -> TestApp {
        let url = &self.test_db.url;
        serve(
            TestDb::shared(url),
            url,
            test_settings(),
            Some(self.admin_key.clone()),
        )
        .await
    }

    /// Signals shutdown; returns the server task to await.
    pub fn begin_shutdown(&mut self) -> Option<JoinHandle<anyhow::Result<()>>> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.server.take()
    }
}
