//! authentik's official Python client against the REST API, each answer
//! compared field by field with the same operation over gRPC: reads (with
//! filters, search, ordering and pages), writes, and every error case.

use plex_source_service::domain::access::Permission;
use serde_json::{Value, json};
use tonic::Code;

use super::{assert_same_source, python_client, rest_error_of};
use crate::{
    backend_tests,
    helpers::{Caller, TestApp, new_source, patch, pb, put},
    proxy::app_behind_proxy,
};

const CATALOG: &str = r#"
version: 1
entries:
  - model: authentik_flows.flow
    identifiers: {slug: r-auth}
    attrs: {name: Auth, designation: authentication}
  - model: authentik_flows.flow
    identifiers: {slug: r-enroll}
    attrs: {name: Enroll, designation: enrollment}
  - model: authentik_sources_plex.plexsourcepropertymapping
    identifiers: {name: r-user}
  - model: authentik_sources_plex.plexsourcepropertymapping
    identifiers: {name: r-group}
"#;

/// Five sources, one (`beta`) with every field away from its default.
async fn scene(app: &TestApp) -> (String, String) {
    app.import(CATALOG).await.expect("catalog");
    let auth = app.flow_pk("r-auth").await;
    let enroll = app.flow_pk("r-enroll").await;
    for (slug, name) in [
        ("alpha", "Alpha Plex"),
        ("gamma", "Gamma home"),
        ("delta", "Delta Plex home"),
        ("epsilon", "Epsilon"),
    ] {
        let mut source = new_source(slug);
        source.name = name.to_owned();
        app.create(app.admin(), source).await.expect("create");
    }
    let beta = pb::PlexSource {
        name: "Beta".into(),
        slug: "beta".into(),
        enabled: Some(false),
        authentication_flow: Some(auth.clone()),
        enrollment_flow: Some(enroll.clone()),
        user_property_mappings: vec![app.mapping_pk("r-user").await],
        group_property_mappings: vec![app.mapping_pk("r-group").await],
        policy_engine_mode: pb::PolicyEngineMode::All as i32,
        user_matching_mode: pb::UserMatchingMode::EmailLink as i32,
        user_path_template: "plex/%(slug)s".into(),
        group_matching_mode: pb::GroupMatchingMode::NameLink as i32,
        client_id: "beta-client".into(),
        allowed_servers: vec!["server-1".into(), "server-2".into()],
        allow_friends: Some(false),
        plex_token: "beta-owner-token".into(),
        ..Default::default()
    };
    app.create(app.admin(), beta).await.expect("create beta");
    (auth, enroll)
}

/// Every source a gRPC list returns, page after page.
async fn grpc_all<'k>(
    app: &TestApp,
    caller: impl Into<Caller<'k>> + Copy,
    request: pb::ListPlexSourcesRequest,
) -> Vec<pb::PlexSource> {
    let mut all = Vec::new();
    let mut request = request;
    loop {
        let page = app.list(caller, request.clone()).await.expect("gRPC list");
        all.extend(page.plex_sources);
        if page.next_page_token.is_empty() {
            return all;
        }
        request.page_token = page.next_page_token;
    }
}

fn ok(result: &Value) -> &Value {
    result
        .get("ok")
        .unwrap_or_else(|| panic!("an answer, not an error: {result}"))
}

fn assert_same_list(rest: &Value, grpc: &[pb::PlexSource], what: &str) {
    let results = ok(rest)["results"].as_array().expect("results");
    assert_eq!(
        results
            .iter()
            .map(|r| r["slug"].clone())
            .collect::<Vec<_>>(),
        grpc.iter().map(|s| json!(s.slug)).collect::<Vec<_>>(),
        "{what}: the same sources in the same order"
    );
    for (r, g) in results.iter().zip(grpc) {
        assert_same_source(r, g, what);
    }
}

async fn the_client_reads_what_grpc_reads(app: TestApp) {
    let (auth, enroll) = scene(&app).await;
    let viewer = app.caller("viewer", &[(Permission::View, None)]).await;
    let admin = app.admin_key.clone();
    let delta = app.retrieve(app.admin(), "delta").await.unwrap();

    // (list arguments over REST, the same list over gRPC)
    let lists: Vec<(Value, pb::ListPlexSourcesRequest)> = vec![
        (json!({}), pb::ListPlexSourcesRequest::default()),
        (
            json!({"enabled": false}),
            pb::ListPlexSourcesRequest {
                enabled: Some(false),
                ..Default::default()
            },
        ),
        (
            json!({"allow_friends": true, "name": "Alpha Plex"}),
            pb::ListPlexSourcesRequest {
                allow_friends: Some(true),
                name: Some("Alpha Plex".into()),
                ..Default::default()
            },
        ),
        (
            json!({"policy_engine_mode": "all", "user_matching_mode": "email_link",
                   "group_matching_mode": "name_link", "client_id": "beta-client"}),
            pb::ListPlexSourcesRequest {
                policy_engine_mode: Some(pb::PolicyEngineMode::All as i32),
                user_matching_mode: Some(pb::UserMatchingMode::EmailLink as i32),
                group_matching_mode: Some(pb::GroupMatchingMode::NameLink as i32),
                client_id: Some("beta-client".into()),
                ..Default::default()
            },
        ),
        (
            json!({"authentication_flow": auth, "enrollment_flow": enroll}),
            pb::ListPlexSourcesRequest {
                authentication_flow: Some(auth.clone()),
                enrollment_flow: Some(enroll.clone()),
                ..Default::default()
            },
        ),
        (
            json!({"slug": "gamma"}),
            pb::ListPlexSourcesRequest {
                slug: Some("gamma".into()),
                ..Default::default()
            },
        ),
        (
            json!({"search": "plex"}),
            pb::ListPlexSourcesRequest {
                search: "plex".into(),
                ..Default::default()
            },
        ),
        (
            json!({"search": "home \"delta plex\""}),
            pb::ListPlexSourcesRequest {
                search: "home \"delta plex\"".into(),
                ..Default::default()
            },
        ),
        (
            json!({"ordering": "-slug"}),
            pb::ListPlexSourcesRequest {
                ordering: "-slug".into(),
                ..Default::default()
            },
        ),
        (
            json!({"ordering": "enabled,-name", "search": "a"}),
            pb::ListPlexSourcesRequest {
                ordering: "enabled,-name".into(),
                search: "a".into(),
                ..Default::default()
            },
        ),
    ];
    let mut calls = vec![
        json!({"op": "retrieve", "slug": "beta", "token": admin}),
        json!({"op": "retrieve", "slug": "beta", "token": viewer}),
        json!({"op": "list", "args": {"pbm_uuid": delta.pk}, "token": admin}),
    ];
    calls.extend(
        lists
            .iter()
            .map(|(args, _)| json!({"op": "list", "args": args, "token": admin})),
    );
    for page in 1..=3 {
        calls.push(json!({"op": "list", "args": {"page_size": 2, "page": page, "ordering": "slug"}, "token": viewer}));
    }
    let Some(results) = python_client(&app, &Value::Array(calls)).await else {
        return;
    };

    assert_same_source(
        ok(&results[0]),
        &app.retrieve(app.admin(), "beta").await.unwrap(),
        "retrieve as a superuser",
    );
    let as_viewer = app.retrieve(&viewer, "beta").await.unwrap();
    assert_eq!(as_viewer.plex_token, "", "the token follows its permission");
    assert_same_source(ok(&results[1]), &as_viewer, "retrieve as a viewer");
    assert_same_list(&results[2], &[delta], "pbm_uuid");

    for ((args, request), result) in lists.iter().zip(&results[3..]) {
        let grpc = grpc_all(&app, app.admin(), request.clone()).await;
        assert!(!grpc.is_empty(), "{args}: the scene has matches");
        assert_same_list(result, &grpc, &format!("list {args}"));
        let count = grpc.len() as u64;
        assert_eq!(
            ok(result)["pagination"],
            json!({"next": 0, "previous": 0, "count": count, "current": 1,
                   "total_pages": 1, "start_index": 1, "end_index": count}),
            "{args}"
        );
        assert_eq!(ok(result)["autocomplete"], json!({}));
    }

    let by_slug = grpc_all(
        &app,
        &viewer,
        pb::ListPlexSourcesRequest {
            page_size: 2,
            ordering: "slug".into(),
            ..Default::default()
        },
    )
    .await;
    let pages = &results[3 + lists.len()..];
    for (i, page) in pages.iter().enumerate() {
        let current = i as u64 + 1;
        let end = (current * 2).min(5);
        assert_same_list(
            page,
            &by_slug[(i * 2)..end as usize],
            &format!("page {current}"),
        );
        assert_eq!(
            ok(page)["pagination"],
            json!({"next": if current < 3 { current + 1 } else { 0 }, "previous": current - 1,
                   "count": 5, "current": current, "total_pages": 3,
                   "start_index": current * 2 - 1, "end_index": end}),
            "page {current}"
        );
    }
}

async fn the_client_writes_as_grpc_writes(app: TestApp) {
    let (auth, _) = scene(&app).await;
    let user_mapping = app.mapping_pk("r-user").await;
    let admin = app.admin_key.clone();
    let body = json!({
        "name": "Made by REST", "slug": "made-by-rest", "plex_token": "rest-token",
        "enabled": false, "authentication_flow": auth, "user_property_mappings": [user_mapping],
        "policy_engine_mode": "all", "user_matching_mode": "username_deny",
        "group_matching_mode": "name_deny", "allowed_servers": ["s1"], "allow_friends": false,
        "user_path_template": "rest/%(slug)s",
    });
    let calls = json!([
        {"op": "create", "body": body, "token": admin},
        // PUT: the required fields; what it leaves out keeps its value.
        {"op": "update", "slug": "made-by-rest", "token": admin,
         "body": {"name": "Renamed", "slug": "renamed", "plex_token": "new-token"}},
        {"op": "partial_update", "slug": "renamed", "token": admin,
         "body": {"allow_friends": true, "authentication_flow": null, "allowed_servers": []}},
        {"op": "destroy", "slug": "renamed", "token": admin},
    ]);
    let Some(results) = python_client(&app, &calls).await else {
        return;
    };

    // The same create over gRPC gives the same source (but its pk, slug
    // and generated client id).
    let mut twin = pb::PlexSource {
        name: "Made by REST".into(),
        slug: "made-by-grpc".into(),
        plex_token: "rest-token".into(),
        enabled: Some(false),
        authentication_flow: Some(auth.clone()),
        user_property_mappings: vec![user_mapping.clone()],
        policy_engine_mode: pb::PolicyEngineMode::All as i32,
        user_matching_mode: pb::UserMatchingMode::UsernameDeny as i32,
        group_matching_mode: pb::GroupMatchingMode::NameDeny as i32,
        allowed_servers: vec!["s1".into()],
        allow_friends: Some(false),
        user_path_template: "rest/%(slug)s".into(),
        ..Default::default()
    };
    twin = app.create(app.admin(), twin).await.expect("gRPC create");
    let created = ok(&results[0]);
    twin.pk = created["pk"].as_str().unwrap().to_owned();
    twin.slug = "made-by-rest".into();
    twin.client_id = created["client_id"].as_str().unwrap().to_owned();
    assert_same_source(created, &twin, "create over REST and over gRPC");
    assert_eq!(twin.client_id.len(), 40, "a generated client id");

    // What each write returned is what gRPC reads now; PUT kept what it
    // left out.
    let updated = ok(&results[1]);
    assert_eq!(updated["allowed_servers"], json!(["s1"]));
    assert_eq!(updated["enabled"], json!(false));
    assert_eq!(updated["pk"], created["pk"]);
    let patched = ok(&results[2]);
    assert_eq!(patched["name"], json!("Renamed"));
    assert_eq!(patched["authentication_flow"], Value::Null);
    assert_eq!(patched["allowed_servers"], json!([]));
    assert_eq!(patched["allow_friends"], json!(true));
    let mut expected = app
        .update(
            app.admin(),
            patch(
                "made-by-grpc",
                &[
                    "name",
                    "plex_token",
                    "allow_friends",
                    "authentication_flow",
                    "allowed_servers",
                ],
                pb::PlexSource {
                    name: "Renamed".into(),
                    plex_token: "new-token".into(),
                    allow_friends: Some(true),
                    ..Default::default()
                },
            ),
        )
        .await
        .expect("the same writes over gRPC");
    expected.pk = twin.pk.clone();
    expected.slug = "renamed".into();
    expected.client_id = twin.client_id.clone();
    assert_same_source(patched, &expected, "PUT then PATCH over REST and over gRPC");

    assert_eq!(results[3], json!({"ok": null}), "destroy answers 204");
    let gone = app.retrieve(app.admin(), "renamed").await.unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
}

async fn the_client_sees_each_error_as_grpc_does(app: TestApp) {
    scene(&app).await;
    let viewer = app.caller("viewer", &[(Permission::View, None)]).await;
    let nobody = app.caller("nobody", &[]).await;
    let admin = app.admin_key.clone();
    let missing_flow = uuid::Uuid::new_v4().to_string();

    let calls = json!([
        {"op": "list", "token": null},
        {"op": "list", "token": "not-a-key"},
        {"op": "retrieve", "slug": "alpha", "token": null},
        {"op": "retrieve", "slug": "alpha", "token": nobody},
        {"op": "retrieve", "slug": "nowhere", "token": admin},
        {"op": "list", "token": nobody},
        {"op": "create", "body": {"name": "x", "slug": "x", "plex_token": "t"}, "token": viewer},
        {"op": "create", "body": {"name": "x", "slug": "alpha", "plex_token": "t"}, "token": admin},
        {"op": "create", "body": {"name": "x", "slug": "x", "plex_token": "t",
                                  "authentication_flow": missing_flow}, "token": admin},
        {"op": "create", "construct": true, "token": admin,
         "body": {"name": "  ", "slug": "bad slug", "plex_token": "t", "allowed_servers": ["a", " "]}},
        {"op": "update", "slug": "alpha", "token": viewer,
         "body": {"name": "x", "slug": "alpha", "plex_token": "t"}},
        {"op": "update", "slug": "alpha", "construct": true, "token": admin, "body": {"name": "x"}},
        {"op": "partial_update", "slug": "alpha", "construct": true, "token": admin,
         "body": {"slug": "bad slug"}},
        {"op": "destroy", "slug": "alpha", "token": viewer},
        {"op": "destroy", "slug": "nowhere", "token": admin},
        {"op": "list", "args": {"authentication_flow": missing_flow}, "token": admin},
        // No gRPC counterpart: authentik's own parameters and pages.
        {"op": "list", "args": {"group_matching_mode": "bogus"}, "token": admin},
        {"op": "list", "args": {"page": 9}, "token": admin},
        {"op": "list", "args": {"pbm_uuid": missing_flow}, "token": nobody},
    ]);
    let Some(results) = python_client(&app, &calls).await else {
        return;
    };

    let grpc = [
        app.list(Caller::Anonymous, Default::default())
            .await
            .map(|_| ()),
        app.list("not-a-key", Default::default()).await.map(|_| ()),
        app.retrieve(Caller::Anonymous, "alpha").await.map(|_| ()),
        app.retrieve(&nobody, "alpha").await.map(|_| ()),
        app.retrieve(app.admin(), "nowhere").await.map(|_| ()),
        app.list(&nobody, Default::default()).await.map(|_| ()),
        app.create(&viewer, new_source("x")).await.map(|_| ()),
        app.create(app.admin(), new_source("alpha"))
            .await
            .map(|_| ()),
        app.create(
            app.admin(),
            pb::PlexSource {
                authentication_flow: Some(missing_flow.clone()),
                ..new_source("x")
            },
        )
        .await
        .map(|_| ()),
        app.create(
            app.admin(),
            pb::PlexSource {
                name: "  ".into(),
                allowed_servers: vec!["a".into(), " ".into()],
                ..new_source("bad slug")
            },
        )
        .await
        .map(|_| ()),
        app.update(&viewer, put("alpha", new_source("alpha")))
            .await
            .map(|_| ()),
        app.update(
            app.admin(),
            put(
                "alpha",
                pb::PlexSource {
                    name: "x".into(),
                    ..Default::default()
                },
            ),
        )
        .await
        .map(|_| ()),
        app.update(
            app.admin(),
            patch(
                "alpha",
                &["slug"],
                pb::PlexSource {
                    slug: "bad slug".into(),
                    ..Default::default()
                },
            ),
        )
        .await
        .map(|_| ()),
        app.delete(&viewer, "alpha").await,
        app.delete(app.admin(), "nowhere").await,
        app.list(
            app.admin(),
            pb::ListPlexSourcesRequest {
                authentication_flow: Some(missing_flow.clone()),
                ..Default::default()
            },
        )
        .await
        .map(|_| ()),
    ];
    for (i, grpc) in grpc.iter().enumerate() {
        let status = grpc.as_ref().expect_err("every gRPC call fails");
        let anonymous_object = i == 2;
        let (code, body) = rest_error_of(status, anonymous_object);
        assert_eq!(
            results[i],
            json!({"status": code, "body": body}),
            "call {i}: {} over REST, {status:?} over gRPC",
            calls[i]
        );
    }
    let rest_only = &results[grpc.len()..];
    assert_eq!(
        rest_only[0],
        json!({"status": 400, "body": {"group_matching_mode":
            ["Select a valid choice. bogus is not one of the available choices."]}})
    );
    assert_eq!(
        rest_only[1],
        json!({"status": 404, "body": {"detail": "Invalid page."}})
    );
    assert_eq!(
        rest_only[2],
        json!({"status": 403, "body": {"detail": "You do not have permission to perform this action."}})
    );
    // Nothing of the refused writes was stored.
    assert_eq!(
        app.retrieve(app.admin(), "alpha").await.unwrap().name,
        "Alpha Plex"
    );
}

/// A database that cannot be reached is 503 over REST where gRPC says
/// UNAVAILABLE (PostgreSQL only: SQLite is a file in the process).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_database_is_503() {
    let Some((app, proxy)) = app_behind_proxy().await else {
        return;
    };
    proxy.cut();
    let admin = app.admin_key.clone();
    let calls = json!([
        {"op": "create", "body": {"name": "x", "slug": "x", "plex_token": "t"}, "token": admin},
    ]);
    let grpc = app.create(app.admin(), new_source("x")).await.unwrap_err();
    assert_eq!(grpc.code(), Code::Unavailable);
    let Some(results) = python_client(&app, &calls).await else {
        return;
    };
    let (code, body) = rest_error_of(&grpc, false);
    assert_eq!(results[0], json!({"status": code, "body": body}));
    proxy.restore().await;
}

backend_tests!(
    apps: [
        the_client_reads_what_grpc_reads,
        the_client_writes_as_grpc_writes,
        the_client_sees_each_error_as_grpc_does,
    ],
);
