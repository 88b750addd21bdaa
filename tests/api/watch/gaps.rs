//! On PostgreSQL writers run side by side, so a revision can commit after
//! a later one. The change feed hands changes out in revision order all the
//! same: a later revision waits until the earlier one commits, or passes
//! it once its writer rolled back; the cache drops the later change at
//! once either way. A replica that starts while a write is in flight does
//! not vouch for its cache until that write has ended. SQLite writers
//! commit one after another, so there is nothing of this to test there.

use std::time::Duration;

use plex_source_service::{
    domain::Slug,
    store::{self, events},
};

use super::{Events, live, next};
use crate::helpers::{Backend, TestApp, new_source, spawn_app};

/// A store-level rename inside `txn`, as another replica or the CLI writes:
/// it draws the next revision.
async fn rename_in(txn: &store::Txn, slug: &str, name: &str) {
    let slug = Slug::parse(slug).expect("slug");
    let stored = store::lock_source_by_slug(txn, &slug)
        .await
        .expect("read")
        .expect("exists");
    let mut fields = stored.fields.clone();
    fields.name = name.to_owned();
    store::update_locked_source(txn, &stored, &fields)
        .await
        .expect("rename");
}

/// A rename committed at once on the test's own connection.
async fn rename_now(db: &store::Db, slug: &str, name: &str) {
    let txn = store::begin_write(db).await.expect("begin");
    rename_in(&txn, slug, name).await;
    txn.commit().await.expect("commit");
}

async fn watched_sources() -> Option<(TestApp, Events, i64)> {
    let app = spawn_app(Backend::Postgres).await?;
    for slug in ["early", "middle", "late"] {
        app.create(app.admin(), new_source(slug))
            .await
            .expect("create");
    }
    app.settle().await;
    let start = events::latest_revision(&app.db).await.expect("revision");
    let stream = app.watch(app.admin(), live()).await.expect("watch");
    // In the cache from here on.
    for slug in ["middle", "late"] {
        app.retrieve(app.admin(), slug).await.expect("retrieve");
    }
    Some((app, stream, start))
}

/// Waits until the server answers `slug` with `name` (its cache dropped
/// the old answer).
async fn until_named(app: &TestApp, slug: &str, name: &str) {
    for _ in 0..100 {
        let shown = app.retrieve(app.admin(), slug).await.expect("retrieve");
        if shown.name == name {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the server never showed {name:?}");
}

/// Asserts the stream hands out nothing for a while.
async fn quiet(stream: &mut Events) {
    let got = tokio::time::timeout(Duration::from_millis(700), stream.message()).await;
    assert!(got.is_err(), "nothing may go out yet: {got:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revision_that_commits_late_still_goes_out_first() {
    let Some((app, mut stream, start)) = watched_sources().await else {
        return;
    };
    // Revision start + 1, still being written...
    let early = store::begin_write(&app.db).await.expect("begin");
    rename_in(&early, "early", "Early, committed second").await;
    // ...while start + 2 commits.
    rename_now(&app.db, "late", "Late, committed first").await;

    // Reads see the committed change within a poll or two...
    until_named(&app, "late", "Late, committed first").await;
    // ...but watchers do not get it ahead of the one before it.
    quiet(&mut stream).await;

    early.commit().await.expect("commit");
    let first = next(&mut stream).await;
    let second = next(&mut stream).await;
    assert_eq!(
        (first.slug.as_str(), first.revision),
        ("early", start + 1),
        "{first:?}"
    );
    assert_eq!(
        (second.slug.as_str(), second.revision),
        ("late", start + 2),
        "{second:?}"
    );
    assert_eq!(
        first.plex_source.expect("source").name,
        "Early, committed second"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revision_rolled_back_is_passed_once_its_writer_ended() {
    let Some((app, mut stream, start)) = watched_sources().await else {
        return;
    };
    // A long transaction that is not a write of this service (another
    // application on the same server): it must not hold the feed up.
    let other = app.db.begin().await.expect("begin");
    other
        .execute("SELECT pg_current_xact_id()")
        .await
        .expect("a transaction id");

    let early = store::begin_write(&app.db).await.expect("begin");
    rename_in(&early, "early", "Never stored").await;
    rename_now(&app.db, "late", "Late, after a gap").await;
    until_named(&app, "late", "Late, after a gap").await;
    quiet(&mut stream).await;

    // The writer of start + 1 gives up: that revision never comes.
    early.rollback().await.expect("rollback");
    let event = next(&mut stream).await;
    assert_eq!(
        (event.slug.as_str(), event.revision),
        ("late", start + 2),
        "{event:?}"
    );
    let shown = app.retrieve(app.admin(), "early").await.expect("retrieve");
    assert_eq!(shown.name, new_source("early").name);
    other.rollback().await.expect("rollback");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_starts_during_a_write_still_sees_it() {
    let Some((app, _stream, _)) = watched_sources().await else {
        return;
    };
    // Revision n is being written while n + 1 commits...
    let early = store::begin_write(&app.db).await.expect("begin");
    rename_in(&early, "early", "Early, committed after the start").await;
    rename_now(&app.db, "late", "Late, committed before the start").await;
    // ...and another replica starts in between.
    let replica = &app.replica().await;
    until_named(replica, "early", "Source early").await;
    early.commit().await.expect("commit");
    // Its cache does not keep the answer from before the commit.
    until_named(replica, "early", "Early, committed after the start").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_behind_a_gap_leave_the_cache_as_they_commit() {
    let Some((app, mut stream, start)) = watched_sources().await else {
        return;
    };
    // start + 1 and start + 2 are being written while start + 3 commits.
    let early = store::begin_write(&app.db).await.expect("begin");
    rename_in(&early, "early", "Early, committed last").await;
    let middle = store::begin_write(&app.db).await.expect("begin");
    rename_in(&middle, "middle", "Middle, committed second").await;
    rename_now(&app.db, "late", "Late, committed first").await;
    until_named(&app, "late", "Late, committed first").await;
    quiet(&mut stream).await;

    // start + 2 commits while start + 1 still holds the feed: reads see it
    // at once, watchers still get nothing.
    middle.commit().await.expect("commit");
    until_named(&app, "middle", "Middle, committed second").await;
    // And so does a change committed after it.
    rename_now(&app.db, "late", "Late, committed fourth").await;
    until_named(&app, "late", "Late, committed fourth").await;
    quiet(&mut stream).await;

    early.commit().await.expect("commit");
    let mut seen = Vec::new();
    for _ in 0..4 {
        let event = next(&mut stream).await;
        seen.push((event.slug, event.revision));
    }
    let expected: Vec<(String, i64)> = [("early", 1), ("middle", 2), ("late", 3), ("late", 4)]
        .into_iter()
        .map(|(slug, n)| (slug.to_owned(), start + n))
        .collect();
    assert_eq!(seen, expected);
}
