//! UpdatePlexSource: no mask (the populated fields), `*` (full
//! replacement), listed paths, and slug renames.

use plex_source_service::domain::access::Permission;
use tonic::Code;

use super::{CATALOG, violations};
use crate::{
    backend_tests,
    helpers::{TestApp, named, new_source, patch, pb, populated, put, rename, reslug},
};

async fn put_replaces_and_patch_changes_only_named_fields(app: TestApp) {
    let original = app
        .create(
            app.admin(),
            pb::PlexSource {
                allowed_servers: vec!["a".into(), "b".into()],
                allow_friends: Some(false),
                user_matching_mode: pb::UserMatchingMode::UsernameLink as i32,
                user_path_template: "custom/%(slug)s".into(),
                ..new_source("edit-me")
            },
        )
        .await
        .unwrap();

    // PATCH one field: the rest stays.
    let patched = app
        .update(app.admin(), rename("edit-me", "Renamed"))
        .await
        .expect("patch name");
    assert_eq!(patched.name, "Renamed");
    assert_eq!(patched.allowed_servers, original.allowed_servers);
    assert_eq!(patched.user_matching_mode, original.user_matching_mode);
    assert_eq!(patched.plex_token, original.plex_token);

    // PATCH writes zero values it names: an empty list clears.
    let cleared = app
        .update(
            app.admin(),
            patch("edit-me", &["allowed_servers"], pb::PlexSource::default()),
        )
        .await
        .unwrap();
    assert!(cleared.allowed_servers.is_empty());
    // ...and an empty required string is blank, an unset bool is null.
    let status = app
        .update(
            app.admin(),
            patch("edit-me", &["name", "enabled"], pb::PlexSource::default()),
        )
        .await
        .unwrap_err();
    assert_eq!(
        violations(&status),
        [
            ("name".to_owned(), "This field may not be blank.".to_owned()),
            (
                "enabled".to_owned(),
                "This field may not be null.".to_owned()
            )
        ]
    );

    // `*`: required fields needed; unnamed fields back to defaults; client_id kept.
    let status = app
        .update(app.admin(), put("edit-me", named("Only name")))
        .await
        .unwrap_err();
    let fields: Vec<String> = violations(&status).into_iter().map(|(f, _)| f).collect();
    assert_eq!(fields, ["slug", "plex_token"]);
    let replaced = app
        .update(app.admin(), patch("edit-me", &["*"], new_source("edit-me")))
        .await
        .expect("put");
    assert_eq!(replaced.name, "Source edit-me");
    assert_eq!(replaced.allow_friends, Some(true));
    assert_eq!(
        replaced.user_matching_mode,
        pb::UserMatchingMode::Identifier as i32
    );
    assert_eq!(
        replaced.user_path_template,
        "goauthentik.io/sources/%(slug)s"
    );
    assert_eq!(
        replaced.client_id, original.client_id,
        "PUT keeps the stored client_id"
    );
    assert_eq!(replaced.pk, original.pk);

    // Read-only and unknown paths are refused.
    let status = app
        .update(
            app.admin(),
            patch("edit-me", &["pk", "colour"], pb::PlexSource::default()),
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        violations(&status),
        [
            (
                "update_mask".to_owned(),
                "Field \"pk\" is read-only.".to_owned()
            ),
            (
                "update_mask".to_owned(),
                "Unknown field \"colour\".".to_owned()
            )
        ]
    );
}

async fn renaming_the_slug_checks_uniqueness_and_keeps_permissions(app: TestApp) {
    app.create(app.admin(), new_source("old-name"))
        .await
        .unwrap();
    app.create(app.admin(), new_source("other")).await.unwrap();
    let viewer = app
        .caller("viewer", &[(Permission::View, Some("old-name"))])
        .await;

    let status = app
        .update(app.admin(), reslug("old-name", "other"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists);
    // Keeping its own slug is no conflict.
    app.update(app.admin(), reslug("old-name", "old-name"))
        .await
        .expect("same slug");

    let renamed = app
        .update(app.admin(), reslug("old-name", "new-name"))
        .await
        .expect("rename");
    assert_eq!(renamed.slug, "new-name");
    assert_eq!(
        app.retrieve(app.admin(), "old-name")
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );
    let seen = app
        .retrieve(&viewer, "new-name")
        .await
        .expect("permission follows the object");
    assert_eq!(seen.pk, renamed.pk);
}

/// A source with every writable field away from its default.
async fn customised(app: &TestApp, slug: &str) -> pb::PlexSource {
    app.import(CATALOG).await.unwrap();
    app.create(
        app.admin(),
        pb::PlexSource {
            enabled: Some(false),
            allow_friends: Some(false),
            authentication_flow: Some(app.flow_pk("w-auth").await),
            enrollment_flow: Some(app.flow_pk("w-enroll").await),
            user_property_mappings: vec![app.mapping_pk("w-user").await],
            group_property_mappings: vec![app.mapping_pk("w-group").await],
            policy_engine_mode: pb::PolicyEngineMode::All as i32,
            user_matching_mode: pb::UserMatchingMode::EmailDeny as i32,
            group_matching_mode: pb::GroupMatchingMode::NameLink as i32,
            user_path_template: "custom/%(slug)s".into(),
            client_id: "client-of-the-test".into(),
            allowed_servers: vec!["server-a".into()],
            ..new_source(slug)
        },
    )
    .await
    .expect("create")
}

/// Without a mask, only the populated fields are written (AIP-134): what
/// the body leaves out keeps its stored value, where `*` would reset it.
async fn an_update_without_a_mask_keeps_what_it_leaves_out(app: TestApp) {
    let original = customised(&app, "keep").await;

    // One populated field: only it changes (the old contract reset
    // `enabled`, `allow_friends` and the flows here).
    let renamed = app
        .update(app.admin(), populated("keep", named("Kept")))
        .await
        .expect("rename without a mask");
    assert_eq!(renamed.name, "Kept");
    assert_eq!(
        pb::PlexSource {
            name: original.name.clone(),
            ..renamed.clone()
        },
        original,
        "every other field as stored"
    );

    // An empty mask is no mask.
    let same = app
        .update(app.admin(), patch("keep", &[], pb::PlexSource::default()))
        .await
        .expect("empty mask, empty body");
    assert_eq!(same, renamed, "nothing populated, nothing written");

    // `optional` fields are populated when set, `false` and "" included:
    // booleans can be turned off, a flow cleared, without a mask.
    let changed = app
        .update(
            app.admin(),
            populated(
                "keep",
                pb::PlexSource {
                    enabled: Some(true),
                    allow_friends: Some(false),
                    authentication_flow: Some(String::new()),
                    user_matching_mode: pb::UserMatchingMode::UsernameLink as i32,
                    allowed_servers: vec!["server-b".into()],
                    ..Default::default()
                },
            ),
        )
        .await
        .expect("populated fields");
    assert_eq!(changed.enabled, Some(true));
    assert_eq!(changed.allow_friends, Some(false));
    assert_eq!(changed.authentication_flow, None);
    assert_eq!(changed.enrollment_flow, original.enrollment_flow);
    assert_eq!(
        changed.user_matching_mode,
        pb::UserMatchingMode::UsernameLink as i32
    );
    assert_eq!(changed.allowed_servers, ["server-b"]);
    assert_eq!(changed.policy_engine_mode, original.policy_engine_mode);
    assert_eq!(
        changed.user_property_mappings,
        original.user_property_mappings
    );
    assert_eq!(changed.client_id, original.client_id);
    assert_eq!(changed.plex_token, original.plex_token);
    let off = app
        .update(
            app.admin(),
            populated(
                "keep",
                pb::PlexSource {
                    enabled: Some(false),
                    ..Default::default()
                },
            ),
        )
        .await
        .expect("enabled: false without a mask");
    assert_eq!(off.enabled, Some(false));
    assert_eq!(off.allow_friends, Some(false));

    // An empty list is not populated: clearing one takes a mask.
    let kept = app
        .update(
            app.admin(),
            populated(
                "keep",
                pb::PlexSource {
                    allowed_servers: vec![],
                    ..named("Kept")
                },
            ),
        )
        .await
        .unwrap();
    assert_eq!(kept.allowed_servers, ["server-b"]);
    let cleared = app
        .update(
            app.admin(),
            patch("keep", &["allowed_servers"], pb::PlexSource::default()),
        )
        .await
        .unwrap();
    assert!(cleared.allowed_servers.is_empty());

    // `*` is the full replacement: what is not populated takes the default.
    let replaced = app
        .update(app.admin(), put("keep", new_source("keep")))
        .await
        .expect("full replacement");
    assert_eq!(replaced.enabled, Some(true));
    assert_eq!(replaced.allow_friends, Some(true));
    assert_eq!(replaced.enrollment_flow, None);
    assert!(replaced.user_property_mappings.is_empty());
    assert_eq!(
        replaced.policy_engine_mode,
        pb::PolicyEngineMode::Any as i32
    );
    assert_eq!(replaced.client_id, original.client_id, "client_id is kept");
}

/// Without a mask, a required field that is present but blank is still an
/// error, reported with every other, and nothing is written.
async fn an_update_without_a_mask_refuses_present_blank_fields(app: TestApp) {
    let original = customised(&app, "strict").await;
    let status = app
        .update(
            app.admin(),
            populated(
                "strict",
                pb::PlexSource {
                    name: "   ".into(),
                    plex_token: "\t".into(),
                    slug: "no way".into(),
                    user_path_template: " ".into(),
                    allowed_servers: vec!["ok".into(), " ".into()],
                    enrollment_flow: Some("not-a-flow".into()),
                    enabled: Some(true),
                    ..Default::default()
                },
            ),
        )
        .await
        .expect_err("blank required fields");
    assert_eq!(status.code(), Code::InvalidArgument);
    let fields: Vec<String> = violations(&status).into_iter().map(|(f, _)| f).collect();
    assert_eq!(
        fields,
        [
            "name",
            "slug",
            "enrollment_flow",
            "user_path_template",
            "allowed_servers[1]",
            "plex_token"
        ]
    );
    assert_eq!(
        violations(&status)[0].1,
        "This field may not be blank.",
        "present but blank"
    );
    assert_eq!(
        app.retrieve(app.admin(), "strict").await.unwrap(),
        original,
        "nothing half-written"
    );
}

/// Two updates of one source at once, each naming a different field:
/// neither overwrites what the other wrote (the second reads the source
/// only once the first has committed).
async fn concurrent_updates_of_one_source_keep_both_changes(app: TestApp) {
    app.create(app.admin(), new_source("shared"))
        .await
        .expect("create");
    for round in 0..20 {
        let name = format!("Shared {round}");
        let client_id = format!("client-{round}");
        let by_name = app.update(app.admin(), rename("shared", &name));
        let body = pb::PlexSource {
            client_id: client_id.clone(),
            ..Default::default()
        };
        let by_client = app.update(app.admin(), patch("shared", &["client_id"], body));
        let (a, b) = tokio::join!(by_name, by_client);
        a.expect("rename");
        b.expect("new client id");
        let shown = app.retrieve(app.admin(), "shared").await.expect("read");
        assert_eq!(
            (shown.name, shown.client_id),
            (name, client_id),
            "round {round}"
        );
    }
}

backend_tests!(
    apps: [
        concurrent_updates_of_one_source_keep_both_changes,
        an_update_without_a_mask_keeps_what_it_leaves_out,
        an_update_without_a_mask_refuses_present_blank_fields,
        put_replaces_and_patch_changes_only_named_fields,
        renaming_the_slug_checks_uniqueness_and_keeps_permissions,
    ],
);
