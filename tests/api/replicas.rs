//! Two server instances on one database: whatever is cached, a change made
//! through one (or by the CLI) is observed through the other within one
//! second, also when the other's database connections are killed.

use std::time::{Duration, Instant};

use plex_source_service::{
    domain::access::Permission,
    store::access::{self, Principal},
};
use prost_types::FieldMask;
use sea_orm::ConnectionTrait;
use tonic::Code;

use crate::{
    backend_tests,
    helpers::{
        Backend, TestApp, create_caller, pb, spawn_app, spawn_app_on, test_settings, within,
    },
    proxy::postgres_behind_proxy,
};

/// The bound the README promises for other replicas.
const BOUND: Duration = Duration::from_secs(1);

const SOURCE: &str = r#"
version: 1
entries:
  - model: authentik_sources_plex.plexsource
    identifiers: {slug: shared}
    attrs: {name: Before, plex_token: t}
"#;

async fn rename(app: &TestApp, name: &str) {
    app.client
        .clone()
        .update_plex_source(app.admin(pb::UpdatePlexSourceRequest {
            slug: "shared".into(),
            plex_source: Some(pb::PlexSource {
                name: name.into(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["name".into()],
            }),
        }))
        .await
        .expect("update");
}

async fn name_seen(app: &TestApp, auth: &str) -> Result<String, tonic::Status> {
    app.retrieve_as(Some(auth), "shared").await.map(|s| s.name)
}

async fn changes_made_through_one_replica_reach_the_other_within_a_second(backend: Backend) {
    let Some(a) = spawn_app(backend).await else {
        return;
    };
    let b = a.replica().await;
    a.import(SOURCE).await.unwrap();
    b.settle().await;
    let viewer = format!("Bearer {}", create_caller(&a.db, "viewer", false).await);
    access::grant(
        &a.db,
        Permission::View,
        &Principal::User("viewer".into()),
        None,
    )
    .await
    .unwrap();
    a.settle().await;
    b.settle().await;
    // Warm both caches: caller and source.
    for server in [&a, &b] {
        for _ in 0..3 {
            assert_eq!(name_seen(server, &viewer).await.unwrap(), "Before");
        }
    }

    // An update through a: a sees it at once, b within the bound.
    rename(&a, "After").await;
    assert_eq!(name_seen(&a, &viewer).await.unwrap(), "After");
    let took = within(BOUND, "update seen through b", || async {
        name_seen(&b, &viewer).await.is_ok_and(|n| n == "After")
    })
    .await;
    eprintln!("update reached the other replica in {took:?}");

    // A permission revocation by the CLI: both replicas deny within the bound.
    access::revoke(
        &a.db,
        Permission::View,
        &Principal::User("viewer".into()),
        None,
    )
    .await
    .unwrap();
    for server in [&a, &b] {
        within(BOUND, "permission revocation", || async {
            name_seen(server, &viewer)
                .await
                .is_err_and(|s| s.code() == Code::PermissionDenied)
        })
        .await;
    }

    // A token revocation by the CLI.
    let admin = format!("Bearer {}", a.admin_key);
    assert!(name_seen(&b, &admin).await.is_ok());
    access::revoke_token(&a.db, "test-admin-token")
        .await
        .unwrap();
    for server in [&a, &b] {
        within(BOUND, "token revocation", || async {
            name_seen(server, &admin)
                .await
                .is_err_and(|s| s.code() == Code::Unauthenticated)
        })
        .await;
    }

    // A delete through b, seen through a.
    let deleter = format!("Bearer {}", create_caller(&a.db, "deleter", true).await);
    let mut request = tonic::Request::new(pb::DeletePlexSourceRequest {
        slug: "shared".into(),
    });
    request
        .metadata_mut()
        .insert("authorization", deleter.parse().unwrap());
    b.client
        .clone()
        .delete_plex_source(request)
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
    let admin = format!("Bearer {}", a.admin_key);
    assert_eq!(name_seen(&b, &admin).await.unwrap(), "Before");

    a.db.execute_unprepared(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .await
    .expect("terminate the replicas' connections");
    rename(&a, "After kill").await;
    within(
        BOUND,
        "update seen through b after its connections died",
        || async { name_seen(&b, &admin).await.is_ok_and(|n| n == "After kill") },
    )
    .await;
}

/// A replica whose database is cut off (connections dropped, new ones
/// refused) stops answering from its cache once the bound is over: it
/// answers UNAVAILABLE rather than stale data, and the new value once the
/// database is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_cut_off_from_postgres_serves_nothing_stale() {
    let Some((test_db, proxy, via_proxy)) = postgres_behind_proxy().await else {
        return;
    };
    let direct_url = test_db.url.clone();

    // b reaches the database through the proxy; a directly.
    let b = spawn_app_on(test_db, &via_proxy, test_settings()).await;
    let a = b.replica().await;
    let a_db = plex_source_service::store::connect(&direct_url)
        .await
        .unwrap();
    crate::helpers::import_yaml(&a_db, SOURCE).await.unwrap();
    b.settle().await;
    let admin = format!("Bearer {}", b.admin_key);
    assert_eq!(name_seen(&b, &admin).await.unwrap(), "Before");

    proxy.cut();
    let cut_at = Instant::now();
    // The change, made where b cannot see it.
    let key = create_caller(&a_db, "writer", true).await;
    let mut request = tonic::Request::new(pb::UpdatePlexSourceRequest {
        slug: "shared".into(),
        plex_source: Some(pb::PlexSource {
            name: "Changed".into(),
            ..Default::default()
        }),
        update_mask: Some(FieldMask {
            paths: vec!["name".into()],
        }),
    });
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {key}").parse().unwrap());
    a.client
        .clone()
        .update_plex_source(request)
        .await
        .expect("update through a");

    // Past the bound, b never answers with the old name.
    tokio::time::sleep_until((cut_at + BOUND).into()).await;
    let until = Instant::now() + Duration::from_millis(1500);
    let mut answers = 0;
    while Instant::now() < until {
        match name_seen(&b, &admin).await {
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
        || async { name_seen(&b, &admin).await.is_ok_and(|n| n == "Changed") },
    )
    .await;
}

backend_tests!(
    changes_made_through_one_replica_reach_the_other_within_a_second,
    killed_connections_do_not_leave_stale_reads,
);
