//! Page tokens: bound to the arguments they were made for, and refused when
//! garbled or tampered with.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use tonic::Code;

use super::{ListRequest, assert_invalid, slugs};
use crate::{
    backend_tests,
    helpers::{Backend, pb, spawn_app},
};

const TOKEN_SOURCES: &str = r#"
version: 1
entries:
  - model: authentik_flows.flow
    id: auth-flow
    identifiers: {slug: tok-auth}
    attrs: {name: Auth, title: Auth, designation: authentication}
  - model: authentik_sources_plex.plexsource
    identifiers: {slug: tok-1}
    attrs: {name: Tok one, plex_token: t, authentication_flow: !KeyOf auth-flow}
  - model: authentik_sources_plex.plexsource
    identifiers: {slug: tok-2}
    attrs: {name: Tok two, plex_token: t, authentication_flow: !KeyOf auth-flow}
  - model: authentik_sources_plex.plexsource
    identifiers: {slug: tok-3}
    attrs: {name: Tok three, plex_token: t, authentication_flow: !KeyOf auth-flow}
  - model: authentik_sources_plex.plexsource
    identifiers: {slug: tok-4}
    attrs: {name: Tok four, plex_token: t, authentication_flow: !KeyOf auth-flow}
  - model: authentik_sources_plex.plexsource
    identifiers: {slug: tok-5}
    attrs: {name: Tok five, plex_token: t, authentication_flow: !KeyOf auth-flow}
"#;

async fn page_tokens_are_bound_to_their_arguments(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.import(TOKEN_SOURCES).await.expect("import");
    let flow = app
        .retrieve(app.admin(), "tok-1")
        .await
        .expect("retrieve")
        .authentication_flow
        .expect("flow set");
    let base = ListRequest {
        page_size: 2,
        search: "tok".into(),
        enabled: Some(true),
        authentication_flow: Some(flow.clone()),
        ordering: "-name".into(),
        ..Default::default()
    };
    let first = app
        .list(app.admin(), base.clone())
        .await
        .expect("first page");
    assert_eq!(slugs(&first.plex_sources), ["tok-2", "tok-3"]);
    let token = first.next_page_token;
    assert!(!token.is_empty());

    // The same arguments continue, whatever the page size.
    let second = app
        .list(
            app.admin(),
            ListRequest {
                page_token: token.clone(),
                ..base.clone()
            },
        )
        .await
        .expect("second page");
    assert_eq!(slugs(&second.plex_sources), ["tok-1", "tok-4"]);
    let bigger = app
        .list(
            app.admin(),
            ListRequest {
                page_size: 10,
                page_token: token.clone(),
                ..base.clone()
            },
        )
        .await
        .expect("other page size");
    assert_eq!(slugs(&bigger.plex_sources), ["tok-1", "tok-4", "tok-5"]);
    assert!(bigger.next_page_token.is_empty());

    let changed: Vec<(&str, ListRequest)> = vec![
        (
            "search",
            ListRequest {
                search: "tok t".into(),
                ..base.clone()
            },
        ),
        (
            "no search",
            ListRequest {
                search: String::new(),
                ..base.clone()
            },
        ),
        (
            "name",
            ListRequest {
                name: Some("Tok one".into()),
                ..base.clone()
            },
        ),
        (
            "slug",
            ListRequest {
                slug: Some("tok-1".into()),
                ..base.clone()
            },
        ),
        (
            "enabled",
            ListRequest {
                enabled: Some(false),
                ..base.clone()
            },
        ),
        (
            "enabled unset",
            ListRequest {
                enabled: None,
                ..base.clone()
            },
        ),
        (
            "authentication_flow",
            ListRequest {
                authentication_flow: None,
                ..base.clone()
            },
        ),
        (
            "enrollment_flow",
            ListRequest {
                enrollment_flow: Some(flow.clone()),
                ..base.clone()
            },
        ),
        (
            "policy_engine_mode",
            ListRequest {
                policy_engine_mode: Some(pb::PolicyEngineMode::Any as i32),
                ..base.clone()
            },
        ),
        (
            "user_matching_mode",
            ListRequest {
                user_matching_mode: Some(pb::UserMatchingMode::Identifier as i32),
                ..base.clone()
            },
        ),
        (
            "group_matching_mode",
            ListRequest {
                group_matching_mode: Some(pb::GroupMatchingMode::Identifier as i32),
                ..base.clone()
            },
        ),
        (
            "client_id",
            ListRequest {
                client_id: Some("x".into()),
                ..base.clone()
            },
        ),
        (
            "allow_friends",
            ListRequest {
                allow_friends: Some(true),
                ..base.clone()
            },
        ),
        (
            "ordering",
            ListRequest {
                ordering: "name".into(),
                ..base.clone()
            },
        ),
        (
            "default ordering",
            ListRequest {
                ordering: String::new(),
                ..base.clone()
            },
        ),
        (
            "ordering with another key",
            ListRequest {
                ordering: "-name,slug".into(),
                ..base.clone()
            },
        ),
    ];
    for (why, request) in changed {
        let status = app
            .list(
                app.admin(),
                ListRequest {
                    page_token: token.clone(),
                    ..request
                },
            )
            .await
            .expect_err(why);
        assert_invalid(&status, "page_token");
    }
}

async fn garbage_page_tokens_are_invalid(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.import(TOKEN_SOURCES).await.expect("import");
    let not_json = URL_SAFE_NO_PAD.encode(b"not json");
    let no_cursor = URL_SAFE_NO_PAD.encode(br#"{"f":"0123"}"#);
    for garbage in [
        "garbage!",
        "%%%",
        "AAAA",
        not_json.as_str(),
        no_cursor.as_str(),
        "eyJ",
    ] {
        let status = app
            .list(
                app.admin(),
                ListRequest {
                    page_size: 2,
                    page_token: garbage.to_owned(),
                    ..Default::default()
                },
            )
            .await
            .expect_err(garbage);
        assert_invalid(&status, "page_token");
    }
}

/// A token whose cursor was altered (the token is base64 JSON that a client
/// can edit) is a bad argument, not a server failure.
async fn tampered_page_tokens_are_invalid_arguments(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.import(TOKEN_SOURCES).await.expect("import");
    let request = ListRequest {
        page_size: 2,
        ..Default::default()
    };
    let token = app
        .list(app.admin(), request.clone())
        .await
        .expect("first page")
        .next_page_token;
    let decoded: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&token).expect("base64 token"))
            .expect("json token");
    assert!(decoded["a"].is_array(), "token layout changed: {decoded}");
    let tamper = |index: usize, value: serde_json::Value| {
        let mut edited = decoded.clone();
        edited["a"][index] = value;
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&edited).expect("json"))
    };
    // The name key given a boolean; the pk key given something not a uuid.
    for (why, edited) in [
        ("boolean for name", tamper(0, serde_json::Value::Bool(true))),
        ("pk not a uuid", tamper(1, "not-a-uuid".into())),
    ] {
        let status = app
            .list(
                app.admin(),
                ListRequest {
                    page_token: edited,
                    ..request.clone()
                },
            )
            .await
            .expect_err(why);
        assert_eq!(status.code(), Code::InvalidArgument, "{why}: {status:?}");
        assert_invalid(&status, "page_token");
    }
}

backend_tests!(
    page_tokens_are_bound_to_their_arguments,
    garbage_page_tokens_are_invalid,
    tampered_page_tokens_are_invalid_arguments,
);
