//! One reader per replica: a change is read from the log once and handed
//! to every open stream, callers are re-read once per token when access
//! changes, and a stream that stops reading falls behind without holding
//! up the others, then catches up from the log with nothing missed.

use plex_source_service::domain::access::Permission;

use super::{Events, Kind, assert_increasing, kind, live, next, source_of, take};
use crate::{
    backend_tests,
    helpers::{TestApp, new_source, rename},
};

const VIEWER_STREAMS: usize = 30;
const READER_STREAMS: usize = 10;
const UPDATES: usize = 5;

/// Renames `slug` to `name` and waits until every stream saw it; checks
/// who got the Plex token.
async fn update_seen_by_all(
    app: &TestApp,
    viewers: &mut [Events],
    readers: &mut [Events],
    name: &str,
) {
    app.update(app.admin(), rename("watched", name))
        .await
        .expect("update");
    for (streams, token) in [(viewers, ""), (readers, "token-watched")] {
        for stream in streams.iter_mut() {
            let event = next(stream).await;
            assert_eq!(kind(&event), Kind::Updated);
            assert_eq!(source_of(&event).name, name);
            assert_eq!(source_of(&event).plex_token, token);
        }
    }
}

async fn database_work_per_change_does_not_grow_with_streams(app: TestApp) {
    app.create(app.admin(), new_source("watched"))
        .await
        .expect("create");
    let viewer = app.caller("viewer", &[(Permission::View, None)]).await;
    let reader = app
        .caller(
            "reader",
            &[(Permission::View, None), (Permission::ViewPlexToken, None)],
        )
        .await;
    let mut viewers = Vec::new();
    for _ in 0..VIEWER_STREAMS {
        viewers.push(app.watch(&viewer, live()).await.expect("watch"));
    }
    let mut readers = Vec::new();
    for _ in 0..READER_STREAMS {
        readers.push(app.watch(&reader, live()).await.expect("watch"));
    }
    // Every stream has started (and read the log once, on its own).
    update_seen_by_all(&app, &mut viewers, &mut readers, "warm").await;

    let work = &app.watch_work;
    let (log_reads, caller_reads) = (work.stream_log_reads(), work.caller_reads());
    for n in 0..UPDATES {
        update_seen_by_all(&app, &mut viewers, &mut readers, &format!("Name {n}")).await;
    }
    assert_eq!(
        work.stream_log_reads(),
        log_reads,
        "streams read the log themselves"
    );
    assert_eq!(
        work.caller_reads(),
        caller_reads,
        "callers re-read without an access change"
    );

    // An access change: each token is re-read once, not once per stream.
    app.grant(Permission::View, "reader", Some("watched")).await;
    app.settle().await;
    update_seen_by_all(&app, &mut viewers, &mut readers, "after access").await;
    let reread = work.caller_reads() - caller_reads;
    assert!(
        (2..=4).contains(&reread),
        "{reread} caller reads for {} streams of 2 tokens",
        VIEWER_STREAMS + READER_STREAMS
    );
    assert_eq!(work.stream_log_reads(), log_reads);
}

/// Events of this size fill a stream's buffers after a few changes.
const BIG_NAME: usize = 60_000;
const BURST: usize = 250;

async fn a_stream_that_stops_reading_catches_up_from_the_log(app: TestApp) {
    app.create(app.admin(), new_source("watched"))
        .await
        .expect("create");
    let mut stalled = app.watch(app.admin(), live()).await.expect("watch");
    let mut reading = app.watch(app.admin(), live()).await.expect("watch");
    // Both have started (and read the log once, on their own).
    app.update(app.admin(), rename("watched", "warm"))
        .await
        .expect("update");
    next(&mut stalled).await;
    next(&mut reading).await;
    let log_reads = app.watch_work.stream_log_reads();

    // The reading stream keeps up while the other one reads nothing.
    for n in 0..BURST {
        let name = format!("{n:05}{}", "x".repeat(BIG_NAME));
        app.update(app.admin(), rename("watched", &name))
            .await
            .expect("update");
        let event = next(&mut reading).await;
        assert_eq!(&source_of(&event).name[..5], &name[..5]);
    }

    // Nothing missed, in order, with the source as each change left it.
    let events = take(&mut stalled, BURST).await;
    assert_increasing(&events);
    for (n, event) in events.iter().enumerate() {
        assert_eq!(kind(event), Kind::Updated);
        assert_eq!(&source_of(event).name[..5], format!("{n:05}"));
    }
    assert!(
        app.watch_work.stream_log_reads() > log_reads,
        "the stalled stream fell behind the feed and read the log"
    );
}

backend_tests!(
    apps: [
        database_work_per_change_does_not_grow_with_streams,
        a_stream_that_stops_reading_catches_up_from_the_log,
    ],
);
