//! Imports against a real SQLite file, one fresh database per test.

use std::path::{Path, PathBuf};

use sea_orm::DatabaseConnection;
use tempfile::TempDir;
use uuid::Uuid;

use super::*;
use crate::{
    domain::{
        GroupMatchingMode, PlexSource, PolicyEngineMode, Slug, UserMatchingMode,
        access::{Caller, Permission, hash_key},
    },
    store::{self, FlowRow, Lookup, MappingRow, access::Principal},
};

const PLEX: &str = "authentik_sources_plex.plexsource";

struct Fixture {
    dir: TempDir,
    db: DatabaseConnection,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("db.sqlite").display());
    let db = store::connect(&url).await.unwrap();
    store::migrate(&db).await.unwrap();
    Fixture { dir, db }
}

/// The environment the tests see; names are unique to this module, and the
/// process environment is never touched.
fn env(name: &str) -> Option<String> {
    let value = match name {
        "PSS_TEST_FULL_TOKEN" => "full-owner-token",
        "PSS_TEST_FULL_MAPPING" => "Plex: groups",
        "PSS_TEST_ENV_CLIENT" => "client-from-env",
        "PSS_TEST_SECRET_MODE" => "super-secret-mode",
        "PSS_TEST_SECRET_FLOW" => "0f0f0f0f-aaaa-4bbb-8ccc-0123456789ab",
        _ => return None,
    };
    Some(value.to_owned())
}

impl Fixture {
    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    async fn import(&self, text: &str) -> Result<ImportReport, ImportError> {
        let path = self.write("blueprint.yaml", text);
        import_file_with_env(&self.db, &path, &env).await
    }

    async fn source(&self, slug: &str) -> Option<PlexSource> {
        store::find_source_by_slug(&self.db, &Slug::parse(slug).unwrap())
            .await
            .unwrap()
    }

    async fn flow(&self, slug: &str) -> Option<FlowRow> {
        let lookup = Lookup {
            pk: None,
            fields: vec![("slug", slug.to_owned())],
        };
        store::flows::find(&self.db, &lookup).await.unwrap().pop()
    }

    async fn mapping(&self, name: &str) -> Option<MappingRow> {
        let lookup = Lookup {
            pk: None,
            fields: vec![("name", name.to_owned())],
        };
        store::mappings::find(&self.db, &lookup)
            .await
            .unwrap()
            .pop()
    }
}

fn report(
    created: usize,
    updated: usize,
    unchanged: usize,
    deleted: usize,
    skipped: usize,
) -> ImportReport {
    ImportReport {
        created,
        updated,
        unchanged,
        deleted,
        skipped,
    }
}

fn violated_fields(err: &ImportError) -> Vec<String> {
    err.violations()
        .unwrap_or_else(|| panic!("expected violations, got {err}"))
        .iter()
        .map(|v| v.field.clone())
        .collect()
}

const MINIMAL: &str = "
version: 1
entries:
  - model: authentik_sources_plex.plexsource
    identifiers:
      slug: minimal
    attrs:
      name: Minimal
      plex_token: minimal-token
";

const FULL: &str = r#"
version: 1
metadata:
  name: Test - full Plex source
entries:
  - model: authentik_flows.flow
    id: auth
    identifiers:
      slug: src-auth
    attrs:
      name: Authenticate
      title: Welcome
      designation: authentication
  - model: authentik_flows.flow
    identifiers:
      slug: src-enroll
    attrs:
      name: Enroll
      designation: enrollment
  - model: authentik_sources_plex.plexsourcepropertymapping
    id: m1
    identifiers:
      name: "Plex: username"
    attrs:
      expression: |
        return {"username": info.get("username")}
  - model: authentik_sources_plex.plexsourcepropertymapping
    identifiers:
      name: "Plex: groups"
  - model: authentik_sources_plex.plexsource
    id: plex
    identifiers:
      slug: plex-login
    attrs:
      name: Sign in with Plex
      enabled: false
      authentication_flow: !KeyOf auth
      enrollment_flow: !Find [authentik_flows.flow, [slug, src-enroll]]
      user_property_mappings:
        - !KeyOf m1
        - !Find [authentik_sources_plex.plexsourcepropertymapping, [name, "Plex: groups"]]
      group_property_mappings:
        - !Find [authentik_sources_plex.plexsourcepropertymapping, [name, !Env PSS_TEST_FULL_MAPPING]]
      policy_engine_mode: all
      user_matching_mode: email_link
      group_matching_mode: name_deny
      user_path_template: goauthentik.io/sources/plex
      icon: https://example.com/plex.png
      client_id: fixed-client-id
      allowed_servers: [server-a, server-b]
      allow_friends: false
      plex_token: !Env PSS_TEST_FULL_TOKEN
      verbose_name: Plex Source
      component: ak-source-plex-form
"#;

#[test]
fn import_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    let db = DatabaseConnection::default();
    let future = import_file(&db, Path::new("x.yaml"));
    assert_send(&future);
}

#[tokio::test]
async fn full_source_with_flows_and_mappings() {
    let fx = fixture().await;
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

#[tokio::test]
async fn a_minimal_entry_gets_authentiks_defaults() {
    let fx = fixture().await;
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

#[tokio::test]
async fn importing_twice_changes_nothing_the_second_time() {
    let fx = fixture().await;
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

#[tokio::test]
async fn an_update_keeps_the_attributes_it_does_not_name() {
    let fx = fixture().await;
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

#[tokio::test]
async fn a_bad_entry_rolls_back_the_whole_file() {
    let fx = fixture().await;
    fx.import(MINIMAL).await.unwrap();
    let text = "
version: 1
entries:
  - model: authentik_flows.flow
    identifiers: {slug: rolled-back}
    attrs: {name: Rolled back, designation: authentication}
  - model: authentik_sources_plex.plexsource
    identifiers: {slug: minimal}
    attrs: {name: Changed, enabled: false}
  - model: authentik_sources_plex.plexsource
    identifiers: {slug: bad slug!}
    attrs: {name: Bad}
  - model: authentik_flows.flow
    identifiers: {slug: never-reached}
    attrs: {name: Never, designation: recovery}
";
    let path = fx.write("bad.yaml", text);
    let err = import_file_with_env(&fx.db, &path, &env).await.unwrap_err();
    assert_eq!(err.entry_index(), Some(2));
    assert_eq!(
        err.to_string(),
        format!(
            "{}: entry 2 ({PLEX}): slug: Enter a valid \"slug\" consisting of letters, numbers, \
             underscores or hyphens.; plex_token: This field is required.",
            path.display()
        )
    );
    assert!(fx.flow("rolled-back").await.is_none());
    assert!(fx.flow("never-reached").await.is_none());
    let minimal = fx.source("minimal").await.unwrap();
    assert_eq!(minimal.fields.name, "Minimal");
    assert!(minimal.fields.enabled);
}

#[tokio::test]
async fn absent_deletes_once() {
    let fx = fixture().await;
    fx.import(FULL).await.unwrap();
    let text = "
version: 1
entries:
  - model: authentik_sources_plex.plexsource
    state: absent
    identifiers: {slug: plex-login}
    attrs: {name: ignored, plex_token: !KeyOf nothing}
  - model: authentik_flows.flow
    state: absent
    identifiers: {slug: src-auth}
";
    assert_eq!(fx.import(text).await.unwrap(), report(0, 0, 0, 2, 0));
    assert!(fx.source("plex-login").await.is_none());
    assert!(fx.flow("src-auth").await.is_none());
    assert_eq!(fx.import(text).await.unwrap(), report(0, 0, 2, 0, 0));
}

#[tokio::test]
async fn created_never_updates() {
    let fx = fixture().await;
    fx.import(MINIMAL).await.unwrap();
    let before = fx.source("minimal").await.unwrap();
    let text = "
version: 1
entries:
  - model: authentik_sources_plex.plexsource
    state: created
    id: kept
    identifiers: {slug: minimal}
    attrs: {name: Changed, plex_token: other}
  - model: authentik_sources_plex.plexsourcepropertymapping
    state: created
    identifiers: {name: new-mapping}
  - model: authentik_sources_plex.plexsource
    identifiers: {slug: second}
    attrs: {name: Second, plex_token: t, client_id: !KeyOf kept}
";
    assert_eq!(fx.import(text).await.unwrap(), report(2, 0, 1, 0, 0));
    assert_eq!(fx.source("minimal").await.unwrap(), before);
    assert!(fx.mapping("new-mapping").await.is_some());
    // `!KeyOf` gives the pk of the object a `created` entry matched.
    let second = fx.source("second").await.unwrap();
    assert_eq!(second.fields.client_id, before.pk.to_string());
}

#[tokio::test]
async fn must_created_fails_on_an_existing_object() {
    let fx = fixture().await;
    fx.import(MINIMAL).await.unwrap();
    let err = fx
        .import(&MINIMAL.replace("identifiers:", "state: must_created\n    identifiers:"))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&err), ["identifiers"]);
    assert_eq!(
        err.violations().unwrap().iter().next().unwrap().code,
        "unique"
    );

    let fresh = fixture().await;
    let text = MINIMAL.replace("identifiers:", "state: must_created\n    identifiers:");
    assert_eq!(fresh.import(&text).await.unwrap(), report(1, 0, 0, 0, 0));
}

#[tokio::test]
async fn unsupported_models_and_false_conditions_are_skipped() {
    let fx = fixture().await;
    let text = "
version: 1
entries:
  - model: authentik_core.group
    identifiers: {name: admins}
    attrs: {is_superuser: true}
    permissions:
      - permission: view_group
        user: 1
  - model: authentik_flows.flow
    conditions: [true, false]
    identifiers: {slug: conditional}
    attrs: {name: Conditional, designation: authentication}
  - model: authentik_flows.flow
    conditions: [true]
    permissions: []
    identifiers: {slug: kept}
    attrs: {name: Kept, designation: authentication}
";
    assert_eq!(fx.import(text).await.unwrap(), report(1, 0, 0, 0, 2));
    assert!(fx.flow("conditional").await.is_none());
    assert!(fx.flow("kept").await.is_some());

    let err = fx
        .import("version: 1\nentries:\n  - model: authentik_flows.flow\n    conditions: [true, 'yes']\n    identifiers: {slug: x}\n")
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&err), ["conditions[1]"]);
}

#[tokio::test]
async fn env_with_default_and_unset() {
    let fx = fixture().await;
    let text = "
version: 1
entries:
  - model: authentik_sources_plex.plexsource
    identifiers: {slug: !Env [PSS_TEST_ENV_UNSET_SLUG, env-source]}
    attrs:
      name: Env
      plex_token: !Env [PSS_TEST_ENV_UNSET_TOKEN, fallback-token]
      client_id: !Env PSS_TEST_ENV_CLIENT
      enrollment_flow: !Env PSS_TEST_ENV_UNSET_FLOW
";
    assert_eq!(fx.import(text).await.unwrap(), report(1, 0, 0, 0, 0));
    let s = fx.source("env-source").await.unwrap().fields;
    assert_eq!(s.plex_token.expose(), "fallback-token");
    assert_eq!(s.client_id, "client-from-env");
    assert_eq!(s.enrollment_flow, None);

    let err = fx
        .import(&MINIMAL.replace("minimal-token", "!Env PSS_TEST_ENV_UNSET_TOKEN"))
        .await
        .unwrap_err();
    assert_eq!(
        err.violations().unwrap().to_string(),
        "plex_token: This field may not be null."
    );
}

#[tokio::test]
async fn every_violation_of_an_entry_is_reported() {
    let fx = fixture().await;
    let text = format!(
        "
version: 1
entries:
  - model: authentik_sources_plex.plexsource
    identifiers: {{slug: 'bad slug'}}
    attrs:
      name: '  '
      allow_friends: 'yes'
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
        message.contains("enrollment_flow: KeyOf: no earlier entry has id \"later\"."),
        "{message}"
    );
    assert!(
        message.contains("does not exist") || message.contains("object does not exist"),
        "{message}"
    );
}

#[tokio::test]
async fn env_values_never_show_in_errors() {
    let fx = fixture().await;
    let text = "
version: 1
entries:
  - model: authentik_sources_plex.plexsource
    identifiers: {slug: secretive}
    attrs:
      name: Secretive
      plex_token: t
      policy_engine_mode: !Env PSS_TEST_SECRET_MODE
      authentication_flow: !Env PSS_TEST_SECRET_FLOW
";
    let err = fx.import(text).await.unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("super-secret-mode"), "{shown}");
    assert!(!shown.contains("0f0f0f0f-aaaa"), "{shown}");
    assert_eq!(
        violated_fields(&err),
        ["policy_engine_mode", "authentication_flow"]
    );
    assert!(
        shown.contains("\"[REDACTED]\" is not a valid choice."),
        "{shown}"
    );
}

#[tokio::test]
async fn unique_values_are_checked_against_other_objects() {
    let fx = fixture().await;
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

#[tokio::test]
async fn pk_identifiers_create_with_that_pk_and_ambiguity_is_an_error() {
    let fx = fixture().await;
    let pk = Uuid::new_v4();
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
    let err = fx.import(&text).await.unwrap_err();
    assert_eq!(violated_fields(&err), ["identifiers"]);
}

#[tokio::test]
async fn key_of_must_name_an_earlier_entry() {
    let fx = fixture().await;
    let text = "
version: 1
entries:
  - model: authentik_sources_plex.plexsource
    identifiers: {slug: early}
    attrs:
      name: Early
      plex_token: t
      user_property_mappings: [!KeyOf m, !KeyOf m]
  - model: authentik_sources_plex.plexsourcepropertymapping
    id: m
    identifiers: {name: m}
";
    let err = fx.import(text).await.unwrap_err();
    assert_eq!(violated_fields(&err), ["user_property_mappings[0]"]);
    assert!(fx.mapping("m").await.is_none());
}

#[tokio::test]
async fn unreadable_and_malformed_files_name_the_path() {
    let fx = fixture().await;
    let missing = fx.dir.path().join("missing.yaml");
    let err = import_file(&fx.db, &missing).await.unwrap_err();
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
        let err = import_file(&fx.db, &path).await.unwrap_err();
        assert!(matches!(err, ImportError::Parse { .. }), "{text:?}: {err}");
        assert_eq!(err.entry_index(), index, "{text:?}");
        assert!(
            err.to_string().starts_with(&path.display().to_string()),
            "{err}"
        );
    }
    assert!(fx.flow("x").await.is_none());
}

#[tokio::test]
async fn the_example_blueprint_imports() {
    let fx = fixture().await;
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/plex-login.yaml");
    let first = import_file(&fx.db, &path).await.unwrap();
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
        import_file(&fx.db, &path).await.unwrap(),
        report(0, 0, 4, 0, 0)
    );
}

#[test]
fn errors_start_with_the_path_and_name_the_entry() {
    let mut violations = crate::domain::Violations::new();
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
        error: crate::store::StoreError::Corrupt("x".into()),
    };
    assert_eq!(err.to_string(), "a.yaml: stored row is invalid: x");
    assert!(std::error::Error::source(&err).is_none());
}

// --- Users, roles and object permissions -------------------------------------

const ACCESS: &str = "
version: 1
entries:
  - model: authentik_rbac.role
    id: r
    identifiers: {name: readers}
    permissions:
      - {permission: view_plexsource, user: 5}
  - model: authentik_core.user
    id: u
    identifiers: {username: alice}
    attrs:
      name: Alice
      email: alice@example.com
      path: users
      attributes: {team: plex}
      type: internal
      roles: [!KeyOf r]
  - model: authentik_core.user
    identifiers: {username: bob}
    attrs:
      is_active: false
      roles: [!Find [authentik_rbac.role, [name, readers]]]
  - model: authentik_sources_plex.plexsource
    identifiers: {slug: guarded}
    attrs: {name: Guarded, plex_token: t}
    permissions:
      - permission: view_plexsource
        user: !KeyOf u
      - permission: authentik_sources_plex.view_plexsource_plex_token
        role: !Find [authentik_rbac.role, [name, readers]]
      - permission: view_plexsource
        user: !Find [authentik_core.user, [username, alice]]
  - model: authentik_sources_plex.plexsource
    identifiers: {slug: other}
    attrs: {name: Other, plex_token: t}
";

impl Fixture {
    async fn users(&self) -> Vec<store::access::UserRow> {
        store::access::list_users(&self.db).await.unwrap()
    }

    async fn grants(&self) -> Vec<store::access::GrantRow> {
        store::access::list_grants(&self.db).await.unwrap()
    }

    /// Gives `username` a token with `key`, as the admin command does.
    async fn token(&self, username: &str, key: &str) {
        store::access::create_token(
            &self.db,
            &format!("{username}-token"),
            username,
            hash_key(key),
            None,
            "",
        )
        .await
        .unwrap();
    }

    async fn caller(&self, key: &str) -> Option<Caller> {
        store::access::authenticate(&self.db, key, chrono::Utc::now())
            .await
            .unwrap()
    }
}

fn grant(permission: Permission, principal: Principal, slug: &str) -> store::access::GrantRow {
    store::access::GrantRow {
        permission,
        principal,
        slug: Some(slug.to_owned()),
    }
}

#[tokio::test]
async fn users_roles_and_object_permissions() {
    let fx = fixture().await;
    assert_eq!(fx.import(ACCESS).await.unwrap(), report(5, 0, 0, 0, 0));

    let users = fx.users().await;
    let summary: Vec<_> = users
        .iter()
        .map(|u| {
            (
                u.username.as_str(),
                u.is_active,
                u.is_superuser,
                u.roles.clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("alice", true, false, vec!["readers".to_owned()]),
            ("bob", false, false, vec!["readers".to_owned()]),
        ]
    );
    // The repeated item added no second row.
    let grants = fx.grants().await;
    assert_eq!(
        grants,
        [
            grant(Permission::View, Principal::User("alice".into()), "guarded"),
            grant(
                Permission::ViewPlexToken,
                Principal::Role("readers".into()),
                "guarded"
            ),
        ]
    );

    // The grants work as object permissions, directly and through the role.
    let guarded = fx.source("guarded").await.unwrap().pk;
    let other = fx.source("other").await.unwrap().pk;
    fx.token("alice", "alice-key").await;
    let alice = fx.caller("alice-key").await.unwrap();
    assert!(alice.may(Permission::View, Some(guarded)));
    assert!(alice.may(Permission::ViewPlexToken, Some(guarded)));
    assert!(!alice.may(Permission::View, Some(other)));
    assert!(!alice.may(Permission::ViewPlexToken, Some(other)));
    assert!(!alice.may_globally(Permission::View));
    // bob is inactive: his key opens nothing.
    fx.token("bob", "bob-key").await;
    assert_eq!(fx.caller("bob-key").await, None);

    for _ in 0..2 {
        assert_eq!(fx.import(ACCESS).await.unwrap(), report(0, 0, 5, 0, 0));
    }
    assert_eq!(fx.grants().await, grants);
    assert_eq!(fx.users().await, users);
}

#[tokio::test]
async fn grants_are_added_not_replaced_and_a_new_one_is_an_update() {
    let fx = fixture().await;
    fx.import(ACCESS).await.unwrap();
    let text = "
version: 1
entries:
  - model: authentik_sources_plex.plexsource
    identifiers: {slug: guarded}
    permissions:
      - permission: change_plexsource
        role: !Find [authentik_rbac.role, [name, readers]]
  - model: authentik_sources_plex.plexsource
    state: created
    identifiers: {slug: other}
    attrs: {name: Ignored}
    permissions:
      - permission: delete_plexsource
        user: !Find [authentik_core.user, [username, bob]]
";
    assert_eq!(fx.import(text).await.unwrap(), report(0, 2, 0, 0, 0));
    assert_eq!(fx.import(text).await.unwrap(), report(0, 0, 2, 0, 0));
    assert_eq!(fx.source("other").await.unwrap().fields.name, "Other");
    let grants = fx.grants().await;
    assert_eq!(grants.len(), 4, "{grants:?}");
    assert!(grants.contains(&grant(
        Permission::View,
        Principal::User("alice".into()),
        "guarded"
    )));
    assert!(grants.contains(&grant(
        Permission::Change,
        Principal::Role("readers".into()),
        "guarded"
    )));
    assert!(grants.contains(&grant(
        Permission::Delete,
        Principal::User("bob".into()),
        "other"
    )));
}

#[tokio::test]
async fn user_roles_are_replaced_and_superuser_is_settable() {
    let fx = fixture().await;
    fx.import(ACCESS).await.unwrap();
    let text = "
version: 1
entries:
  - model: authentik_rbac.role
    id: w
    identifiers: {name: writers}
  - model: authentik_core.user
    identifiers: {username: alice}
    attrs: {roles: [!KeyOf w, !KeyOf w], is_superuser: true}
  - model: authentik_core.user
    identifiers: {username: bob}
    attrs: {roles: []}
";
    assert_eq!(fx.import(text).await.unwrap(), report(1, 2, 0, 0, 0));
    let users = fx.users().await;
    assert_eq!(users[0].roles, ["writers"]);
    assert!(users[0].is_superuser && users[0].is_active);
    assert!(users[1].roles.is_empty());
    assert!(!users[1].is_active);
    assert_eq!(fx.import(text).await.unwrap(), report(0, 0, 3, 0, 0));
}

#[tokio::test]
async fn broken_permissions_are_all_reported_and_nothing_is_written() {
    let fx = fixture().await;
    let text = format!(
        "
version: 1
entries:
  - model: authentik_rbac.role
    id: r
    identifiers: {{name: readers}}
  - model: authentik_core.user
    id: u
    identifiers: {{username: alice}}
  - model: authentik_sources_plex.plexsource
    identifiers: {{slug: guarded}}
    attrs: {{name: '  ', plex_token: t}}
    permissions:
      - {{permission: view_everything, user: !KeyOf u}}
      - {{permission: view_plexsource, user: !KeyOf u, role: !KeyOf r}}
      - {{permission: view_plexsource, user: '{user}'}}
      - {{permission: view_plexsource, role: '{role}'}}
      - {{permission: view_plexsource}}
      - {{permission: view_plexsource, user: !Env PSS_TEST_SECRET_MODE}}
      - {{permission: view_plexsource, role: !KeyOf nowhere}}
      - {{permission: view_plexsource, user: !KeyOf u}}
",
        user = Uuid::new_v4(),
        role = Uuid::new_v4(),
    );
    let err = fx.import(&text).await.unwrap_err();
    assert_eq!(err.entry_index(), Some(2));
    assert_eq!(
        violated_fields(&err),
        [
            "name",
            "permissions[6].role",
            "permissions[0].permission",
            "permissions[1]",
            "permissions[4]",
            "permissions[5].user",
            "permissions[2].user",
            "permissions[3].role",
        ]
    );
    let message = err.to_string();
    for part in [
        "(authentik_sources_plex.plexsource)",
        "permissions[0].permission: Unknown permission \"view_everything\".",
        "permissions[1]: Give exactly one of user or role.",
        "permissions[3].role: Invalid pk \"",
        "permissions[5].user: Invalid pk \"[REDACTED]\" - object does not exist.",
    ] {
        assert!(message.contains(part), "{part}: {message}");
    }
    assert!(!message.contains("super-secret-mode"), "{message}");

    assert!(fx.users().await.is_empty());
    assert!(fx.grants().await.is_empty());
    assert!(fx.source("guarded").await.is_none());

    let err = fx
        .import("version: 1\nentries:\n  - model: authentik_sources_plex.plexsource\n    identifiers: {slug: s}\n    attrs: {name: S, plex_token: t}\n    permissions: {permission: view_plexsource}\n")
        .await
        .unwrap_err();
    assert_eq!(
        err.violations().unwrap().to_string(),
        "permissions: Expected a list of items but got type \"dict\"."
    );
}

#[tokio::test]
async fn user_and_role_rules() {
    let fx = fixture().await;
    fx.import(ACCESS).await.unwrap();
    let missing = Uuid::new_v4();
    let text = format!(
        "
version: 1
entries:
  - model: authentik_core.user
    identifiers: {{username: carol}}
    attrs: {{is_active: 'yes', roles: ['{missing}', not-a-pk], favourite_colour: blue}}
"
    );
    let err = fx.import(&text).await.unwrap_err();
    assert_eq!(
        err.violations().unwrap().to_string(),
        format!(
            "is_active: Must be a valid boolean.; \
             roles[1]: Invalid pk \"not-a-pk\" - object does not exist.; \
             roles[0]: Invalid pk \"{missing}\" - object does not exist."
        )
    );

    let alice_pk = store::access::lookup_users(
        &fx.db,
        &Lookup {
            pk: None,
            fields: vec![("username", "alice".into())],
        },
    )
    .await
    .unwrap()[0]
        .pk;
    let text = format!(
        "
version: 1
entries:
  - model: authentik_core.user
    identifiers: {{pk: '{alice_pk}'}}
    attrs: {{username: bob}}
  - model: authentik_rbac.role
    identifiers: {{name: '{long}'}}
  - model: authentik_core.user
    identifiers: {{nickname: x}}
",
        long = "r".repeat(151),
    );
    let err = fx.import(&text).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: entry 0 (authentik_core.user): username: A user with that username already exists.",
            fx.dir.path().join("blueprint.yaml").display()
        )
    );
    let err = fx
        .import(&text.replace("username: bob", "username: alicia"))
        .await
        .unwrap_err();
    assert_eq!(err.entry_index(), Some(1));
    assert_eq!(
        err.violations().unwrap().to_string(),
        "name: Ensure this field has no more than 150 characters."
    );
    assert!(fx.users().await.iter().any(|u| u.username == "alice"));

    let must = "
version: 1
entries:
  - model: authentik_rbac.role
    state: must_created
    identifiers: {name: readers}
";
    let err = fx.import(must).await.unwrap_err();
    assert_eq!(violated_fields(&err), ["identifiers"]);
    let err = fx
        .import("version: 1\nentries:\n  - model: authentik_core.user\n    identifiers: {nickname: x}\n")
        .await
        .unwrap_err();
    assert_eq!(
        err.violations().unwrap().to_string(),
        "identifiers.nickname: Not an identifier of authentik_core.user; use pk or username."
    );
}

#[tokio::test]
async fn absent_removes_users_and_roles_with_their_grants_and_tokens() {
    let fx = fixture().await;
    fx.import(ACCESS).await.unwrap();
    fx.token("alice", "alice-key").await;
    let text = "
version: 1
entries:
  - model: authentik_core.user
    state: absent
    identifiers: {username: alice}
  - model: authentik_rbac.role
    state: absent
    identifiers: {name: readers}
";
    assert_eq!(fx.import(text).await.unwrap(), report(0, 0, 0, 2, 0));
    let users = fx.users().await;
    assert_eq!(users.len(), 1);
    assert_eq!(
        (users[0].username.as_str(), users[0].roles.len()),
        ("bob", 0)
    );
    assert!(fx.grants().await.is_empty());
    assert_eq!(fx.caller("alice-key").await, None);
    assert!(store::access::list_tokens(&fx.db).await.unwrap().is_empty());
    assert_eq!(fx.import(text).await.unwrap(), report(0, 0, 2, 0, 0));
}
