//! Entry states, conditions and the file's single transaction.

use plex_source_service::blueprint;

use super::{FULL, MINIMAL, PLEX, env, fixture, report, violated_fields};
use crate::{backend_tests, helpers::Backend};

backend_tests!(
    a_bad_entry_rolls_back_the_whole_file,
    absent_deletes_once,
    absent_entries_authentik_cannot_validate_are_skipped,
    created_never_updates,
    must_created_fails_on_an_existing_object,
    unsupported_models_and_false_conditions_are_skipped,
);

async fn a_bad_entry_rolls_back_the_whole_file(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
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
    let err = blueprint::import_file_with_env(&fx.db, &path, &env)
        .await
        .unwrap_err();
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

async fn absent_deletes_once(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
    fx.import(FULL).await.unwrap();
    // The attributes' rules are not checked: a refused value still deletes.
    let text = "
version: 1
entries:
  - model: authentik_sources_plex.plexsource
    state: absent
    identifiers: {slug: plex-login}
    attrs: {name: [not, text], user_property_mappings: nope}
  - model: authentik_flows.flow
    state: absent
    identifiers: {slug: src-auth}
";
    assert_eq!(fx.import(text).await.unwrap(), report(0, 0, 0, 2, 0));
    assert!(fx.source("plex-login").await.is_none());
    assert!(fx.flow("src-auth").await.is_none());
    assert_eq!(fx.import(text).await.unwrap(), report(0, 0, 2, 0, 0));
}

/// authentik's importer drops the error of an entry it would only delete:
/// one whose tags fail, without identifiers, or naming a field the model
/// lacks deletes nothing and the import goes on. A value Django cannot read
/// for its field still fails it.
async fn absent_entries_authentik_cannot_validate_are_skipped(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
    fx.import(FULL).await.unwrap();
    let text = "
version: 1
entries:
  - model: authentik_sources_plex.plexsource
    state: absent
    identifiers: {slug: plex-login}
    attrs: {name: ignored, plex_token: !KeyOf nothing}
  - model: authentik_sources_plex.plexsource
    state: absent
    identifiers: {slug: !Find [authentik_core.grop, [name, x]]}
  - model: authentik_flows.flow
    state: absent
    conditions: [!KeyOf nothing]
    identifiers: {slug: src-auth}
  - model: authentik_flows.flow
    state: absent
  - model: authentik_flows.flow
    state: absent
    identifiers: {slug: src-enroll, layout: stacked}
  - model: authentik_sources_plex.plexsourcepropertymapping
    state: absent
    identifiers: {name: null}
";
    assert_eq!(fx.import(text).await.unwrap(), report(0, 0, 1, 0, 5));
    assert!(fx.source("plex-login").await.is_some());
    assert!(fx.flow("src-auth").await.is_some());
    assert!(fx.flow("src-enroll").await.is_some());
    // A null identifier selects nothing, and is no error here.
    assert!(fx.mapping("Plex: groups").await.is_some());

    // The same entries in any other state are errors, with authentik's texts.
    for (state, entry) in [
        (
            "present",
            "identifiers: {slug: plex-login}\n    attrs: {plex_token: !KeyOf nothing}",
        ),
        (
            "present",
            "identifiers: {slug: plex-login, layout: stacked}",
        ),
        ("created", "attrs: {name: x}"),
    ] {
        let text = format!(
            "version: 1\nentries:\n  - model: authentik_sources_plex.plexsource\n    state: {state}\n    {entry}\n"
        );
        let err = fx.import(&text).await.unwrap_err();
        let message = err.violations().unwrap().to_string();
        assert!(
            message.contains("KeyOf: failed to find entry with `id` of `nothing`")
                || message.contains("Invalid identifier field: Cannot resolve keyword 'layout'")
                || message == "identifiers: No or invalid identifiers",
            "{message}"
        );
    }

    // A malformed pk fails Django's lookup: an error even when absent.
    let err = fx
        .import("version: 1\nentries:\n  - model: authentik_flows.flow\n    state: absent\n    identifiers: {pk: nope}\n")
        .await
        .unwrap_err();
    assert_eq!(
        err.violations().unwrap().to_string(),
        "identifiers.pk: \u{201c}nope\u{201d} is not a valid UUID."
    );
    assert!(fx.flow("src-auth").await.is_some());
}

async fn created_never_updates(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
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

async fn must_created_fails_on_an_existing_object(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
    fx.import(MINIMAL).await.unwrap();
    let err = fx
        .import(&MINIMAL.replace("identifiers:", "state: must_created\n    identifiers:"))
        .await
        .unwrap_err();
    assert_eq!(
        err.violations().unwrap().to_string(),
        "identifiers: State is set to BlueprintEntryDesiredState.MUST_CREATED and object \
         exists already"
    );

    let Some(fresh) = fixture(backend).await else {
        return;
    };
    let text = MINIMAL.replace("identifiers:", "state: must_created\n    identifiers:");
    assert_eq!(fresh.import(&text).await.unwrap(), report(1, 0, 0, 0, 0));
}

async fn unsupported_models_and_false_conditions_are_skipped(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
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

    // Python truthiness: text, numbers and lists count as conditions.
    let text = "version: 1\nentries:\n  - model: authentik_flows.flow\n    conditions: [1, 'yes', [x]]\n    identifiers: {slug: truthy}\n    attrs: {name: T, designation: authentication}\n  - model: authentik_flows.flow\n    conditions: [1, '']\n    identifiers: {slug: falsy}\n    attrs: {name: F, designation: authentication}\n";
    assert_eq!(fx.import(text).await.unwrap(), report(1, 0, 0, 0, 1));
    assert!(fx.flow("truthy").await.is_some());
    assert!(fx.flow("falsy").await.is_none());
    let err = fx
        .import("version: 1\nentries:\n  - model: authentik_flows.flow\n    conditions: [!KeyOf nope]\n    identifiers: {slug: x}\n")
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&err), ["conditions[0]"]);
}
