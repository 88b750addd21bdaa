//! grpc.health.v1.Health: both names SERVING while the database answers,
//! NOT_SERVING during an outage and on shutdown.

use std::time::Duration;

use tonic::Code;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::{
    backend_tests,
    helpers::{Backend, spawn_app},
    proxy::app_behind_proxy,
};

const SERVICE: &str = "plexsource.v1.PlexSourceService";

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

/// Polls until both names report `want`, for at most `within`.
async fn wait_for(
    client: &mut HealthClient<tonic::transport::Channel>,
    want: ServingStatus,
    within: Duration,
) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let overall = status_of(client, "").await.expect("check \"\"");
        let service = status_of(client, SERVICE).await.expect("check service");
        if overall == want && service == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "health stayed {overall:?}/{service:?}, wanted {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn both_names_serve_while_the_database_answers(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let mut health = HealthClient::new(app.channel.clone());
    assert_eq!(
        status_of(&mut health, "").await.unwrap(),
        ServingStatus::Serving
    );
    assert_eq!(
        status_of(&mut health, SERVICE).await.unwrap(),
        ServingStatus::Serving
    );
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

    // The open watch stream keeps a call in flight; the server still exits
    // cleanly once the grace period (2 s in tests) is over.
    let result = tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("server stops within the grace period")
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

backend_tests!(
    both_names_serve_while_the_database_answers,
    shutdown_reports_not_serving_before_it_stops,
);
