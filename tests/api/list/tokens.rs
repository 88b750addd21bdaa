//! Page tokens: bound to the arguments they were made for, sealed with the
//! deployment's key (so every replica takes them), and refused when
//! garbled, tampered with or forged.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use tonic::Code;

use super::{ListRequest, assert_invalid, slugs};
use crate::{
    backend_tests,
    helpers::{Backend, TestApp, pb, spawn_app},
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

async fn page_tokens_are_bound_to_their_arguments(app: TestApp) {
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
        let message = assert_invalid(&status, "page_token");
        assert_eq!(
            message, "The page token was issued for other filter, search or ordering arguments.",
            "{why}"
        );
    }
}

async fn garbage_page_tokens_are_invalid(app: TestApp) {
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
        ".",
        "a.b",
        "..",
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

/// The parts of an issued token: its payload (base64url JSON) and seal.
fn split(token: &str) -> (&str, &str) {
    token.split_once('.').expect("token is <payload>.<seal>")
}

fn payload_json(payload: &str) -> serde_json::Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64 payload"))
        .expect("json payload")
}

async fn assert_bad_token(app: &TestApp, request: &ListRequest, token: String, why: &str) {
    let status = app
        .list(
            app.admin(),
            ListRequest {
                page_token: token,
                ..request.clone()
            },
        )
        .await
        .expect_err(why);
    assert_eq!(status.code(), Code::InvalidArgument, "{why}: {status:?}");
    assert_eq!(
        assert_invalid(&status, "page_token"),
        "Invalid page token.",
        "{why}"
    );
}

/// A token whose payload was altered (it is base64 JSON a client can edit)
/// is a bad argument, even when the edit would make a well-formed cursor:
/// the seal no longer matches.
async fn tampered_page_tokens_are_invalid_arguments(app: TestApp) {
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
    let (payload, seal) = split(&token);
    let decoded = payload_json(payload);
    assert_eq!(
        decoded["a"][0], "Tok four",
        "token layout changed: {decoded}"
    );
    let tamper = |index: usize, value: serde_json::Value| {
        let mut edited = decoded.clone();
        edited["a"][index] = value;
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&edited).expect("json"));
        format!("{payload}.{seal}")
    };
    // One byte of the payload changed: "Tok four" becomes "Tok fous".
    let mut bytes = URL_SAFE_NO_PAD.decode(payload).expect("base64 payload");
    let at = bytes
        .windows(8)
        .position(|w| w == b"Tok four")
        .expect("cursor in payload")
        + 7;
    bytes[at] = b's';
    let one_byte = format!("{}.{seal}", URL_SAFE_NO_PAD.encode(&bytes));
    for (why, edited) in [
        ("one byte of the cursor", one_byte),
        ("a cursor further on", tamper(0, "Tok one".into())),
        ("boolean for name", tamper(0, serde_json::Value::Bool(true))),
        ("pk not a uuid", tamper(1, "not-a-uuid".into())),
    ] {
        assert_bad_token(&app, &request, edited, why).await;
    }
    // The untouched token still works.
    let next = app
        .list(
            app.admin(),
            ListRequest {
                page_token: token.clone(),
                ..request.clone()
            },
        )
        .await
        .expect("issued token");
    assert_eq!(slugs(&next.plex_sources), ["tok-1", "tok-3"]);
}

/// Tokens this deployment did not issue: a well-formed payload (as an
/// issued one, or made up with the right fingerprint) under a made-up seal,
/// a seal made with another key, or no seal at all.
async fn forged_page_tokens_are_invalid_arguments(app: TestApp) {
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
    let (payload, seal) = split(&token);
    let decoded = payload_json(payload);
    let pk = app.retrieve(app.admin(), "tok-1").await.expect("pk").pk;
    let made_up = URL_SAFE_NO_PAD.encode(
        serde_json::to_vec(&serde_json::json!({"f": decoded["f"], "a": ["Tok one", pk]}))
            .expect("json"),
    );
    let other_key = |payload: &str| {
        let mut mac = Hmac::<Sha256>::new_from_slice(b"not this deployment's key").expect("key");
        mac.update(payload.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    };
    let zeros = URL_SAFE_NO_PAD.encode([0u8; 32]);
    let mut flipped = URL_SAFE_NO_PAD.decode(seal).expect("base64 seal");
    flipped[31] ^= 0x80;
    for (why, forged) in [
        ("zero seal", format!("{payload}.{zeros}")),
        (
            "seal of another key",
            format!("{payload}.{}", other_key(payload)),
        ),
        (
            "made-up cursor, another key",
            format!("{made_up}.{}", other_key(&made_up)),
        ),
        ("made-up cursor, issued seal", format!("{made_up}.{seal}")),
        ("no seal", payload.to_owned()),
        ("made-up cursor, no seal", made_up.clone()),
        ("empty seal", format!("{payload}.")),
        (
            "one bit of the seal",
            format!("{payload}.{}", URL_SAFE_NO_PAD.encode(&flipped)),
        ),
        (
            "truncated seal",
            format!("{payload}.{}", &seal[..seal.len() - 1]),
        ),
    ] {
        assert_bad_token(&app, &request, forged, why).await;
    }
}

/// Every replica seals with the deployment's key (kept in the database):
/// a token from one continues on another, and after a restart.
async fn page_tokens_work_on_every_replica_and_after_a_restart(backend: Backend) {
    let Some(mut app) = spawn_app(backend).await else {
        return;
    };
    app.import(TOKEN_SOURCES).await.expect("import");
    let mut replica = app.replica().await;
    let request = ListRequest {
        page_size: 2,
        ..Default::default()
    };
    let first = app
        .list(app.admin(), request.clone())
        .await
        .expect("first page");
    let second = replica
        .list(
            replica.admin(),
            ListRequest {
                page_token: first.next_page_token.clone(),
                ..request.clone()
            },
        )
        .await
        .expect("the replica takes the first server's token");
    assert_eq!(slugs(&second.plex_sources), ["tok-1", "tok-3"]);
    let third = app
        .list(
            app.admin(),
            ListRequest {
                page_token: second.next_page_token.clone(),
                ..request.clone()
            },
        )
        .await
        .expect("and the other way round");
    assert_eq!(slugs(&third.plex_sources), ["tok-2"]);

    // Both servers stop; a new one on the same database takes the tokens.
    for server in [&mut replica, &mut app] {
        if let Some(task) = server.begin_shutdown() {
            task.await.expect("join").expect("clean stop");
        }
    }
    let restarted = app.replica().await;
    let again = restarted
        .list(
            restarted.admin(),
            ListRequest {
                page_token: first.next_page_token,
                ..request.clone()
            },
        )
        .await
        .expect("a restarted server takes earlier tokens");
    assert_eq!(slugs(&again.plex_sources), ["tok-1", "tok-3"]);
}

backend_tests!(
    apps: [
        page_tokens_are_bound_to_their_arguments,
        garbage_page_tokens_are_invalid,
        tampered_page_tokens_are_invalid_arguments,
        forged_page_tokens_are_invalid_arguments,
    ],
    backends: [
        page_tokens_work_on_every_replica_and_after_a_restart,
    ],
);
