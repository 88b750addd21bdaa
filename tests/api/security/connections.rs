//! Connections that never speak, too many connections, and connections
//! past their maximum age, over real sockets.

use std::time::Duration;

use plex_source_service::app::{ServerSettings, StreamLimits};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use tonic::Code;
use tonic_types::StatusExt;

use crate::{
    backend_tests,
    helpers::{Backend, new_source, pb, spawn_app_with, test_settings},
    metrics::{scrape, value},
};

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const SETTINGS: &[u8] = &[0, 0, 0, 4, 0, 0, 0, 0, 0];

fn limits(limits: StreamLimits) -> ServerSettings {
    ServerSettings {
        streams: limits,
        ..test_settings()
    }
}

/// How long the server took to close `stream` (reading whatever it sends
/// meanwhile); `None` if it was still open after `wait`.
async fn closed_within(stream: &mut TcpStream, wait: Duration) -> Option<Duration> {
    let started = tokio::time::Instant::now();
    let deadline = started + wait;
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => {}
            Err(_) => return None,
        }
    }
}

/// A connection that sends nothing, or trickles its first request head,
/// is closed at the header read timeout; one that sent its preface is not.
async fn silent_connections_are_closed(backend: Backend) {
    let settings = limits(StreamLimits {
        header_read_timeout: Duration::from_secs(1),
        ..StreamLimits::default()
    });
    let Some(app) = spawn_app_with(backend, settings).await else {
        return;
    };
    let mut silent = TcpStream::connect(app.addr).await.unwrap();
    let took = closed_within(&mut silent, Duration::from_secs(10)).await;
    assert!(
        took.is_some_and(|t| t >= Duration::from_millis(900)),
        "silent: {took:?}"
    );

    // The HTTP/2 preface, a byte every 200 ms: still incomplete at 1 s.
    let mut trickle = TcpStream::connect(app.addr).await.unwrap();
    let trickled = async {
        for byte in PREFACE {
            if trickle.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(10), trickled).await;
    let took = closed_within(&mut trickle, Duration::from_secs(5)).await;
    assert!(took.is_some(), "a trickled preface is closed");

    // An HTTP/1.1 head that never ends.
    let mut head = TcpStream::connect(app.addr).await.unwrap();
    head.write_all(b"GET /api/v3/sources/plex/ HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let took = closed_within(&mut head, Duration::from_secs(10)).await;
    assert!(took.is_some(), "an unfinished HTTP/1.1 head is closed");

    // A client that spoke in time keeps its connection.
    let mut spoke = TcpStream::connect(app.addr).await.unwrap();
    spoke.write_all(PREFACE).await.unwrap();
    spoke.write_all(SETTINGS).await.unwrap();
    let took = closed_within(&mut spoke, Duration::from_secs(3)).await;
    assert_eq!(took, None, "a connection past its preface stays open");
    app.retrieve(app.admin(), "missing")
        .await
        .expect_err("not found");
}

/// Past `--max-connections`, a new connection is closed as it is accepted
/// and counted; one freed lets the next in.
async fn connections_beyond_the_limit_are_refused_and_counted(backend: Backend) {
    // The harness's own client holds one connection.
    let settings = limits(StreamLimits {
        max_connections: 4,
        ..StreamLimits::default()
    });
    let Some(app) = spawn_app_with(backend, settings).await else {
        return;
    };
    app.create(app.admin(), new_source("plex"))
        .await
        .expect("create");
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut stream = TcpStream::connect(app.addr).await.unwrap();
        stream.write_all(PREFACE).await.unwrap();
        stream.write_all(SETTINGS).await.unwrap();
        held.push(stream);
    }
    // Give the server time to accept the three.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut over = TcpStream::connect(app.addr).await.unwrap();
    let _ = over.write_all(PREFACE).await;
    let took = closed_within(&mut over, Duration::from_secs(5)).await;
    assert!(took.is_some(), "the fifth connection is closed at once");
    // Calls on the open connections go on.
    app.retrieve(app.admin(), "plex")
        .await
        .expect("the harness's connection");
    let Some(samples) = scrape(&app).await else {
        return;
    };
    assert!(value(&samples, "plexsource_connections_refused_total", &[]) >= 1.0);
    assert_eq!(value(&samples, "plexsource_connections_open", &[]), 4.0);
    drop(held.pop());
    crate::helpers::within(Duration::from_secs(5), "a slot frees", || async {
        let channel = tonic::transport::Channel::from_shared(format!("http://{}", app.addr))
            .unwrap()
            .connect()
            .await;
        match channel {
            Ok(channel) => {
                let mut client =
                    pb::plex_source_service_client::PlexSourceServiceClient::new(channel);
                let request = crate::helpers::request_as(
                    app.admin(),
                    pb::RetrievePlexSourceRequest {
                        slug: "plex".into(),
                    },
                );
                client.retrieve_plex_source(request).await.is_ok()
            }
            Err(_) => false,
        }
    })
    .await;
}

/// At `--max-connection-age` a watch stream ends with where to resume
/// (SHUTTING_DOWN's reason), the client reconnects for its next calls, and
/// a connection still busy after the grace period is closed.
async fn old_connections_are_drained_then_closed(backend: Backend) {
    let settings = limits(StreamLimits {
        max_connection_age: Some(Duration::from_secs(1)),
        max_connection_age_grace: Duration::from_secs(1),
        ..StreamLimits::default()
    });
    let Some(app) = spawn_app_with(backend, settings).await else {
        return;
    };
    app.create(app.admin(), new_source("plex"))
        .await
        .expect("create");
    let mut stream = app
        .watch(
            app.admin(),
            pb::WatchPlexSourcesRequest {
                since_revision: None,
                initial_snapshot: false,
            },
        )
        .await
        .expect("watch");
    let ended = tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .expect("the stream ends at the connection's age");
    let status = ended.expect_err("ends with a status");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(status.message().contains("maximum age"), "{status:?}");
    let info = status.get_details_error_info().expect("ErrorInfo");
    assert_eq!(info.reason, "SHUTTING_DOWN");
    // The channel reconnects: calls go on.
    crate::helpers::within(Duration::from_secs(5), "calls after the age", || async {
        app.retrieve(app.admin(), "plex").await.is_ok()
    })
    .await;

    // A connection whose call never finishes is closed after the grace.
    let tcp = TcpStream::connect(app.addr).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tcp),
    )
    .await
    .unwrap();
    let started = tokio::time::Instant::now();
    tokio::spawn(connection);
    let auth = format!("Bearer {}", app.admin_key);
    let request = hyper::Request::post(format!(
        "http://{}/plexsource.v1.PlexSourceService/CreatePlexSource",
        app.addr
    ))
    .header("content-type", "application/grpc")
    .header("te", "trailers")
    .header("authorization", auth)
    .body(http_body_util::StreamBody::new(futures::stream::pending::<
        Result<hyper::body::Frame<bytes::Bytes>, std::convert::Infallible>,
    >()))
    .unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(10), sender.send_request(request))
        .await
        .expect("the connection ends within 10 s");
    assert!(answer.is_err(), "no answer: the connection was closed");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(1_800),
        "closed at age + grace: {took:?}"
    );
}

backend_tests!(
    silent_connections_are_closed,
    connections_beyond_the_limit_are_refused_and_counted,
    old_connections_are_drained_then_closed,
);
