//! grpc.health.v1.Health: the readiness names (`""`, `readiness` and the
//! service's) SERVING while the database answers, NOT_SERVING during an
//! outage and on shutdown; `liveness` SERVING throughout, so a database
//! outage never gets healthy pods restarted.

use std::time::Duration;

use tonic::Code;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::{
    backend_tests,
    helpers::{Backend, TestApp, spawn_app},
    proxy::app_behind_proxy,
};

const SERVICE: &str = "plexsource.v1.PlexSourceService";
/// The names that follow the database.
const READINESS: [&str; 3] = ["", "readiness", SERVICE];

async fn status_of(
    client: &mut HealthClient<tonic::transport::Channel>,
    service: &str,
) -> Result<ServingStatus, tonic::Status> {
    let response = client
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await?
        .into_inner();
    Ok(ServingStatus::try_from(response.status).unwrap_or(ServingStatus::Unknown))
}

/// Polls until every readiness name reports `want`, for at most `within`;
/// `liveness` must say SERVING all along.
async fn wait_for(
    client: &mut HealthClient<tonic::transport::Channel>,
    want: ServingStatus,
    within: Duration,
) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let mut seen = Vec::new();
        for name in READINESS {
            seen.push(status_of(client, name).await.expect("check"));
        }
        assert_eq!(
            status_of(client, "liveness").await.expect("check liveness"),
            ServingStatus::Serving,
            "liveness follows the process, not the database"
        );
        if seen.iter().all(|s| *s == want) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "readiness stayed {seen:?}, wanted {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn every_name_serves_while_the_database_answers(app: TestApp) {
    let mut health = HealthClient::new(app.channel.clone());
    for name in READINESS.into_iter().chain(["liveness"]) {
        assert_eq!(
            status_of(&mut health, name).await.unwrap(),
            ServingStatus::Serving,
            "{name:?}"
        );
    }
    let unknown = status_of(&mut health, "no.such.Service").await.unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
}

async fn shutdown_reports_not_serving_before_it_stops(backend: Backend) {
    let Some(mut app) = spawn_app(backend).await else {
        return;
    };
    let mut health = HealthClient::new(app.channel.clone());
    let mut watch = health
        .watch(HealthCheckRequest {
            service: SERVICE.to_owned(),
        })
        .await
        .expect("watch")
        .into_inner();
    let first = watch.message().await.unwrap().unwrap();
    assert_eq!(first.status, ServingStatus::Serving as i32);

    let server = app.begin_shutdown().expect("server running");
    let next = tokio::time::timeout(Duration::from_secs(5), watch.message())
        .await
        .expect("a status change arrives");
    let status = next.expect("stream open").expect("a message").status;
    assert_eq!(status, ServingStatus::NotServing as i32);

    // Then the stream ends with a status, rather than holding the server
    // for its grace period (2 s in tests) and breaking at the transport.
    let ended = tokio::time::timeout(Duration::from_secs(1), watch.message())
        .await
        .expect("the watch ends at once")
        .expect_err("ends with a status");
    assert_eq!(ended.code(), Code::Unavailable, "{ended:?}");
    assert!(ended.message().contains("another replica"), "{ended:?}");
    let result = tokio::time::timeout(Duration::from_secs(1), server)
        .await
        .expect("server stops well within the grace period")
        .expect("server task");
    assert!(result.is_ok(), "{result:?}");
    let refused = tokio::net::TcpStream::connect(app.addr).await;
    assert!(refused.is_err(), "listener still accepting after shutdown");
}

/// PostgreSQL goes away (all connections dropped, new ones refused) and
/// comes back on the same address: health follows without a restart, and
/// calls during the outage get UNAVAILABLE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_turns_not_serving_and_back() {
    let Some((app, proxy)) = app_behind_proxy().await else {
        return;
    };
    let mut health = HealthClient::new(app.channel.clone());
    wait_for(&mut health, ServingStatus::Serving, Duration::from_secs(5)).await;

    proxy.cut();
    wait_for(
        &mut health,
        ServingStatus::NotServing,
        Duration::from_secs(15),
    )
    .await;
    let status = app
        .retrieve(app.admin(), "any-slug")
        .await
        .expect_err("database is down");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(
        !status.message().contains("postgres"),
        "{}",
        status.message()
    );

    proxy.restore().await;
    wait_for(&mut health, ServingStatus::Serving, Duration::from_secs(15)).await;
    let status = app
        .retrieve(app.admin(), "any-slug")
        .await
        .expect_err("no such source");
    assert_eq!(status.code(), Code::NotFound);
}

/// `plex-source-service health`, as an exec probe runs it: its exit code.
async fn probe(args: &[&str]) -> (bool, String) {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_plex-source-service"))
            .arg("health")
            .args(&args)
            .output()
            .expect("run the binary");
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.success(), text)
    })
    .await
    .expect("probe task")
}

async fn the_health_command_answers_for_probes(app: TestApp) {
    let addr = app.addr.to_string();
    for name in READINESS.into_iter().chain(["liveness"]) {
        let (ok, text) = probe(&["--addr", &addr, "--service", name]).await;
        assert!(ok, "{name:?}: {text}");
        assert!(text.contains("SERVING"), "{text}");
    }
    let (ok, text) = probe(&["--addr", &addr, "--service", "no.such.Service"]).await;
    assert!(!ok, "an unknown name is not healthy: {text}");
    // Nothing listening there: a failure, quickly.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let (ok, text) = probe(&["--addr", &closed, "--timeout", "1s"]).await;
    assert!(!ok, "{text}");
}

backend_tests!(
    apps: [
        the_health_command_answers_for_probes,
        every_name_serves_while_the_database_answers,
    ],
    backends: [
        shutdown_reports_not_serving_before_it_stops,
    ],
);
