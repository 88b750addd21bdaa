//! CreatePlexSource: defaults, every writable field, and one message per
//! validation rule.

use tonic::Code;
use tonic_types::StatusExt;

use super::{CATALOG, count_sources, violations};
use crate::{
    backend_tests,
    helpers::{TestApp, new_source, pb},
};

async fn a_minimal_create_gets_every_default(app: TestApp) {
    let created = app
        .create(app.admin(), new_source("fresh"))
        .await
        .expect("create");
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
        app.retrieve(app.admin(), "fresh").await.unwrap(),
        created,
        "what create returns is what is stored"
    );
}

async fn every_field_can_be_written_and_read_only_fields_are_ignored(app: TestApp) {
    app.import(CATALOG).await.unwrap();
    let auth = app.flow_pk("w-auth").await;
    let enroll = app.flow_pk("w-enroll").await;
    let user_map = app.mapping_pk("w-user").await;
    let group_map = app.mapping_pk("w-group").await;
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
    let got = app.create(app.admin(), sent).await.expect("create");
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

async fn every_validation_rule_has_its_message(app: TestApp) {
    app.import(CATALOG).await.unwrap();
    app.create(app.admin(), new_source("taken")).await.unwrap();
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
        let mut source = new_source("valid-slug");
        mutate(&mut source);
        let status = app.create(app.admin(), source).await.expect_err(why);
        assert_eq!(status.code(), Code::InvalidArgument, "{why}: {status:?}");
        assert!(
            violations(&status).contains(&(field.to_owned(), message.clone())),
            "{why}: wanted {field}: {message}, got {:?}",
            violations(&status)
        );
    }
    // All violations of one request in one BadRequest.
    let status = app
        .create(
            app.admin(),
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
    let status = app
        .create(app.admin(), new_source("taken"))
        .await
        .unwrap_err();
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

backend_tests!(
    apps: [
        a_minimal_create_gets_every_default,
        every_field_can_be_written_and_read_only_fields_are_ignored,
        every_validation_rule_has_its_message,
    ],
);
