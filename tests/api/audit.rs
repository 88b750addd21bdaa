//! The audit trail of Plex token hand-outs: written off the request path,
//! complete after a graceful stop.

use plex_source_service::{domain::access::Permission, store::access};

use crate::{
    backend_tests,
    helpers::{Backend, new_source, spawn_app},
};

const CALLS: usize = 300;

async fn a_graceful_stop_loses_no_hand_out(backend: Backend) {
    let Some(mut app) = spawn_app(backend).await else {
        return;
    };
    app.create(app.admin(), new_source("plex"))
        .await
        .expect("create");
    let reader = app
        .caller(
            "reader",
            &[(Permission::View, None), (Permission::ViewPlexToken, None)],
        )
        .await;
    let viewer = app.caller("viewer", &[(Permission::View, None)]).await;
    for _ in 0..CALLS {
        let shown = app.retrieve(&reader, "plex").await.expect("retrieve");
        assert_eq!(shown.plex_token, "token-plex");
        // Callers without the permission leave no record.
        app.retrieve(&viewer, "plex").await.expect("retrieve");
    }
    // Stop at once: whatever is still queued is written before the end.
    let server = app.begin_shutdown().expect("server running");
    server.await.expect("server task").expect("clean stop");
    let events = access::list_audit_events(&app.db).await.expect("audit");
    let by = |user: &str| -> i64 {
        events
            .iter()
            .filter(|e| e.username == user)
            .map(|e| e.occurrences)
            .sum()
    };
    assert_eq!(by("reader"), CALLS as i64, "every hand-out is counted");
    assert_eq!(by("viewer"), 0);
    assert!(events.iter().all(|e| e.object_slug == "plex"));
    // Counted per flush interval, not one row per read.
    let rows = events.iter().filter(|e| e.username == "reader").count();
    assert!(rows < CALLS, "{rows} rows for {CALLS} hand-outs");
    assert!(events.iter().all(|e| e.created <= e.last_seen));
}

backend_tests!(a_graceful_stop_loses_no_hand_out);
