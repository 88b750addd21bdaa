//! Two server instances on one database: whatever is cached, a change made
//! through one (or by the CLI) is observed through the other within one
//! second, also when the other's database connections are killed.

use std::time::{Duration, Instant};

use plex_source_service::{domain::access::Permission, store::access};
use tonic::Code;

use crate::{
    backend_tests,
    helpers::{Backend, REPLICA_BOUND as BOUND, TestApp, rename, spawn_app, within},
    proxy::app_behind_proxy,
};

const SOURCE: &str = r#"
version: 1
entries:
  - model: authentik_sources_plex.plexsource
    identifiers: {slug: shared}
    attrs: {name: Before, plex_token: t}
"#;

/// Renames the shared source as `key`.
async fn rename_shared(app: &TestApp, key: &str, name: &str) {
    app.update(key, rename("shared", name))
        .await
        .expect("update");
}

async fn name_seen(app: &TestApp, key: &str) -> Result<String, tonic::Status> {
    app.retrieve(key, "shared").await.map(|s| s.name)
}

/// Waits (at most [`BOUND`]) until `key` gets `code` from every server.
async fn refused_everywhere(servers: [&TestApp; 2], key: &str, code: Code, what: &str) {
    for server in servers {
        within(BOUND, what, || async {
            name_seen(server, key)
                .await
                .is_err_and(|s| s.code() == code)
        })
        .await;
    }
}

async fn changes_made_through_one_replica_reach_the_other_within_a_second(backend: Backend) {
    let Some(a) = spawn_app(backend).await else {
        return;
    };
    let b = a.replica().await;
    a.import(SOURCE).await.unwrap();
    b.settle().await;
    let viewer = a.caller("viewer", &[(Permission::View, None)]).await;
    b.settle().await;
    // Warm both caches: caller and source.
    for server in [&a, &b] {
        for _ in 0..3 {
            assert_eq!(name_seen(server, &viewer).await.unwrap(), "Before");
        }
    }

    // An update through a: a sees it at once, b within the bound.
    rename_shared(&a, &a.admin_key, "After").await;
    assert_eq!(name_seen(&a, &viewer).await.unwrap(), "After");
    let took = within(BOUND, "update seen through b", || async {
        name_seen(&b, &viewer).await.is_ok_and(|n| n == "After")
    })
    .await;
    eprintln!("update reached the other replica in {took:?}");

    // A permission revocation by the CLI: both replicas deny within the bound.
    a.revoke(Permission::View, "viewer", None).await;
    refused_everywhere(
        [&a, &b],
        &viewer,
        Code::PermissionDenied,
        "permission revocation",
    )
    .await;

    // A token revocation by the CLI.
    assert!(name_seen(&b, &a.admin_key).await.is_ok());
    access::revoke_token(&a.db, "test-admin-token")
        .await
        .unwrap();
    refused_everywhere(
        [&a, &b],
        &a.admin_key,
        Code::Unauthenticated,
        "token revocation",
    )
    .await;

    // A delete through b, seen through a.
    let deleter = a.superuser("deleter").await;
    b.delete(&deleter, "shared")
        .await
        .expect("delete through b");
    within(BOUND, "delete seen through a", || async {
        name_seen(&a, &deleter)
            .await
            .is_err_and(|s| s.code() == Code::NotFound)
    })
    .await;
}

/// The other replica's connections are killed by the database (as when a
/// listener or pool connection drops) just before a change: it reconnects
/// and never serves the old value past the bound.
async fn killed_connections_do_not_leave_stale_reads(backend: Backend) {
    let Some(a) = spawn_app(backend).await else {
        return;
    };
    if backend == Backend::Sqlite {
        // SQLite has no server connections to kill; the proxy test below
        // covers a lost database for both.
        return;
    }
    let b = a.replica().await;
    a.import(SOURCE).await.unwrap();
    b.settle().await;
    let admin = &a.admin_key;
    assert_eq!(name_seen(&b, admin).await.unwrap(), "Before");

    a.db.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .await
    .expect("terminate the replicas' connections");
    rename_shared(&a, admin, "After kill").await;
    within(
        BOUND,
        "update seen through b after its connections died",
        || async { name_seen(&b, admin).await.is_ok_and(|n| n == "After kill") },
    )
    .await;
}

/// A replica whose database is cut off (connections dropped, new ones
/// refused) stops answering from its cache once the bound is over: it
/// answers UNAVAILABLE rather than stale data, and the new value once the
/// database is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_cut_off_from_postgres_serves_nothing_stale() {
    // b reaches the database through the proxy; a directly.
    let Some((b, proxy)) = app_behind_proxy().await else {
        return;
    };
    let a = b.replica().await;
    a.import(SOURCE).await.unwrap();
    b.settle().await;
    let admin = &b.admin_key;
    assert_eq!(name_seen(&b, admin).await.unwrap(), "Before");

    proxy.cut();
    let cut_at = Instant::now();
    // The change, made where b cannot see it.
    let writer = a.superuser("writer").await;
    rename_shared(&a, &writer, "Changed").await;

    // Past the bound, b never answers with the old name.
    tokio::time::sleep_until((cut_at + BOUND).into()).await;
    let until = Instant::now() + Duration::from_millis(1500);
    let mut answers = 0;
    while Instant::now() < until {
        match name_seen(&b, admin).await {
            Ok(name) => assert_ne!(
                name,
                "Before",
                "stale data served {:?} after the cut",
                cut_at.elapsed()
            ),
            Err(status) => assert_eq!(status.code(), Code::Unavailable, "{status:?}"),
        }
        answers += 1;
    }
    assert!(answers > 0);

    proxy.restore().await;
    within(
        Duration::from_secs(15),
        "b back with the new value",
        || async { name_seen(&b, admin).await.is_ok_and(|n| n == "Changed") },
    )
    .await;
}

backend_tests!(
    changes_made_through_one_replica_reach_the_other_within_a_second,
    killed_connections_do_not_leave_stale_reads,
);
