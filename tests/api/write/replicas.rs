//! A write through one replica is read through another within the bound.

use tonic::Code;

use crate::{
    backend_tests,
    helpers::{REPLICA_BOUND, TestApp, new_source, rename, within},
};

async fn a_write_on_one_replica_is_read_on_another(app: TestApp) {
    let other = app.replica().await;
    // Warm both caches with "absent", then create through one.
    for server in [&app, &other] {
        assert_eq!(
            server
                .retrieve(server.admin(), "shared")
                .await
                .unwrap_err()
                .code(),
            Code::NotFound
        );
    }
    app.create(app.admin(), new_source("shared")).await.unwrap();
    assert_eq!(
        app.retrieve(app.admin(), "shared").await.unwrap().slug,
        "shared",
        "the writer sees it at once"
    );
    within(
        REPLICA_BOUND,
        "create seen by the other replica",
        || async { other.retrieve(other.admin(), "shared").await.is_ok() },
    )
    .await;
    other
        .update(other.admin(), rename("shared", "Changed there"))
        .await
        .unwrap();
    assert_eq!(
        other.retrieve(other.admin(), "shared").await.unwrap().name,
        "Changed there"
    );
    within(
        REPLICA_BOUND,
        "update seen by the first replica",
        || async {
            app.retrieve(app.admin(), "shared")
                .await
                .is_ok_and(|s| s.name == "Changed there")
        },
    )
    .await;
    other.delete(other.admin(), "shared").await.unwrap();
    assert_eq!(
        other
            .retrieve(other.admin(), "shared")
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );
    within(
        REPLICA_BOUND,
        "delete seen by the first replica",
        || async {
            app.retrieve(app.admin(), "shared")
                .await
                .is_err_and(|s| s.code() == Code::NotFound)
        },
    )
    .await;
}

backend_tests!(
    apps: [
        a_write_on_one_replica_is_read_on_another,
    ],
);
