//! Search: every term, in the name or the slug, without regard to case.

use super::{ListRequest, assert_invalid, blueprint, slugs, sorted_slugs, source_entry};
use crate::{
    backend_tests,
    helpers::{TestApp, rename, reslug},
};

async fn search_matches_every_term_in_name_or_slug(app: TestApp) {
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
        let got = app
            .list(
                app.admin(),
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
    let all = app
        .list(
            app.admin(),
            ListRequest {
                search: "   ".into(),
                ..Default::default()
            },
        )
        .await
        .expect("blank search");
    assert_eq!(all.total_size, 10);

    // Search follows renames, through the API and through blueprints.
    app.update(app.admin(), rename("delta", "Omega Thing"))
        .await
        .expect("update");
    app.update(app.admin(), reslug("alpha-one", "first-one"))
        .await
        .expect("update");
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
        let got = app
            .list(
                app.admin(),
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
async fn search_ignores_case_beyond_ascii(app: TestApp) {
    let entries = [
        source_entry("umlaut", "Ärger Plex", ""),
        source_entry("other", "Other", ""),
    ];
    app.import(&blueprint(&entries)).await.expect("import");
    for search in ["ärger", "ÄRGER", "Ärger"] {
        let got = app
            .list(
                app.admin(),
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

/// Terms as Django REST framework (3.15 and later) splits `?search=`:
/// whitespace or commas between terms, a quoted phrase one term.
async fn search_splits_terms_as_drf_does(app: TestApp) {
    let entries = [
        source_entry("plex-home", "Plex Home", ""),
        source_entry("home-plex", "Home of Plex", ""),
        source_entry("comma", "Plex, Inc", ""),
        source_entry("quote", "Say \"hi\" now", ""),
        source_entry("beta", "Alpha", ""),
        source_entry("lines", "Line one\nline two", ""),
    ];
    app.import(&blueprint(&entries)).await.expect("import");

    let cases: &[(&str, &[&str])] = &[
        // Commas separate terms as whitespace does.
        ("plex,home", &["home-plex", "plex-home"]),
        ("plex, home,", &["home-plex", "plex-home"]),
        ("plex,inc", &["comma"]),
        (
            ",,, ,",
            &["beta", "comma", "home-plex", "lines", "plex-home", "quote"],
        ),
        // A quoted phrase is one term, its spaces and commas included.
        ("\"plex home\"", &["plex-home"]),
        ("'PLEX HOME'", &["plex-home"]),
        ("\"home plex\"", &[]),
        ("\"plex, inc\"", &["comma"]),
        ("'plex, inc' plex", &["comma"]),
        ("\"of plex\" home", &["home-plex"]),
        // ...but a token that does not both start and end with the quote
        // is split at its commas, quotes kept: `"of plex"` and `home`.
        ("\"of plex\",home", &[]),
        // Escaped quotes inside a phrase.
        (r#""say \"hi\"""#, &["quote"]),
        (r#"'"hi" now'"#, &["quote"]),
        // An unclosed quote is a character of the term.
        ("\"plex", &[]),
        // A phrase matches within the name or within the slug, never
        // across the two.
        ("\"alpha\nbeta\"", &[]),
        ("\"one\nline\"", &["lines"]),
    ];
    for (search, want) in cases {
        let got = app
            .list(
                app.admin(),
                ListRequest {
                    search: (*search).to_owned(),
                    ..Default::default()
                },
            )
            .await
            .unwrap_or_else(|s| panic!("search {search:?}: {s:?}"));
        assert_eq!(sorted_slugs(&got.plex_sources), *want, "search {search:?}");
        assert_eq!(got.total_size as usize, want.len(), "search {search:?}");
    }

    // Comma-separated terms count toward the limit like any others.
    let status = app
        .list(
            app.admin(),
            ListRequest {
                search: "a,".repeat(21),
                ..Default::default()
            },
        )
        .await
        .expect_err("21 terms");
    assert!(assert_invalid(&status, "search").contains("20 search terms"));
}

backend_tests!(
    apps: [
        search_splits_terms_as_drf_does,
        search_matches_every_term_in_name_or_slug,
        search_ignores_case_beyond_ascii,
    ],
);
