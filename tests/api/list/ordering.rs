//! Ordering: by each listed field, ties broken by pk, across pages too.

use super::{ListRequest, assert_invalid, list_all, slugs};
use crate::{
    backend_tests,
    helpers::{TestApp, pb},
};

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

async fn ordering_sorts_by_each_listed_field_then_pk(app: TestApp) {
    app.import(ORDER_SOURCES).await.expect("import");
    let all = app
        .list(
            app.admin(),
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
        let got = app
            .list(
                app.admin(),
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
            app.admin(),
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
    let by_slug_desc = app
        .list(
            app.admin(),
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
    let mixed = app
        .list(
            app.admin(),
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
        let status = app
            .list(
                app.admin(),
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

backend_tests!(
    apps: [
        ordering_sorts_by_each_listed_field_then_pk,
    ],
);
