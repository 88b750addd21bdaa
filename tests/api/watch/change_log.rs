//! The change log behind WatchPlexSources: it keeps no Plex token (a dump
//! of the database holds a token only while its source has it), rows of
//! the older format are still delivered, and a row this version cannot
//! read ends the stream with INTERNAL instead of being skipped.

use tonic::Code;

use super::{next, next_error, since, source_of};
use crate::{
    backend_tests,
    helpers::{Backend, TestApp, new_source, patch, pb, tool},
};

const FIRST: &str = "first-owner-token-0c4f2e";
const SECOND: &str = "second-owner-token-9b7d1a";

/// Every table of the database as text: `pg_dump`, or `sqlite3 .dump`.
fn dump(app: &TestApp, backend: Backend) -> Option<String> {
    let url = app.database_url();
    let output = match backend {
        Backend::Postgres => std::process::Command::new(tool("pg_dump")?)
            .arg(url)
            .output(),
        Backend::Sqlite => std::process::Command::new(tool("sqlite3")?)
            .arg(url.trim_start_matches("sqlite://"))
            .arg(".dump")
            .output(),
    }
    .expect("dump runs");
    assert!(output.status.success(), "{output:?}");
    Some(String::from_utf8_lossy(&output.stdout).into_owned())
}

async fn newest_revision(app: &TestApp) -> i64 {
    plex_source_service::store::events::latest_revision(&app.db)
        .await
        .expect("revision")
}

/// Appends a log row by hand, as an older or newer version would write it.
async fn append_raw(app: &TestApp, source: &pb::PlexSource, kind: &str, snapshot: String) {
    plex_source_service::store::events::append_as_written(
        &app.db,
        kind,
        source.pk.parse().expect("uuid"),
        &source.slug,
        snapshot,
    )
    .await
    .expect("append");
}

async fn tokens_live_only_in_the_source_table(app: TestApp) {
    let start = newest_revision(&app).await;
    let source = pb::PlexSource {
        plex_token: FIRST.into(),
        ..new_source("family")
    };
    app.create(app.admin(), source).await.expect("create");
    let body = pb::PlexSource {
        plex_token: SECOND.into(),
        ..Default::default()
    };
    app.update(app.admin(), patch("family", &["plex_token"], body))
        .await
        .expect("rotate token");

    // A caller allowed to see the token gets the current one in every event.
    let mut stream = app.watch(app.admin(), since(start)).await.expect("watch");
    for _ in 0..2 {
        assert_eq!(source_of(&next(&mut stream).await).plex_token, SECOND);
    }
    let Some(text) = dump(&app, app.backend) else {
        return;
    };
    assert!(!text.contains(FIRST), "the rotated token survives");
    assert_eq!(
        text.matches(SECOND).count(),
        1,
        "only plex_sources holds it"
    );

    app.delete(app.admin(), "family").await.expect("delete");
    let text = dump(&app, app.backend).expect("dump");
    assert!(!text.contains(FIRST) && !text.contains(SECOND));
}

async fn format_one_rows_are_still_delivered(app: TestApp) {
    let source = app
        .create(app.admin(), new_source("legacy"))
        .await
        .expect("create");
    let before = newest_revision(&app).await;
    // What the first release logged: the row's columns, token included.
    let row = format!(
        r#"{{"row":{{"pk":"{pk}","name":"Legacy name","slug":"legacy","enabled":true,
        "authentication_flow_id":null,"enrollment_flow_id":null,"policy_engine_mode":"all",
        "user_matching_mode":"identifier","managed":null,"user_path_template":"t",
        "icon":null,"group_matching_mode":"identifier","client_id":"{client}",
        "allowed_servers":[],"allow_friends":true,"plex_token":"stale-token",
        "search_text":"legacy"}},"user":[],"group":[],"viewers":[]}}"#,
        pk = source.pk,
        client = source.client_id,
    );
    append_raw(&app, &source, "updated", row).await;
    let mut stream = app.watch(app.admin(), since(before)).await.expect("watch");
    let event = next(&mut stream).await;
    assert_eq!(event.revision, before + 1);
    let shown = source_of(&event);
    assert_eq!(shown.name, "Legacy name");
    assert_eq!(shown.policy_engine_mode, pb::PolicyEngineMode::All as i32);
    // The token is the source's current one, never the logged copy.
    assert_eq!(shown.plex_token, "token-legacy");
}

async fn unreadable_rows_end_the_stream(app: TestApp) {
    let source = app
        .create(app.admin(), new_source("future"))
        .await
        .expect("create");
    let before = newest_revision(&app).await;
    append_raw(&app, &source, "updated", r#"{"v":99}"#.to_owned()).await;
    let mut stream = app.watch(app.admin(), since(before)).await.expect("watch");
    let status = next_error(&mut stream).await;
    assert_eq!(status.code(), Code::Internal, "{status:?}");
    assert_eq!(status.message(), "Internal server error.");
}

backend_tests!(
    apps: [
        tokens_live_only_in_the_source_table,
        format_one_rows_are_still_delivered,
        unreadable_rows_end_the_stream,
    ],
);
