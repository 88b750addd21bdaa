//! UpdatePlexSource: PUT versus PATCH, and slug renames.

use plex_source_service::domain::access::Permission;
use tonic::Code;

use super::violations;
use crate::{
    backend_tests,
    helpers::{Backend, named, new_source, patch, pb, put, rename, reslug, spawn_app},
};

async fn put_replaces_and_patch_changes_only_named_fields(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
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

    // PUT: required fields needed; unnamed fields back to defaults; client_id kept.
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

async fn renaming_the_slug_checks_uniqueness_and_keeps_permissions(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
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

backend_tests!(
    put_replaces_and_patch_changes_only_named_fields,
    renaming_the_slug_checks_uniqueness_and_keeps_permissions,
);
