//! Garbage on the port: HTTP/1.1 requests, random bytes, half-open HTTP/2
//! prefaces and slowloris clients, many of each at once. None of them stops
//! the server or starves a well-behaved client, while they are connected
//! or after they are gone.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use plex_source_service::proto::plex_source_service_client::PlexSourceServiceClient;
use rand::{Rng, SeedableRng, rngs::StdRng};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    sync::watch,
    task::JoinSet,
    time::{sleep, timeout},
};
use tonic::transport::Channel;

use crate::{
    backend_tests,
    helpers::{TestApp, pb, request_as},
};

const SOURCE: &str = "version: 1
entries:
  - model: authentik_sources_plex.plexsource
    identifiers: {slug: plex}
    attrs: {name: Plex, plex_token: owner-token}
";

/// What every HTTP/2 connection starts with.
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// An empty SETTINGS frame: the rest of a client's connection preface.
const SETTINGS: &[u8] = &[0, 0, 0, 4, 0, 0, 0, 0, 0];
/// A HEADERS frame header (stream 1, END_HEADERS) announcing 16 KiB of
/// header block, of which a slowloris client sends a byte at a time.
const HEADERS_16K: &[u8] = &[0, 0x40, 0, 1, 4, 0, 0, 0, 1];

/// Hostile connections of each kind held open at once.
const EACH: usize = 16;
/// Bound on any single wait in this file.
const WAIT: Duration = Duration::from_secs(10);

/// Reads until the server closes the connection (or resets it); fails if
/// it is still open after [`WAIT`]. Reads are bounded so a server that
/// keeps talking cannot keep the test forever.
async fn closed_by_server(stream: &mut TcpStream, what: &str) {
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + WAIT;
    for _ in 0..1024 {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return,
            Ok(Ok(_)) => continue,
            Err(_) => panic!("{what}: the server kept the connection open"),
        }
    }
    panic!("{what}: the server kept sending");
}

/// A gRPC call over plain HTTP/1.1 (the port takes HTTP/1.1 for REST only):
/// it is refused and the connection closed.
async fn http1(addr: SocketAddr, connected: Arc<AtomicUsize>) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let request = "POST /plexsource.v1.PlexSourceService/RetrievePlexSource HTTP/1.1\r\n\
                   Host: 127.0.0.1\r\nContent-Type: application/grpc\r\n\
                   Content-Length: 5\r\n\r\n\0\0\0\0\0";
    let _ = stream.write_all(request.as_bytes()).await;
    connected.fetch_add(1, Ordering::SeqCst);
    closed_by_server(&mut stream, "HTTP/1.1 request").await;
}

/// Random bytes, alone or after a valid preface (so they reach the frame
/// parser); the server drops the connection.
async fn random_bytes(addr: SocketAddr, seed: u64, connected: Arc<AtomicUsize>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut bytes = vec![0u8; 4096];
    rng.fill(&mut bytes[..]);
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    if seed % 2 == 1 {
        let _ = stream.write_all(PREFACE).await;
        let _ = stream.write_all(SETTINGS).await;
    } else if bytes.starts_with(b"P") {
        bytes[0] = b'X';
    }
    // The server may close before all is written; that is the point.
    let _ = stream.write_all(&bytes).await;
    connected.fetch_add(1, Ordering::SeqCst);
    closed_by_server(&mut stream, "random bytes").await;
}

/// The HTTP/2 preface, then nothing, kept open until `stop`.
async fn half_open_preface(
    addr: SocketAddr,
    connected: Arc<AtomicUsize>,
    mut stop: watch::Receiver<bool>,
) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(PREFACE).await.expect("preface");
    connected.fetch_add(1, Ordering::SeqCst);
    let _ = timeout(WAIT * 3, stop.wait_for(|s| *s)).await;
    drop(stream);
}

/// A request sent one byte at a time, slowly, kept open until `stop`
/// (or until the server gives up on it, which is fine too).
async fn slowloris(addr: SocketAddr, connected: Arc<AtomicUsize>, stop: watch::Receiver<bool>) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    connected.fetch_add(1, Ordering::SeqCst);
    let bytes = PREFACE
        .iter()
        .chain(SETTINGS)
        .chain(HEADERS_16K)
        .copied()
        .chain(std::iter::repeat_n(0, 16 * 1024));
    // At most 600 bytes: 30 s at 50 ms a byte, far beyond the test's needs.
    for byte in bytes.take(600) {
        if *stop.borrow() {
            return;
        }
        if stream.write_all(&[byte]).await.is_err() {
            return;
        }
        sleep(Duration::from_millis(50)).await;
    }
}

/// A fresh connection (so the accept loop is exercised too) that retrieves
/// the source; must answer OK within [`WAIT`].
async fn retrieve_ok(app: &TestApp, what: &str) {
    let call = async {
        let channel = Channel::from_shared(format!("http://{}", app.addr))
            .expect("uri")
            .connect()
            .await
            .expect("a well-behaved client connects");
        let request = pb::RetrievePlexSourceRequest {
            slug: "plex".to_owned(),
        };
        PlexSourceServiceClient::new(channel)
            .retrieve_plex_source(request_as(app.admin(), request))
            .await
    };
    let got = timeout(WAIT, call)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within {WAIT:?}"))
        .unwrap_or_else(|status| panic!("{what}: {status:?}"))
        .into_inner();
    assert_eq!(got.slug, "plex", "{what}");
    // And the long-lived connection of the harness still works.
    let got = timeout(WAIT, app.retrieve(app.admin(), "plex"))
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within {WAIT:?}"))
        .unwrap_or_else(|status| panic!("{what}: {status:?}"));
    assert_eq!(got.slug, "plex", "{what}");
}

async fn garbage_on_the_port_leaves_others_served(app: TestApp) {
    app.import(SOURCE).await.expect("import");
    retrieve_ok(&app, "before").await;

    let connected = Arc::new(AtomicUsize::new(0));
    let (stop_tx, stop) = watch::channel(false);
    let mut hostile = JoinSet::new();
    for i in 0..EACH {
        hostile.spawn(http1(app.addr, connected.clone()));
        hostile.spawn(random_bytes(app.addr, i as u64, connected.clone()));
        hostile.spawn(half_open_preface(app.addr, connected.clone(), stop.clone()));
        hostile.spawn(slowloris(app.addr, connected.clone(), stop.clone()));
    }
    // Every hostile client has connected and sent its first bytes.
    for _ in 0..200 {
        if connected.load(Ordering::SeqCst) == 4 * EACH {
            break;
        }
        sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(connected.load(Ordering::SeqCst), 4 * EACH);

    // While the half-open and slowloris clients are still connected.
    for round in 0..5 {
        retrieve_ok(&app, &format!("during, round {round}")).await;
        sleep(Duration::from_millis(200)).await;
    }

    stop_tx.send(true).expect("hostile clients listen");
    timeout(WAIT * 2, async {
        while let Some(joined) = hostile.join_next().await {
            joined.expect("hostile client task");
        }
    })
    .await
    .expect("hostile clients finish");

    retrieve_ok(&app, "after").await;
}

backend_tests!(
    apps: [
        garbage_on_the_port_leaves_others_served,
    ],
);
