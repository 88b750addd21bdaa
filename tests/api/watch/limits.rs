//! Watch streams are a bounded resource: they need a view permission, the
//! server holds at most a set number of them, one connection at most a set
//! number of calls, and an idle stream ends within a second of its token
//! being revoked or expiring or its user being deactivated.

use std::time::Duration;

use plex_source_service::{
    app::StreamLimits,
    domain::access::{Permission, TokenKey},
    store::access,
};
use tonic::Code;

use super::{PATIENCE, live, snapshot};
use crate::{
    backend_tests,
    helpers::{Backend, REPLICA_BOUND, TestApp, TestDb, new_source, spawn_app_on, test_settings},
};

/// A server whose stream limits are `limits`.
async fn app_with(backend: Backend, limits: StreamLimits) -> Option<TestApp> {
    let test_db = TestDb::migrated(backend).await?;
    let url = test_db.url.clone();
    let settings = plex_source_service::app::ServerSettings {
        streams: limits,
        ..test_settings()
    };
    Some(spawn_app_on(test_db, &url, settings).await)
}

async fn watching_needs_a_view_permission(app: TestApp) {
    app.create(app.admin(), new_source("plex"))
        .await
        .expect("create");
    let nobody = app.caller("nobody", &[]).await;
    let status = app.watch(&nobody, live()).await.expect_err("denied");
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let changer = app.caller("changer", &[(Permission::Change, None)]).await;
    let status = app.watch(&changer, live()).await.expect_err("denied");
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    // A view grant on one source is enough.
    let one = app.caller("one", &[(Permission::View, Some("plex"))]).await;
    app.watch(&one, live()).await.expect("watch");
}

async fn open_watch_streams_are_capped(backend: Backend) {
    let limits = StreamLimits {
        max_watch_streams: 3,
        ..StreamLimits::default()
    };
    let Some(app) = app_with(backend, limits).await else {
        return;
    };
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(app.watch(app.admin(), live()).await.expect("watch"));
    }
    let status = app
        .watch(app.admin(), live())
        .await
        .expect_err("over the cap");
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    // A closed stream frees its place.
    drop(open.pop());
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        match app.watch(app.admin(), live()).await {
            Ok(stream) => {
                open.push(stream);
                break;
            }
            Err(status) => assert_eq!(status.code(), Code::ResourceExhausted),
        }
        assert!(tokio::time::Instant::now() < deadline, "no slot freed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn one_connection_holds_a_bounded_number_of_calls(backend: Backend) {
    let limits = StreamLimits {
        max_concurrent_streams: 2,
        ..StreamLimits::default()
    };
    let Some(app) = app_with(backend, limits).await else {
        return;
    };
    // All calls share the test's one connection.
    let first = app.watch(app.admin(), live()).await.expect("watch");
    let _second = app.watch(app.admin(), live()).await.expect("watch");
    let third = tokio::time::timeout(Duration::from_millis(500), app.watch(app.admin(), live()));
    assert!(third.await.is_err(), "a third stream waits for a free slot");
    drop(first);
    tokio::time::timeout(PATIENCE, app.watch(app.admin(), live()))
        .await
        .expect("a slot frees")
        .expect("watch");
}

/// A watcher with its own token; returns the key and the open stream.
async fn idle_watcher(app: &TestApp, user: &str, expires: Option<Duration>) -> super::Events {
    let key = TokenKey::generate();
    let expires = expires.map(|d| chrono::Utc::now() + chrono::Duration::from_std(d).unwrap());
    access::create_user(&app.db, user, true)
        .await
        .expect("user");
    access::create_token(
        &app.db,
        &format!("{user}-watch"),
        user,
        key.hash(),
        expires,
        "",
    )
    .await
    .expect("token");
    app.settle().await;
    let mut stream = app.watch(key.expose(), snapshot()).await.expect("watch");
    // The (empty) snapshot ends; from here on the stream is idle.
    let marker = super::next(&mut stream).await;
    assert_eq!(super::kind(&marker), super::Kind::SnapshotComplete);
    stream
}

/// The stream's next message is UNAUTHENTICATED, within `bound`.
async fn ends_unauthenticated(stream: &mut super::Events, bound: Duration) {
    match tokio::time::timeout(bound, stream.message()).await {
        Ok(Err(status)) => assert_eq!(status.code(), Code::Unauthenticated, "{status:?}"),
        Ok(Ok(message)) => panic!("expected UNAUTHENTICATED, got {message:?}"),
        Err(_) => panic!("the idle stream outlived its access by {bound:?}"),
    }
}

async fn idle_streams_end_when_access_ends(app: TestApp) {
    let mut revoked = idle_watcher(&app, "revoked", None).await;
    let mut deactivated = idle_watcher(&app, "deactivated", None).await;
    let mut expiring = idle_watcher(&app, "expiring", Some(Duration::from_secs(2))).await;

    access::revoke_token(&app.db, "revoked-watch")
        .await
        .expect("revoke");
    ends_unauthenticated(&mut revoked, REPLICA_BOUND).await;

    access::deactivate_user(&app.db, "deactivated")
        .await
        .expect("deactivate");
    ends_unauthenticated(&mut deactivated, REPLICA_BOUND).await;

    // Nothing changes in the database: the expiry itself ends the stream.
    ends_unauthenticated(&mut expiring, Duration::from_secs(2) + REPLICA_BOUND).await;
}

backend_tests!(
    apps: [
        watching_needs_a_view_permission,
        idle_streams_end_when_access_ends,
    ],
    backends: [
        open_watch_streams_are_capped,
        one_connection_holds_a_bounded_number_of_calls,
    ],
);
