//! ListPlexSources: keyset pages under concurrent inserts, page sizes, page
//! tokens, search, exact filters, ordering and visibility, over real gRPC.

use std::collections::{HashMap, HashSet};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use plex_source_service::{
    domain::access::Permission,
    store::access::{self, Principal},
};
use tonic::{Code, Status};
use tonic_types::StatusExt;

use crate::{
    backend_tests,
    helpers::{Backend, TestApp, create_caller, pb, spawn_app},
};

type ListRequest = pb::ListPlexSourcesRequest;

/// One blueprint entry for a Plex source; `extra` is appended to its
/// flow-style attrs (e.g. `"enabled: false"`).
fn source_entry(slug: &str, name: &str, extra: &str) -> String {
    let name = serde_json::to_string(name).expect("json string");
    let extra = if extra.is_empty() {
        String::new()
    } else {
        format!(", {extra}")
    };
    format!(
        "  - model: authentik_sources_plex.plexsource\n    identifiers: {{slug: {slug}}}\n    attrs: {{name: {name}, plex_token: token-{slug}{extra}}}\n"
    )
}

fn blueprint(entries: &[String]) -> String {
    format!("version: 1\nentries:\n{}", entries.concat())
}

async fn list_as(
    app: &TestApp,
    key: &str,
    request: ListRequest,
) -> Result<pb::ListPlexSourcesResponse, Status> {
    app.client
        .clone()
        .list_plex_sources(app.authed(key, request))
        .await
        .map(tonic::Response::into_inner)
}

async fn list(app: &TestApp, request: ListRequest) -> Result<pb::ListPlexSourcesResponse, Status> {
    list_as(app, &app.admin_key, request).await
}

/// Every page of a request, followed to the end.
async fn list_all(app: &TestApp, key: &str, request: ListRequest) -> Vec<pb::PlexSource> {
    let mut out = Vec::new();
    let mut token = String::new();
    for _ in 0..1000 {
        let page = list_as(
            app,
            key,
            ListRequest {
                page_token: token.clone(),
                ..request.clone()
            },
        )
        .await
        .expect("page");
        out.extend(page.plex_sources);
        if page.next_page_token.is_empty() {
            return out;
        }
        token = page.next_page_token;
    }
    panic!("pagination does not end");
}

fn slugs(sources: &[pb::PlexSource]) -> Vec<&str> {
    sources.iter().map(|s| s.slug.as_str()).collect()
}

fn sorted_slugs(sources: &[pb::PlexSource]) -> Vec<&str> {
    let mut out = slugs(sources);
    out.sort_unstable();
    out
}

async fn create(app: &TestApp, slug: &str, name: &str) -> pb::PlexSource {
    app.client
        .clone()
        .create_plex_source(app.admin(pb::CreatePlexSourceRequest {
            plex_source: Some(pb::PlexSource {
                name: name.to_owned(),
                slug: slug.to_owned(),
                plex_token: format!("token-{slug}"),
                ..Default::default()
            }),
        }))
        .await
        .expect("create")
        .into_inner()
}

/// Patches one text field (`name` or `slug`) of a source.
async fn patch(app: &TestApp, slug: &str, field: &str, value: &str) {
    let mut body = pb::PlexSource::default();
    match field {
        "name" => body.name = value.to_owned(),
        "slug" => body.slug = value.to_owned(),
        other => panic!("no patch helper for {other}"),
    }
    app.client
        .clone()
        .update_plex_source(app.admin(pb::UpdatePlexSourceRequest {
            slug: slug.to_owned(),
            plex_source: Some(body),
            update_mask: Some(prost_types::FieldMask {
                paths: vec![field.to_owned()],
            }),
        }))
        .await
        .expect("update");
}

/// INVALID_ARGUMENT with a BadRequest violation on `field`; its description.
fn assert_invalid(status: &Status, field: &str) -> String {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let bad = status
        .get_details_bad_request()
        .unwrap_or_else(|| panic!("BadRequest detail in {status:?}"));
    let violation = bad
        .field_violations
        .iter()
        .find(|v| v.field == field)
        .unwrap_or_else(|| panic!("no violation on {field}: {:?}", bad.field_violations));
    assert!(!violation.description.is_empty());
    violation.description.clone()
}

async fn grant(app: &TestApp, permission: Permission, user: &str, slug: Option<&str>) {
    access::grant(&app.db, permission, &Principal::User(user.into()), slug)
        .await
        .expect("grant");
    // Direct store writes reach the server through its poll.
    app.settle().await;
}

async fn pages_cover_every_source_once_while_sources_are_added(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    // Two sources per name, so ties are broken by pk across page edges.
    let originals: Vec<String> = (0..300).map(|i| format!("page-{i:03}")).collect();
    let entries: Vec<String> = originals
        .iter()
        .enumerate()
        .map(|(i, slug)| source_entry(slug, &format!("m{:03}", i / 2), ""))
        .collect();
    app.import(&blueprint(&entries)).await.expect("import");

    let mut seen: Vec<pb::PlexSource> = Vec::new();
    let mut token = String::new();
    let mut expected_total = 300;
    let mut rounds = 0;
    loop {
        let page = list(
            &app,
            ListRequest {
                page_size: 37,
                page_token: token.clone(),
                ..Default::default()
            },
        )
        .await
        .expect("page");
        assert_eq!(
            page.total_size, expected_total,
            "total_size counts the sources matching at the time of the call (round {rounds})"
        );
        let last = page.next_page_token.is_empty();
        if !last {
            assert_eq!(page.plex_sources.len(), 37, "a full page before the last");
        }
        assert!(page.plex_sources.len() <= 37);
        seen.extend(page.plex_sources);
        if last {
            break;
        }
        token = page.next_page_token;
        // One source sorting before every cursor, one after every cursor.
        create(&app, &format!("early-{rounds}"), &format!("aaa{rounds:02}")).await;
        create(&app, &format!("late-{rounds}"), &format!("zzz{rounds:02}")).await;
        expected_total += 2;
        rounds += 1;
        assert!(rounds < 30, "pagination does not end");
    }
    assert!(rounds >= 8, "300 sources take at least 9 pages of 37");

    let distinct: HashSet<&str> = seen.iter().map(|s| s.pk.as_str()).collect();
    assert_eq!(distinct.len(), seen.len(), "no source twice");
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for s in &seen {
        *counts.entry(s.slug.as_str()).or_default() += 1;
    }
    for slug in &originals {
        assert_eq!(counts.get(slug.as_str()), Some(&1), "{slug} exactly once");
    }
    // Everything in (name, pk) order, across page boundaries too.
    for pair in seen.windows(2) {
        assert!(
            (&pair[0].name, &pair[0].pk) < (&pair[1].name, &pair[1].pk),
            "out of order: {} ({}) before {} ({})",
            pair[0].slug,
            pair[0].name,
            pair[1].slug,
            pair[1].name
        );
    }
    // Sources inserted before the cursor are not shown; those after are.
    assert!(seen.iter().all(|s| !s.slug.starts_with("early-")));
    let late = seen.iter().filter(|s| s.slug.starts_with("late-")).count();
    assert_eq!(late, rounds);
    assert_eq!(seen.len(), 300 + rounds);
}

async fn page_size_defaults_caps_and_rejects_negative(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let entries: Vec<String> = (0..1001)
        .map(|i| source_entry(&format!("size-{i:04}"), &format!("Size {i:04}"), ""))
        .collect();
    app.import(&blueprint(&entries)).await.expect("import");

    let page = list(&app, ListRequest::default()).await.expect("default");
    assert_eq!(page.plex_sources.len(), 100, "page_size 0 means 100");
    assert!(!page.next_page_token.is_empty());
    assert_eq!(page.total_size, 1001);
    assert_eq!(page.plex_sources[0].slug, "size-0000");

    let page = list(
        &app,
        ListRequest {
            page_size: 7,
            ..Default::default()
        },
    )
    .await
    .expect("seven");
    assert_eq!(page.plex_sources.len(), 7);

    for requested in [5000, i32::MAX, 1000] {
        let page = list(
            &app,
            ListRequest {
                page_size: requested,
                ..Default::default()
            },
        )
        .await
        .expect("large");
        assert_eq!(
            page.plex_sources.len(),
            1000,
            "page_size {requested} caps at 1000"
        );
        assert_eq!(page.total_size, 1001);
        assert!(!page.next_page_token.is_empty());
        let rest = list(
            &app,
            ListRequest {
                page_size: requested,
                page_token: page.next_page_token,
                ..Default::default()
            },
        )
        .await
        .expect("rest");
        assert_eq!(slugs(&rest.plex_sources), ["size-1000"]);
        assert!(rest.next_page_token.is_empty());
    }

    // Below the cap, one page holds everything and says it is the last.
    let page = list(
        &app,
        ListRequest {
            page_size: 5000,
            search: "size-00".into(),
            ..Default::default()
        },
    )
    .await
    .expect("filtered");
    assert_eq!(page.plex_sources.len(), 100);
    assert_eq!(page.total_size, 100);
    assert!(page.next_page_token.is_empty());

    for negative in [-1, i32::MIN] {
        let status = list(
            &app,
            ListRequest {
                page_size: negative,
                ..Default::default()
            },
        )
        .await
        .expect_err("negative page size");
        assert_invalid(&status, "page_size");
    }
}

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
        .retrieve("tok-1")
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
    let first = list(&app, base.clone()).await.expect("first page");
    assert_eq!(slugs(&first.plex_sources), ["tok-2", "tok-3"]);
    let token = first.next_page_token;
    assert!(!token.is_empty());

    // The same arguments continue, whatever the page size.
    let second = list(
        &app,
        ListRequest {
            page_token: token.clone(),
            ..base.clone()
        },
    )
    .await
    .expect("second page");
    assert_eq!(slugs(&second.plex_sources), ["tok-1", "tok-4"]);
    let bigger = list(
        &app,
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
        let status = list(
            &app,
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
        let status = list(
            &app,
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
    let token = list(&app, request.clone())
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
        let status = list(
            &app,
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

async fn search_matches_every_term_in_name_or_slug(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let entries = [
        source_entry("alpha-one", "Alpha Plex", ""),
        source_entry("beta-two", "BETA plex", ""),
        source_entry("gamma-plex-three", "Gamma", ""),
        source_entry("delta", "Delta", ""),
        source_entry("fifty", "50% off", ""),
        source_entry("five-hundred", "500 off", ""),
        source_entry("underscore", "a_b", ""),
        source_entry("axb-slug", "axb", ""),
        source_entry("back", "back\\slash", ""),
        source_entry("backs", "backxslash", ""),
    ];
    app.import(&blueprint(&entries)).await.expect("import");

    let cases: &[(&str, &[&str])] = &[
        ("plex", &["alpha-one", "beta-two", "gamma-plex-three"]),
        ("PLEX", &["alpha-one", "beta-two", "gamma-plex-three"]),
        ("pLeX", &["alpha-one", "beta-two", "gamma-plex-three"]),
        ("ALPHA-ONE", &["alpha-one"]),
        ("eta", &["beta-two"]),
        // Every term must match, each in the name or the slug.
        ("plex beta", &["beta-two"]),
        ("  alpha   one ", &["alpha-one"]),
        ("alpha two", &[]),
        ("plex nowhere", &[]),
        ("gamma three", &["gamma-plex-three"]),
        // LIKE wildcards in a term are literal characters.
        ("50%", &["fifty"]),
        ("%", &["fifty"]),
        ("a_b", &["underscore"]),
        ("_", &["underscore"]),
        ("\\", &["back"]),
        ("k\\s", &["back"]),
        ("nothing-like-this", &[]),
    ];
    for (search, want) in cases {
        let got = list(
            &app,
            ListRequest {
                search: (*search).to_owned(),
                ..Default::default()
            },
        )
        .await
        .unwrap_or_else(|s| panic!("search {search:?}: {s:?}"));
        let mut want = want.to_vec();
        want.sort_unstable();
        assert_eq!(sorted_slugs(&got.plex_sources), want, "search {search:?}");
        assert_eq!(got.total_size as usize, want.len(), "search {search:?}");
    }
    // A blank search is no search.
    let all = list(
        &app,
        ListRequest {
            search: "   ".into(),
            ..Default::default()
        },
    )
    .await
    .expect("blank search");
    assert_eq!(all.total_size, 10);

    // Search follows renames, through the API and through blueprints.
    patch(&app, "delta", "name", "Omega Thing").await;
    patch(&app, "alpha-one", "slug", "first-one").await;
    app.import(&blueprint(&[source_entry("beta-two", "Renamed B", "")]))
        .await
        .expect("re-import");
    let cases: &[(&str, &[&str])] = &[
        ("omega thing", &["delta"]),
        ("DELTA", &["delta"]),
        ("first", &["first-one"]),
        ("alpha-one", &[]),
        ("alpha", &["first-one"]),
        ("renamed", &["beta-two"]),
        ("beta plex", &[]),
        ("plex", &["first-one", "gamma-plex-three"]),
    ];
    for (search, want) in cases {
        let got = list(
            &app,
            ListRequest {
                search: (*search).to_owned(),
                ..Default::default()
            },
        )
        .await
        .unwrap_or_else(|s| panic!("search {search:?}: {s:?}"));
        assert_eq!(
            sorted_slugs(&got.plex_sources),
            *want,
            "after renames: {search:?}"
        );
    }
}

/// Case-insensitive means for every letter, not only ASCII.
async fn search_ignores_case_beyond_ascii(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let entries = [
        source_entry("umlaut", "Ärger Plex", ""),
        source_entry("other", "Other", ""),
    ];
    app.import(&blueprint(&entries)).await.expect("import");
    for search in ["ärger", "ÄRGER", "Ärger"] {
        let got = list(
            &app,
            ListRequest {
                search: search.to_owned(),
                ..Default::default()
            },
        )
        .await
        .expect("search");
        assert_eq!(slugs(&got.plex_sources), ["umlaut"], "search {search:?}");
    }
}

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

async fn exact_filters_combine_with_each_other_and_search(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.import(FILTER_SOURCES).await.expect("import");
    let auth = app
        .retrieve("one")
        .await
        .expect("one")
        .authentication_flow
        .expect("auth flow");
    let enroll = app
        .retrieve("two")
        .await
        .expect("two")
        .enrollment_flow
        .expect("enroll flow");
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
    for (why, request, want) in cases {
        let got = list(&app, request)
            .await
            .unwrap_or_else(|s| panic!("{why}: {s:?}"));
        assert_eq!(sorted_slugs(&got.plex_sources), want, "{why}");
        assert_eq!(got.total_size as usize, want.len(), "{why}");
    }

    for (why, request, field) in [
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
        let status = list(&app, request).await.expect_err(why);
        assert_invalid(&status, field);
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

const ORDER_SOURCES: &str = r#"
version: 1
entries:
  - model: authentik_sources_plex.plexsource
    identifiers: {slug: ord-c}
    attrs: {name: Bravo, plex_token: t, enabled: true, user_matching_mode: email_link}
  - model: authentik_sources_plex.plexsource
    identifiers: {slug: ord-a}
    attrs: {name: Charlie, plex_token: t, enabled: false}
  - model: authentik_sources_plex.plexsource
    identifiers: {slug: ord-e}
    attrs: {name: Alpha, plex_token: t, enabled: false, user_matching_mode: username_deny}
  - model: authentik_sources_plex.plexsource
    identifiers: {slug: ord-b}
    attrs: {name: Alpha, plex_token: t, enabled: true}
  - model: authentik_sources_plex.plexsource
    identifiers: {slug: ord-d}
    attrs: {name: Bravo, plex_token: t, enabled: false, user_matching_mode: email_link}
  - model: authentik_sources_plex.plexsource
    identifiers: {slug: ord-f}
    attrs: {name: Alpha, plex_token: t, enabled: true}
  - model: authentik_sources_plex.plexsource
    identifiers: {slug: ord-g}
    attrs: {name: Alpha, plex_token: t, enabled: true}
"#;

async fn ordering_sorts_by_each_listed_field_then_pk(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.import(ORDER_SOURCES).await.expect("import");
    let all = list(
        &app,
        ListRequest {
            ordering: "pk".into(),
            ..Default::default()
        },
    )
    .await
    .expect("by pk")
    .plex_sources;
    assert_eq!(all.len(), 7);
    let pks: Vec<&str> = all.iter().map(|s| s.pk.as_str()).collect();
    let mut sorted_pks = pks.clone();
    sorted_pks.sort_unstable();
    assert_eq!(pks, sorted_pks, "ordering pk");

    type Key = fn(&pb::PlexSource, &pb::PlexSource) -> std::cmp::Ordering;
    let cases: [(&str, Key); 7] = [
        ("", |a, b| a.name.cmp(&b.name).then(a.pk.cmp(&b.pk))),
        ("name", |a, b| a.name.cmp(&b.name).then(a.pk.cmp(&b.pk))),
        ("-slug", |a, b| b.slug.cmp(&a.slug)),
        ("-pk", |a, b| b.pk.cmp(&a.pk)),
        ("enabled,name", |a, b| {
            a.enabled
                .cmp(&b.enabled)
                .then(a.name.cmp(&b.name))
                .then(a.pk.cmp(&b.pk))
        }),
        ("-enabled, name ,-slug", |a, b| {
            b.enabled
                .cmp(&a.enabled)
                .then(a.name.cmp(&b.name))
                .then(b.slug.cmp(&a.slug))
        }),
        ("user_matching_mode,-name", |a, b| {
            let mode =
                |s: &pb::PlexSource| match pb::UserMatchingMode::try_from(s.user_matching_mode) {
                    Ok(pb::UserMatchingMode::EmailLink) => "email_link",
                    Ok(pb::UserMatchingMode::Identifier) => "identifier",
                    Ok(pb::UserMatchingMode::UsernameDeny) => "username_deny",
                    other => panic!("unexpected mode {other:?}"),
                };
            mode(a)
                .cmp(mode(b))
                .then(b.name.cmp(&a.name))
                .then(a.pk.cmp(&b.pk))
        }),
    ];
    for (ordering, key) in cases {
        let mut want = all.clone();
        want.sort_by(key);
        let want = slugs(&want);
        let got = list(
            &app,
            ListRequest {
                ordering: ordering.to_owned(),
                ..Default::default()
            },
        )
        .await
        .unwrap_or_else(|s| panic!("ordering {ordering:?}: {s:?}"));
        assert_eq!(slugs(&got.plex_sources), want, "ordering {ordering:?}");
        // Pages of two, across ties, give the same sequence.
        let paged = list_all(
            &app,
            &app.admin_key,
            ListRequest {
                page_size: 2,
                ordering: ordering.to_owned(),
                ..Default::default()
            },
        )
        .await;
        assert_eq!(slugs(&paged), want, "paged ordering {ordering:?}");
    }
    // Spot checks that do not depend on the pk tie-break.
    let by_slug_desc = list(
        &app,
        ListRequest {
            ordering: "-slug".into(),
            ..Default::default()
        },
    )
    .await
    .expect("-slug");
    assert_eq!(
        slugs(&by_slug_desc.plex_sources),
        [
            "ord-g", "ord-f", "ord-e", "ord-d", "ord-c", "ord-b", "ord-a"
        ]
    );
    let mixed = list(
        &app,
        ListRequest {
            ordering: "enabled,-name,slug".into(),
            ..Default::default()
        },
    )
    .await
    .expect("enabled,-name,slug");
    assert_eq!(
        slugs(&mixed.plex_sources),
        [
            "ord-a", "ord-d", "ord-e", "ord-c", "ord-b", "ord-f", "ord-g"
        ]
    );

    for (ordering, unknown) in [
        ("colour", &["colour"][..]),
        ("name,-colour,plex_token", &["colour", "plex_token"][..]),
        ("-icon", &["icon"][..]),
    ] {
        let status = list(
            &app,
            ListRequest {
                ordering: ordering.to_owned(),
                ..Default::default()
            },
        )
        .await
        .expect_err(ordering);
        let description = assert_invalid(&status, "ordering");
        for field in unknown {
            assert!(
                description.contains(field),
                "{ordering:?}: {description:?} names {field}"
            );
        }
    }
}

const VISIBLE_SOURCES: &str = r#"
version: 1
entries:
  - model: authentik_sources_plex.plexsource
    identifiers: {slug: vis-1}
    attrs: {name: Vis 1, plex_token: token-vis-1}
  - model: authentik_sources_plex.plexsource
    identifiers: {slug: vis-2}
    attrs: {name: Vis 2, plex_token: token-vis-2}
  - model: authentik_sources_plex.plexsource
    identifiers: {slug: vis-3}
    attrs: {name: Vis 3, plex_token: token-vis-3}
  - model: authentik_sources_plex.plexsource
    identifiers: {slug: vis-4}
    attrs: {name: Vis 4, plex_token: token-vis-4}
  - model: authentik_sources_plex.plexsource
    identifiers: {slug: vis-5}
    attrs: {name: Vis 5, plex_token: token-vis-5}
"#;

async fn callers_list_only_what_they_may_view(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.import(VISIBLE_SOURCES).await.expect("import");

    let viewer = create_caller(&app.db, "object-viewer", false).await;
    grant(&app, Permission::View, "object-viewer", Some("vis-2")).await;
    grant(&app, Permission::View, "object-viewer", Some("vis-4")).await;
    grant(
        &app,
        Permission::ViewPlexToken,
        "object-viewer",
        Some("vis-4"),
    )
    .await;
    let got = list_as(&app, &viewer, ListRequest::default())
        .await
        .expect("object viewer");
    assert_eq!(slugs(&got.plex_sources), ["vis-2", "vis-4"]);
    assert_eq!(got.total_size, 2);
    assert!(got.next_page_token.is_empty());
    assert_eq!(got.plex_sources[0].plex_token, "", "no token permission");
    assert_eq!(got.plex_sources[1].plex_token, "token-vis-4");
    // Pages and filters stay within what the caller may view.
    let paged = list_all(
        &app,
        &viewer,
        ListRequest {
            page_size: 1,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(slugs(&paged), ["vis-2", "vis-4"]);
    let first = list_as(
        &app,
        &viewer,
        ListRequest {
            page_size: 1,
            ..Default::default()
        },
    )
    .await
    .expect("first page");
    assert_eq!(first.total_size, 2);
    let hidden = list_as(
        &app,
        &viewer,
        ListRequest {
            slug: Some("vis-3".into()),
            ..Default::default()
        },
    )
    .await
    .expect("filter on a hidden source");
    assert!(hidden.plex_sources.is_empty());
    assert_eq!(hidden.total_size, 0);
    let searched = list_as(
        &app,
        &viewer,
        ListRequest {
            search: "vis".into(),
            ..Default::default()
        },
    )
    .await
    .expect("search");
    assert_eq!(searched.total_size, 2);

    // A global grant shows everything; the token still needs its own.
    let global = create_caller(&app.db, "global-viewer", false).await;
    grant(&app, Permission::View, "global-viewer", None).await;
    let got = list_as(&app, &global, ListRequest::default())
        .await
        .expect("global viewer");
    assert_eq!(
        slugs(&got.plex_sources),
        ["vis-1", "vis-2", "vis-3", "vis-4", "vis-5"]
    );
    assert_eq!(got.total_size, 5);
    assert!(got.plex_sources.iter().all(|s| s.plex_token.is_empty()));

    // The superuser gets every token.
    let got = list(&app, ListRequest::default()).await.expect("superuser");
    assert_eq!(got.total_size, 5);
    for s in &got.plex_sources {
        assert_eq!(s.plex_token, format!("token-{}", s.slug));
    }

    // No view permission anywhere: denied, even with other grants.
    let nobody = create_caller(&app.db, "nobody", false).await;
    let token_only = create_caller(&app.db, "token-only", false).await;
    grant(&app, Permission::ViewPlexToken, "token-only", None).await;
    grant(&app, Permission::Change, "token-only", Some("vis-1")).await;
    for key in [&nobody, &token_only] {
        let status = list_as(&app, key, ListRequest::default())
            .await
            .expect_err("no view permission");
        assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    }
    // Validation comes before authorization.
    let status = list_as(
        &app,
        &nobody,
        ListRequest {
            ordering: "colour".into(),
            ..Default::default()
        },
    )
    .await
    .expect_err("bad ordering");
    assert_invalid(&status, "ordering");

    // No or bad credentials.
    let status = app
        .client
        .clone()
        .list_plex_sources(ListRequest::default())
        .await
        .expect_err("no credentials");
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    let status = list_as(&app, "no-such-key", ListRequest::default())
        .await
        .expect_err("unknown key");
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
}

backend_tests!(
    pages_cover_every_source_once_while_sources_are_added,
    page_size_defaults_caps_and_rejects_negative,
    page_tokens_are_bound_to_their_arguments,
    garbage_page_tokens_are_invalid,
    tampered_page_tokens_are_invalid_arguments,
    search_matches_every_term_in_name_or_slug,
    search_ignores_case_beyond_ascii,
    exact_filters_combine_with_each_other_and_search,
    ordering_sorts_by_each_listed_field_then_pk,
    callers_list_only_what_they_may_view,
);
