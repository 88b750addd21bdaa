//! A long write (a 50,000-source import holds the writer lock for its whole
//! transaction) harms no one else: callers without permissions are denied
//! without waiting for the lock, reads keep answering (a Plex token
//! hand-out included: its audit record is written off the request path),
//! and a write that needs the lock gives up after the lock timeout with a
//! retryable UNAVAILABLE.

use std::time::{Duration, Instant};

use plex_source_service::{
    domain::access::Permission,
    grpc::error::BUSY_MESSAGE,
    store::{self, StoreError, access},
};
use tonic::Code;

use crate::{backend_tests, helpers::TestApp};

const SOURCES: usize = 50_000;

fn big_blueprint() -> String {
    let mut yaml = String::with_capacity(SOURCES * 160);
    yaml.push_str("version: 1\nentries:\n");
    for i in 0..SOURCES {
        yaml.push_str(&format!(
            "  - model: authentik_sources_plex.plexsource\n    identifiers: {{slug: bulk-{i}}}\n    attrs: {{name: Bulk {i}, plex_token: token-{i}}}\n"
        ));
    }
    yaml
}

/// Waits until another connection holds the writer lock.
async fn until_the_lock_is_held(app: &TestApp) {
    let probe = store::connect_with(app.database_url(), Duration::from_millis(50))
        .await
        .expect("probe connects");
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        match store::begin_write(&probe).await {
            Err(StoreError::Busy(_)) => return,
            Ok(txn) => txn.rollback().await.expect("rollback"),
            Err(other) => panic!("probe failed: {other}"),
        }
        assert!(Instant::now() < deadline, "the import never took the lock");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn a_long_import_blocks_only_writers(app: TestApp) {
    app.import(
        "version: 1\nentries:\n  - model: authentik_sources_plex.plexsource\n    identifiers: {slug: plex}\n    attrs: {name: Plex, plex_token: owner-token}\n",
    )
    .await
    .expect("import");
    let nobody = app.caller("nobody", &[]).await;
    let viewer = app.caller("viewer", &[(Permission::View, None)]).await;

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bulk.yaml");
    std::fs::write(&path, big_blueprint()).expect("write blueprint");
    let importer = store::connect(app.database_url()).await.expect("connect");
    let import =
        tokio::spawn(
            async move { plex_source_service::blueprint::import_file(&importer, &path).await },
        );
    until_the_lock_is_held(&app).await;

    // Fifty deletes by a caller without any grant: denied, none waits.
    let started = Instant::now();
    let deletes = (0..50).map(|_| app.delete(&nobody, "plex"));
    for result in futures::future::join_all(deletes).await {
        let status = result.expect_err("denied");
        assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    }
    // Had any waited for the lock, it would have taken the 5 s lock timeout;
    // on a quiet machine all fifty take well under a second.
    let took = started.elapsed();
    eprintln!("50 concurrent denials during the import: {took:?}");
    assert!(took < Duration::from_secs(3), "50 denials took {took:?}");

    // Reads keep answering, for viewers and for the superuser, who also
    // receives the Plex token.
    for _ in 0..5 {
        let shown = app.retrieve(&viewer, "plex").await.expect("viewer reads");
        assert_eq!(shown.plex_token, "");
        let shown = app
            .retrieve(app.admin(), "plex")
            .await
            .expect("admin reads");
        assert!(!shown.plex_token.is_empty());
    }

    // A write that needs the lock waits at most the lock timeout.
    let status = app
        .delete(app.admin(), "plex")
        .await
        .expect_err("the lock is held");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_eq!(status.message(), BUSY_MESSAGE);
    assert!(!import.is_finished(), "the import outlasted the checks");

    // Stopping the import rolls it back; the hand-outs are then recorded.
    import.abort();
    let _ = import.await;
    app.audit.flush().await;
    let views = access::list_audit_events(&app.db).await.expect("audit");
    let admin_views = views
        .iter()
        .filter(|e| e.object_slug == "plex" && e.username == "test-admin")
        .map(|e| e.occurrences)
        .sum::<i64>();
    assert_eq!(admin_views, 5);
    app.retrieve(app.admin(), "plex")
        .await
        .expect("still there");
}

backend_tests!(
    apps: [
        a_long_import_blocks_only_writers,
    ],
);
