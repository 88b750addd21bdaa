//! What a refused file reports: every violation of the entry, uniqueness,
//! unreadable and malformed files, and the error's text.

use plex_source_service::blueprint::{self, ImportError};
use uuid::Uuid;

use super::{FULL, PLEX, fixture, report, violated_fields};
use crate::{backend_tests, helpers::Backend};

backend_tests!(
    every_violation_of_an_entry_is_reported,
    unique_values_are_checked_against_other_objects,
    unreadable_and_malformed_files_name_the_path,
);

async fn every_violation_of_an_entry_is_reported(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
    let text = format!(
        "
version: 1
entries:
  - model: authentik_sources_plex.plexsource
    identifiers: {{slug: 'bad slug'}}
    attrs:
      name: '  '
      allow_friends: 'maybe'
      policy_engine_mode: nope
      authentication_flow: {flow}
      enrollment_flow: !KeyOf later
      user_property_mappings: [{mapping}]
      allowed_servers: ['', ok]
      favourite_colour: blue
  - model: authentik_flows.flow
    id: later
    identifiers: {{slug: later}}
    attrs: {{name: Later, designation: authentication}}
",
        flow = Uuid::new_v4(),
        mapping = Uuid::new_v4(),
    );
    let err = fx.import(&text).await.unwrap_err();
    assert_eq!(err.entry_index(), Some(0));
    let mut fields = violated_fields(&err);
    fields.sort();
    assert_eq!(
        fields,
        [
            "allow_friends",
            "allowed_servers[0]",
            "authentication_flow",
            "enrollment_flow",
            "name",
            "plex_token",
            "policy_engine_mode",
            "slug",
            "user_property_mappings[0]",
        ]
    );
    let message = err.to_string();
    assert!(
        message.contains(
            "enrollment_flow: KeyOf: failed to find entry with `id` of `later` and a model instance"
        ),
        "{message}"
    );
    assert!(
        message.contains("does not exist") || message.contains("object does not exist"),
        "{message}"
    );
}

async fn unique_values_are_checked_against_other_objects(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
    fx.import(FULL).await.unwrap();
    let text = "
version: 1
entries:
  - model: authentik_sources_plex.plexsource
    identifiers: {name: Another}
    attrs: {slug: plex-login, plex_token: t}
";
    let err = fx.import(text).await.unwrap_err();
    let v = err.violations().unwrap().iter().next().unwrap().clone();
    assert_eq!((v.field.as_str(), v.code), ("slug", "unique"));
    assert_eq!(v.message, "source with this slug already exists.");

    let text = "
version: 1
entries:
  - model: authentik_flows.flow
    identifiers: {name: Other flow}
    attrs: {slug: src-auth, designation: recovery}
  - model: authentik_sources_plex.plexsourcepropertymapping
    identifiers: {pk: 3f1e5a52-7f55-4a44-9c43-4a8d0f3c2b10}
    attrs: {name: 'Plex: groups'}
";
    let err = fx.import(text).await.unwrap_err();
    assert_eq!(
        err.violations().unwrap().to_string(),
        "slug: flow with this slug already exists."
    );
    let err = fx
        .import(&text.replace("slug: src-auth", "slug: fresh-flow"))
        .await
        .unwrap_err();
    assert_eq!(err.entry_index(), Some(1));
    assert_eq!(
        err.violations().unwrap().to_string(),
        "name: property mapping with this name already exists."
    );

    // Renaming an object to its own slug is no conflict.
    let same = "
version: 1
entries:
  - model: authentik_sources_plex.plexsource
    identifiers: {slug: plex-login}
    attrs: {slug: plex-login, name: Renamed}
";
    assert_eq!(fx.import(same).await.unwrap(), report(0, 1, 0, 0, 0));
}

async fn unreadable_and_malformed_files_name_the_path(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
    let missing = fx.dir.path().join("missing.yaml");
    let err = blueprint::import_file(&fx.db, &missing).await.unwrap_err();
    assert!(matches!(err, ImportError::Io { .. }));
    assert!(err.to_string().starts_with(&missing.display().to_string()));

    for (text, index) in [
        ("- a\n- b\n", None),
        ("version: 1\nentries: 5\n", None),
        ("version: 1\nentries: [5]\n", Some(0)),
        ("version: 1\nentries:\n  - model: 5\n", Some(0)),
        (
            "version: 1\nentries: [{model: authentik_flows.flow, identifiers: {slug: x}}, 7]\n",
            Some(1),
        ),
        ("\u{0}\u{1}garbage: [", None),
    ] {
        let path = fx.write("malformed.yaml", text);
        let err = blueprint::import_file(&fx.db, &path).await.unwrap_err();
        assert!(matches!(err, ImportError::Parse { .. }), "{text:?}: {err}");
        assert_eq!(err.entry_index(), index, "{text:?}");
        assert!(
            err.to_string().starts_with(&path.display().to_string()),
            "{err}"
        );
    }
    assert!(fx.flow("x").await.is_none());
}

// Formats errors built by hand: no database, so once rather than per backend.
#[test]
fn errors_start_with_the_path_and_name_the_entry() {
    let mut violations = plex_source_service::domain::Violations::new();
    violations.add(
        "slug",
        "invalid",
        "Enter a valid \"slug\" consisting of letters, numbers, underscores or hyphens.",
    );
    violations.required("plex_token");
    let err = ImportError::Entry {
        path: "examples/bad.yaml".into(),
        index: 2,
        model: PLEX.into(),
        violations,
    };
    assert_eq!(
        err.to_string(),
        "examples/bad.yaml: entry 2 (authentik_sources_plex.plexsource): slug: Enter a valid \
         \"slug\" consisting of letters, numbers, underscores or hyphens.; plex_token: This field \
         is required."
    );
    assert_eq!(err.entry_index(), Some(2));
    assert_eq!(err.violations().map(|v| v.iter().count()), Some(2));

    let err = ImportError::Parse {
        path: "a.yaml".into(),
        entry: Some(4),
        message: "missing `model`".into(),
    };
    assert_eq!(err.to_string(), "a.yaml: entry 4: missing `model`");
    assert_eq!(err.violations(), None);

    let err = ImportError::Store {
        path: "a.yaml".into(),
        index: None,
        error: plex_source_service::store::StoreError::Corrupt("x".into()),
    };
    assert_eq!(err.to_string(), "a.yaml: stored row is invalid: x");
    assert!(std::error::Error::source(&err).is_none());
}
