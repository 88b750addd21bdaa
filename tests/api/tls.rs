//! TLS and mutual TLS on the gRPC port, with real clients over real
//! sockets and certificates made here: a CA, a server certificate for
//! `localhost` and 127.0.0.1, client certificates. On SQLite only: TLS
//! does not depend on the database.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use hyper_util::rt::TokioIo;
use plex_source_service::app::{ServerSettings, TlsFiles};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use tokio::{io::AsyncReadExt, net::TcpStream};
use tokio_rustls::{
    TlsConnector,
    rustls::{
        self, AlertDescription, ClientConfig, RootCertStore,
        pki_types::{CertificateDer, PrivatePkcs8KeyDer, ServerName},
    },
};
use tonic::transport::{Channel, Endpoint, Uri};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::helpers::{
    Backend, TestApp, TestDb,
    pb::{self, plex_source_service_client::PlexSourceServiceClient},
    request_as, spawn_app_on, test_settings, within,
};

/// How often the server re-reads its files in these tests.
const RELOAD: Duration = Duration::from_millis(50);
/// Longest any one exchange may take here: well under the server's 10 s
/// handshake timeout, so a client held up by another's handshake fails.
const PATIENCE: Duration = Duration::from_secs(5);

/// A certificate authority.
struct Ca(CertifiedIssuer<'static, KeyPair>);

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("CA key");
        Ca(CertifiedIssuer::self_signed(params, key).expect("CA certificate"))
    }

    fn pem(&self) -> String {
        self.0.pem()
    }

    /// A certificate for `localhost` and 127.0.0.1 named `name`, for a
    /// server or a client, with a key of its own.
    fn issue(&self, name: &str, usage: ExtendedKeyUsagePurpose) -> Leaf {
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .expect("leaf params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().expect("leaf key");
        let cert = params.signed_by(&key, &self.0).expect("leaf certificate");
        Leaf { cert, key }
    }

    fn server(&self, name: &str) -> Leaf {
        self.issue(name, ExtendedKeyUsagePurpose::ServerAuth)
    }

    fn client(&self, name: &str) -> Leaf {
        self.issue(name, ExtendedKeyUsagePurpose::ClientAuth)
    }
}

/// A certificate and its key.
struct Leaf {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Leaf {
    fn der(&self) -> CertificateDer<'static> {
        self.cert.der().clone()
    }
}

/// The server's PEM files, in a directory of their own.
struct Files(tempfile::TempDir);

impl Files {
    fn new() -> Files {
        Files(tempfile::tempdir().expect("temp dir"))
    }

    fn cert(&self) -> PathBuf {
        self.0.path().join("tls.crt")
    }

    fn key(&self) -> PathBuf {
        self.0.path().join("tls.key")
    }

    fn client_ca(&self) -> PathBuf {
        self.0.path().join("ca.crt")
    }

    fn serve(&self, leaf: &Leaf) {
        replace(&self.cert(), &leaf.cert.pem());
        replace(&self.key(), &leaf.key.serialize_pem());
    }

    fn settings(&self, mutual: bool) -> ServerSettings {
        ServerSettings {
            tls: Some(TlsFiles {
                cert: self.cert(),
                key: self.key(),
                client_ca: mutual.then(|| self.client_ca()),
                reload_interval: RELOAD,
            }),
            ..test_settings()
        }
    }
}

/// Replaces a file the way a mounted Kubernetes secret changes: the new
/// contents under another name, renamed over the old.
fn replace(path: &Path, contents: &str) {
    let next = path.with_extension("next");
    std::fs::write(&next, contents).expect("write");
    std::fs::rename(&next, path).expect("rename");
}

/// A server serving TLS from `files`; mutual when `mutual`.
async fn serve_tls(files: &Files, mutual: bool) -> TestApp {
    let test_db = TestDb::migrated(Backend::Sqlite)
        .await
        .expect("SQLite is always there");
    let url = test_db.url.clone();
    spawn_app_on(test_db, &url, files.settings(mutual)).await
}

/// A client configuration trusting `ca`, presenting `identity` if any.
/// Every configuration has its own session cache: a new one never
/// resumes a session (which would skip the server's certificate).
fn client_config(ca: &Ca, identity: Option<&Leaf>) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(ca.0.der().clone()).expect("CA trusted");
    let builder =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(roots);
    let mut config = match identity {
        Some(leaf) => builder
            .with_client_auth_cert(
                vec![leaf.der()],
                PrivatePkcs8KeyDer::from(leaf.key.serialize_der()).into(),
            )
            .expect("client certificate"),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Arc::new(config)
}

fn localhost() -> ServerName<'static> {
    ServerName::try_from("localhost").expect("server name")
}

/// A gRPC channel to `addr` over TLS with `config`, connected; counts
/// the connections it opens in `opened`.
async fn tls_channel(
    addr: SocketAddr,
    config: Arc<ClientConfig>,
    opened: Arc<AtomicUsize>,
) -> Result<Channel, tonic::transport::Error> {
    let connector = TlsConnector::from(config);
    let connect = tower::service_fn(move |_: Uri| {
        let connector = connector.clone();
        let opened = opened.clone();
        async move {
            let tcp = TcpStream::connect(addr).await?;
            let tls = connector.connect(localhost(), tcp).await?;
            opened.fetch_add(1, Ordering::SeqCst);
            Ok::<_, std::io::Error>(TokioIo::new(tls))
        }
    });
    Endpoint::from_shared(format!("https://localhost:{}", addr.port()))
        .expect("uri")
        .connect_with_connector(connect)
        .await
}

/// The health of the whole server, asked over `channel`.
async fn health(channel: Channel) -> Result<ServingStatus, tonic::Status> {
    let response = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await?
        .into_inner();
    Ok(ServingStatus::try_from(response.status).unwrap_or(ServingStatus::Unknown))
}

/// Connects over TLS with `config` and asks for health: the status, or
/// why there was none. Fails the test when nothing is decided in time.
async fn ask(addr: SocketAddr, config: Arc<ClientConfig>) -> Result<ServingStatus, String> {
    let exchange = async {
        let channel = tls_channel(addr, config, Arc::default())
            .await
            .map_err(|err| format!("connect: {err:?}"))?;
        health(channel)
            .await
            .map_err(|status| format!("call: {status:?}"))
    };
    tokio::time::timeout(PATIENCE, exchange)
        .await
        .expect("an answer or a refusal in time")
}

/// The certificate the server presents to a new connection.
async fn served_certificate(addr: SocketAddr, ca: &Ca) -> CertificateDer<'static> {
    let handshake = async {
        let tcp = TcpStream::connect(addr).await.expect("connect");
        let tls = TlsConnector::from(client_config(ca, None))
            .connect(localhost(), tcp)
            .await
            .expect("handshake");
        let (_, session) = tls.get_ref();
        assert_eq!(session.alpn_protocol(), Some(&b"h2"[..]), "ALPN h2");
        session.peer_certificates().expect("a certificate")[0].clone()
    };
    tokio::time::timeout(PATIENCE, handshake)
        .await
        .expect("handshake in time")
}

/// The alert with which the server ends a connection made with `config`:
/// in TLS 1.3 a client certificate is judged after the client's side of
/// the handshake is done, so the refusal comes on the first read.
async fn refusal(addr: SocketAddr, config: Arc<ClientConfig>) -> AlertDescription {
    let exchange = async {
        let tcp = TcpStream::connect(addr).await.expect("connect");
        let mut tls = match TlsConnector::from(config).connect(localhost(), tcp).await {
            Ok(tls) => tls,
            Err(err) => return err,
        };
        let mut buf = [0u8; 64];
        loop {
            match tls.read(&mut buf).await {
                Ok(0) => panic!("closed without an alert"),
                // The server's HTTP/2 settings, if it accepted the client.
                Ok(_) => continue,
                Err(err) => return err,
            }
        }
    };
    let err = tokio::time::timeout(PATIENCE, exchange)
        .await
        .expect("refused in time");
    match err
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
    {
        Some(rustls::Error::AlertReceived(alert)) => *alert,
        _ => panic!("expected an alert from the server, got {err:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_trusting_the_ca_is_served_and_plaintext_is_refused() {
    let files = Files::new();
    let ca = Ca::new("server CA");
    files.serve(&ca.server("server"));
    let app = serve_tls(&files, false).await;
    app.import(
        r#"
version: 1
entries:
  - model: authentik_sources_plex.plexsource
    identifiers: {slug: over-tls}
    attrs: {name: Over TLS, plex_token: t0ken}
"#,
    )
    .await
    .expect("import");

    let channel = tls_channel(app.addr, client_config(&ca, None), Arc::default())
        .await
        .expect("TLS connection");
    let request = pb::RetrievePlexSourceRequest {
        slug: "over-tls".into(),
    };
    let source = PlexSourceServiceClient::new(channel.clone())
        .retrieve_plex_source(request_as(app.admin(), request))
        .await
        .expect("retrieve over TLS")
        .into_inner();
    assert_eq!(source.name, "Over TLS");
    assert_eq!(
        health(channel).await.expect("health"),
        ServingStatus::Serving
    );

    // A client that does not trust the CA refuses the server.
    let stranger = Ca::new("another CA");
    let err = ask(app.addr, client_config(&stranger, None))
        .await
        .expect_err("an untrusted server");
    assert!(err.contains("UnknownIssuer"), "{err}");

    // Plaintext gets no answer.
    let plaintext = async {
        let channel = Channel::from_shared(format!("http://{}", app.addr))
            .expect("uri")
            .connect()
            .await?;
        health(channel).await.map_err(Into::into)
    };
    let got: Result<_, Box<dyn std::error::Error + Send + Sync>> =
        tokio::time::timeout(PATIENCE, plaintext)
            .await
            .expect("refused in time");
    assert!(got.is_err(), "plaintext answered: {got:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_serves_only_clients_with_a_certificate_from_the_ca() {
    let files = Files::new();
    let server_ca = Ca::new("server CA");
    let client_ca = Ca::new("client CA");
    files.serve(&server_ca.server("server"));
    replace(&files.client_ca(), &client_ca.pem());
    let app = serve_tls(&files, true).await;

    let member = client_ca.client("member");
    assert_eq!(
        ask(app.addr, client_config(&server_ca, Some(&member))).await,
        Ok(ServingStatus::Serving)
    );

    // No certificate.
    let anonymous = client_config(&server_ca, None);
    assert!(ask(app.addr, anonymous.clone()).await.is_err());
    assert_eq!(
        refusal(app.addr, anonymous).await,
        AlertDescription::CertificateRequired
    );
    // A certificate from another CA, even the one of the server's own.
    for outsider in [
        Ca::new("another CA").client("outsider"),
        server_ca.client("server side"),
    ] {
        let config = client_config(&server_ca, Some(&outsider));
        assert!(ask(app.addr, config.clone()).await.is_err());
        assert_eq!(refusal(app.addr, config).await, AlertDescription::UnknownCA);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewed_certificate_reaches_new_connections_and_open_ones_go_on() {
    let files = Files::new();
    let ca = Ca::new("server CA");
    let first = ca.server("first");
    files.serve(&first);
    let app = serve_tls(&files, false).await;

    let opened = Arc::new(AtomicUsize::new(0));
    let before = tls_channel(app.addr, client_config(&ca, None), opened.clone())
        .await
        .expect("TLS connection");
    assert_eq!(
        health(before.clone()).await.expect("health"),
        ServingStatus::Serving
    );
    assert_eq!(served_certificate(app.addr, &ca).await, first.der());

    // Renewal with a new key. The certificate lands first: it does not
    // match the key in place, so the first certificate stays in use.
    let second = ca.server("second");
    replace(&files.cert(), &second.cert.pem());
    tokio::time::sleep(RELOAD * 4).await;
    assert_eq!(
        served_certificate(app.addr, &ca).await,
        first.der(),
        "a certificate without its key is never served"
    );
    // Then its key.
    replace(&files.key(), &second.key.serialize_pem());
    within(PATIENCE, "the renewed certificate is served", || async {
        served_certificate(app.addr, &ca).await == second.der()
    })
    .await;

    // The connection opened before goes on, as it was.
    assert_eq!(
        health(before).await.expect("health"),
        ServingStatus::Serving
    );
    assert_eq!(opened.load(Ordering::SeqCst), 1, "no reconnection");

    // A broken file is not taken either; the one after it is.
    replace(&files.cert(), "not a certificate");
    tokio::time::sleep(RELOAD * 4).await;
    assert_eq!(served_certificate(app.addr, &ca).await, second.der());
    let third = ca.server("third");
    files.serve(&third);
    within(PATIENCE, "the next certificate is served", || async {
        served_certificate(app.addr, &ca).await == third.der()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_client_ca_judges_new_connections() {
    let files = Files::new();
    let server_ca = Ca::new("server CA");
    let old_ca = Ca::new("old client CA");
    let new_ca = Ca::new("new client CA");
    files.serve(&server_ca.server("server"));
    replace(&files.client_ca(), &old_ca.pem());
    let app = serve_tls(&files, true).await;
    let old_client = client_config(&server_ca, Some(&old_ca.client("old")));
    let new_client = client_config(&server_ca, Some(&new_ca.client("new")));
    assert_eq!(
        ask(app.addr, old_client.clone()).await,
        Ok(ServingStatus::Serving)
    );
    assert!(ask(app.addr, new_client.clone()).await.is_err());

    replace(&files.client_ca(), &new_ca.pem());
    within(PATIENCE, "clients of the new CA are served", || async {
        ask(app.addr, new_client.clone()).await.is_ok()
    })
    .await;
    assert_eq!(
        refusal(app.addr, old_client).await,
        AlertDescription::UnknownCA
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handshake_that_never_ends_holds_up_no_one() {
    let files = Files::new();
    let ca = Ca::new("server CA");
    files.serve(&ca.server("server"));
    let app = serve_tls(&files, false).await;
    // Connections that never say hello, and one that stops halfway.
    let mut stalled = Vec::new();
    for _ in 0..3 {
        stalled.push(TcpStream::connect(app.addr).await.expect("connect"));
    }
    let mut halfway = TcpStream::connect(app.addr).await.expect("connect");
    tokio::io::AsyncWriteExt::write_all(&mut halfway, &[0x16, 0x03, 0x01, 0x02, 0x00])
        .await
        .expect("a record header");

    let started = Instant::now();
    assert_eq!(
        ask(app.addr, client_config(&ca, None)).await,
        Ok(ServingStatus::Serving)
    );
    assert!(started.elapsed() < PATIENCE, "{:?}", started.elapsed());
    drop((stalled, halfway));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_the_tls_listener() {
    let files = Files::new();
    let ca = Ca::new("server CA");
    files.serve(&ca.server("server"));
    let mut app = serve_tls(&files, false).await;
    assert_eq!(
        ask(app.addr, client_config(&ca, None)).await,
        Ok(ServingStatus::Serving)
    );
    let server = app.begin_shutdown().expect("a running server");
    tokio::time::timeout(PATIENCE, server)
        .await
        .expect("stopped in time")
        .expect("server task")
        .expect("clean stop");
    within(PATIENCE, "the port refuses connections", || async {
        TcpStream::connect(app.addr).await.is_err()
    })
    .await;
}

/// Runs `serve` with `args` on the SQLite file `dir/plex.db`: whether it
/// failed to start, and its stderr. Fails the test if it is still running after 20 s.
fn serve_binary(dir: &Path, args: &[&str]) -> (bool, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_plex-source-service"))
        .current_dir(dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(args)
        .env(
            "DATABASE_URL",
            format!("sqlite://{}", dir.join("plex.db").display()),
        )
        .env_remove("LISTEN_ADDR")
        .env("ADMIN_LISTEN", "127.0.0.1:0")
        .env_remove("TLS_CERT")
        .env_remove("TLS_KEY")
        .env_remove("TLS_CLIENT_CA")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the binary");
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            child.kill().ok();
            panic!("serve {args:?} is still running");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().expect("output");
    (
        !output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn bad_tls_settings_stop_serve_at_start_naming_the_file() {
    let files = Files::new();
    let dir = files.0.path();
    let ca = Ca::new("server CA");
    let leaf = ca.server("server");
    files.serve(&leaf);
    let cert = files.cert();
    let cert = cert.to_str().expect("utf-8 path");
    let key = files.key();
    let key = key.to_str().expect("utf-8 path");

    let (failed, stderr) = serve_binary(dir, &["--tls-cert", cert]);
    assert!(failed && stderr.contains("--tls-key"), "{stderr}");
    let (failed, stderr) = serve_binary(dir, &["--tls-client-ca", cert]);
    assert!(failed && stderr.contains("--tls-cert"), "{stderr}");

    let missing = dir.join("missing.crt");
    let missing = missing.to_str().expect("utf-8 path");
    let (failed, stderr) = serve_binary(dir, &["--tls-cert", missing, "--tls-key", key]);
    assert!(failed, "{stderr}");
    assert!(
        stderr.contains(&format!("TLS certificate {missing}: cannot read it")),
        "{stderr}"
    );

    // A key that is not the certificate's.
    let other = dir.join("other.key");
    std::fs::write(&other, ca.server("other").key.serialize_pem()).expect("write");
    let other = other.to_str().expect("utf-8 path");
    let (failed, stderr) = serve_binary(dir, &["--tls-cert", cert, "--tls-key", other]);
    assert!(failed, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "TLS key {other} does not belong to TLS certificate {cert}"
        )),
        "{stderr}"
    );

    let (failed, stderr) = serve_binary(
        dir,
        &["--tls-cert", cert, "--tls-key", key, "--tls-client-ca", key],
    );
    assert!(failed, "{stderr}");
    assert!(
        stderr.contains(&format!("TLS client CA {key}: no certificate in it")),
        "{stderr}"
    );
    assert!(
        !dir.join("plex.db").exists(),
        "bad TLS settings are refused before the database is opened"
    );
}
