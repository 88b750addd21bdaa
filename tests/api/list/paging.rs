//! Keyset pages: every source once while others are added, and page sizes
//! with their default and cap.

use std::collections::{HashMap, HashSet};

use super::{ListRequest, assert_invalid, blueprint, slugs, source_entry};
use crate::{
    backend_tests,
    helpers::{TestApp, new_source_named, pb},
};

async fn pages_cover_every_source_once_while_sources_are_added(app: TestApp) {
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
        let page = app
            .list(
                app.admin(),
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
        app.create(
            app.admin(),
            new_source_named(&format!("early-{rounds}"), &format!("aaa{rounds:02}")),
        )
        .await
        .expect("create");
        app.create(
            app.admin(),
            new_source_named(&format!("late-{rounds}"), &format!("zzz{rounds:02}")),
        )
        .await
        .expect("create");
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

async fn page_size_defaults_caps_and_rejects_negative(app: TestApp) {
    let entries: Vec<String> = (0..1001)
        .map(|i| source_entry(&format!("size-{i:04}"), &format!("Size {i:04}"), ""))
        .collect();
    app.import(&blueprint(&entries)).await.expect("import");

    let page = app
        .list(app.admin(), ListRequest::default())
        .await
        .expect("default");
    assert_eq!(page.plex_sources.len(), 100, "page_size 0 means 100");
    assert!(!page.next_page_token.is_empty());
    assert_eq!(page.total_size, 1001);
    assert_eq!(page.plex_sources[0].slug, "size-0000");

    let page = app
        .list(
            app.admin(),
            ListRequest {
                page_size: 7,
                ..Default::default()
            },
        )
        .await
        .expect("seven");
    assert_eq!(page.plex_sources.len(), 7);

    for requested in [5000, i32::MAX, 1000] {
        let page = app
            .list(
                app.admin(),
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
        let rest = app
            .list(
                app.admin(),
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
    let page = app
        .list(
            app.admin(),
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
        let status = app
            .list(
                app.admin(),
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

backend_tests!(
    apps: [
        pages_cover_every_source_once_while_sources_are_added,
        page_size_defaults_caps_and_rejects_negative,
    ],
);
