//! Values as DRF reads them, identifiers on any field, `created` entries
//! still checked, and flow titles kept.

use uuid::Uuid;

use super::{FULL, Fixture, MINIMAL, fixture, report, violated_fields};
use crate::{backend_tests, helpers::Backend};

backend_tests!(
    numbers_become_text_and_booleans_take_drfs_spellings,
    malformed_uuids_get_djangos_message,
    reference_lists_report_their_first_failing_item,
    a_pk_identifier_stands_for_the_object_it_matched,
    any_field_identifies_and_the_first_match_wins,
    created_entries_on_existing_objects_are_still_checked,
    flows_keep_their_title,
);

async fn numbers_become_text_and_booleans_take_drfs_spellings(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
    for (i, (enabled, friends, want)) in [
        ("'yes'", "'off'", (true, false)),
        ("'true'", "0", (true, false)),
        ("1", "'N'", (true, false)),
        ("'on'", "'False'", (true, false)),
        ("'t'", "'no'", (true, false)),
        ("false", "'Y'", (false, true)),
    ]
    .into_iter()
    .enumerate()
    {
        let text = format!(
            "version: 1\nentries:\n  - model: authentik_sources_plex.plexsource\n    identifiers: {{slug: b{i}}}\n    attrs: {{name: 2024, client_id: 1.5, plex_token: 12345, enabled: {enabled}, allow_friends: {friends}, allowed_servers: [7, abc]}}\n"
        );
        assert_eq!(
            fx.import(&text).await.unwrap(),
            report(1, 0, 0, 0, 0),
            "{text}"
        );
        let s = fx.source(&format!("b{i}")).await.unwrap().fields;
        assert_eq!((s.enabled, s.allow_friends), want, "{text}");
        assert_eq!((s.name.as_str(), s.client_id.as_str()), ("2024", "1.5"));
        assert_eq!(s.plex_token.expose(), "12345");
        assert_eq!(s.allowed_servers, ["7", "abc"]);
        assert_eq!(fx.import(&text).await.unwrap(), report(0, 0, 1, 0, 0));
    }
    let text = MINIMAL.replace(
        "name: Minimal",
        "name: true\n      enabled: 'maybe'\n      allow_friends: 2",
    );
    let err = fx.import(&text).await.unwrap_err();
    assert_eq!(
        err.violations().unwrap().to_string(),
        "name: Not a valid string.; enabled: Must be a valid boolean.; \
         allow_friends: Must be a valid boolean."
    );
}

async fn malformed_uuids_get_djangos_message(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
    let text = MINIMAL.replace(
        "name: Minimal",
        "name: Minimal\n      authentication_flow: not-a-uuid\n      user_property_mappings: [x1]",
    );
    let err = fx.import(&text).await.unwrap_err();
    assert_eq!(
        err.violations().unwrap().to_string(),
        "authentication_flow: \u{201c}not-a-uuid\u{201d} is not a valid UUID.; \
         user_property_mappings[0]: \u{201c}x1\u{201d} is not a valid UUID."
    );
    // A malformed value from `!Env` stays hidden.
    let text = MINIMAL.replace(
        "name: Minimal",
        "name: Minimal\n      enrollment_flow: !Env PSS_TEST_SECRET_MODE",
    );
    let err = fx.import(&text).await.unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("super-secret-mode"), "{shown}");
    assert!(
        shown.contains("enrollment_flow: \u{201c}[REDACTED]\u{201d} is not a valid UUID."),
        "{shown}"
    );
}

/// A fixture holding [`FULL`], with the pks of its `src-auth` flow and its
/// `Plex: groups` mapping.
async fn full_fixture(backend: Backend) -> Option<(Fixture, Uuid, Uuid)> {
    let fx = fixture(backend).await?;
    fx.import(FULL).await.unwrap();
    let flow = fx.flow("src-auth").await.unwrap().pk;
    let mapping = fx.mapping("Plex: groups").await.unwrap().pk;
    Some((fx, flow, mapping))
}

/// DRF's `ManyRelatedField` reads a list item by item and stops at the
/// first item that fails: malformed or naming no object, in that order.
async fn reference_lists_report_their_first_failing_item(backend: Backend) {
    let Some((fx, flow, mapping)) = full_fixture(backend).await else {
        return;
    };
    let missing = "00000000-0000-4000-8000-00000000abcd";
    let with =
        |attrs: &str| MINIMAL.replace("name: Minimal", &format!("name: Minimal\n      {attrs}"));
    for (attrs, want) in [
        (
            format!("user_property_mappings: ['{mapping}', '{missing}', x]"),
            format!("user_property_mappings[1]: Invalid pk \"{missing}\" - object does not exist."),
        ),
        (
            format!("user_property_mappings: ['{mapping}', x, '{missing}', y]"),
            "user_property_mappings[1]: \u{201c}x\u{201d} is not a valid UUID.".to_owned(),
        ),
        (
            format!("group_property_mappings: ['{mapping}', null]"),
            "group_property_mappings[1]: Invalid pk \"None\" - object does not exist.".to_owned(),
        ),
        (
            "group_property_mappings: [5, true]".to_owned(),
            "group_property_mappings[0]: Invalid pk \"5\" - object does not exist.".to_owned(),
        ),
        (
            format!("group_property_mappings: ['{mapping}', true]"),
            "group_property_mappings[1]: Incorrect type. Expected pk value, received bool."
                .to_owned(),
        ),
        (
            // A mapping is iterated by its keys.
            format!("user_property_mappings: {{'{mapping}': 1, nope: 2}}"),
            "user_property_mappings[1]: \u{201c}nope\u{201d} is not a valid UUID.".to_owned(),
        ),
        (
            format!("user_property_mappings: '{mapping}'"),
            "user_property_mappings: Expected a list of items but got type \"str\".".to_owned(),
        ),
        (
            // Django does not trim a UUID, and a flow is looked up as well.
            format!("authentication_flow: ' {flow}'\n      user_property_mappings: [x, y]"),
            format!(
                "authentication_flow: \u{201c} {flow}\u{201d} is not a valid UUID.; \
                 user_property_mappings[0]: \u{201c}x\u{201d} is not a valid UUID."
            ),
        ),
        (
            "enrollment_flow: 7".to_owned(),
            "enrollment_flow: Invalid pk \"7\" - object does not exist.".to_owned(),
        ),
    ] {
        let err = fx.import(&with(&attrs)).await.unwrap_err();
        let shown = err.violations().map(ToString::to_string);
        assert_eq!(shown.unwrap_or_else(|| err.to_string()), want, "{attrs}");
    }
    assert!(fx.source("minimal").await.is_none());

    // Every spelling Python's UUID reads names the object: stored canonical,
    // and the next import changes nothing.
    let braced = format!("{{{}}}", mapping.simple().to_string().to_uppercase());
    let text = with(&format!(
        "authentication_flow: 'urn:uuid:{flow}'\n      user_property_mappings: ['{braced}', '{mapping}']"
    ));
    assert_eq!(fx.import(&text).await.unwrap(), report(1, 0, 0, 0, 0));
    let source = fx.source("minimal").await.unwrap().fields;
    assert_eq!(source.authentication_flow, Some(flow));
    assert_eq!(source.user_property_mappings, [mapping]);
    assert_eq!(fx.import(&text).await.unwrap(), report(0, 0, 1, 0, 0));
}

/// An exported blueprint names objects by the pks of the instance it came
/// from; where an entry matches an existing object by another identifier,
/// later values equal to its `pk` mean that object, as authentik rewrites
/// them.
async fn a_pk_identifier_stands_for_the_object_it_matched(backend: Backend) {
    let Some((fx, flow, mapping)) = full_fixture(backend).await else {
        return;
    };
    let exported_flow = "11111111-1111-4111-8111-111111111111";
    let exported_mapping = "22222222-2222-4222-8222-222222222222";
    let text = format!(
        "
version: 1
entries:
  - model: authentik_flows.flow
    identifiers: {{pk: '{exported_flow}', slug: src-auth}}
    attrs: {{name: Authenticate, designation: authentication}}
  - model: authentik_sources_plex.plexsourcepropertymapping
    identifiers: {{pk: '{exported_mapping}', name: 'Plex: groups'}}
  - model: authentik_sources_plex.plexsource
    identifiers: {{slug: exported}}
    attrs:
      name: Exported
      plex_token: t
      authentication_flow: '{exported_flow}'
      user_property_mappings: ['{exported_mapping}']
"
    );
    assert_eq!(fx.import(&text).await.unwrap(), report(1, 0, 2, 0, 0));
    let source = fx.source("exported").await.unwrap().fields;
    assert_eq!(source.authentication_flow, Some(flow));
    assert_eq!(source.user_property_mappings, [mapping]);
}

async fn any_field_identifies_and_the_first_match_wins(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
    let text = "
version: 1
entries:
  - model: authentik_flows.flow
    identifiers: {slug: one}
    attrs: {name: Same, designation: recovery}
  - model: authentik_flows.flow
    identifiers: {slug: two}
    attrs: {name: Same, designation: recovery}
  - model: authentik_sources_plex.plexsource
    identifiers: {slug: by-field, client_id: fixed-client}
    attrs: {name: By field, plex_token: t}
";
    assert_eq!(fx.import(text).await.unwrap(), report(3, 0, 0, 0, 0));
    let text = "
version: 1
entries:
  - model: authentik_flows.flow
    identifiers: {designation: recovery, name: Same}
    attrs: {title: First of two}
  - model: authentik_sources_plex.plexsource
    identifiers: {client_id: fixed-client, enabled: 'yes'}
    attrs: {name: Renamed by client id}
";
    assert_eq!(fx.import(text).await.unwrap(), report(0, 2, 0, 0, 0));
    let (one, two) = (fx.flow("one").await.unwrap(), fx.flow("two").await.unwrap());
    let titles = [one.title.as_str(), two.title.as_str()];
    assert!(
        titles.contains(&"First of two") && titles.contains(&""),
        "{titles:?}"
    );
    assert_eq!(
        fx.source("by-field").await.unwrap().fields.name,
        "Renamed by client id"
    );
    let err = fx
        .import("version: 1\nentries:\n  - model: authentik_flows.flow\n    identifiers: {layout: stacked}\n")
        .await
        .unwrap_err();
    assert_eq!(
        err.violations().unwrap().to_string(),
        "identifiers.layout: Invalid identifier field: Cannot resolve keyword 'layout' \
         into field. Choices are: pk, name, slug, title, designation."
    );
}

async fn created_entries_on_existing_objects_are_still_checked(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
    fx.import(MINIMAL).await.unwrap();
    let created = |attrs: &str| {
        format!(
            "version: 1\nentries:\n  - model: authentik_sources_plex.plexsource\n    state: created\n    identifiers: {{slug: minimal}}\n    attrs: {{{attrs}}}\n"
        )
    };
    let err = fx
        .import(&created("name: Kept, enrollment_flow: !KeyOf missing"))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&err), ["enrollment_flow"]);
    let err = fx
        .import(&created("policy_engine_mode: sometimes"))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&err), ["policy_engine_mode"]);
    let before = fx.source("minimal").await.unwrap();
    assert_eq!(
        fx.import(&created("name: Not applied")).await.unwrap(),
        report(0, 0, 1, 0, 0)
    );
    assert_eq!(fx.source("minimal").await.unwrap(), before);
}

async fn flows_keep_their_title(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
    let text = "
version: 1
entries:
  - model: authentik_flows.flow
    identifiers: {slug: titled}
    attrs: {name: Titled, title: '  Welcome back  ', designation: authentication}
";
    assert_eq!(fx.import(text).await.unwrap(), report(1, 0, 0, 0, 0));
    assert_eq!(fx.flow("titled").await.unwrap().title, "Welcome back");
    assert_eq!(fx.import(text).await.unwrap(), report(0, 0, 1, 0, 0));
    let retitled = text.replace("Welcome back", "Hello again");
    assert_eq!(fx.import(&retitled).await.unwrap(), report(0, 1, 0, 0, 0));
    assert_eq!(fx.flow("titled").await.unwrap().title, "Hello again");
    // Left out, an update keeps it.
    let untitled = text.replace("title: '  Welcome back  ', ", "");
    assert_eq!(fx.import(&untitled).await.unwrap(), report(0, 0, 1, 0, 0));
    assert_eq!(fx.flow("titled").await.unwrap().title, "Hello again");
}
