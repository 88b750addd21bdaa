//! Callers list only what they may view, with the token only where they
//! may see it.

use plex_source_service::domain::access::Permission;
use tonic::Code;

use super::{ListRequest, assert_invalid, list_all, slugs};
use crate::{
    backend_tests,
    helpers::{Caller, TestApp},
};

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

async fn callers_list_only_what_they_may_view(app: TestApp) {
    app.import(VISIBLE_SOURCES).await.expect("import");

    let viewer = app
        .caller(
            "object-viewer",
            &[
                (Permission::View, Some("vis-2")),
                (Permission::View, Some("vis-4")),
                (Permission::ViewPlexToken, Some("vis-4")),
            ],
        )
        .await;
    let got = app
        .list(&viewer, ListRequest::default())
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
    let first = app
        .list(
            &viewer,
            ListRequest {
                page_size: 1,
                ..Default::default()
            },
        )
        .await
        .expect("first page");
    assert_eq!(first.total_size, 2);
    let hidden = app
        .list(
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
    let searched = app
        .list(
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
    let global = app
        .caller("global-viewer", &[(Permission::View, None)])
        .await;
    let got = app
        .list(&global, ListRequest::default())
        .await
        .expect("global viewer");
    assert_eq!(
        slugs(&got.plex_sources),
        ["vis-1", "vis-2", "vis-3", "vis-4", "vis-5"]
    );
    assert_eq!(got.total_size, 5);
    assert!(got.plex_sources.iter().all(|s| s.plex_token.is_empty()));

    // The superuser gets every token.
    let got = app
        .list(app.admin(), ListRequest::default())
        .await
        .expect("superuser");
    assert_eq!(got.total_size, 5);
    for s in &got.plex_sources {
        assert_eq!(s.plex_token, format!("token-{}", s.slug));
    }

    // No view permission anywhere: denied, even with other grants.
    let nobody = app.caller("nobody", &[]).await;
    let token_only = app
        .caller(
            "token-only",
            &[
                (Permission::ViewPlexToken, None),
                (Permission::Change, Some("vis-1")),
            ],
        )
        .await;
    for key in [&nobody, &token_only] {
        let status = app
            .list(key, ListRequest::default())
            .await
            .expect_err("no view permission");
        assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    }
    // Validation comes before authorization.
    let status = app
        .list(
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
        .list(Caller::Anonymous, ListRequest::default())
        .await
        .expect_err("no credentials");
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    let status = app
        .list("no-such-key", ListRequest::default())
        .await
        .expect_err("unknown key");
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
}

backend_tests!(
    apps: [
        callers_list_only_what_they_may_view,
    ],
);
