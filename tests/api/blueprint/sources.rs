//! Plex sources with their flows and mappings: every attribute, authentik's
//! defaults, idempotence, updates and `pk` identifiers.

use std::path::Path;

use plex_source_service::store::Db;
use plex_source_service::{
    blueprint,
    domain::{GroupMatchingMode, PolicyEngineMode, UserMatchingMode},
};
use uuid::Uuid;

use super::{FULL, MINIMAL, fixture, report};
use crate::{backend_tests, helpers::Backend};

backend_tests!(
    full_source_with_flows_and_mappings,
    a_minimal_entry_gets_authentiks_defaults,
    importing_twice_changes_nothing_the_second_time,
    an_update_keeps_the_attributes_it_does_not_name,
    pk_identifiers_create_with_that_pk_and_the_first_match_wins,
    the_example_blueprint_imports,
);

async fn full_source_with_flows_and_mappings(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
    assert_eq!(fx.import(FULL).await.unwrap(), report(5, 0, 0, 0, 0));

    let auth = fx.flow("src-auth").await.unwrap();
    assert_eq!(
        (auth.name.as_str(), auth.designation.as_str()),
        ("Authenticate", "authentication")
    );
    let enroll = fx.flow("src-enroll").await.unwrap();
    assert_eq!(enroll.designation, "enrollment");
    let m1 = fx.mapping("Plex: username").await.unwrap();
    assert_eq!(
        m1.expression,
        "return {\"username\": info.get(\"username\")}\n"
    );
    let groups = fx.mapping("Plex: groups").await.unwrap();
    assert_eq!(groups.expression, "");

    let s = fx.source("plex-login").await.unwrap().fields;
    assert_eq!(s.name, "Sign in with Plex");
    assert!(!s.enabled);
    assert_eq!(s.authentication_flow, Some(auth.pk));
    assert_eq!(s.enrollment_flow, Some(enroll.pk));
    assert_eq!(s.user_property_mappings, [m1.pk, groups.pk]);
    assert_eq!(s.group_property_mappings, [groups.pk]);
    assert_eq!(s.policy_engine_mode, PolicyEngineMode::All);
    assert_eq!(s.user_matching_mode, UserMatchingMode::EmailLink);
    assert_eq!(s.group_matching_mode, GroupMatchingMode::NameDeny);
    assert_eq!(s.user_path_template, "goauthentik.io/sources/plex");
    assert_eq!(s.icon.as_deref(), Some("https://example.com/plex.png"));
    assert_eq!(s.client_id, "fixed-client-id");
    assert_eq!(s.allowed_servers, ["server-a", "server-b"]);
    assert!(!s.allow_friends);
    assert_eq!(s.plex_token.expose(), "full-owner-token");
}

async fn a_minimal_entry_gets_authentiks_defaults(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
    assert_eq!(fx.import(MINIMAL).await.unwrap(), report(1, 0, 0, 0, 0));
    let s = fx.source("minimal").await.unwrap();
    assert_eq!(s.managed, None);
    let f = s.fields;
    assert_eq!(f.name, "Minimal");
    assert!(f.enabled);
    assert_eq!(f.authentication_flow, None);
    assert_eq!(f.enrollment_flow, None);
    assert!(f.user_property_mappings.is_empty() && f.group_property_mappings.is_empty());
    assert_eq!(f.policy_engine_mode, PolicyEngineMode::Any);
    assert_eq!(f.user_matching_mode, UserMatchingMode::Identifier);
    assert_eq!(f.group_matching_mode, GroupMatchingMode::Identifier);
    assert_eq!(f.user_path_template, "goauthentik.io/sources/%(slug)s");
    assert_eq!(f.icon, None);
    assert_eq!(f.client_id.len(), 40);
    assert!(f.client_id.bytes().all(|b| b.is_ascii_alphanumeric()));
    assert!(f.allowed_servers.is_empty());
    assert!(f.allow_friends);
    assert_eq!(f.plex_token.expose(), "minimal-token");
}

async fn importing_twice_changes_nothing_the_second_time(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
    let both = format!(
        "{FULL}{}",
        MINIMAL
            .trim_start()
            .trim_start_matches("version: 1\nentries:\n")
    );
    assert_eq!(fx.import(&both).await.unwrap(), report(6, 0, 0, 0, 0));
    let minimal = fx.source("minimal").await.unwrap();
    let full = fx.source("plex-login").await.unwrap();

    assert_eq!(fx.import(&both).await.unwrap(), report(0, 0, 6, 0, 0));
    assert_eq!(fx.source("minimal").await.unwrap(), minimal);
    assert_eq!(fx.source("plex-login").await.unwrap(), full);

    // A real change is an update; the generated client_id survives it.
    let renamed = MINIMAL.replace("name: Minimal", "name: Renamed");
    assert_eq!(fx.import(&renamed).await.unwrap(), report(0, 1, 0, 0, 0));
    let after = fx.source("minimal").await.unwrap();
    assert_eq!(after.fields.name, "Renamed");
    assert_eq!(after.fields.client_id, minimal.fields.client_id);
    assert_eq!(after.pk, minimal.pk);
}

async fn an_update_keeps_the_attributes_it_does_not_name(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
    fx.import(FULL).await.unwrap();
    let before = fx.source("plex-login").await.unwrap();
    let patch = "
version: 1
entries:
  - model: authentik_sources_plex.plexsource
    identifiers: {slug: plex-login}
    attrs: {enabled: true, allowed_servers: []}
";
    assert_eq!(fx.import(patch).await.unwrap(), report(0, 1, 0, 0, 0));
    let after = fx.source("plex-login").await.unwrap();
    assert!(after.fields.enabled);
    assert!(after.fields.allowed_servers.is_empty());
    assert_eq!(after.fields.plex_token, before.fields.plex_token);
    assert_eq!(
        after.fields.user_property_mappings,
        before.fields.user_property_mappings
    );
    assert_eq!(
        after.fields.authentication_flow,
        before.fields.authentication_flow
    );
}

async fn pk_identifiers_create_with_that_pk_and_the_first_match_wins(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
    // The smallest pk: of several matches it is the first, as Django's
    // `.first()` orders by pk.
    let pk = Uuid::parse_str("00000000-0000-4000-8000-000000000001").unwrap();
    let text = format!(
        "
version: 1
entries:
  - model: authentik_sources_plex.plexsource
    identifiers: {{pk: '{pk}'}}
    attrs: {{slug: by-pk, name: By pk, plex_token: t}}
"
    );
    assert_eq!(fx.import(&text).await.unwrap(), report(1, 0, 0, 0, 0));
    assert_eq!(fx.source("by-pk").await.unwrap().pk, pk);
    assert_eq!(fx.import(&text).await.unwrap(), report(0, 0, 1, 0, 0));

    fx.import(MINIMAL).await.unwrap();
    let text = format!(
        "
version: 1
entries:
  - model: authentik_sources_plex.plexsource
    identifiers: {{pk: '{pk}', slug: minimal}}
"
    );
    // Both sources match; the first (by pk) would take the other's slug.
    let err = fx.import(&text).await.unwrap_err();
    assert_eq!(
        err.violations().unwrap().to_string(),
        "slug: source with this slug already exists."
    );
}

async fn the_example_blueprint_imports(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/plex-login.yaml");
    let first = blueprint::import_file(&fx.db, &path).await.unwrap();
    assert_eq!(first, report(4, 0, 0, 0, 0));
    let s = fx.source("plex-login").await.unwrap().fields;
    assert_eq!(s.name, "Sign in with Plex");
    assert_eq!(
        s.authentication_flow,
        fx.flow("default-source-authentication").await.map(|f| f.pk)
    );
    assert_eq!(
        s.enrollment_flow,
        fx.flow("default-source-enrollment").await.map(|f| f.pk)
    );
    assert_eq!(s.user_property_mappings.len(), 1);
    assert_eq!(s.allowed_servers.len(), 1);
    assert!(!s.allow_friends);
    assert!(!s.plex_token.expose().is_empty());
    assert_eq!(
        blueprint::import_file(&fx.db, &path).await.unwrap(),
        report(0, 0, 4, 0, 0)
    );
}

// A property of the future's type, never polled: no database, so once
// rather than per backend.
#[test]
fn import_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    fn import(db: &Db) {
        assert_send(&blueprint::import_file(db, Path::new("x.yaml")));
    }
    let _ = import;
}
