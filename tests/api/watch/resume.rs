//! Resuming from a revision: exactly the missed events, or OUT_OF_RANGE
//! when the log no longer holds them.

use plex_source_service::store::events;
use tonic::{Code, Status};
use tonic_types::StatusExt;

use super::{Events, Kind, assert_increasing, live, next, since, source_of, summary, take};
use crate::{
    backend_tests,
    helpers::{TestApp, new_source, new_source_named, pb, rename},
};

async fn resuming_delivers_exactly_the_missed_events(app: TestApp) {
    let mut stream = app.watch(app.admin(), live()).await.expect("watch");
    app.create(app.admin(), new_source("res-a"))
        .await
        .expect("create");
    app.create(app.admin(), new_source("res-b"))
        .await
        .expect("create");
    let seen = take(&mut stream, 2).await;
    assert_eq!(
        summary(&seen),
        [(Kind::Created, "res-a"), (Kind::Created, "res-b")]
    );
    let last = seen[1].revision;
    drop(stream);

    app.create(app.admin(), new_source("res-c"))
        .await
        .expect("create");
    app.update(app.admin(), rename("res-b", "B two"))
        .await
        .expect("update");
    app.delete(app.admin(), "res-a").await.expect("delete");

    let mut resumed = app.watch(app.admin(), since(last)).await.expect("watch");
    let missed = take(&mut resumed, 3).await;
    assert_eq!(
        summary(&missed),
        [
            (Kind::Created, "res-c"),
            (Kind::Updated, "res-b"),
            (Kind::Deleted, "res-a"),
        ]
    );
    assert!(missed[0].revision > last, "nothing at or before {last}");
    assert_increasing(&missed);
    assert_eq!(source_of(&missed[1]).name, "B two");
    assert_eq!(missed[2].pk, seen[0].pk);
    // Then live, with nothing in between.
    app.create(app.admin(), new_source("res-d"))
        .await
        .expect("create");
    let live = next(&mut resumed).await;
    assert_eq!(
        summary(std::slice::from_ref(&live)),
        [(Kind::Created, "res-d")]
    );
    assert!(live.revision > missed[2].revision);

    // Resuming from an earlier revision replays from there.
    let mut replay = app
        .watch(app.admin(), since(seen[0].revision))
        .await
        .expect("watch");
    let replayed = take(&mut replay, 5).await;
    assert_eq!(
        summary(&replayed),
        [
            (Kind::Created, "res-b"),
            (Kind::Created, "res-c"),
            (Kind::Updated, "res-b"),
            (Kind::Deleted, "res-a"),
            (Kind::Created, "res-d"),
        ]
    );
    assert_eq!(replayed[0].revision, seen[1].revision);

    // Resuming from the newest revision waits for the next change.
    let mut current = app
        .watch(app.admin(), since(live.revision))
        .await
        .expect("watch");
    app.create(app.admin(), new_source("res-e"))
        .await
        .expect("create");
    let event = next(&mut current).await;
    assert_eq!(
        summary(std::slice::from_ref(&event)),
        [(Kind::Created, "res-e")]
    );
}

/// Each missed UPDATED event carries the source as that change left it.
async fn resumed_updates_carry_the_source_as_changed(app: TestApp) {
    let mut stream = app.watch(app.admin(), live()).await.expect("watch");
    app.create(app.admin(), new_source_named("versions", "First"))
        .await
        .expect("create");
    let last = next(&mut stream).await.revision;
    drop(stream);

    app.update(app.admin(), rename("versions", "Second"))
        .await
        .expect("update");
    app.update(app.admin(), rename("versions", "Third"))
        .await
        .expect("update");
    let mut resumed = app.watch(app.admin(), since(last)).await.expect("watch");
    let missed = take(&mut resumed, 2).await;
    assert_eq!(
        summary(&missed),
        [(Kind::Updated, "versions"), (Kind::Updated, "versions")]
    );
    assert_eq!(source_of(&missed[0]).name, "Second");
    assert_eq!(source_of(&missed[1]).name, "Third");
}

/// A source created, changed and deleted while the client was away still
/// yields its CREATED and UPDATED events before DELETED.
async fn resuming_replays_changes_of_a_source_deleted_since(app: TestApp) {
    let mut stream = app.watch(app.admin(), live()).await.expect("watch");
    app.create(app.admin(), new_source("stays"))
        .await
        .expect("create");
    let last = next(&mut stream).await.revision;
    drop(stream);

    let gone = app
        .create(app.admin(), new_source_named("short-lived", "Short"))
        .await
        .expect("create");
    app.update(app.admin(), rename("short-lived", "Shorter"))
        .await
        .expect("update");
    app.delete(app.admin(), "short-lived")
        .await
        .expect("delete");
    app.create(app.admin(), new_source("marker"))
        .await
        .expect("create");

    let mut resumed = app.watch(app.admin(), since(last)).await.expect("watch");
    let missed = take(&mut resumed, 4).await;
    assert_eq!(
        summary(&missed),
        [
            (Kind::Created, "short-lived"),
            (Kind::Updated, "short-lived"),
            (Kind::Deleted, "short-lived"),
            (Kind::Created, "marker"),
        ]
    );
    assert!(missed[..3].iter().all(|e| e.pk == gone.pk));
    assert_increasing(&missed);
}

async fn resume_points_outside_the_log_are_out_of_range(app: TestApp) {
    for slug in ["log-1", "log-2", "log-3", "log-4", "log-5"] {
        app.create(app.admin(), new_source(slug))
            .await
            .expect("create");
    }
    let revisions: Vec<i64> = events::changes_after(&app.db, 0, 100)
        .await
        .expect("log")
        .iter()
        .map(|c| c.revision)
        .collect();
    assert_eq!(revisions.len(), 5);
    let latest = revisions[4];

    let out_of_range = |result: Result<Events, Status>, why: &str| {
        let status = result.expect_err(why);
        assert_eq!(status.code(), Code::OutOfRange, "{why}: {status:?}");
        let info = status.get_details_error_info().expect("ErrorInfo");
        assert_eq!(info.reason, "RESYNC_REQUIRED", "{why}");
    };
    out_of_range(
        app.watch(app.admin(), since(latest + 1)).await,
        "ahead by one",
    );
    out_of_range(
        app.watch(
            app.admin(),
            pb::WatchPlexSourcesRequest {
                initial_snapshot: true,
                ..since(latest + 1000)
            },
        )
        .await,
        "far ahead, even with a snapshot",
    );
    // The newest revision itself is fine.
    app.watch(app.admin(), since(latest)).await.expect("watch");

    // Simulate pruning: only the two newest changes are retained.
    let keep_from = revisions[3];
    app.db
        .execute(&format!(
            "DELETE FROM plex_source_events WHERE revision < {keep_from}"
        ))
        .await
        .expect("prune");
    out_of_range(
        app.watch(app.admin(), since(revisions[1])).await,
        "changes after it were pruned",
    );
    out_of_range(
        app.watch(app.admin(), since(0)).await,
        "from the very beginning",
    );
    // Right before the oldest retained change misses nothing.
    let mut stream = app
        .watch(app.admin(), since(revisions[2]))
        .await
        .expect("watch");
    let rest = take(&mut stream, 2).await;
    assert_eq!(
        summary(&rest),
        [(Kind::Created, "log-4"), (Kind::Created, "log-5")]
    );
    assert_eq!(rest[0].revision, revisions[3]);
    assert_eq!(rest[1].revision, revisions[4]);
}

backend_tests!(
    apps: [
        resuming_delivers_exactly_the_missed_events,
        resumed_updates_carry_the_source_as_changed,
        resuming_replays_changes_of_a_source_deleted_since,
        resume_points_outside_the_log_are_out_of_range,
    ],
);
