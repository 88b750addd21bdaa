//! Exact filters, alone and combined with each other and with search.

use tonic_types::StatusExt;

use super::{ListRequest, assert_invalid, sorted_slugs};
use crate::{
    backend_tests,
    helpers::{Backend, TestApp, pb, spawn_app},
};

const FILTER_SOURCES: &str = r#"
version: 1
entries:
  - model: authentik_flows.flow
    id: auth-flow
    identifiers: {slug: filter-auth}
    attrs: {name: Auth, title: Auth, designation: authentication}
  - model: authentik_flows.flow
    id: enroll-flow
    identifiers: {slug: filter-enroll}
    attrs: {name: Enroll, title: Enroll, designation: enrollment}
  - model: authentik_sources_plex.plexsource
    identifiers: {slug: one}
    attrs:
      name: One
      plex_token: t1
      enabled: true
      authentication_flow: !KeyOf auth-flow
      policy_engine_mode: all
      user_matching_mode: email_link
      group_matching_mode: name_link
      client_id: client-1
      allow_friends: false
  - model: authentik_sources_plex.plexsource
    identifiers: {slug: two}
    attrs:
      name: Two
      plex_token: t2
      enabled: false
      enrollment_flow: !KeyOf enroll-flow
      policy_engine_mode: any
      user_matching_mode: identifier
      group_matching_mode: identifier
      client_id: client-2
      allow_friends: true
  - model: authentik_sources_plex.plexsource
    identifiers: {slug: three}
    attrs:
      name: One
      plex_token: t3
      enabled: true
      authentication_flow: !KeyOf auth-flow
      policy_engine_mode: any
      user_matching_mode: email_link
      group_matching_mode: name_deny
      client_id: client-3
      allow_friends: true
  - model: authentik_sources_plex.plexsource
    identifiers: {slug: four}
    attrs:
      name: Four plex
      plex_token: t4
      enabled: false
      authentication_flow: !KeyOf auth-flow
      policy_engine_mode: all
      user_matching_mode: username_deny
      group_matching_mode: identifier
      client_id: client-4
      allow_friends: false
"#;

/// A server with [`FILTER_SOURCES`]; the pks of its authentication and
/// enrollment flows.
async fn app_with_filter_sources(backend: Backend) -> Option<(TestApp, String, String)> {
    let app = spawn_app(backend).await?;
    app.import(FILTER_SOURCES).await.expect("import");
    let auth = app
        .retrieve(app.admin(), "one")
        .await
        .expect("one")
        .authentication_flow
        .expect("auth flow");
    let enroll = app
        .retrieve(app.admin(), "two")
        .await
        .expect("two")
        .enrollment_flow
        .expect("enroll flow");
    Some((app, auth, enroll))
}

/// Lists with each request; exactly the wanted slugs, and as many in
/// `total_size`.
async fn assert_lists(app: &TestApp, cases: Vec<(&str, ListRequest, &[&str])>) {
    for (why, request, want) in cases {
        let got = app
            .list(app.admin(), request)
            .await
            .unwrap_or_else(|s| panic!("{why}: {s:?}"));
        assert_eq!(sorted_slugs(&got.plex_sources), want, "{why}");
        assert_eq!(got.total_size as usize, want.len(), "{why}");
    }
}

/// Name, slug and client id filters match the whole value, case and all.
async fn text_filters_match_whole_values(backend: Backend) {
    let Some((app, _, _)) = app_with_filter_sources(backend).await else {
        return;
    };
    let r = ListRequest::default;
    let cases: Vec<(&str, ListRequest, &[&str])> = vec![
        ("no filter", r(), &["four", "one", "three", "two"]),
        (
            "name",
            ListRequest {
                name: Some("One".into()),
                ..r()
            },
            &["one", "three"],
        ),
        (
            "name is exact",
            ListRequest {
                name: Some("one".into()),
                ..r()
            },
            &[],
        ),
        (
            "name is not a substring",
            ListRequest {
                name: Some("Four".into()),
                ..r()
            },
            &[],
        ),
        (
            "slug",
            ListRequest {
                slug: Some("two".into()),
                ..r()
            },
            &["two"],
        ),
        (
            "client_id",
            ListRequest {
                client_id: Some("client-3".into()),
                ..r()
            },
            &["three"],
        ),
        (
            "client_id is exact",
            ListRequest {
                client_id: Some("client".into()),
                ..r()
            },
            &[],
        ),
    ];
    assert_lists(&app, cases).await;
}

async fn boolean_filters_match_true_and_false(backend: Backend) {
    let Some((app, _, _)) = app_with_filter_sources(backend).await else {
        return;
    };
    let r = ListRequest::default;
    let cases: Vec<(&str, ListRequest, &[&str])> = vec![
        (
            "enabled false",
            ListRequest {
                enabled: Some(false),
                ..r()
            },
            &["four", "two"],
        ),
        (
            "enabled true",
            ListRequest {
                enabled: Some(true),
                ..r()
            },
            &["one", "three"],
        ),
        (
            "allow_friends false",
            ListRequest {
                allow_friends: Some(false),
                ..r()
            },
            &["four", "one"],
        ),
        (
            "allow_friends true",
            ListRequest {
                allow_friends: Some(true),
                ..r()
            },
            &["three", "two"],
        ),
    ];
    assert_lists(&app, cases).await;
}

async fn flow_filters_match_the_flow_in_any_case(backend: Backend) {
    let Some((app, auth, enroll)) = app_with_filter_sources(backend).await else {
        return;
    };
    let r = ListRequest::default;
    let cases: Vec<(&str, ListRequest, &[&str])> = vec![
        (
            "authentication_flow",
            ListRequest {
                authentication_flow: Some(auth.clone()),
                ..r()
            },
            &["four", "one", "three"],
        ),
        (
            "authentication_flow in upper case",
            ListRequest {
                authentication_flow: Some(auth.to_uppercase()),
                ..r()
            },
            &["four", "one", "three"],
        ),
        (
            "enrollment_flow",
            ListRequest {
                enrollment_flow: Some(enroll.clone()),
                ..r()
            },
            &["two"],
        ),
        (
            "authentication_flow that no source uses",
            ListRequest {
                authentication_flow: Some(enroll.clone()),
                ..r()
            },
            &[],
        ),
    ];
    assert_lists(&app, cases).await;
}

async fn mode_filters_match_one_choice(backend: Backend) {
    let Some((app, _, _)) = app_with_filter_sources(backend).await else {
        return;
    };
    let r = ListRequest::default;
    let cases: Vec<(&str, ListRequest, &[&str])> = vec![
        (
            "policy_engine_mode all",
            ListRequest {
                policy_engine_mode: Some(pb::PolicyEngineMode::All as i32),
                ..r()
            },
            &["four", "one"],
        ),
        (
            "policy_engine_mode any",
            ListRequest {
                policy_engine_mode: Some(pb::PolicyEngineMode::Any as i32),
                ..r()
            },
            &["three", "two"],
        ),
        (
            "user_matching_mode",
            ListRequest {
                user_matching_mode: Some(pb::UserMatchingMode::EmailLink as i32),
                ..r()
            },
            &["one", "three"],
        ),
        (
            "user_matching_mode unused",
            ListRequest {
                user_matching_mode: Some(pb::UserMatchingMode::UsernameLink as i32),
                ..r()
            },
            &[],
        ),
        (
            "group_matching_mode name_link",
            ListRequest {
                group_matching_mode: Some(pb::GroupMatchingMode::NameLink as i32),
                ..r()
            },
            &["one"],
        ),
        (
            "group_matching_mode identifier",
            ListRequest {
                group_matching_mode: Some(pb::GroupMatchingMode::Identifier as i32),
                ..r()
            },
            &["four", "two"],
        ),
    ];
    assert_lists(&app, cases).await;
}

async fn filters_combine_with_each_other_and_search(backend: Backend) {
    let Some((app, auth, _)) = app_with_filter_sources(backend).await else {
        return;
    };
    let r = ListRequest::default;
    let cases: Vec<(&str, ListRequest, &[&str])> = vec![
        (
            "enabled and allow_friends",
            ListRequest {
                enabled: Some(true),
                allow_friends: Some(true),
                ..r()
            },
            &["three"],
        ),
        (
            "flow, policy and search",
            ListRequest {
                authentication_flow: Some(auth.clone()),
                policy_engine_mode: Some(pb::PolicyEngineMode::All as i32),
                search: "plex".into(),
                ..r()
            },
            &["four"],
        ),
        (
            "name and search on the slug",
            ListRequest {
                name: Some("One".into()),
                search: "hre".into(),
                ..r()
            },
            &["three"],
        ),
        (
            "contradicting filters",
            ListRequest {
                slug: Some("one".into()),
                enabled: Some(false),
                ..r()
            },
            &[],
        ),
        (
            "every filter at once",
            ListRequest {
                name: Some("One".into()),
                slug: Some("one".into()),
                enabled: Some(true),
                authentication_flow: Some(auth.clone()),
                policy_engine_mode: Some(pb::PolicyEngineMode::All as i32),
                user_matching_mode: Some(pb::UserMatchingMode::EmailLink as i32),
                group_matching_mode: Some(pb::GroupMatchingMode::NameLink as i32),
                client_id: Some("client-1".into()),
                allow_friends: Some(false),
                search: "on".into(),
                ..r()
            },
            &["one"],
        ),
    ];
    assert_lists(&app, cases).await;
}

/// A malformed flow pk or an unknown choice is refused, naming only that
/// field.
async fn invalid_filter_values_name_only_their_field(backend: Backend) {
    let Some((app, _, _)) = app_with_filter_sources(backend).await else {
        return;
    };
    let r = ListRequest::default;
    let unknown_flow = uuid::Uuid::new_v4().to_string();
    for (why, request, field) in [
        (
            "unknown authentication flow",
            ListRequest {
                authentication_flow: Some(unknown_flow.clone()),
                ..r()
            },
            "authentication_flow",
        ),
        (
            "unknown enrollment flow",
            ListRequest {
                enrollment_flow: Some(unknown_flow.to_uppercase()),
                ..r()
            },
            "enrollment_flow",
        ),
        (
            "null character in a text filter",
            ListRequest {
                name: Some("One\0".into()),
                ..r()
            },
            "name",
        ),
        (
            "null character in search",
            ListRequest {
                search: "one\0".into(),
                ..r()
            },
            "search",
        ),
        (
            "malformed authentication flow",
            ListRequest {
                authentication_flow: Some("not-a-uuid".into()),
                ..r()
            },
            "authentication_flow",
        ),
        (
            "empty authentication flow",
            ListRequest {
                authentication_flow: Some(String::new()),
                ..r()
            },
            "authentication_flow",
        ),
        (
            "malformed enrollment flow",
            ListRequest {
                enrollment_flow: Some("1234".into()),
                ..r()
            },
            "enrollment_flow",
        ),
        (
            "unknown policy engine mode",
            ListRequest {
                policy_engine_mode: Some(99),
                ..r()
            },
            "policy_engine_mode",
        ),
        (
            "unknown user matching mode",
            ListRequest {
                user_matching_mode: Some(42),
                ..r()
            },
            "user_matching_mode",
        ),
        (
            "unknown group matching mode",
            ListRequest {
                group_matching_mode: Some(-3),
                ..r()
            },
            "group_matching_mode",
        ),
    ] {
        let is_flow = field.ends_with("_flow");
        let status = app.list(app.admin(), request).await.expect_err(why);
        let message = assert_invalid(&status, field);
        if is_flow {
            assert_eq!(
                message, "Select a valid choice. That choice is not one of the available choices.",
                "{why}: Django's ModelChoiceField message"
            );
            let bad = status.get_details_bad_request().expect("BadRequest");
            assert_eq!(bad.field_violations[0].reason, "INVALID_CHOICE", "{why}");
        }
        let fields: Vec<String> = status
            .get_details_bad_request()
            .expect("BadRequest")
            .field_violations
            .iter()
            .map(|v| v.field.clone())
            .collect();
        assert_eq!(fields, [field], "{why}: only the bad field is named");
    }
}

/// Both flow filters wrong at once, one unknown and one malformed, with
/// another bad argument: every problem in one answer, and a flow that
/// exists is no problem even when no source uses it.
async fn unknown_and_malformed_flows_are_reported_together(backend: Backend) {
    let Some((app, auth, enroll)) = app_with_filter_sources(backend).await else {
        return;
    };
    let status = app
        .list(
            app.admin(),
            ListRequest {
                authentication_flow: Some(uuid::Uuid::new_v4().simple().to_string()),
                enrollment_flow: Some(format!("{enroll}x")),
                ordering: "colour".into(),
                ..Default::default()
            },
        )
        .await
        .expect_err("three bad arguments");
    let got: Vec<(String, String)> = status
        .get_details_bad_request()
        .expect("BadRequest")
        .field_violations
        .into_iter()
        .map(|v| (v.field, v.reason))
        .collect();
    let want = [
        ("ordering", "INVALID"),
        ("authentication_flow", "INVALID_CHOICE"),
        ("enrollment_flow", "INVALID_CHOICE"),
    ];
    assert_eq!(
        got,
        want.map(|(f, r)| (f.to_owned(), r.to_owned())),
        "{status:?}"
    );
    // The flows themselves filter as before; braces and no hyphens are
    // the same id, as Python's uuid reads them.
    let page = app
        .list(
            app.admin(),
            ListRequest {
                authentication_flow: Some(format!("{{{auth}}}")),
                enrollment_flow: Some(enroll.replace('-', "")),
                ..Default::default()
            },
        )
        .await
        .expect("existing flows");
    assert!(page.plex_sources.is_empty(), "no source has both flows");
}

backend_tests!(
    text_filters_match_whole_values,
    boolean_filters_match_true_and_false,
    flow_filters_match_the_flow_in_any_case,
    mode_filters_match_one_choice,
    filters_combine_with_each_other_and_search,
    invalid_filter_values_name_only_their_field,
    unknown_and_malformed_flows_are_reported_together,
);
