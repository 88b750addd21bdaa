//! What each watcher is told: only sources it may view, with withdrawn
//! permissions and revoked tokens applied to running streams.

use plex_source_service::{domain::access::Permission, store::access};
use tonic::Code;

use super::{
    Kind, assert_increasing, kind, live, next, next_error, since, snapshot, source_of, summary,
    take,
};
use crate::{
    backend_tests,
    helpers::{Caller, TestApp, new_source, rename},
};

async fn watchers_see_only_sources_they_may_view(app: TestApp) {
    app.create(app.admin(), new_source("vis-a"))
        .await
        .expect("create");
    app.create(app.admin(), new_source("vis-b"))
        .await
        .expect("create");
    let one = app
        .caller("watch-one", &[(Permission::View, Some("vis-a"))])
        .await;
    let all = app.caller("watch-all", &[(Permission::View, None)]).await;

    let mut narrow = app.watch(&one, snapshot()).await.expect("watch-one");
    let mut wide = app.watch(&all, snapshot()).await.expect("watch-all");

    let snapshot = take(&mut narrow, 2).await;
    assert_eq!(
        summary(&snapshot),
        [(Kind::Existing, "vis-a"), (Kind::SnapshotComplete, "")]
    );
    assert_eq!(
        source_of(&snapshot[0]).plex_token,
        "",
        "no token permission"
    );
    let snapshot = take(&mut wide, 3).await;
    let mut existing = summary(&snapshot[..2]);
    existing.sort_unstable();
    assert_eq!(
        existing,
        [(Kind::Existing, "vis-a"), (Kind::Existing, "vis-b")]
    );
    assert_eq!(kind(&snapshot[2]), Kind::SnapshotComplete);

    // Each batch of writes is read before the next, so every source still
    // exists when its events are delivered.
    app.create(app.admin(), new_source("vis-c"))
        .await
        .expect("create");
    app.update(app.admin(), rename("vis-b", "B 2"))
        .await
        .expect("update");
    app.update(app.admin(), rename("vis-a", "A 2"))
        .await
        .expect("update");
    let mut narrow_seen = take(&mut narrow, 1).await;
    let mut wide_seen = take(&mut wide, 3).await;
    app.delete(app.admin(), "vis-b").await.expect("delete");
    app.update(app.admin(), rename("vis-a", "A 3"))
        .await
        .expect("update");
    narrow_seen.extend(take(&mut narrow, 1).await);
    wide_seen.extend(take(&mut wide, 2).await);
    app.delete(app.admin(), "vis-a").await.expect("delete");
    narrow_seen.extend(take(&mut narrow, 1).await);
    wide_seen.extend(take(&mut wide, 1).await);

    assert_eq!(
        summary(&narrow_seen),
        [
            (Kind::Updated, "vis-a"),
            (Kind::Updated, "vis-a"),
            (Kind::Deleted, "vis-a"),
        ]
    );
    assert_eq!(source_of(&narrow_seen[0]).name, "A 2");
    assert_eq!(source_of(&narrow_seen[1]).name, "A 3");
    assert_eq!(source_of(&narrow_seen[1]).plex_token, "");
    assert_increasing(&narrow_seen);

    assert_eq!(
        summary(&wide_seen),
        [
            (Kind::Created, "vis-c"),
            (Kind::Updated, "vis-b"),
            (Kind::Updated, "vis-a"),
            (Kind::Deleted, "vis-b"),
            (Kind::Updated, "vis-a"),
            (Kind::Deleted, "vis-a"),
        ]
    );
    assert_increasing(&wide_seen);
}

/// The deletion of a source the caller may view is an event for it, even
/// when this stream had not shown that source before.
async fn object_viewers_are_told_of_deletions(app: TestApp) {
    let a = app
        .create(app.admin(), new_source("del-a"))
        .await
        .expect("create");
    app.create(app.admin(), new_source("del-b"))
        .await
        .expect("create");
    app.create(app.admin(), new_source("del-m"))
        .await
        .expect("create");
    let visible = [
        (Permission::View, Some("del-a")),
        (Permission::View, Some("del-m")),
    ];
    let one = app.caller("watch-one", &visible).await;
    // The same permissions held through a role.
    let member = app.caller("role-member", &[]).await;
    app.role("viewers", &visible, &["role-member"]).await;
    let mut direct = app.watch(&one, live()).await.expect("watch");
    let mut through_role = app.watch(&member, live()).await.expect("watch");

    app.delete(app.admin(), "del-b").await.expect("delete");
    app.delete(app.admin(), "del-a").await.expect("delete");
    // A later visible change proves nothing else came in between.
    app.update(app.admin(), rename("del-m", "Marker"))
        .await
        .expect("update");
    let mut deleted_at = 0;
    for stream in [&mut direct, &mut through_role] {
        let events = take(stream, 2).await;
        assert_eq!(
            summary(&events),
            [(Kind::Deleted, "del-a"), (Kind::Updated, "del-m")]
        );
        assert_eq!(events[0].pk, a.pk);
        assert_eq!(events[0].plex_source, None);
        deleted_at = events[0].revision;
    }
    // Resuming from before the delete, after the grant went with the
    // source, still tells of it.
    let mut resumed = app
        .watch(&one, since(deleted_at - 1))
        .await
        .expect("resume");
    let events = take(&mut resumed, 2).await;
    assert_eq!(
        summary(&events),
        [(Kind::Deleted, "del-a"), (Kind::Updated, "del-m")]
    );
}

async fn withdrawn_permissions_apply_to_running_streams(app: TestApp) {
    app.create(app.admin(), new_source("perm-a"))
        .await
        .expect("create");
    app.create(app.admin(), new_source("perm-b"))
        .await
        .expect("create");
    let key = app
        .caller(
            "narrowed",
            &[
                (Permission::View, Some("perm-a")),
                (Permission::View, Some("perm-b")),
            ],
        )
        .await;
    let mut stream = app.watch(&key, live()).await.expect("watch");

    app.update(app.admin(), rename("perm-a", "A 1"))
        .await
        .expect("update");
    assert_eq!(
        summary(std::slice::from_ref(&next(&mut stream).await)),
        [(Kind::Updated, "perm-a")]
    );
    app.revoke(Permission::View, "narrowed", Some("perm-a"))
        .await;
    app.settle().await;
    app.update(app.admin(), rename("perm-a", "A 2"))
        .await
        .expect("update");
    app.update(app.admin(), rename("perm-b", "B 1"))
        .await
        .expect("update");
    let event = next(&mut stream).await;
    assert_eq!(
        summary(std::slice::from_ref(&event)),
        [(Kind::Updated, "perm-b")],
        "perm-a is no longer visible"
    );
}

async fn a_revoked_token_ends_the_stream(app: TestApp) {
    let key = app.caller("watcher", &[(Permission::View, None)]).await;
    let mut stream = app.watch(&key, live()).await.expect("watch");

    app.create(app.admin(), new_source("rev-a"))
        .await
        .expect("create");
    assert_eq!(
        summary(std::slice::from_ref(&next(&mut stream).await)),
        [(Kind::Created, "rev-a")]
    );
    access::revoke_token(&app.db, "watcher-token")
        .await
        .expect("revoke token");
    app.settle().await;
    app.create(app.admin(), new_source("rev-b"))
        .await
        .expect("create");
    let status = next_error(&mut stream).await;
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    // And the key no longer opens a stream.
    let status = app.watch(&key, live()).await.expect_err("revoked key");
    assert_eq!(status.code(), Code::Unauthenticated);
}

async fn watching_needs_credentials(app: TestApp) {
    let status = app
        .watch(Caller::Anonymous, live())
        .await
        .expect_err("no credentials");
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    let status = app
        .watch("no-such-key", snapshot())
        .await
        .expect_err("unknown key");
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
}

backend_tests!(
    apps: [
        watchers_see_only_sources_they_may_view,
        object_viewers_are_told_of_deletions,
        withdrawn_permissions_apply_to_running_streams,
        a_revoked_token_ends_the_stream,
        watching_needs_credentials,
    ],
);
