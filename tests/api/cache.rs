//! The read cache drops what a change affects, no more: a write to one
//! source leaves the others cached, on the replica that made it and on
//! another one; an access change drops callers, not sources. What changed
//! is still seen at once (or within the replica bound) under every slug.

use plex_source_service::domain::access::Permission;
use tonic::Code;

use crate::{
    backend_tests,
    helpers::{
        Backend, REPLICA_BOUND as BOUND, TestApp, new_source, rename, reslug, spawn_app, within,
    },
};

/// Source lookups `app`'s cache could not answer so far.
fn misses(app: &TestApp) -> u64 {
    app.cache.source_misses()
}

/// Reads `slug` as `key` right after a fresh poll; whether the read came
/// from the cache.
async fn cached_read(app: &TestApp, key: &str, slug: &str) -> bool {
    // A fresh poll vouches for the cache for a while: a late poll would
    // bypass it and make this a miss for reasons of its own.
    app.settle().await;
    let before = misses(app);
    app.retrieve(key, slug).await.expect("retrieve");
    misses(app) == before
}

async fn writes_to_one_source_leave_the_others_cached(backend: Backend) {
    let Some(a) = spawn_app(backend).await else {
        return;
    };
    let b = a.replica().await;
    for slug in ["hot", "other"] {
        a.create(a.admin(), new_source(slug)).await.expect("create");
    }
    let viewer = a.caller("viewer", &[(Permission::View, None)]).await;
    for app in [&a, &b] {
        app.settle().await;
        app.retrieve(&viewer, "hot").await.expect("warm");
        assert!(cached_read(app, &viewer, "hot").await, "warm entry is used");
    }

    // Updates of another source, through either replica: `hot` stays
    // cached on both, and the update itself is seen.
    for (n, writer) in [&a, &b, &a].into_iter().enumerate() {
        let name = format!("Other {n}");
        writer
            .update(writer.admin(), rename("other", &name))
            .await
            .expect("update");
        for app in [&a, &b] {
            assert!(
                cached_read(app, &viewer, "hot").await,
                "update {n} of another source dropped `hot`"
            );
            within(BOUND, "the update", || async {
                app.retrieve(&viewer, "other").await.unwrap().name == name
            })
            .await;
        }
    }

    // Another source created and deleted: `hot` stays.
    a.create(a.admin(), new_source("third"))
        .await
        .expect("create");
    b.delete(b.admin(), "third").await.expect("delete");
    for app in [&a, &b] {
        app.settle().await;
        assert_eq!(
            app.retrieve(&viewer, "third").await.unwrap_err().code(),
            Code::NotFound
        );
    }

    // An access change (a grant to someone else) drops callers, not sources.
    a.caller("someone", &[(Permission::View, Some("other"))])
        .await;
    for app in [&a, &b] {
        let callers = app.cache.caller_misses();
        assert!(cached_read(app, &viewer, "hot").await, "sources stay");
        assert!(
            app.cache.caller_misses() > callers,
            "the caller was read again"
        );
    }

    // A change of `hot` itself is seen at once where it was made, within
    // the bound elsewhere, under its new slug only.
    a.update(a.admin(), reslug("hot", "moved"))
        .await
        .expect("reslug");
    assert_eq!(
        a.retrieve(&viewer, "hot").await.unwrap_err().code(),
        Code::NotFound
    );
    within(BOUND, "the old slug gone on the other replica", || async {
        b.retrieve(&viewer, "hot")
            .await
            .is_err_and(|s| s.code() == Code::NotFound)
    })
    .await;
    for app in [&a, &b] {
        assert_eq!(app.retrieve(&viewer, "moved").await.unwrap().slug, "moved");
    }
    // The old slug, free again, names a new source at once.
    b.create(b.admin(), new_source("hot"))
        .await
        .expect("create");
    assert_eq!(b.retrieve(&viewer, "hot").await.unwrap().name, "Source hot");
}

backend_tests!(writes_to_one_source_leave_the_others_cached);
