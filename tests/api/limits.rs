//! Input limits: oversized client input is refused with one bounded
//! INVALID_ARGUMENT that names the field and the limit, and the server keeps
//! serving (one ListPlexSources call with tens of thousands of search terms
//! once overflowed a worker's stack). The rules hold whatever the message
//! size limit: these servers take messages far larger than the default
//! (`security::costs` checks the default).

use plex_source_service::{
    app::{ServerSettings, StreamLimits},
    domain::access::Permission,
};
use tonic::{Code, Status};
use tonic_types::StatusExt;

use crate::{
    backend_tests,
    helpers::{Backend, TestApp, pb, spawn_app_with, test_settings},
};

const SOURCE: &str = "version: 1
entries:
  - model: authentik_sources_plex.plexsource
    identifiers: {slug: plex}
    attrs: {name: Plex, plex_token: owner-token}
";

/// The one violation on `field`, after checking the status is a bounded
/// INVALID_ARGUMENT.
fn violation(status: &Status, field: &str) -> String {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().len() < 4096,
        "message of {} bytes",
        status.message().len()
    );
    let bad = status.get_details_bad_request().expect("BadRequest detail");
    assert!(bad.field_violations.len() <= 101);
    let found: Vec<_> = bad
        .field_violations
        .iter()
        .filter(|v| v.field == field)
        .collect();
    assert_eq!(found.len(), 1, "{:?}", bad.field_violations);
    found[0].description.clone()
}

/// A server that decodes messages of up to 16 MiB, so the rules below,
/// not the size limit, meet the input.
async fn big_messages(backend: Backend) -> Option<TestApp> {
    let settings = ServerSettings {
        streams: StreamLimits {
            max_request_bytes: 16 << 20,
            ..StreamLimits::default()
        },
        ..test_settings()
    };
    spawn_app_with(backend, settings).await
}

async fn still_serving(app: &TestApp) {
    let source = app
        .retrieve(app.admin(), "plex")
        .await
        .expect("server still answers");
    assert_eq!(source.slug, "plex");
}

async fn search_terms_are_capped(backend: Backend) {
    let Some(app) = big_messages(backend).await else {
        return;
    };
    app.import(SOURCE).await.expect("import");
    let key = app.caller("viewer", &[(Permission::View, None)]).await;
    let list = |search: String| {
        app.list(
            &key,
            pb::ListPlexSourcesRequest {
                search,
                ..Default::default()
            },
        )
    };
    let status = list("plex ".repeat(70_000)).await.unwrap_err();
    let message = violation(&status, "search");
    assert!(message.contains("20 search terms"), "{message}");
    still_serving(&app).await;
    // Twenty terms are still a search.
    let page = list("plex ".repeat(20)).await.expect("20 terms");
    assert_eq!(page.total_size, 1);
}

async fn list_fields_are_capped_on_create(backend: Backend) {
    let Some(app) = big_messages(backend).await else {
        return;
    };
    app.import(SOURCE).await.expect("import");
    let create = |source: pb::PlexSource| app.create(app.admin(), source);
    let base = pb::PlexSource {
        name: "Big".into(),
        slug: "big".into(),
        plex_token: "t".into(),
        ..Default::default()
    };
    let status = create(pb::PlexSource {
        allowed_servers: vec!["0123456789abcdef".into(); 100_000],
        ..base.clone()
    })
    .await
    .unwrap_err();
    let message = violation(&status, "allowed_servers");
    assert!(message.contains("1000 elements"), "{message}");

    let ids = vec![uuid::Uuid::new_v4().to_string(); 5_000];
    let status = create(pb::PlexSource {
        user_property_mappings: ids,
        ..base.clone()
    })
    .await
    .unwrap_err();
    let message = violation(&status, "user_property_mappings");
    assert!(message.contains("1000 elements"), "{message}");
    // Nothing was written.
    assert_eq!(
        app.retrieve(app.admin(), "big").await.unwrap_err().code(),
        Code::NotFound
    );
    still_serving(&app).await;
}

async fn violations_are_bounded(backend: Backend) {
    let Some(app) = big_messages(backend).await else {
        return;
    };
    app.import(SOURCE).await.expect("import");
    let long = "y".repeat(2_000);
    let source = pb::PlexSource {
        name: "Many".into(),
        slug: "many".into(),
        plex_token: "t".into(),
        allowed_servers: vec![" ".into(); 900],
        group_property_mappings: vec![long; 900],
        ..Default::default()
    };
    let status = app.create(app.admin(), source).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(status.message().len() < 4096);
    let bad = status.get_details_bad_request().expect("BadRequest");
    let kept = bad.field_violations.len() - 1;
    assert!((1..=100).contains(&kept), "{kept} kept");
    let last = bad.field_violations.last().unwrap();
    assert_eq!(last.field, "non_field_errors");
    assert!(
        last.description
            .starts_with(&format!("{} more violation", 1800 - kept)),
        "{}",
        last.description
    );
    // Echoed values are cut, not repeated whole.
    assert!(
        bad.field_violations
            .iter()
            .all(|v| v.description.len() < 1024)
    );
    still_serving(&app).await;
}

async fn update_masks_are_capped(backend: Backend) {
    let Some(app) = big_messages(backend).await else {
        return;
    };
    app.import(SOURCE).await.expect("import");
    let request = pb::UpdatePlexSourceRequest {
        slug: "plex".into(),
        plex_source: Some(pb::PlexSource::default()),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["allow_friends".into(); 10_000],
        }),
    };
    let status = app.update(app.admin(), request).await.unwrap_err();
    let message = violation(&status, "update_mask");
    assert!(message.contains("64 paths"), "{message}");
    // Unknown paths each get a violation, bounded in count.
    let request = pb::UpdatePlexSourceRequest {
        slug: "plex".into(),
        plex_source: Some(pb::PlexSource::default()),
        update_mask: Some(prost_types::FieldMask {
            paths: (0..64).map(|i| format!("colour{i}")).collect(),
        }),
    };
    let status = app.update(app.admin(), request).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let bad = status.get_details_bad_request().expect("BadRequest");
    assert_eq!(bad.field_violations.len(), 64);
    let stored = app.retrieve(app.admin(), "plex").await.unwrap();
    assert_eq!(stored.allow_friends, Some(true));
}

backend_tests!(
    search_terms_are_capped,
    list_fields_are_capped_on_create,
    violations_are_bounded,
    update_masks_are_capped,
);
