//! Blueprint import against both databases: transactions, idempotence,
//! tags and states, observed through RetrievePlexSource.

use tonic::Code;

use crate::{
    backend_tests,
    helpers::{TestApp, example_blueprint},
};

const FLOWS_AND_SOURCE: &str = r#"
version: 1
entries:
  - model: authentik_flows.flow
    id: auth
    identifiers: {slug: imp-auth}
    attrs: {name: Auth, designation: authentication}
  - model: authentik_sources_plex.plexsourcepropertymapping
    id: mapping
    identifiers: {name: "imp mapping"}
    attrs: {expression: "return {}"}
  - model: authentik_sources_plex.plexsource
    identifiers: {slug: imported}
    attrs:
      name: Imported
      authentication_flow: !KeyOf auth
      enrollment_flow: !Find [authentik_flows.flow, [slug, imp-auth]]
      user_property_mappings: [!KeyOf mapping]
      plex_token: !Env [PSS_IMPORT_TEST_UNSET_TOKEN, default-token]
"#;

async fn a_bad_entry_rolls_back_the_whole_file(app: TestApp) {
    let err = app
        .import(
            r#"
version: 1
entries:
  - model: authentik_sources_plex.plexsource
    identifiers: {slug: first-good}
    attrs: {name: First, plex_token: t}
  - model: authentik_sources_plex.plexsource
    identifiers: {slug: "second bad"}
    attrs: {name: "", plex_token: t, user_matching_mode: nope}
"#,
        )
        .await
        .expect_err("bad entry");
    let text = err.to_string();
    assert!(text.contains("blueprint.yaml"), "names the file: {text}");
    assert!(text.contains("entry 1"), "names the entry: {text}");
    assert!(text.contains("slug"), "names the field: {text}");
    assert_eq!(err.entry_index(), Some(1));
    let fields: Vec<String> = err
        .violations()
        .unwrap()
        .iter()
        .map(|v| v.field.clone())
        .collect();
    for field in ["slug", "name", "user_matching_mode"] {
        assert!(
            fields.iter().any(|f| f == field),
            "{field} missing from {fields:?}"
        );
    }
    // The good entry before it was not written either.
    let status = app
        .retrieve(app.admin(), "first-good")
        .await
        .expect_err("rolled back");
    assert_eq!(status.code(), Code::NotFound);
}

async fn importing_the_same_file_twice_changes_nothing(app: TestApp) {
    let first = app.import(FLOWS_AND_SOURCE).await.expect("first import");
    assert_eq!(first.created, 3);
    let before = app
        .retrieve(app.admin(), "imported")
        .await
        .expect("retrieve");

    let second = app.import(FLOWS_AND_SOURCE).await.expect("second import");
    assert_eq!(
        (second.created, second.updated, second.unchanged),
        (0, 0, 3)
    );
    let after = app
        .retrieve(app.admin(), "imported")
        .await
        .expect("retrieve");
    assert_eq!(before, after, "client_id and every other field kept");
}

async fn tags_resolve_to_keys_finds_and_environment(app: TestApp) {
    app.import(FLOWS_AND_SOURCE).await.expect("import");
    let got = app
        .retrieve(app.admin(), "imported")
        .await
        .expect("retrieve");
    let flow = got.authentication_flow.clone().expect("!KeyOf resolved");
    assert_eq!(
        got.enrollment_flow.as_deref(),
        Some(flow.as_str()),
        "!Find found the same flow"
    );
    assert_eq!(got.user_property_mappings.len(), 1);
    assert_eq!(
        got.plex_token, "default-token",
        "!Env fell back to its default"
    );
}

async fn an_update_changes_only_what_it_names(app: TestApp) {
    app.import(FLOWS_AND_SOURCE).await.expect("import");
    let before = app
        .retrieve(app.admin(), "imported")
        .await
        .expect("retrieve");
    let report = app
        .import(
            r#"
version: 1
entries:
  - model: authentik_sources_plex.plexsource
    identifiers: {slug: imported}
    attrs: {allow_friends: false, allowed_servers: [abc]}
"#,
        )
        .await
        .expect("update");
    assert_eq!(report.updated, 1);
    let after = app
        .retrieve(app.admin(), "imported")
        .await
        .expect("retrieve");
    assert_eq!(after.allow_friends, Some(false));
    assert_eq!(after.allowed_servers, vec!["abc"]);
    assert_eq!(after.client_id, before.client_id);
    assert_eq!(after.authentication_flow, before.authentication_flow);
    assert_eq!(after.pk, before.pk);
}

async fn absent_removes_and_created_never_updates(app: TestApp) {
    app.import(FLOWS_AND_SOURCE).await.expect("import");
    let report = app
        .import(
            r#"
version: 1
entries:
  - model: authentik_sources_plex.plexsource
    state: created
    identifiers: {slug: imported}
    attrs: {name: Renamed, plex_token: other}
  - model: authentik_core.application
    identifiers: {slug: someone}
    attrs: {name: Someone}
"#,
        )
        .await
        .expect("created + unsupported");
    assert_eq!((report.unchanged, report.skipped), (1, 1));
    assert_eq!(
        app.retrieve(app.admin(), "imported").await.unwrap().name,
        "Imported"
    );

    let err = app
        .import(
            r#"
version: 1
entries:
  - model: authentik_sources_plex.plexsource
    state: must_created
    identifiers: {slug: imported}
    attrs: {name: Again, plex_token: t}
"#,
        )
        .await
        .expect_err("must_created on an existing source");
    assert!(err.to_string().contains("entry 0"), "{err}");

    let report = app
        .import(
            r#"
version: 1
entries:
  - model: authentik_sources_plex.plexsource
    state: absent
    identifiers: {slug: imported}
"#,
        )
        .await
        .expect("absent");
    assert_eq!(report.deleted, 1);
    assert_eq!(
        app.retrieve(app.admin(), "imported")
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );
}

async fn a_duplicate_slug_and_unknown_references_are_refused(app: TestApp) {
    app.import(FLOWS_AND_SOURCE).await.expect("import");
    let err = app
        .import(
            r#"
version: 1
entries:
  - model: authentik_sources_plex.plexsource
    identifiers: {name: Another}
    attrs:
      slug: imported
      plex_token: t
      enrollment_flow: 00000000-0000-4000-8000-000000000000
"#,
        )
        .await
        .expect_err("duplicate slug");
    let violations = err.violations().expect("violations");
    let messages: Vec<(String, String)> = violations
        .iter()
        .map(|v| (v.field.clone(), v.message.clone()))
        .collect();
    assert!(
        messages.contains(&(
            "slug".into(),
            "source with this slug already exists.".into()
        )),
        "{messages:?}"
    );
    assert!(
        messages.contains(&(
            "enrollment_flow".into(),
            "Invalid pk \"00000000-0000-4000-8000-000000000000\" - object does not exist.".into()
        )),
        "{messages:?}"
    );
}

async fn the_shipped_example_imports_and_serves(app: TestApp) {
    let report = plex_source_service::blueprint::import_file(&app.db, &example_blueprint())
        .await
        .expect("example imports");
    assert!(report.created >= 1);
    let got = app
        .retrieve(app.admin(), "plex-login")
        .await
        .expect("example source served");
    assert_eq!(got.name, "Sign in with Plex");
    assert!(got.authentication_flow.is_some());
}

backend_tests!(
    apps: [
        a_bad_entry_rolls_back_the_whole_file,
        importing_the_same_file_twice_changes_nothing,
        tags_resolve_to_keys_finds_and_environment,
        an_update_changes_only_what_it_names,
        absent_removes_and_created_never_updates,
        a_duplicate_slug_and_unknown_references_are_refused,
        the_shipped_example_imports_and_serves,
    ],
);
