//! A stopping server ends its open watch streams with UNAVAILABLE and a
//! resume hint, instead of holding them (and itself) for the grace period;
//! the watcher resumes on another replica with its last revision and
//! misses nothing.

use std::time::Duration;

use tonic::Code;
use tonic_types::StatusExt;

use super::{Kind, kind, live, next, next_error, since, source_of};
use crate::{
    backend_tests,
    helpers::{Backend, TestDb, new_source, rename, spawn_app, spawn_app_on, test_settings},
};

async fn a_stopping_server_ends_streams_and_watchers_resume_elsewhere(backend: Backend) {
    let Some(mut a) = spawn_app(backend).await else {
        return;
    };
    let b = a.replica().await;
    a.create(a.admin(), new_source("watched"))
        .await
        .expect("create");
    let mut stream = a.watch(a.admin(), live()).await.expect("watch");
    a.update(a.admin(), rename("watched", "Before stop"))
        .await
        .expect("update");
    let seen = next(&mut stream).await;
    assert_eq!(source_of(&seen).name, "Before stop");

    let server = a.begin_shutdown().expect("server running");
    let status = next_error(&mut stream).await;
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(
        status.message().contains("since_revision"),
        "{}",
        status.message()
    );
    assert_eq!(
        status.get_details_error_info().expect("ErrorInfo").reason,
        "SHUTTING_DOWN"
    );
    // Nothing else in flight: the server is gone well before the grace
    // period (2 s in tests) would end.
    tokio::time::timeout(Duration::from_secs(1), server)
        .await
        .expect("stopped within a second of the signal")
        .expect("server task")
        .expect("clean stop");

    // Meanwhile another replica takes a write; resuming there from the
    // last revision seen misses nothing.
    b.update(b.admin(), rename("watched", "After stop"))
        .await
        .expect("update");
    let mut resumed = b
        .watch(b.admin(), since(seen.revision))
        .await
        .expect("resume");
    let event = next(&mut resumed).await;
    assert_eq!(kind(&event), Kind::Updated);
    assert_eq!(source_of(&event).name, "After stop");
    assert!(event.revision > seen.revision);
}

/// During `SHUTDOWN_DELAY` the server reports not ready but still answers,
/// and open streams go on; they end once the delay is over.
async fn the_shutdown_delay_serves_while_reporting_not_ready(backend: Backend) {
    let Some(db) = TestDb::migrated(backend).await else {
        return;
    };
    let url = db.url.clone();
    let mut settings = test_settings();
    settings.shutdown_delay = Duration::from_millis(1500);
    let mut app = spawn_app_on(db, &url, settings).await;
    app.create(app.admin(), new_source("watched"))
        .await
        .expect("create");
    let mut stream = app.watch(app.admin(), live()).await.expect("watch");
    let mut health = tonic_health::pb::health_client::HealthClient::new(app.channel.clone());
    let readiness = || tonic_health::pb::HealthCheckRequest {
        service: "readiness".into(),
    };

    let started = tokio::time::Instant::now();
    let server = app.begin_shutdown().expect("server running");
    let not_ready = tonic_health::pb::health_check_response::ServingStatus::NotServing as i32;
    loop {
        let status = health
            .check(readiness())
            .await
            .expect("health")
            .into_inner()
            .status;
        if status == not_ready {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "readiness did not turn"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Still serving, streams included, while load balancers catch up.
    app.update(app.admin(), rename("watched", "During the delay"))
        .await
        .expect("answered during the delay");
    assert_eq!(source_of(&next(&mut stream).await).name, "During the delay");

    let status = next_error(&mut stream).await;
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "ended before the delay"
    );
    tokio::time::timeout(Duration::from_secs(2), server)
        .await
        .expect("stopped after the delay")
        .expect("server task")
        .expect("clean stop");
}

backend_tests!(
    a_stopping_server_ends_streams_and_watchers_resume_elsewhere,
    the_shutdown_delay_serves_while_reporting_not_ready
);
