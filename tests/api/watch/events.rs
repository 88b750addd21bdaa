//! Live events follow every write in order, whichever replica or importer
//! made it; an initial snapshot comes first when asked for.

use std::collections::HashSet;

use plex_source_service::store::events;

use super::{Kind, assert_increasing, kind, live, next, snapshot, source_of, summary, take};
use crate::{
    backend_tests,
    helpers::{TestApp, new_source, new_source_named, rename, reslug},
};

async fn events_follow_writes_in_order(app: TestApp) {
    let mut stream = app.watch(app.admin(), live()).await.expect("watch");

    let a = app
        .create(app.admin(), new_source_named("watch-a", "A"))
        .await
        .expect("create");
    let created_a = next(&mut stream).await;
    assert_eq!(kind(&created_a), Kind::Created);
    assert_eq!(created_a.slug, "watch-a");
    assert_eq!(created_a.pk, a.pk);
    assert!(created_a.revision > 0);
    assert_eq!(source_of(&created_a), &a, "the source as created");

    let a2 = app
        .update(app.admin(), rename("watch-a", "A renamed"))
        .await
        .expect("update");
    let updated_a = next(&mut stream).await;
    assert_eq!(kind(&updated_a), Kind::Updated);
    assert_eq!(updated_a.slug, "watch-a");
    assert_eq!(updated_a.pk, a.pk);
    assert_eq!(source_of(&updated_a).name, "A renamed");
    assert_eq!(source_of(&updated_a), &a2);

    let b = app
        .create(app.admin(), new_source_named("watch-b", "B"))
        .await
        .expect("create");
    let created_b = next(&mut stream).await;
    assert_eq!(kind(&created_b), Kind::Created);
    assert_eq!(created_b.slug, "watch-b");
    assert_eq!(created_b.pk, b.pk);
    assert_eq!(source_of(&created_b), &b);

    app.delete(app.admin(), "watch-a").await.expect("delete");
    let deleted_a = next(&mut stream).await;
    assert_eq!(kind(&deleted_a), Kind::Deleted);
    assert_eq!(deleted_a.slug, "watch-a");
    assert_eq!(deleted_a.pk, a.pk);
    assert_eq!(deleted_a.plex_source, None);

    // A rename of the slug is an update under the new slug, same pk.
    let renamed = app
        .update(app.admin(), reslug("watch-b", "watch-b2"))
        .await
        .expect("update");
    let updated_b = next(&mut stream).await;
    assert_eq!(kind(&updated_b), Kind::Updated);
    assert_eq!(updated_b.slug, "watch-b2");
    assert_eq!(updated_b.pk, b.pk);
    assert_eq!(source_of(&updated_b), &renamed);

    // Nothing else slipped in: the next event is the next write.
    app.create(app.admin(), new_source("watch-c"))
        .await
        .expect("create");
    let created_c = next(&mut stream).await;
    assert_eq!(
        summary(std::slice::from_ref(&created_c)),
        [(Kind::Created, "watch-c")]
    );

    assert_increasing(&[
        created_a, updated_a, created_b, deleted_a, updated_b, created_c,
    ]);
}

async fn initial_snapshot_lists_every_source_then_goes_live(app: TestApp) {
    // Nothing yet: the snapshot is just its end marker.
    let mut empty = app.watch(app.admin(), snapshot()).await.expect("watch");
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

    let mut stream = app.watch(app.admin(), snapshot()).await.expect("watch");
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
    app.create(app.admin(), new_source("after-snapshot"))
        .await
        .expect("create");
    app.update(app.admin(), rename("snap-007", "Seven"))
        .await
        .expect("update");
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

async fn blueprint_imports_produce_events(app: TestApp) {
    let mut stream = app.watch(app.admin(), live()).await.expect("watch");
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
        app.retrieve(app.admin(), "bp-x")
            .await
            .expect("retrieve")
            .pk
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
async fn changes_cross_replicas(app: TestApp) {
    let replica = app.replica().await;
    let mut on_replica = replica.watch(replica.admin(), live()).await.expect("watch");
    let mut on_app = app.watch(app.admin(), live()).await.expect("watch");

    let first = app
        .create(app.admin(), new_source("via-app"))
        .await
        .expect("create");
    let event = next(&mut on_replica).await;
    assert_eq!(
        summary(std::slice::from_ref(&event)),
        [(Kind::Created, "via-app")]
    );
    assert_eq!(source_of(&event), &first);

    let second = replica
        .create(replica.admin(), new_source("via-replica"))
        .await
        .expect("create");
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

    replica
        .update(replica.admin(), rename("via-app", "Renamed on the replica"))
        .await
        .expect("update");
    app.delete(app.admin(), "via-replica")
        .await
        .expect("delete");
    for stream in [&mut on_app, &mut on_replica] {
        let events = take(stream, 2).await;
        assert_eq!(
            summary(&events),
            [(Kind::Updated, "via-app"), (Kind::Deleted, "via-replica")]
        );
        assert_eq!(source_of(&events[0]).name, "Renamed on the replica");
    }
}

backend_tests!(
    apps: [
        events_follow_writes_in_order,
        initial_snapshot_lists_every_source_then_goes_live,
        blueprint_imports_produce_events,
        changes_cross_replicas,
    ],
);
