//! What a request may cost before the server knows its caller may make it:
//! a write by a caller who may not write is refused from its headers,
//! before its body is read; no message is decoded past the largest valid
//! request; and the requests in flight are bounded.

use std::{convert::Infallible, net::SocketAddr, time::Duration};

use bytes::Bytes;
use http_body_util::StreamBody;
use hyper::body::Frame;
use hyper_util::rt::{TokioExecutor, TokioIo};
use plex_source_service::{
    app::{ServerSettings, StreamLimits},
    domain::access::Permission,
};
use prost::Message;
use tokio::net::TcpStream;
use tonic::Code;

use crate::{
    backend_tests,
    helpers::{Backend, TestApp, new_source, pb, spawn_app_with, test_settings},
};

/// Longest any answer here may take: far below the request timeout, which
/// is what a server that waits for the body would answer at.
const PROMPTLY: Duration = Duration::from_secs(5);

type Stalled = StreamBody<futures::stream::Pending<Result<Frame<Bytes>, Infallible>>>;

/// A request whose body never comes, over HTTP/2 on a fresh connection;
/// its status and headers, once answered. Kept open (with its sender)
/// while the returned guard lives.
async fn stalled(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> (hyper::Response<hyper::body::Incoming>, impl Drop) {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .expect("HTTP/2 handshake");
    let conn = tokio::spawn(connection);
    let mut request = hyper::Request::builder()
        .method("POST")
        .uri(format!("http://{addr}{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let body: Stalled = StreamBody::new(futures::stream::pending());
    let request = request.body(body).expect("request");
    let response = tokio::time::timeout(PROMPTLY, sender.send_request(request))
        .await
        .unwrap_or_else(|_| panic!("{path}: no answer before the body came"))
        .expect("an answer");
    (response, AbortOnDrop(conn))
}

struct AbortOnDrop(tokio::task::JoinHandle<Result<(), hyper::Error>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn grpc_status(response: &hyper::Response<hyper::body::Incoming>) -> Option<i32> {
    response
        .headers()
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// gRPC writes by callers who may not make them are refused from their
/// headers: the body (here: never sent) is neither waited for nor read.
async fn writes_are_refused_before_their_body(app: TestApp) {
    app.create(app.admin(), new_source("plex"))
        .await
        .expect("create");
    let nobody = app.caller("nobody", &[]).await;
    let viewer = app.caller("viewer", &[(Permission::View, None)]).await;
    let adder = app.caller("adder", &[(Permission::Add, None)]).await;
    for (key, method) in [
        (&nobody, "CreatePlexSource"),
        (&nobody, "UpdatePlexSource"),
        (&nobody, "DeletePlexSource"),
        (&viewer, "CreatePlexSource"),
        (&viewer, "UpdatePlexSource"),
        (&adder, "DeletePlexSource"),
    ] {
        let auth = format!("Bearer {key}");
        let path = format!("/plexsource.v1.PlexSourceService/{method}");
        let headers = [
            ("content-type", "application/grpc"),
            ("te", "trailers"),
            ("authorization", auth.as_str()),
        ];
        let (response, _open) = stalled(app.addr, &path, &headers).await;
        assert_eq!(
            grpc_status(&response),
            Some(Code::PermissionDenied as i32),
            "{method}: {:?}",
            response.headers()
        );
    }
    // REST: the same, from a body announced but never sent.
    let auth = format!("Bearer {nobody}");
    for (method, path) in [
        ("POST", "/api/v3/sources/plex/"),
        ("PUT", "/api/v3/sources/plex/plex/"),
        ("PATCH", "/api/v3/sources/plex/plex/"),
    ] {
        let reply = crate::rest::raw_stalled(
            app.addr,
            method,
            path,
            &[
                ("content-type", "application/json"),
                ("authorization", &auth),
            ],
            200_000,
        )
        .await;
        assert_eq!(reply, Some(403), "{method} {path}");
    }
    // A caller who may write is still waited for: its body is the request.
    let auth = format!("Bearer {adder}");
    let headers = [
        ("content-type", "application/grpc"),
        ("te", "trailers"),
        ("authorization", auth.as_str()),
    ];
    let path = "/plexsource.v1.PlexSourceService/CreatePlexSource";
    let waited = tokio::time::timeout(
        Duration::from_millis(500),
        stalled(app.addr, path, &headers),
    )
    .await;
    assert!(waited.is_err(), "a permitted create waits for its body");
}

/// A message larger than `--max-request-bytes` is refused, naming the
/// limit; the largest valid source fits under the default.
async fn messages_are_decoded_only_up_to_the_limit(app: TestApp) {
    let servers: Vec<String> = (0..1_000).map(|i| format!("{i:040x}")).collect();
    let largest = pb::PlexSource {
        allowed_servers: servers.clone(),
        ..new_source("largest")
    };
    let created = app
        .create(app.admin(), largest)
        .await
        .expect("the largest valid source");
    assert_eq!(created.allowed_servers.len(), 1_000);
    // 2,000 mappings (of which none exist) plus the servers: refused for
    // what they name, not for their size.
    let mappings: Vec<String> = (0..1_000)
        .map(|_| uuid::Uuid::new_v4().to_string())
        .collect();
    let named = pb::PlexSource {
        allowed_servers: servers,
        user_property_mappings: mappings.clone(),
        group_property_mappings: mappings,
        ..new_source("named")
    };
    assert!(
        named.encoded_len() < 256 * 1024,
        "{} bytes",
        named.encoded_len()
    );
    let status = app
        .create(app.admin(), named)
        .await
        .expect_err("unknown mappings");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    // Two million empty mappings: never decoded.
    let flood = pb::PlexSource {
        user_property_mappings: vec![String::new(); 2_000_000],
        ..new_source("flood")
    };
    let status = app.create(app.admin(), flood).await.expect_err("too large");
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    assert!(status.message().contains("262144"), "{status:?}");
    app.retrieve(app.admin(), "largest")
        .await
        .expect("still serving");
}

/// Past `--max-requests-in-flight`, a call is refused at once (gRPC
/// RESOURCE_EXHAUSTED, REST 503 with Retry-After), while watches and
/// health pass; freed permits serve again.
async fn requests_in_flight_are_bounded(backend: Backend) {
    let settings = ServerSettings {
        streams: StreamLimits {
            max_requests_in_flight: 2,
            ..StreamLimits::default()
        },
        ..test_settings()
    };
    let Some(app) = spawn_app_with(backend, settings).await else {
        return;
    };
    app.create(app.admin(), new_source("plex"))
        .await
        .expect("create");
    let auth = format!("Bearer {}", app.admin_key);
    // Two creates waiting for bodies that never come hold both permits.
    let mut holding = Vec::new();
    for _ in 0..2 {
        holding.push(hold(app.addr, auth.clone()));
        // Each is in before the next call comes.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let refused = within_refusal(&app).await;
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!(
        refused.message().contains("--max-requests-in-flight"),
        "{refused:?}"
    );
    let reply = crate::rest::raw(
        app.addr,
        crate::rest::Http::One,
        "GET",
        "/api/v3/sources/plex/plex/",
        &[("authorization", &auth)],
        b"",
    )
    .await;
    assert_eq!(
        (reply.status, reply.header("retry-after")),
        (503, Some("1"))
    );
    // Watches and health have bounds of their own.
    app.watch(
        app.admin(),
        pb::WatchPlexSourcesRequest {
            since_revision: None,
            initial_snapshot: false,
        },
    )
    .await
    .expect("a watch passes");
    // Freed permits serve again.
    holding.iter().for_each(tokio::task::JoinHandle::abort);
    crate::helpers::within(PROMPTLY, "permits freed", || async {
        app.retrieve(app.admin(), "plex").await.is_ok()
    })
    .await;
}

/// A create by `auth` whose body never comes, held open until aborted.
fn hold(addr: SocketAddr, auth: String) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let tcp = TcpStream::connect(addr).await.expect("connect");
        let (mut sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
                .await
                .expect("HTTP/2 handshake");
        let _conn = AbortOnDrop(tokio::spawn(connection));
        let request = hyper::Request::post(format!(
            "http://{addr}/plexsource.v1.PlexSourceService/CreatePlexSource"
        ))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("authorization", auth)
        .body(Stalled::new(futures::stream::pending()))
        .expect("request");
        let _ = sender.send_request(request).await;
    })
}

/// The next unary call once two calls hold the permits.
async fn within_refusal(app: &TestApp) -> tonic::Status {
    let deadline = tokio::time::Instant::now() + PROMPTLY;
    loop {
        match app.retrieve(app.admin(), "plex").await {
            Err(status) => return status,
            Ok(_) => {
                assert!(tokio::time::Instant::now() < deadline, "never refused");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

backend_tests!(
    apps: [
        writes_are_refused_before_their_body,
        messages_are_decoded_only_up_to_the_limit,
    ],
    backends: [
        requests_in_flight_are_bounded,
    ],
);
