//! One token cannot take every watch slot, and a watch cannot ask the
//! server to replay an unbounded part of the change log.

use plex_source_service::{
    app::{ServerSettings, StreamLimits},
    domain::access::Permission,
};
use tonic::Code;

use crate::{
    backend_tests,
    helpers::{Backend, new_source, pb, spawn_app_with, test_settings},
};

fn live() -> pb::WatchPlexSourcesRequest {
    pb::WatchPlexSourcesRequest {
        since_revision: None,
        initial_snapshot: false,
    }
}

async fn one_token_cannot_take_every_watch_slot(backend: Backend) {
    let settings = ServerSettings {
        streams: StreamLimits {
            max_watch_streams_per_token: 3,
            ..StreamLimits::default()
        },
        ..test_settings()
    };
    let Some(app) = spawn_app_with(backend, settings).await else {
        return;
    };
    let greedy = app.caller("greedy", &[(Permission::View, None)]).await;
    let other = app.caller("other", &[(Permission::View, None)]).await;
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(app.watch(&greedy, live()).await.expect("within the quota"));
    }
    let status = app
        .watch(&greedy, live())
        .await
        .expect_err("over the quota");
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(
        status.message().contains("--max-watch-streams-per-token"),
        "{status:?}"
    );
    assert!(status.message().contains('3'), "{status:?}");
    // Other tokens go on.
    let mut theirs = app.watch(&other, live()).await.expect("another token");
    // A closed stream gives its slot back to its token.
    drop(open.pop());
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match app.watch(&greedy, live()).await {
            Ok(stream) => break open.push(stream),
            Err(status) => assert_eq!(status.code(), Code::ResourceExhausted),
        }
        assert!(tokio::time::Instant::now() < deadline, "no slot back");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // Every open stream still gets events.
    app.create(app.admin(), new_source("plex"))
        .await
        .expect("create");
    let event = tokio::time::timeout(std::time::Duration::from_secs(10), theirs.message())
        .await
        .expect("an event")
        .expect("ok")
        .expect("not ended");
    assert_eq!(event.slug, "plex");
}

async fn replay_reaches_back_a_bounded_number_of_revisions(backend: Backend) {
    let settings = ServerSettings {
        streams: StreamLimits {
            max_watch_replay: 3,
            ..StreamLimits::default()
        },
        ..test_settings()
    };
    let Some(app) = spawn_app_with(backend, settings).await else {
        return;
    };
    for slug in ["a", "b", "c", "d", "e"] {
        app.create(app.admin(), new_source(slug))
            .await
            .expect("create");
    }
    app.settle().await;
    let since = |revision: i64| pb::WatchPlexSourcesRequest {
        since_revision: Some(revision),
        initial_snapshot: false,
    };
    let status = app
        .watch(app.admin(), since(1))
        .await
        .expect_err("too far back");
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    assert!(
        status.message().contains("--max-watch-replay"),
        "{status:?}"
    );
    let mut stream = app.watch(app.admin(), since(2)).await.expect("three back");
    let first = stream.message().await.expect("ok").expect("event");
    assert_eq!(first.revision, 3);
}

backend_tests!(
    one_token_cannot_take_every_watch_slot,
    replay_reaches_back_a_bounded_number_of_revisions,
);
