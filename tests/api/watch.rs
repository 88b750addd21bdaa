//! WatchPlexSources: live events in order, the initial snapshot, resuming
//! from a revision, visibility, revocation, blueprint writes and replicas.

use std::{collections::HashSet, time::Duration};

use plex_source_service::{
    domain::access::Permission,
    store::{
        access::{self, Principal},
        events,
    },
};
use sea_orm::ConnectionTrait;
use tonic::{Code, Status, Streaming};
use tonic_types::StatusExt;

use crate::{
    backend_tests,
    helpers::{Backend, TestApp, create_caller, pb, spawn_app},
};

type Events = Streaming<pb::WatchPlexSourcesResponse>;
use pb::EventKind as Kind;

/// Guard against hanging only; events normally arrive within milliseconds.
const PATIENCE: Duration = Duration::from_secs(10);

async fn watch_as(
    app: &TestApp,
    key: &str,
    initial_snapshot: bool,
    since_revision: Option<i64>,
) -> Result<Events, Status> {
    app.client
        .clone()
        .watch_plex_sources(app.authed(
            key,
            pb::WatchPlexSourcesRequest {
                initial_snapshot,
                since_revision,
            },
        ))
        .await
        .map(tonic::Response::into_inner)
}

async fn watch(app: &TestApp, initial_snapshot: bool, since_revision: Option<i64>) -> Events {
    watch_as(app, &app.admin_key, initial_snapshot, since_revision)
        .await
        .expect("watch")
}

/// The next message, which must be an event.
async fn next(stream: &mut Events) -> pb::WatchPlexSourcesResponse {
    match tokio::time::timeout(PATIENCE, stream.message()).await {
        Ok(Ok(Some(event))) => event,
        Ok(Ok(None)) => panic!("stream ended"),
        Ok(Err(status)) => panic!("stream failed: {status:?}"),
        Err(_) => panic!("no event within {PATIENCE:?}"),
    }
}

/// The next message, which must be an error.
async fn next_error(stream: &mut Events) -> Status {
    match tokio::time::timeout(PATIENCE, stream.message()).await {
        Ok(Ok(Some(event))) => panic!("expected an error, got {event:?}"),
        Ok(Ok(None)) => panic!("stream ended without an error"),
        Ok(Err(status)) => status,
        Err(_) => panic!("no error within {PATIENCE:?}"),
    }
}

fn kind(event: &pb::WatchPlexSourcesResponse) -> Kind {
    Kind::try_from(event.kind).expect("known kind")
}

/// (kind, slug) of each event, for compact comparisons.
fn summary(events: &[pb::WatchPlexSourcesResponse]) -> Vec<(Kind, &str)> {
    events.iter().map(|e| (kind(e), e.slug.as_str())).collect()
}

async fn take(stream: &mut Events, n: usize) -> Vec<pb::WatchPlexSourcesResponse> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(next(stream).await);
    }
    out
}

fn assert_increasing(events: &[pb::WatchPlexSourcesResponse]) {
    for pair in events.windows(2) {
        assert!(
            pair[0].revision < pair[1].revision,
            "revisions must increase: {} then {}",
            pair[0].revision,
            pair[1].revision
        );
    }
}

async fn create_on(app: &TestApp, slug: &str, name: &str) -> pb::PlexSource {
    app.client
        .clone()
        .create_plex_source(app.admin(pb::CreatePlexSourceRequest {
            plex_source: Some(pb::PlexSource {
                name: name.to_owned(),
                slug: slug.to_owned(),
                plex_token: format!("token-{slug}"),
                ..Default::default()
            }),
        }))
        .await
        .expect("create")
        .into_inner()
}

async fn create(app: &TestApp, slug: &str) -> pb::PlexSource {
    create_on(app, slug, &format!("Source {slug}")).await
}

/// Patches one field (`name` or `slug`) of a source.
async fn patch(app: &TestApp, slug: &str, field: &str, source: pb::PlexSource) -> pb::PlexSource {
    app.client
        .clone()
        .update_plex_source(app.admin(pb::UpdatePlexSourceRequest {
            slug: slug.to_owned(),
            plex_source: Some(source),
            update_mask: Some(prost_types::FieldMask {
                paths: vec![field.to_owned()],
            }),
        }))
        .await
        .expect("update")
        .into_inner()
}

async fn rename(app: &TestApp, slug: &str, name: &str) -> pb::PlexSource {
    let body = pb::PlexSource {
        name: name.to_owned(),
        ..Default::default()
    };
    patch(app, slug, "name", body).await
}

async fn delete(app: &TestApp, slug: &str) {
    app.client
        .clone()
        .delete_plex_source(app.admin(pb::DeletePlexSourceRequest {
            slug: slug.to_owned(),
        }))
        .await
        .expect("delete");
}

async fn grant(app: &TestApp, permission: Permission, user: &str, slug: Option<&str>) {
    access::grant(&app.db, permission, &Principal::User(user.into()), slug)
        .await
        .expect("grant");
    // Direct store writes reach the server through its poll.
    app.settle().await;
}

fn source_of(event: &pb::WatchPlexSourcesResponse) -> &pb::PlexSource {
    event
        .plex_source
        .as_ref()
        .unwrap_or_else(|| panic!("plex_source missing in {event:?}"))
}

async fn events_follow_writes_in_order(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let mut stream = watch(&app, false, None).await;

    let a = create_on(&app, "watch-a", "A").await;
    let created_a = next(&mut stream).await;
    assert_eq!(kind(&created_a), Kind::Created);
    assert_eq!(created_a.slug, "watch-a");
    assert_eq!(created_a.pk, a.pk);
    assert!(created_a.revision > 0);
    assert_eq!(source_of(&created_a), &a, "the source as created");

    let a2 = rename(&app, "watch-a", "A renamed").await;
    let updated_a = next(&mut stream).await;
    assert_eq!(kind(&updated_a), Kind::Updated);
    assert_eq!(updated_a.slug, "watch-a");
    assert_eq!(updated_a.pk, a.pk);
    assert_eq!(source_of(&updated_a).name, "A renamed");
    assert_eq!(source_of(&updated_a), &a2);

    let b = create_on(&app, "watch-b", "B").await;
    let created_b = next(&mut stream).await;
    assert_eq!(kind(&created_b), Kind::Created);
    assert_eq!(created_b.slug, "watch-b");
    assert_eq!(created_b.pk, b.pk);
    assert_eq!(source_of(&created_b), &b);

    delete(&app, "watch-a").await;
    let deleted_a = next(&mut stream).await;
    assert_eq!(kind(&deleted_a), Kind::Deleted);
    assert_eq!(deleted_a.slug, "watch-a");
    assert_eq!(deleted_a.pk, a.pk);
    assert_eq!(deleted_a.plex_source, None);

    // A rename of the slug is an update under the new slug, same pk.
    let renamed = patch(
        &app,
        "watch-b",
        "slug",
        pb::PlexSource {
            slug: "watch-b2".into(),
            ..Default::default()
        },
    )
    .await;
    let updated_b = next(&mut stream).await;
    assert_eq!(kind(&updated_b), Kind::Updated);
    assert_eq!(updated_b.slug, "watch-b2");
    assert_eq!(updated_b.pk, b.pk);
    assert_eq!(source_of(&updated_b), &renamed);

    // Nothing else slipped in: the next event is the next write.
    create(&app, "watch-c").await;
    let created_c = next(&mut stream).await;
    assert_eq!(
        summary(std::slice::from_ref(&created_c)),
        [(Kind::Created, "watch-c")]
    );

    assert_increasing(&[
        created_a, updated_a, created_b, deleted_a, updated_b, created_c,
    ]);
}

async fn initial_snapshot_lists_every_source_then_goes_live(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    // Nothing yet: the snapshot is just its end marker.
    let mut empty = watch(&app, true, None).await;
    let complete = next(&mut empty).await;
    assert_eq!(kind(&complete), Kind::SnapshotComplete);
    assert_eq!(complete.plex_source, None);
    drop(empty);

    // More sources than one snapshot page.
    let mut yaml = String::from("version: 1\nentries:\n");
    for i in 0..520 {
        yaml.push_str(&format!(
            "  - model: authentik_sources_plex.plexsource\n    identifiers: {{slug: snap-{i:03}}}\n    attrs: {{name: Snap {i:03}, plex_token: t{i}}}\n"
        ));
    }
    app.import(&yaml).await.expect("import");
    let latest = events::latest_revision(&app.db).await.expect("latest");

    let mut stream = watch(&app, true, None).await;
    let mut existing = Vec::new();
    loop {
        let event = next(&mut stream).await;
        match kind(&event) {
            Kind::Existing => existing.push(event),
            Kind::SnapshotComplete => break,
            other => panic!("unexpected {other:?} during the snapshot"),
        }
    }
    assert_eq!(existing.len(), 520, "one EXISTING per source");
    let slugs: HashSet<&str> = existing.iter().map(|e| e.slug.as_str()).collect();
    assert_eq!(slugs.len(), 520, "no source twice");
    for i in 0..520 {
        assert!(slugs.contains(format!("snap-{i:03}").as_str()));
    }
    for event in &existing {
        let source = source_of(event);
        assert_eq!(source.slug, event.slug);
        assert_eq!(source.pk, event.pk);
        assert!(!event.pk.is_empty());
        assert!(event.revision <= latest);
    }

    // Then live changes.
    create(&app, "after-snapshot").await;
    rename(&app, "snap-007", "Seven").await;
    let live = take(&mut stream, 2).await;
    assert_eq!(
        summary(&live),
        [
            (Kind::Created, "after-snapshot"),
            (Kind::Updated, "snap-007")
        ]
    );
    assert_eq!(source_of(&live[1]).name, "Seven");
    assert!(live[0].revision > latest);
    assert_increasing(&live);
}

async fn resuming_delivers_exactly_the_missed_events(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let mut stream = watch(&app, false, None).await;
    create(&app, "res-a").await;
    create(&app, "res-b").await;
    let seen = take(&mut stream, 2).await;
    assert_eq!(
        summary(&seen),
        [(Kind::Created, "res-a"), (Kind::Created, "res-b")]
    );
    let last = seen[1].revision;
    drop(stream);

    create(&app, "res-c").await;
    rename(&app, "res-b", "B two").await;
    delete(&app, "res-a").await;

    let mut resumed = watch(&app, false, Some(last)).await;
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
    create(&app, "res-d").await;
    let live = next(&mut resumed).await;
    assert_eq!(
        summary(std::slice::from_ref(&live)),
        [(Kind::Created, "res-d")]
    );
    assert!(live.revision > missed[2].revision);

    // Resuming from an earlier revision replays from there.
    let mut replay = watch(&app, false, Some(seen[0].revision)).await;
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
    let mut current = watch(&app, false, Some(live.revision)).await;
    create(&app, "res-e").await;
    let event = next(&mut current).await;
    assert_eq!(
        summary(std::slice::from_ref(&event)),
        [(Kind::Created, "res-e")]
    );
}

/// Each missed UPDATED event carries the source as that change left it.
async fn resumed_updates_carry_the_source_as_changed(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let mut stream = watch(&app, false, None).await;
    create_on(&app, "versions", "First").await;
    let last = next(&mut stream).await.revision;
    drop(stream);

    rename(&app, "versions", "Second").await;
    rename(&app, "versions", "Third").await;
    let mut resumed = watch(&app, false, Some(last)).await;
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
async fn resuming_replays_changes_of_a_source_deleted_since(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let mut stream = watch(&app, false, None).await;
    create(&app, "stays").await;
    let last = next(&mut stream).await.revision;
    drop(stream);

    let gone = create_on(&app, "short-lived", "Short").await;
    rename(&app, "short-lived", "Shorter").await;
    delete(&app, "short-lived").await;
    create(&app, "marker").await;

    let mut resumed = watch(&app, false, Some(last)).await;
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

async fn resume_points_outside_the_log_are_out_of_range(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    for slug in ["log-1", "log-2", "log-3", "log-4", "log-5"] {
        create(&app, slug).await;
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
        watch_as(&app, &app.admin_key, false, Some(latest + 1)).await,
        "ahead by one",
    );
    out_of_range(
        watch_as(&app, &app.admin_key, true, Some(latest + 1000)).await,
        "far ahead, even with a snapshot",
    );
    // The newest revision itself is fine.
    watch(&app, false, Some(latest)).await;

    // Simulate pruning: only the two newest changes are retained.
    let keep_from = revisions[3];
    app.db
        .execute_unprepared(&format!(
            "DELETE FROM plex_source_events WHERE revision < {keep_from}"
        ))
        .await
        .expect("prune");
    out_of_range(
        watch_as(&app, &app.admin_key, false, Some(revisions[1])).await,
        "changes after it were pruned",
    );
    out_of_range(
        watch_as(&app, &app.admin_key, false, Some(0)).await,
        "from the very beginning",
    );
    // Right before the oldest retained change misses nothing.
    let mut stream = watch(&app, false, Some(revisions[2])).await;
    let rest = take(&mut stream, 2).await;
    assert_eq!(
        summary(&rest),
        [(Kind::Created, "log-4"), (Kind::Created, "log-5")]
    );
    assert_eq!(rest[0].revision, revisions[3]);
    assert_eq!(rest[1].revision, revisions[4]);
}

async fn watchers_see_only_sources_they_may_view(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    create(&app, "vis-a").await;
    create(&app, "vis-b").await;
    let one = create_caller(&app.db, "watch-one", false).await;
    grant(&app, Permission::View, "watch-one", Some("vis-a")).await;
    let all = create_caller(&app.db, "watch-all", false).await;
    grant(&app, Permission::View, "watch-all", None).await;

    let mut narrow = watch_as(&app, &one, true, None).await.expect("watch-one");
    let mut wide = watch_as(&app, &all, true, None).await.expect("watch-all");

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
    create(&app, "vis-c").await;
    rename(&app, "vis-b", "B 2").await;
    rename(&app, "vis-a", "A 2").await;
    let mut narrow_seen = take(&mut narrow, 1).await;
    let mut wide_seen = take(&mut wide, 3).await;
    delete(&app, "vis-b").await;
    rename(&app, "vis-a", "A 3").await;
    narrow_seen.extend(take(&mut narrow, 1).await);
    wide_seen.extend(take(&mut wide, 2).await);
    delete(&app, "vis-a").await;
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
async fn object_viewers_are_told_of_deletions(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let a = create(&app, "del-a").await;
    create(&app, "del-b").await;
    create(&app, "del-m").await;
    let one = create_caller(&app.db, "watch-one", false).await;
    grant(&app, Permission::View, "watch-one", Some("del-a")).await;
    grant(&app, Permission::View, "watch-one", Some("del-m")).await;
    // The same permissions held through a role.
    let member = create_caller(&app.db, "role-member", false).await;
    access::create_role(&app.db, "viewers").await.expect("role");
    access::assign_role(&app.db, "viewers", "role-member")
        .await
        .expect("assign");
    for slug in ["del-a", "del-m"] {
        access::grant(
            &app.db,
            Permission::View,
            &Principal::Role("viewers".into()),
            Some(slug),
        )
        .await
        .expect("role grant");
    }
    app.settle().await;
    let mut direct = watch_as(&app, &one, false, None).await.expect("watch");
    let mut through_role = watch_as(&app, &member, false, None).await.expect("watch");

    delete(&app, "del-b").await;
    delete(&app, "del-a").await;
    // A later visible change proves nothing else came in between.
    rename(&app, "del-m", "Marker").await;
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
    let mut resumed = watch_as(&app, &one, false, Some(deleted_at - 1))
        .await
        .expect("resume");
    let events = take(&mut resumed, 2).await;
    assert_eq!(
        summary(&events),
        [(Kind::Deleted, "del-a"), (Kind::Updated, "del-m")]
    );
}

async fn withdrawn_permissions_apply_to_running_streams(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    create(&app, "perm-a").await;
    create(&app, "perm-b").await;
    let key = create_caller(&app.db, "narrowed", false).await;
    grant(&app, Permission::View, "narrowed", Some("perm-a")).await;
    grant(&app, Permission::View, "narrowed", Some("perm-b")).await;
    let mut stream = watch_as(&app, &key, false, None).await.expect("watch");

    rename(&app, "perm-a", "A 1").await;
    assert_eq!(
        summary(std::slice::from_ref(&next(&mut stream).await)),
        [(Kind::Updated, "perm-a")]
    );
    access::revoke(
        &app.db,
        Permission::View,
        &Principal::User("narrowed".into()),
        Some("perm-a"),
    )
    .await
    .expect("revoke grant");
    app.settle().await;
    rename(&app, "perm-a", "A 2").await;
    rename(&app, "perm-b", "B 1").await;
    let event = next(&mut stream).await;
    assert_eq!(
        summary(std::slice::from_ref(&event)),
        [(Kind::Updated, "perm-b")],
        "perm-a is no longer visible"
    );
}

async fn a_revoked_token_ends_the_stream(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let key = create_caller(&app.db, "watcher", false).await;
    grant(&app, Permission::View, "watcher", None).await;
    let mut stream = watch_as(&app, &key, false, None).await.expect("watch");

    create(&app, "rev-a").await;
    assert_eq!(
        summary(std::slice::from_ref(&next(&mut stream).await)),
        [(Kind::Created, "rev-a")]
    );
    access::revoke_token(&app.db, "watcher-token")
        .await
        .expect("revoke token");
    app.settle().await;
    create(&app, "rev-b").await;
    let status = next_error(&mut stream).await;
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    // And the key no longer opens a stream.
    let status = watch_as(&app, &key, false, None)
        .await
        .expect_err("revoked key");
    assert_eq!(status.code(), Code::Unauthenticated);
}

async fn watching_needs_credentials(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let status = app
        .client
        .clone()
        .watch_plex_sources(pb::WatchPlexSourcesRequest::default())
        .await
        .expect_err("no credentials");
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    let status = watch_as(&app, "no-such-key", true, None)
        .await
        .expect_err("unknown key");
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
}

async fn blueprint_imports_produce_events(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let mut stream = watch(&app, false, None).await;
    app.import(
        r#"
version: 1
entries:
  - model: authentik_sources_plex.plexsource
    identifiers: {slug: bp-x}
    attrs: {name: X, plex_token: tx}
  - model: authentik_sources_plex.plexsource
    identifiers: {slug: bp-y}
    attrs: {name: Y, plex_token: ty}
"#,
    )
    .await
    .expect("import");
    let created = take(&mut stream, 2).await;
    assert_eq!(
        summary(&created),
        [(Kind::Created, "bp-x"), (Kind::Created, "bp-y")]
    );
    assert_eq!(source_of(&created[0]).name, "X");
    assert_eq!(source_of(&created[1]).plex_token, "ty");
    assert_eq!(
        created[0].pk,
        app.retrieve("bp-x").await.expect("retrieve").pk
    );

    app.import(
        r#"
version: 1
entries:
  - model: authentik_sources_plex.plexsource
    identifiers: {slug: bp-x}
    attrs: {name: X changed, plex_token: tx}
  - model: authentik_sources_plex.plexsource
    state: absent
    identifiers: {slug: bp-y}
"#,
    )
    .await
    .expect("second import");
    let changed = take(&mut stream, 2).await;
    assert_eq!(
        summary(&changed),
        [(Kind::Updated, "bp-x"), (Kind::Deleted, "bp-y")]
    );
    assert_eq!(source_of(&changed[0]).name, "X changed");
    assert_eq!(changed[1].pk, created[1].pk);
    let mut all = created;
    all.extend(changed);
    assert_increasing(&all);
}

/// A write through one replica reaches a watcher on another, both ways.
async fn changes_cross_replicas(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let replica = app.replica().await;
    let mut on_replica = watch(&replica, false, None).await;
    let mut on_app = watch(&app, false, None).await;

    let first = create(&app, "via-app").await;
    let event = next(&mut on_replica).await;
    assert_eq!(
        summary(std::slice::from_ref(&event)),
        [(Kind::Created, "via-app")]
    );
    assert_eq!(source_of(&event), &first);

    let second = create(&replica, "via-replica").await;
    let event = next(&mut on_app).await;
    assert_eq!(
        summary(std::slice::from_ref(&event)),
        [(Kind::Created, "via-app")]
    );
    let event = next(&mut on_app).await;
    assert_eq!(
        summary(std::slice::from_ref(&event)),
        [(Kind::Created, "via-replica")]
    );
    assert_eq!(source_of(&event), &second);
    let event = next(&mut on_replica).await;
    assert_eq!(
        summary(std::slice::from_ref(&event)),
        [(Kind::Created, "via-replica")]
    );

    rename(&replica, "via-app", "Renamed on the replica").await;
    delete(&app, "via-replica").await;
    for stream in [&mut on_app, &mut on_replica] {
        let events = take(stream, 2).await;
        assert_eq!(
            summary(&events),
            [(Kind::Updated, "via-app"), (Kind::Deleted, "via-replica")]
        );
        assert_eq!(source_of(&events[0]).name, "Renamed on the replica");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_replicas_see_each_others_writes() {
    changes_cross_replicas(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_replicas_see_each_others_writes() {
    changes_cross_replicas(Backend::Sqlite).await;
}

backend_tests!(
    events_follow_writes_in_order,
    initial_snapshot_lists_every_source_then_goes_live,
    resuming_delivers_exactly_the_missed_events,
    resumed_updates_carry_the_source_as_changed,
    resuming_replays_changes_of_a_source_deleted_since,
    resume_points_outside_the_log_are_out_of_range,
    watchers_see_only_sources_they_may_view,
    object_viewers_are_told_of_deletions,
    withdrawn_permissions_apply_to_running_streams,
    a_revoked_token_ends_the_stream,
    watching_needs_credentials,
    blueprint_imports_produce_events,
);
