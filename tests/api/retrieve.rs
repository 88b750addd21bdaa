//! RetrievePlexSource: every field, defaults, validation and not found.

use plex_source_service::store::{self, Match};
use tonic::Code;
use tonic_types::StatusExt;

use crate::{
    backend_tests,
    helpers::{TestApp, pb},
};

const FULL: &str = r#"
version: 1
entries:
  - model: authentik_flows.flow
    id: auth-flow
    identifiers: {slug: plex-auth}
    attrs: {name: Plex authentication, title: Welcome, designation: authentication}
  - model: authentik_flows.flow
    id: enroll-flow
    identifiers: {slug: plex-enroll}
    attrs: {name: Plex enrollment, title: Welcome, designation: enrollment}
  - model: authentik_sources_plex.plexsourcepropertymapping
    id: user-map
    identifiers: {name: "Plex: username"}
    attrs: {expression: "return {'username': info['username']}"}
  - model: authentik_sources_plex.plexsourcepropertymapping
    id: group-map
    identifiers: {name: "Plex: groups"}
    attrs: {expression: "return {}"}
  - model: authentik_sources_plex.plexsource
    identifiers: {slug: plex-full}
    attrs:
      name: Full Plex
      enabled: false
      authentication_flow: !KeyOf auth-flow
      enrollment_flow: !Find [authentik_flows.flow, [slug, plex-enroll]]
      user_property_mappings: [!KeyOf user-map]
      group_property_mappings: [!KeyOf group-map]
      policy_engine_mode: all
      user_matching_mode: username_deny
      user_path_template: "plex/%(slug)s/users"
      group_matching_mode: name_link
      client_id: fixedclientid0123456789abcdefABCDEF01234
      allowed_servers: [server-one, server-two]
      allow_friends: false
      plex_token: owner-token-value
      icon: https://example.com/plex.png
"#;

async fn retrieve_returns_every_field_as_imported(app: TestApp) {
    app.import(FULL).await.expect("import");
    let got = app
        .retrieve(app.admin(), "plex-full")
        .await
        .expect("retrieve");

    let stored = store::find_source(
        &app.db,
        &Match {
            slug: Some("plex-full".into()),
            ..Match::default()
        },
    )
    .await
    .unwrap()
    .remove(0);
    let pb::PlexSource {
        pk,
        name,
        slug,
        enabled,
        authentication_flow,
        enrollment_flow,
        user_property_mappings,
        group_property_mappings,
        component,
        verbose_name,
        verbose_name_plural,
        meta_model_name,
        policy_engine_mode,
        user_matching_mode,
        managed,
        user_path_template,
        icon,
        group_matching_mode,
        client_id,
        allowed_servers,
        allow_friends,
        plex_token,
    } = got;
    assert_eq!(pk, stored.pk.to_string());
    assert_eq!(pk, pk.to_lowercase());
    assert_eq!(uuid::Uuid::parse_str(&pk).unwrap().get_version_num(), 4);
    assert_eq!(name, "Full Plex");
    assert_eq!(slug, "plex-full");
    assert_eq!(enabled, Some(false));
    assert_eq!(authentication_flow, Some(app.flow_pk("plex-auth").await));
    assert_eq!(enrollment_flow, Some(app.flow_pk("plex-enroll").await));
    assert_eq!(
        user_property_mappings,
        vec![app.mapping_pk("Plex: username").await]
    );
    assert_eq!(
        group_property_mappings,
        vec![app.mapping_pk("Plex: groups").await]
    );
    assert_eq!(component, "ak-source-plex-form");
    assert_eq!(verbose_name, "Plex Source");
    assert_eq!(verbose_name_plural, "Plex Sources");
    assert_eq!(meta_model_name, "authentik_sources_plex.plexsource");
    assert_eq!(policy_engine_mode, pb::PolicyEngineMode::All as i32);
    assert_eq!(
        user_matching_mode,
        pb::UserMatchingMode::UsernameDeny as i32
    );
    assert_eq!(managed, None);
    assert_eq!(user_path_template, "plex/%(slug)s/users");
    assert_eq!(icon.as_deref(), Some("https://example.com/plex.png"));
    assert_eq!(group_matching_mode, pb::GroupMatchingMode::NameLink as i32);
    assert_eq!(client_id, "fixedclientid0123456789abcdefABCDEF01234");
    assert_eq!(allowed_servers, vec!["server-one", "server-two"]);
    assert_eq!(allow_friends, Some(false));
    assert_eq!(plex_token, "owner-token-value");
}

async fn a_minimal_source_gets_authentiks_defaults(app: TestApp) {
    app.import(
        r#"
version: 1
entries:
  - model: authentik_sources_plex.plexsource
    identifiers: {slug: minimal}
    attrs: {name: Minimal, plex_token: t0ken}
"#,
    )
    .await
    .expect("import");
    let got = app
        .retrieve(app.admin(), "minimal")
        .await
        .expect("retrieve");
    assert_eq!(got.enabled, Some(true));
    assert_eq!(got.authentication_flow, None);
    assert_eq!(got.enrollment_flow, None);
    assert!(got.user_property_mappings.is_empty());
    assert!(got.group_property_mappings.is_empty());
    assert_eq!(got.policy_engine_mode, pb::PolicyEngineMode::Any as i32);
    assert_eq!(
        got.user_matching_mode,
        pb::UserMatchingMode::Identifier as i32
    );
    assert_eq!(
        got.group_matching_mode,
        pb::GroupMatchingMode::Identifier as i32
    );
    assert_eq!(got.user_path_template, "goauthentik.io/sources/%(slug)s");
    assert_eq!(
        got.icon.as_deref(),
        Some("/static/authentik/sources/plex.svg")
    );
    assert_eq!(got.client_id.len(), 40);
    assert!(got.client_id.bytes().all(|b| b.is_ascii_alphanumeric()));
    assert!(got.allowed_servers.is_empty());
    assert_eq!(got.allow_friends, Some(true));
    assert_eq!(got.managed, None);
    assert_eq!(got.plex_token, "t0ken");
}

async fn each_invalid_slug_rule_is_reported(app: TestApp) {
    let long = "a".repeat(51);
    let cases = [
        ("", "BLANK", "This field may not be blank.", "empty slug"),
        (
            long.as_str(),
            "MAX_LENGTH",
            "Ensure this field has no more than 50 characters.",
            "51 characters",
        ),
        (
            "plex login",
            "INVALID",
            "Enter a valid \"slug\" consisting of letters, numbers, underscores or hyphens.",
            "space",
        ),
        (
            "plex/login",
            "INVALID",
            "Enter a valid \"slug\" consisting of letters, numbers, underscores or hyphens.",
            "slash",
        ),
        (
            "plëx",
            "INVALID",
            "Enter a valid \"slug\" consisting of letters, numbers, underscores or hyphens.",
            "non-ASCII letter",
        ),
    ];
    for (slug, reason, message, why) in cases {
        let status = app.retrieve(app.admin(), slug).await.expect_err(why);
        assert_eq!(status.code(), Code::InvalidArgument, "{why}");
        assert!(
            status.message().starts_with("slug: "),
            "{why}: {}",
            status.message()
        );
        let bad = status.get_details_bad_request().expect("BadRequest detail");
        assert_eq!(bad.field_violations.len(), 1, "{why}");
        assert_eq!(bad.field_violations[0].field, "slug", "{why}");
        assert_eq!(bad.field_violations[0].description, message, "{why}");
        assert_eq!(bad.field_violations[0].reason, reason, "{why}");
        let info = status.get_details_error_info().expect("ErrorInfo detail");
        assert_eq!(info.reason, "INVALID");
        assert_eq!(
            info.metadata.get("slug").map(|s| s.to_uppercase()),
            Some(reason.to_owned())
        );
        // Exactly one ErrorInfo, one BadRequest.
        let details = status.get_error_details_vec();
        assert_eq!(details.len(), 2, "{why}: {details:?}");
    }
    // 50 characters is the limit, not past it: a valid slug that is absent.
    let status = app
        .retrieve(app.admin(), &"a".repeat(50))
        .await
        .expect_err("absent");
    assert_eq!(status.code(), Code::NotFound);
}

async fn an_unknown_slug_is_not_found(app: TestApp) {
    let status = app
        .retrieve(app.admin(), "nobody-here")
        .await
        .expect_err("not found");
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(status.message(), "No PlexSource matches the given query.");
    assert_eq!(status.get_details_error_info().unwrap().reason, "NOT_FOUND");
}

async fn deleting_a_flow_clears_the_reference(app: TestApp) {
    app.import(FULL).await.expect("import");
    app.import(
        r#"
version: 1
entries:
  - model: authentik_flows.flow
    state: absent
    identifiers: {slug: plex-auth}
  - model: authentik_sources_plex.plexsourcepropertymapping
    state: absent
    identifiers: {name: "Plex: groups"}
"#,
    )
    .await
    .expect("import deletions");
    let got = app
        .retrieve(app.admin(), "plex-full")
        .await
        .expect("retrieve");
    assert_eq!(got.authentication_flow, None);
    assert!(got.enrollment_flow.is_some());
    assert!(got.group_property_mappings.is_empty());
    assert_eq!(got.user_property_mappings.len(), 1);
}

backend_tests!(
    apps: [
        retrieve_returns_every_field_as_imported,
        a_minimal_source_gets_authentiks_defaults,
        each_invalid_slug_rule_is_reported,
        an_unknown_slug_is_not_found,
        deleting_a_flow_clears_the_reference,
    ],
);
