//! Every tag of authentik 2025.10 through a whole import: values land in
//! the store, tags nest in identifiers and conditions, and errors name the
//! file, entry and field.

use super::{fixture, report, violated_fields};
use crate::{backend_tests, helpers::Backend};

backend_tests!(
    tags_nest_in_identifiers_attributes_and_conditions,
    find_and_find_object_read_any_field_of_stored_objects,
    enumerate_builds_reference_lists,
    file_and_context_given_at_import,
    tag_errors_name_the_entry_and_field,
);

async fn tags_nest_in_identifiers_attributes_and_conditions(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
    let text = r#"
version: 1
context:
  base: nested
  modes: {strict: all, loose: any}
entries:
  - model: authentik_flows.flow
    conditions:
      - !Condition [NAND, !Context base, !If [!Env [PSS_TEST_LANG_UNSET, x]]]
    identifiers: {slug: never}
    attrs: {name: Never, designation: authentication}
  - model: authentik_flows.flow
    id: f
    conditions:
      - !If [!Context base, 1, 0]
      - !Condition [XNOR, false, !Context [missing, ""]]
    identifiers:
      slug: !Format ["%s-%s", !Context base, !AtIndex [[auth, x], 0]]
    attrs:
      name: !If [!Context base, !Format ["Flow %d", 7], unused]
      title: !If [!Context missing, !KeyOf nowhere, "Hello"]
      designation: !Env [PSS_TEST_LANG_UNSET, authentication]
  - model: authentik_sources_plex.plexsource
    identifiers:
      slug: !Format ["%s-source", !Context base]
    attrs:
      name: !Format ["%s", 2024]
      plex_token: !Env PSS_TEST_FULL_TOKEN
      authentication_flow: !KeyOf f
      policy_engine_mode: !AtIndex [!Context modes, strict]
      enabled: !Condition [OR, 0, !Context base]
"#;
    assert_eq!(fx.import(text).await.unwrap(), report(2, 0, 0, 0, 1));
    assert!(fx.flow("never").await.is_none());
    let flow = fx.flow("nested-auth").await.unwrap();
    assert_eq!(
        (flow.name.as_str(), flow.title.as_str()),
        ("Flow 7", "Hello")
    );
    let s = fx.source("nested-source").await.unwrap().fields;
    assert_eq!(s.name, "2024");
    assert_eq!(s.authentication_flow, Some(flow.pk));
    assert_eq!(s.policy_engine_mode.as_str(), "all");
    assert!(s.enabled);
    assert_eq!(fx.import(text).await.unwrap(), report(0, 0, 2, 0, 1));
}

async fn find_and_find_object_read_any_field_of_stored_objects(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
    let text = r#"
version: 1
entries:
  - model: authentik_flows.flow
    identifiers: {slug: first}
    attrs: {name: First, title: Shared title, designation: authentication}
  - model: authentik_flows.flow
    identifiers: {slug: second}
    attrs: {name: Second, title: Shared title, designation: enrollment}
  - model: authentik_sources_plex.plexsource
    identifiers: {slug: finder}
    attrs:
      name: !AtIndex [!FindObject [authentik_flows.flow, [designation, enrollment]], name]
      plex_token: t
      authentication_flow: !Find [authentik_flows.flow, [title, Shared title], [designation, authentication]]
      enrollment_flow: !Find [authentik_flows.flow, [title, Shared title], [slug, second]]
      client_id: !Format ["%s", !Find [authentik_flows.flow, [slug, nothing-here]]]
      icon: !Format ["%s", !Find [authentik_core.group, [name, admins]]]
  - model: authentik_sources_plex.plexsource
    identifiers: {slug: copy}
    attrs:
      name: copy
      plex_token: t
      user_path_template: !AtIndex [!FindObject [authentik_sources_plex.plexsource, [slug, finder], [enabled, "on"]], client_id]
"#;
    assert_eq!(fx.import(text).await.unwrap(), report(4, 0, 0, 0, 0));
    let first = fx.flow("first").await.unwrap();
    let second = fx.flow("second").await.unwrap();
    let s = fx.source("finder").await.unwrap().fields;
    assert_eq!(s.name, "Second");
    assert_eq!(s.authentication_flow, Some(first.pk));
    assert_eq!(s.enrollment_flow, Some(second.pk));
    assert_eq!(s.client_id, "None");
    assert_eq!(s.icon.as_deref(), Some("None"));
    assert_eq!(
        fx.source("copy").await.unwrap().fields.user_path_template,
        "None"
    );
    assert_eq!(fx.import(text).await.unwrap(), report(0, 0, 4, 0, 0));
}

async fn enumerate_builds_reference_lists(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
    let text = r#"
version: 1
context:
  names: [a, b, c]
entries:
  - model: authentik_sources_plex.plexsourcepropertymapping
    identifiers: {name: "Plex: a"}
  - model: authentik_sources_plex.plexsourcepropertymapping
    identifiers: {name: "Plex: b"}
  - model: authentik_sources_plex.plexsourcepropertymapping
    identifiers: {name: "Plex: c"}
  - model: authentik_sources_plex.plexsource
    identifiers: {slug: enumerated}
    attrs:
      name: Enumerated
      plex_token: t
      user_property_mappings: !Enumerate [!Context names, SEQ,
        !Find [authentik_sources_plex.plexsourcepropertymapping, [name, !Format ["Plex: %s", !Value 0]]]]
      allowed_servers: !Enumerate [{x: [1, 2], y: [3]}, SEQ,
        !Enumerate [!Value 1, SEQ, !Format ["%s%s", !Index 1, !Value 0]]]
"#;
    let err = fx.import(text).await.unwrap_err();
    // A list of lists is no list of text.
    assert_eq!(
        violated_fields(&err),
        ["allowed_servers[0]", "allowed_servers[1]"]
    );
    let text = text.replace(
        "!Enumerate [!Value 1, SEQ, !Format [\"%s%s\", !Index 1, !Value 0]]",
        "!Format [\"%s-%d\", !Index 0, !AtIndex [!Value 0, -1]]",
    );
    assert_eq!(fx.import(&text).await.unwrap(), report(4, 0, 0, 0, 0));
    let s = fx.source("enumerated").await.unwrap().fields;
    let names: Vec<String> = ["Plex: a", "Plex: b", "Plex: c"]
        .into_iter()
        .map(String::from)
        .collect();
    let mut pks = Vec::new();
    for name in &names {
        pks.push(fx.mapping(name).await.unwrap().pk);
    }
    assert_eq!(s.user_property_mappings, pks);
    assert_eq!(s.allowed_servers, ["x-2", "y-3"]);
}

async fn file_and_context_given_at_import(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
    let token = fx.write("token.txt", "  token-from-file\n");
    let text = r#"
version: 1
context:
  slug: from-file-block
  labels: [one]
entries:
  - model: authentik_sources_plex.plexsource
    identifiers: {slug: !Context slug}
    attrs:
      name: !Format ["%s", !Context labels]
      plex_token: !File [!Context token_file, fallback]
      client_id: !File [/nonexistent/pss-test, !Context [client, none-given]]
"#;
    // Without a context at import, the file's block and the defaults.
    assert_eq!(fx.import(text).await.unwrap(), report(1, 0, 0, 0, 0));
    let s = fx.source("from-file-block").await.unwrap().fields;
    assert_eq!(s.plex_token.expose(), "fallback");
    assert_eq!(s.client_id, "none-given");
    // The context given at import wins; lists are appended, as authentik merges.
    let given = format!(
        "{{slug: given, labels: [two], token_file: '{}', client: c1}}",
        token.display()
    );
    assert_eq!(
        fx.import_with_context(text, &given).await.unwrap(),
        report(1, 0, 0, 0, 0)
    );
    let s = fx.source("given").await.unwrap().fields;
    assert_eq!(s.name, "['one', 'two']");
    assert_eq!(s.plex_token.expose(), "token-from-file");
    assert_eq!(s.client_id, "c1");
}

async fn tag_errors_name_the_entry_and_field(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
    for (attr, field, message) in [
        (
            "name: !Format ['%s %s', a]",
            "name",
            "Format: not enough arguments for format string",
        ),
        (
            "name: !Format ['%s', a, b]",
            "name",
            "Format: not all arguments converted during string formatting",
        ),
        ("name: !AtIndex [[a], 3]", "name", "Index out of range: 3"),
        (
            "name: !AtIndex [{a: b}, c]",
            "name",
            "Key does not exist: c",
        ),
        (
            "name: !Condition [AND]",
            "name",
            "At least one value is required after mode selection.",
        ),
        (
            "name: !Value 0",
            "name",
            "Value tags are only usable inside an Enumerate tag",
        ),
        (
            "allowed_servers: [!Enumerate [7, SEQ, x]]",
            "allowed_servers[0]",
            "Enumerate's iterable must be an iterable such as a sequence or a mapping",
        ),
        (
            "name: !Find [authentik_core.grop, [name, x]]",
            "name",
            "Find: App 'authentik_core' doesn't have a 'grop' model.",
        ),
        (
            "name: !Bogus x",
            "name",
            "could not determine a constructor for the tag '!Bogus'",
        ),
    ] {
        let text = format!(
            "version: 1\nentries:\n  - model: authentik_flows.flow\n    identifiers: {{slug: ok}}\n    attrs: {{name: x, designation: authentication}}\n  - model: authentik_sources_plex.plexsource\n    identifiers: {{slug: broken}}\n    attrs:\n      plex_token: t\n      {attr}\n"
        );
        let err = fx.import(&text).await.unwrap_err();
        assert_eq!(err.entry_index(), Some(1), "{attr}");
        let shown = err.to_string();
        assert!(
            shown.contains("blueprint.yaml: entry 1 (authentik_sources_plex.plexsource): "),
            "{shown}"
        );
        assert!(
            shown.contains(&format!("{field}: {message}")),
            "{attr}: {shown}"
        );
        assert!(fx.flow("ok").await.is_none(), "rolled back");
    }
}
