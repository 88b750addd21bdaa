//! What a caller without grants can learn or cost: flows behind list
//! filters, database queries for bogus keys, and (from anyone who reaches
//! the admin port) database connections for scrapes.

use std::{sync::Arc, time::Duration};

use plex_source_service::domain::access::Permission;
use tonic::Code;

use crate::{
    backend_tests,
    helpers::{TestApp, new_source, pb},
    proxy::app_behind_proxy,
};

/// A caller who may view nothing is not told whether a flow exists: an
/// existing flow and a made-up one get the same answer.
async fn list_filters_do_not_tell_a_caller_without_grants_which_flows_exist(app: TestApp) {
    app.import(
        "version: 1
entries:
  - model: authentik_flows.flow
    identifiers: {slug: login}
    attrs: {name: Login, title: Login, designation: authentication}
",
    )
    .await
    .expect("import");
    let flow = app.flow_pk("login").await;
    let nobody = app.caller("nobody", &[]).await;
    for id in [flow, uuid::Uuid::new_v4().to_string()] {
        let status = app
            .list(
                &nobody,
                pb::ListPlexSourcesRequest {
                    authentication_flow: Some(id.clone()),
                    ..Default::default()
                },
            )
            .await
            .expect_err("denied");
        assert_eq!(status.code(), Code::PermissionDenied, "{id}: {status:?}");
    }
}

/// Thousands of distinct bogus keys cost a bounded number of queries (the
/// lookup budget), while a real key keeps working.
async fn a_flood_of_bogus_keys_costs_a_bounded_number_of_queries(app: TestApp) {
    app.create(app.admin(), new_source("plex"))
        .await
        .expect("create");
    let viewer = app.caller("viewer", &[(Permission::View, None)]).await;
    app.retrieve(&viewer, "plex").await.expect("a real key");
    let app = Arc::new(app);
    let before = app.cache.caller_misses();
    let started = std::time::Instant::now();
    let mut flood = tokio::task::JoinSet::new();
    for worker in 0..8 {
        let app = app.clone();
        flood.spawn(async move {
            for i in 0..250 {
                let key = format!("bogus-{worker}-{i}-{}", uuid::Uuid::new_v4());
                let status = app.retrieve(&key, "plex").await.expect_err("bogus");
                assert_eq!(status.code(), Code::Unauthenticated);
            }
        });
    }
    while let Some(done) = flood.join_next().await {
        done.expect("flood task");
    }
    let queries = app.cache.caller_misses() - before;
    let seconds = started.elapsed().as_secs_f64();
    // The budget: 100 at once, then 100 a second.
    let bound = 100.0 + 100.0 * seconds + 10.0;
    assert!(
        (queries as f64) <= bound,
        "{queries} key queries for 2,000 bogus keys in {seconds:.2} s (bound {bound:.0})"
    );
    app.retrieve(&viewer, "plex")
        .await
        .expect("the real key still works");
    // A key created during the flood's aftermath works at once.
    let fresh = app.caller("fresh", &[(Permission::View, None)]).await;
    app.retrieve(&fresh, "plex").await.expect("a new key");
}

backend_tests!(
    apps: [
        list_filters_do_not_tell_a_caller_without_grants_which_flows_exist,
        a_flood_of_bogus_keys_costs_a_bounded_number_of_queries,
    ],
);

/// A scrape answers from what the server knows: with the database answering
/// every packet three seconds late, it still answers at once (it used to
/// wait up to two seconds for a pooled connection).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_never_waits_for_the_database() {
    let Some((app, proxy)) = app_behind_proxy().await else {
        return;
    };
    proxy.delay_replies(Duration::from_secs(3));
    let addr = app.admin_addr.expect("admin port");
    for _ in 0..3 {
        let started = std::time::Instant::now();
        let (status, _, body) = crate::metrics::scrape_raw(addr).await;
        assert!(status.contains("200"), "{status}");
        assert!(body.contains("plexsource_db_pool_connections"));
        let took = started.elapsed();
        assert!(took < Duration::from_secs(1), "the scrape took {took:?}");
    }
}
