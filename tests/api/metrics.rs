//! `GET /metrics` on the admin listener, scraped over a real socket after
//! real calls and parsed by the Prometheus project's own text parser (the
//! `prometheus_client` Python package): call counts per method and code,
//! handling time, messages sent, open watchers, the pool, the cache, the
//! change feed, health and build info. The admin port also answers gRPC
//! health in plaintext.

use std::{collections::HashMap, net::SocketAddr, process::Stdio, time::Duration};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use tonic::Code;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::{
    backend_tests,
    helpers::{Caller, TestApp, new_source, pb, request_as, skip},
    rest::{Http, raw},
};

const SERVICE: &str = "plexsource.v1.PlexSourceService";

/// One sample: its labels and value.
#[derive(Debug, Clone)]
pub(crate) struct Sample {
    name: String,
    labels: HashMap<String, String>,
    value: f64,
}

/// The scrape's status line, `Content-Type` and body, over HTTP/1.1.
pub(crate) async fn scrape_raw(addr: SocketAddr) -> (String, String, String) {
    let mut stream = TcpStream::connect(addr).await.expect("admin port accepts");
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: metrics\r\nConnection: close\r\n\r\n")
        .await
        .expect("send request");
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response))
        .await
        .expect("scrape answers")
        .expect("read response");
    let response = String::from_utf8(response).expect("text");
    let (head, body) = response.split_once("\r\n\r\n").expect("headers end");
    let status = head.lines().next().unwrap_or_default().to_owned();
    let content_type = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-type")
                .then(|| value.trim().to_owned())
        })
        .unwrap_or_default();
    (status, content_type, body.to_owned())
}

/// Parses with `prometheus_client.parser`, the reference parser of the
/// text format; `None` when it is not installed (never under CI).
async fn parse(text: &str) -> Option<Vec<Sample>> {
    const SCRIPT: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        out.append({"name": s.name, "labels": s.labels, "value": s.value})
print(json.dumps(out))
"#;
    let mut child = match tokio::process::Command::new("python3")
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(err) => {
            skip(&format!("python3 is missing: {err}"));
            return None;
        }
    };
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(text.as_bytes())
        .await
        .expect("write metrics");
    drop(stdin);
    let out = child.wait_with_output().await.expect("parser runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("No module named 'prometheus_client'") {
        skip("the Python package prometheus-client is missing (pip install prometheus-client)");
        return None;
    }
    assert!(
        out.status.success(),
        "the parser refused the text: {stderr}\n{text}"
    );
    let samples: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("json");
    Some(
        samples
            .into_iter()
            .map(|s| Sample {
                name: s["name"].as_str().expect("name").to_owned(),
                labels: s["labels"]
                    .as_object()
                    .expect("labels")
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect(),
                value: s["value"].as_f64().expect("value"),
            })
            .collect(),
    )
}

pub(crate) async fn scrape(app: &TestApp) -> Option<Vec<Sample>> {
    let addr = app.admin_addr.expect("admin listener");
    let (status, content_type, body) = scrape_raw(addr).await;
    assert!(status.contains("200"), "{status}");
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    parse(&body).await
}

/// Scrapes until `ready` holds, for up to 10 s; the last scrape either way.
async fn scrape_until(app: &TestApp, ready: impl Fn(&[Sample]) -> bool) -> Option<Vec<Sample>> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let samples = scrape(app).await?;
        if ready(&samples) || tokio::time::Instant::now() >= deadline {
            return Some(samples);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The value of the one sample named `name` whose labels include `labels`;
/// 0 when there is none (a counter not yet created).
pub(crate) fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .collect();
    assert!(found.len() <= 1, "{name} {labels:?} matches {found:?}");
    found.first().map_or(0.0, |s| s.value)
}

fn method(name: &str) -> [(&'static str, &str); 2] {
    [("grpc_service", SERVICE), ("grpc_method", name)]
}

async fn calls_are_counted_per_method_and_code(app: TestApp) {
    let Some(before) = scrape(&app).await else {
        return;
    };
    let retrieve = method("RetrievePlexSource");
    let handled = |samples: &[Sample], code: &str| {
        let [service, method] = retrieve;
        value(
            samples,
            "grpc_server_handled_total",
            &[service, method, ("grpc_code", code)],
        )
    };

    app.create(app.admin(), new_source("metered"))
        .await
        .expect("create");
    for _ in 0..3 {
        app.retrieve(app.admin(), "metered")
            .await
            .expect("retrieve");
    }
    for _ in 0..2 {
        let status = app
            .retrieve(app.admin(), "missing")
            .await
            .expect_err("absent");
        assert_eq!(status.code(), Code::NotFound);
    }
    let status = app
        .retrieve(Caller::Anonymous, "metered")
        .await
        .expect_err("no credentials");
    assert_eq!(status.code(), Code::Unauthenticated);
    // A path no service has counts under `unknown`, not as a new series.
    let mut grpc = tonic::client::Grpc::new(app.channel.clone());
    grpc.ready().await.expect("ready");
    let unknown: Result<tonic::Response<()>, _> = grpc
        .unary(
            request_as(app.admin(), ()),
            "/no.such.Service/Method".parse().expect("path"),
            tonic_prost::ProstCodec::<(), ()>::default(),
        )
        .await;
    assert_eq!(
        unknown.expect_err("unimplemented").code(),
        Code::Unimplemented
    );

    // One watcher, open while scraped: its snapshot (one source) and the
    // end-of-snapshot marker are sent.
    let mut stream = app
        .watch(
            app.admin(),
            pb::WatchPlexSourcesRequest {
                initial_snapshot: true,
                since_revision: None,
            },
        )
        .await
        .expect("watch");
    let mut received = 0u32;
    while let Some(message) = stream.message().await.expect("event") {
        received += 1;
        if message.kind() == pb::EventKind::SnapshotComplete {
            break;
        }
    }
    assert_eq!(received, 2, "one source, then the snapshot's end");

    // The change feed reads the log on its own schedule: the scrape waits
    // until it has seen the create, as a dashboard would a moment later.
    let Some(after) = scrape_until(&app, |s| {
        value(s, "plexsource_change_feed_revision", &[]) >= 1.0
    })
    .await
    else {
        return;
    };
    let [service, name] = retrieve;
    let started = |s: &[Sample]| value(s, "grpc_server_started_total", &[service, name]);
    assert_eq!(started(&after) - started(&before), 6.0);
    assert_eq!(handled(&after, "Ok") - handled(&before, "Ok"), 3.0);
    assert_eq!(
        handled(&after, "NotFound") - handled(&before, "NotFound"),
        2.0
    );
    assert_eq!(
        handled(&after, "Unauthenticated") - handled(&before, "Unauthenticated"),
        1.0
    );
    assert_eq!(
        value(
            &after,
            "grpc_server_started_total",
            &[("grpc_service", "unknown")]
        ),
        1.0
    );
    assert!(
        after
            .iter()
            .all(|s| s.labels.get("grpc_service").map(String::as_str) != Some("no.such.Service")),
        "a caller's path became a label"
    );
    // Every finished call is in the histogram, in some bucket.
    let count = value(
        &after,
        "grpc_server_handling_seconds_count",
        &[service, name],
    );
    assert_eq!(
        count
            - value(
                &before,
                "grpc_server_handling_seconds_count",
                &[service, name]
            ),
        6.0
    );
    let inf = value(
        &after,
        "grpc_server_handling_seconds_bucket",
        &[service, name, ("le", "+Inf")],
    );
    assert_eq!(inf, count);
    assert_eq!(
        value(
            &after,
            "grpc_server_handled_total",
            &[
                service,
                ("grpc_method", "CreatePlexSource"),
                ("grpc_code", "Ok")
            ]
        ),
        1.0
    );
    // Unary: one message per successful answer; the stream: each message.
    assert_eq!(
        value(&after, "grpc_server_msg_sent_total", &[service, name]),
        3.0
    );
    let watch = method("WatchPlexSources");
    assert_eq!(
        value(&after, "grpc_server_msg_sent_total", &watch),
        f64::from(received)
    );
    assert_eq!(value(&after, "grpc_server_started_total", &watch), 1.0);
    assert_eq!(value(&after, "plexsource_watch_streams_open", &[]), 1.0);
    drop(stream);

    // State read at the scrape.
    assert_eq!(
        value(&after, "plexsource_db_pool_max_connections", &[]),
        16.0
    );
    let pooled = value(
        &after,
        "plexsource_db_pool_connections",
        &[("state", "idle")],
    ) + value(
        &after,
        "plexsource_db_pool_connections",
        &[("state", "in_use")],
    );
    assert!(
        (1.0..=16.0).contains(&pooled),
        "{pooled} pooled connections"
    );
    // Waits as the writes above saw them; the scrape itself took none.
    assert!(value(&after, "plexsource_db_pool_acquire_seconds_count", &[]) >= 1.0);
    assert!(
        value(&after, "plexsource_db_pool_acquire_seconds_sum", &[])
            < 2.0 * value(&after, "plexsource_db_pool_acquire_seconds_count", &[])
    );
    assert!(
        value(
            &after,
            "plexsource_cache_hits_total",
            &[("cache", "callers")]
        ) >= 5.0
    );
    assert!(
        value(
            &after,
            "plexsource_cache_misses_total",
            &[("cache", "sources")]
        ) >= 1.0
    );
    assert!(value(&after, "plexsource_change_feed_revision", &[]) >= 1.0);
    assert!(value(&after, "plexsource_change_feed_last_poll_age_seconds", &[]) < 5.0);
    for name in ["liveness", "", "readiness", SERVICE] {
        assert_eq!(
            value(&after, "plexsource_health_status", &[("service", name)]),
            1.0,
            "{name:?}"
        );
    }
    let build = after
        .iter()
        .find(|s| s.name == "plexsource_build_info")
        .expect("build info");
    assert_eq!(build.labels["version"], env!("CARGO_PKG_VERSION"));
    assert!(!build.labels["git_commit"].is_empty());
}

/// The admin port serves gRPC health in plaintext (what the kubelet's
/// gRPC probe speaks), with the same statuses as the main port, and
/// answers anything else with 404.
async fn the_admin_port_answers_health_probes(app: TestApp) {
    let addr = app.admin_addr.expect("admin listener");
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .expect("uri")
        .connect()
        .await
        .expect("admin port accepts gRPC");
    let mut health = HealthClient::new(channel);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    for name in ["liveness", "", "readiness", SERVICE] {
        loop {
            let status = health
                .check(HealthCheckRequest {
                    service: name.to_owned(),
                })
                .await
                .expect("check")
                .into_inner()
                .status;
            if status == ServingStatus::Serving as i32 {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{name:?} never SERVING"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(b"GET /nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    assert!(response.starts_with("HTTP/1.1 404"), "{response}");
    // Never credentials or the database's address in what anyone scraping
    // can read.
    let (_, _, body) = scrape_raw(addr).await;
    assert!(!body.contains(&app.admin_key));
    assert!(!body.contains("postgres://") && !body.contains("sqlite://"));
}

/// REST requests are counted by method, route template and status, and
/// a path no route has counts under `other`, not as a label of its own.
async fn rest_requests_are_counted_per_route_and_status(app: TestApp) {
    app.create(app.admin(), new_source("over-rest"))
        .await
        .expect("create");
    let admin = format!("Bearer {}", app.admin_key);
    let auth = [("authorization", admin.as_str())];
    for _ in 0..2 {
        let found = raw(
            app.addr,
            Http::One,
            "GET",
            "/api/v3/sources/plex/over-rest/",
            &auth,
            b"",
        )
        .await;
        assert_eq!(found.status, 200, "{}", found.text());
    }
    let missing = raw(
        app.addr,
        Http::Two,
        "GET",
        "/api/v3/sources/plex/no-such/",
        &auth,
        b"",
    )
    .await;
    assert_eq!(missing.status, 404);
    let listed = raw(
        app.addr,
        Http::One,
        "GET",
        "/api/v3/sources/plex/",
        &auth,
        b"",
    )
    .await;
    assert_eq!(listed.status, 200);
    let anonymous = raw(
        app.addr,
        Http::One,
        "GET",
        "/api/v3/sources/plex/",
        &[],
        b"",
    )
    .await;
    assert_eq!(anonymous.status, 403, "{}", anonymous.text());
    let nowhere = raw(
        app.addr,
        Http::One,
        "GET",
        "/api/v3/probe-me-4711/",
        &auth,
        b"",
    )
    .await;
    assert_eq!(nowhere.status, 404);

    let Some(samples) = scrape(&app).await else {
        return;
    };
    let count = |method: &str, route: &str, status: &str| {
        value(
            &samples,
            "http_server_request_duration_seconds_count",
            &[
                ("http_request_method", method),
                ("http_route", route),
                ("http_response_status_code", status),
            ],
        )
    };
    assert_eq!(count("GET", "/api/v3/sources/plex/{slug}/", "200"), 2.0);
    assert_eq!(count("GET", "/api/v3/sources/plex/{slug}/", "404"), 1.0);
    assert_eq!(count("GET", "/api/v3/sources/plex/", "200"), 1.0);
    assert_eq!(count("GET", "/api/v3/sources/plex/", "403"), 1.0);
    assert_eq!(count("GET", "other", "404"), 1.0);
    assert!(
        samples.iter().all(|s| s
            .labels
            .values()
            .all(|v| !v.contains("over-rest") && !v.contains("4711"))),
        "a caller's path became a label"
    );
    // gRPC's series do not count REST requests.
    assert_eq!(
        value(
            &samples,
            "grpc_server_started_total",
            &method("RetrievePlexSource")
        ),
        0.0
    );
}

backend_tests!(
    apps: [
        calls_are_counted_per_method_and_code,
        rest_requests_are_counted_per_route_and_status,
        the_admin_port_answers_health_probes,
    ],
);
