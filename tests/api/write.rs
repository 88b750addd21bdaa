//! CreatePlexSource, UpdatePlexSource and DeletePlexSource: validation,
//! defaults, PUT versus PATCH, slug renames, cascades and permissions.

use plex_source_service::{
    domain::access::Permission,
    store::{
        self, Lookup,
        access::{self, Principal},
    },
};
use prost_types::FieldMask;
use sea_orm::{ConnectionTrait, Statement};
use tonic::{Code, Status};
use tonic_types::StatusExt;

use crate::{
    backend_tests,
    helpers::{Backend, TestApp, create_caller, pb, spawn_app, within},
};

const CATALOG: &str = r#"
version: 1
entries:
  - model: authentik_flows.flow
    identifiers: {slug: w-auth}
    attrs: {name: Auth, designation: authentication}
  - model: authentik_flows.flow
    identifiers: {slug: w-enroll}
    attrs: {name: Enroll, designation: enrollment}
  - model: authentik_sources_plex.plexsourcepropertymapping
    identifiers: {name: w-user}
  - model: authentik_sources_plex.plexsourcepropertymapping
    identifiers: {name: w-group}
"#;

async fn flow_pk(app: &TestApp, slug: &str) -> String {
    store::flows::find(
        &app.db,
        &Lookup {
            pk: None,
            fields: vec![("slug", slug.into())],
        },
    )
    .await
    .unwrap()[0]
        .pk
        .to_string()
}

async fn mapping_pk(app: &TestApp, name: &str) -> String {
    store::mappings::find(
        &app.db,
        &Lookup {
            pk: None,
            fields: vec![("name", name.into())],
        },
    )
    .await
    .unwrap()[0]
        .pk
        .to_string()
}

fn minimal(slug: &str) -> pb::PlexSource {
    pb::PlexSource {
        name: format!("Source {slug}"),
        slug: slug.into(),
        plex_token: format!("token-{slug}"),
        ..Default::default()
    }
}

async fn create(app: &TestApp, source: pb::PlexSource) -> Result<pb::PlexSource, Status> {
    app.client
        .clone()
        .create_plex_source(app.admin(pb::CreatePlexSourceRequest {
            plex_source: Some(source),
        }))
        .await
        .map(tonic::Response::into_inner)
}

async fn update(
    app: &TestApp,
    slug: &str,
    source: pb::PlexSource,
    paths: Option<&[&str]>,
) -> Result<pb::PlexSource, Status> {
    let update_mask = paths.map(|p| FieldMask {
        paths: p.iter().map(|s| s.to_string()).collect(),
    });
    app.client
        .clone()
        .update_plex_source(app.admin(pb::UpdatePlexSourceRequest {
            slug: slug.into(),
            plex_source: Some(source),
            update_mask,
        }))
        .await
        .map(tonic::Response::into_inner)
}

async fn delete(app: &TestApp, key: &str, slug: &str) -> Result<(), Status> {
    app.client
        .clone()
        .delete_plex_source(app.authed(key, pb::DeletePlexSourceRequest { slug: slug.into() }))
        .await
        .map(|_| ())
}

/// (field, message) of every violation.
fn violations(status: &Status) -> Vec<(String, String)> {
    status
        .get_details_bad_request()
        .map(|b| {
            b.field_violations
                .into_iter()
                .map(|v| (v.field, v.description))
                .collect()
        })
        .unwrap_or_default()
}

async fn count_sources(app: &TestApp) -> usize {
    store::find_source(
        &app.db,
        &Lookup {
            pk: None,
            fields: vec![],
        },
    )
    .await
    .map(|v| v.len())
    .unwrap_or(0)
}

async fn a_minimal_create_gets_every_default(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let created = create(&app, minimal("fresh")).await.expect("create");
    assert_eq!(created.enabled, Some(true));
    assert_eq!(created.allow_friends, Some(true));
    assert_eq!(created.authentication_flow, None);
    assert_eq!(created.enrollment_flow, None);
    assert!(
        created.user_property_mappings.is_empty() && created.group_property_mappings.is_empty()
    );
    assert_eq!(created.policy_engine_mode, pb::PolicyEngineMode::Any as i32);
    assert_eq!(
        created.user_matching_mode,
        pb::UserMatchingMode::Identifier as i32
    );
    assert_eq!(
        created.group_matching_mode,
        pb::GroupMatchingMode::Identifier as i32
    );
    assert_eq!(
        created.user_path_template,
        "goauthentik.io/sources/%(slug)s"
    );
    assert_eq!(created.client_id.len(), 40);
    assert!(created.allowed_servers.is_empty());
    assert_eq!(
        created.icon.as_deref(),
        Some("/static/authentik/sources/plex.svg")
    );
    assert_eq!(created.component, "ak-source-plex-form");
    assert_eq!(created.plex_token, "token-fresh");
    assert_eq!(
        app.retrieve("fresh").await.unwrap(),
        created,
        "what create returns is what is stored"
    );
}

async fn every_field_can_be_written_and_read_only_fields_are_ignored(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.import(CATALOG).await.unwrap();
    let auth = flow_pk(&app, "w-auth").await;
    let enroll = flow_pk(&app, "w-enroll").await;
    let user_map = mapping_pk(&app, "w-user").await;
    let group_map = mapping_pk(&app, "w-group").await;
    let sent = pb::PlexSource {
        pk: "00000000-0000-4000-8000-000000000001".into(),
        name: "Full".into(),
        slug: "full".into(),
        enabled: Some(false),
        authentication_flow: Some(auth.clone()),
        enrollment_flow: Some(enroll.clone()),
        user_property_mappings: vec![user_map.clone()],
        group_property_mappings: vec![group_map.clone()],
        component: "evil".into(),
        verbose_name: "evil".into(),
        verbose_name_plural: "evil".into(),
        meta_model_name: "evil".into(),
        policy_engine_mode: pb::PolicyEngineMode::All as i32,
        user_matching_mode: pb::UserMatchingMode::EmailLink as i32,
        managed: Some("goauthentik.io/evil".into()),
        user_path_template: "plex/%(slug)s".into(),
        icon: Some("https://evil.example/icon.png".into()),
        group_matching_mode: pb::GroupMatchingMode::NameDeny as i32,
        client_id: "my-client-id".into(),
        allowed_servers: vec!["srv1".into(), "srv2".into()],
        allow_friends: Some(false),
        plex_token: "owner".into(),
    };
    let got = create(&app, sent).await.expect("create");
    assert_ne!(
        got.pk, "00000000-0000-4000-8000-000000000001",
        "pk is generated"
    );
    assert_eq!(got.component, "ak-source-plex-form");
    assert_eq!(got.managed, None);
    assert_eq!(
        got.icon.as_deref(),
        Some("/static/authentik/sources/plex.svg")
    );
    assert_eq!(got.enabled, Some(false));
    assert_eq!(got.authentication_flow, Some(auth));
    assert_eq!(got.enrollment_flow, Some(enroll));
    assert_eq!(got.user_property_mappings, vec![user_map]);
    assert_eq!(got.group_property_mappings, vec![group_map]);
    assert_eq!(got.policy_engine_mode, pb::PolicyEngineMode::All as i32);
    assert_eq!(
        got.user_matching_mode,
        pb::UserMatchingMode::EmailLink as i32
    );
    assert_eq!(
        got.group_matching_mode,
        pb::GroupMatchingMode::NameDeny as i32
    );
    assert_eq!(got.user_path_template, "plex/%(slug)s");
    assert_eq!(got.client_id, "my-client-id");
    assert_eq!(got.allowed_servers, vec!["srv1", "srv2"]);
    assert_eq!(got.allow_friends, Some(false));
}

async fn every_validation_rule_has_its_message(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.import(CATALOG).await.unwrap();
    create(&app, minimal("taken")).await.unwrap();
    let missing_uuid = "00000000-0000-4000-8000-00000000abcd";
    type Case = (&'static str, fn(&mut pb::PlexSource), &'static str, String);
    let cases: Vec<Case> = vec![
        (
            "missing name",
            |s| s.name.clear(),
            "name",
            "This field is required.".into(),
        ),
        (
            "blank name",
            |s| s.name = "   ".into(),
            "name",
            "This field may not be blank.".into(),
        ),
        (
            "missing slug",
            |s| s.slug.clear(),
            "slug",
            "This field is required.".into(),
        ),
        (
            "bad slug",
            |s| s.slug = "no spaces".into(),
            "slug",
            "Enter a valid \"slug\" consisting of letters, numbers, underscores or hyphens.".into(),
        ),
        (
            "long slug",
            |s| s.slug = "s".repeat(51),
            "slug",
            "Ensure this field has no more than 50 characters.".into(),
        ),
        (
            "missing token",
            |s| s.plex_token.clear(),
            "plex_token",
            "This field is required.".into(),
        ),
        (
            "blank token",
            |s| s.plex_token = " ".into(),
            "plex_token",
            "This field may not be blank.".into(),
        ),
        (
            "blank client id",
            |s| s.client_id = "  ".into(),
            "client_id",
            "This field may not be blank.".into(),
        ),
        (
            "unknown enum",
            |s| s.user_matching_mode = 42,
            "user_matching_mode",
            "\"42\" is not a valid choice.".into(),
        ),
        (
            "unknown flow",
            |s| s.enrollment_flow = Some("00000000-0000-4000-8000-00000000abcd".into()),
            "enrollment_flow",
            "Invalid pk \"00000000-0000-4000-8000-00000000abcd\" - object does not exist.".into(),
        ),
        (
            "malformed flow",
            |s| s.authentication_flow = Some("not-a-uuid".into()),
            "authentication_flow",
            "Invalid pk \"not-a-uuid\" - object does not exist.".into(),
        ),
        (
            "unknown mapping",
            |s| s.user_property_mappings = vec!["00000000-0000-4000-8000-00000000abcd".into()],
            "user_property_mappings[0]",
            "Invalid pk \"00000000-0000-4000-8000-00000000abcd\" - object does not exist.".into(),
        ),
        (
            "blank server",
            |s| s.allowed_servers = vec!["ok".into(), "".into()],
            "allowed_servers[1]",
            "This field may not be blank.".into(),
        ),
    ];
    assert!(missing_uuid.len() == 36);
    let before = count_sources(&app).await;
    for (why, mutate, field, message) in cases {
        let mut source = minimal("valid-slug");
        mutate(&mut source);
        let status = create(&app, source).await.expect_err(why);
        assert_eq!(status.code(), Code::InvalidArgument, "{why}: {status:?}");
        assert!(
            violations(&status).contains(&(field.to_owned(), message.clone())),
            "{why}: wanted {field}: {message}, got {:?}",
            violations(&status)
        );
    }
    // All violations of one request in one BadRequest.
    let status = create(
        &app,
        pb::PlexSource {
            user_matching_mode: 42,
            allowed_servers: vec![" ".into()],
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    let fields: Vec<String> = violations(&status).into_iter().map(|(f, _)| f).collect();
    for field in [
        "name",
        "slug",
        "user_matching_mode",
        "allowed_servers[0]",
        "plex_token",
    ] {
        assert!(
            fields.contains(&field.to_owned()),
            "{field} missing from {fields:?}"
        );
    }
    // A duplicate slug is ALREADY_EXISTS, with authentik's message.
    let status = create(&app, minimal("taken")).await.unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists);
    assert_eq!(
        violations(&status),
        [(
            "slug".to_owned(),
            "source with this slug already exists.".to_owned()
        )]
    );
    assert_eq!(
        status.get_details_error_info().unwrap().reason,
        "ALREADY_EXISTS"
    );
    // Nothing was written by any failed request.
    assert_eq!(count_sources(&app).await, before);
}

async fn put_replaces_and_patch_changes_only_named_fields(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let original = create(
        &app,
        pb::PlexSource {
            allowed_servers: vec!["a".into(), "b".into()],
            allow_friends: Some(false),
            user_matching_mode: pb::UserMatchingMode::UsernameLink as i32,
            user_path_template: "custom/%(slug)s".into(),
            ..minimal("edit-me")
        },
    )
    .await
    .unwrap();

    // PATCH one field: the rest stays.
    let patched = update(
        &app,
        "edit-me",
        pb::PlexSource {
            name: "Renamed".into(),
            ..Default::default()
        },
        Some(&["name"]),
    )
    .await
    .expect("patch name");
    assert_eq!(patched.name, "Renamed");
    assert_eq!(patched.allowed_servers, original.allowed_servers);
    assert_eq!(patched.user_matching_mode, original.user_matching_mode);
    assert_eq!(patched.plex_token, original.plex_token);

    // PATCH writes zero values it names: an empty list clears.
    let cleared = update(
        &app,
        "edit-me",
        pb::PlexSource::default(),
        Some(&["allowed_servers"]),
    )
    .await
    .unwrap();
    assert!(cleared.allowed_servers.is_empty());
    // ...and an empty required string is blank, an unset bool is null.
    let status = update(
        &app,
        "edit-me",
        pb::PlexSource::default(),
        Some(&["name", "enabled"]),
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
    let status = update(
        &app,
        "edit-me",
        pb::PlexSource {
            name: "Only name".into(),
            ..Default::default()
        },
        None,
    )
    .await
    .unwrap_err();
    let fields: Vec<String> = violations(&status).into_iter().map(|(f, _)| f).collect();
    assert_eq!(fields, ["slug", "plex_token"]);
    let replaced = update(&app, "edit-me", minimal("edit-me"), Some(&["*"]))
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
    let status = update(
        &app,
        "edit-me",
        pb::PlexSource::default(),
        Some(&["pk", "colour"]),
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
    create(&app, minimal("old-name")).await.unwrap();
    create(&app, minimal("other")).await.unwrap();
    let viewer = create_caller(&app.db, "viewer", false).await;
    access::grant(
        &app.db,
        Permission::View,
        &Principal::User("viewer".into()),
        Some("old-name"),
    )
    .await
    .unwrap();

    let status = update(
        &app,
        "old-name",
        pb::PlexSource {
            slug: "other".into(),
            ..Default::default()
        },
        Some(&["slug"]),
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists);
    // Keeping its own slug is no conflict.
    update(
        &app,
        "old-name",
        pb::PlexSource {
            slug: "old-name".into(),
            ..Default::default()
        },
        Some(&["slug"]),
    )
    .await
    .expect("same slug");

    let renamed = update(
        &app,
        "old-name",
        pb::PlexSource {
            slug: "new-name".into(),
            ..Default::default()
        },
        Some(&["slug"]),
    )
    .await
    .expect("rename");
    assert_eq!(renamed.slug, "new-name");
    assert_eq!(
        app.retrieve("old-name").await.unwrap_err().code(),
        Code::NotFound
    );
    let seen = app
        .retrieve_as(Some(&format!("Bearer {viewer}")), "new-name")
        .await
        .expect("permission follows the object");
    assert_eq!(seen.pk, renamed.pk);
}

async fn delete_removes_the_source_and_its_links_only(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.import(CATALOG).await.unwrap();
    let source = pb::PlexSource {
        authentication_flow: Some(flow_pk(&app, "w-auth").await),
        user_property_mappings: vec![mapping_pk(&app, "w-user").await],
        group_property_mappings: vec![mapping_pk(&app, "w-group").await],
        ..minimal("doomed")
    };
    create(&app, source).await.unwrap();
    delete(&app, &app.admin_key, "doomed")
        .await
        .expect("delete");
    assert_eq!(
        app.retrieve("doomed").await.unwrap_err().code(),
        Code::NotFound
    );
    assert_eq!(
        delete(&app, &app.admin_key, "doomed")
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );
    // Flows and mappings stay; links are gone.
    assert!(!flow_pk(&app, "w-auth").await.is_empty());
    assert!(!mapping_pk(&app, "w-group").await.is_empty());
    let backend = app.db.get_database_backend();
    for table in [
        "plex_source_user_property_mappings",
        "plex_source_group_property_mappings",
    ] {
        let rows = app
            .db
            .query_all_raw(Statement::from_string(
                backend,
                format!("SELECT source_id FROM {table}"),
            ))
            .await
            .unwrap();
        assert!(rows.is_empty(), "{table} still has links");
    }
}

async fn each_write_needs_its_permission(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    create(&app, minimal("a")).await.unwrap();
    create(&app, minimal("b")).await.unwrap();
    let user = create_caller(&app.db, "writer", false).await;
    let app = &app;
    let grant = |permission: Permission, slug: Option<&'static str>| async move {
        access::grant(&app.db, permission, &Principal::User("writer".into()), slug)
            .await
            .unwrap();
        app.settle().await;
    };
    let denied = |result: Result<pb::PlexSource, Status>| {
        let status = result.expect_err("denied");
        assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
        assert_eq!(
            status.message(),
            "You do not have permission to perform this action."
        );
    };
    let create_as = |slug: &str| {
        let request = app.authed(
            &user,
            pb::CreatePlexSourceRequest {
                plex_source: Some(minimal(slug)),
            },
        );
        let mut client = app.client.clone();
        async move {
            client
                .create_plex_source(request)
                .await
                .map(tonic::Response::into_inner)
        }
    };
    let patch_as = |slug: &str| {
        let request = app.authed(
            &user,
            pb::UpdatePlexSourceRequest {
                slug: slug.into(),
                plex_source: Some(pb::PlexSource {
                    name: "changed".into(),
                    ..Default::default()
                }),
                update_mask: Some(FieldMask {
                    paths: vec!["name".into()],
                }),
            },
        );
        let mut client = app.client.clone();
        async move {
            client
                .update_plex_source(request)
                .await
                .map(tonic::Response::into_inner)
        }
    };

    // Create needs the global add permission; an object grant does not count.
    denied(create_as("c").await);
    grant(Permission::Add, Some("a")).await;
    denied(create_as("c").await);
    grant(Permission::Add, None).await;
    create_as("c").await.expect("global add");

    // Update: change without view is denied, as is view without change; the
    // answer for an absent slug is the same denial.
    grant(Permission::Change, Some("a")).await;
    denied(patch_as("a").await);
    denied(patch_as("missing").await);
    grant(Permission::View, Some("a")).await;
    patch_as("a").await.expect("view + change on a");
    grant(Permission::View, Some("b")).await;
    denied(patch_as("b").await);
    denied(patch_as("missing").await);

    // Delete: view plus delete, global or on the object.
    assert_eq!(
        delete(app, &user, "a").await.unwrap_err().code(),
        Code::PermissionDenied
    );
    grant(Permission::Delete, Some("a")).await;
    delete(app, &user, "a").await.expect("delete a");
    assert_eq!(
        delete(app, &user, "b").await.unwrap_err().code(),
        Code::PermissionDenied
    );

    // No credentials: UNAUTHENTICATED for every write.
    let mut client = app.client.clone();
    let status = client
        .create_plex_source(pb::CreatePlexSourceRequest {
            plex_source: Some(minimal("x")),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    let status = client
        .delete_plex_source(pb::DeletePlexSourceRequest { slug: "b".into() })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
}

async fn a_write_on_one_replica_is_read_on_another(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let other = app.replica().await;
    let bound = std::time::Duration::from_secs(1);
    // Warm both caches with "absent", then create through one.
    for server in [&app, &other] {
        assert_eq!(
            server.retrieve("shared").await.unwrap_err().code(),
            Code::NotFound
        );
    }
    create(&app, minimal("shared")).await.unwrap();
    assert_eq!(
        app.retrieve("shared").await.unwrap().slug,
        "shared",
        "the writer sees it at once"
    );
    within(bound, "create seen by the other replica", || async {
        other.retrieve("shared").await.is_ok()
    })
    .await;
    update(
        &other,
        "shared",
        pb::PlexSource {
            name: "Changed there".into(),
            ..Default::default()
        },
        Some(&["name"]),
    )
    .await
    .unwrap();
    assert_eq!(
        other.retrieve("shared").await.unwrap().name,
        "Changed there"
    );
    within(bound, "update seen by the first replica", || async {
        app.retrieve("shared")
            .await
            .is_ok_and(|s| s.name == "Changed there")
    })
    .await;
    delete(&other, &other.admin_key, "shared").await.unwrap();
    assert_eq!(
        other.retrieve("shared").await.unwrap_err().code(),
        Code::NotFound
    );
    within(bound, "delete seen by the first replica", || async {
        app.retrieve("shared")
            .await
            .is_err_and(|s| s.code() == Code::NotFound)
    })
    .await;
}

backend_tests!(
    a_write_on_one_replica_is_read_on_another,
    a_minimal_create_gets_every_default,
    every_field_can_be_written_and_read_only_fields_are_ignored,
    every_validation_rule_has_its_message,
    put_replaces_and_patch_changes_only_named_fields,
    renaming_the_slug_checks_uniqueness_and_keeps_permissions,
    delete_removes_the_source_and_its_links_only,
    each_write_needs_its_permission,
);
