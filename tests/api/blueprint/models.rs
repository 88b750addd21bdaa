//! Models: authentik's models that this service does not store are skipped
//! (and `!KeyOf` from them is no error), a model authentik does not have
//! is a typo and refused, and `!KeyOf` from a stored entry to a skipped one
//! names both.

use super::{fixture, report, violated_fields};
use crate::{backend_tests, helpers::Backend};

backend_tests!(
    models_stored_elsewhere_are_skipped_with_their_key_ofs,
    unknown_models_are_refused_naming_the_entry,
    key_of_from_a_stored_entry_to_a_skipped_one_names_both,
);

async fn models_stored_elsewhere_are_skipped_with_their_key_ofs(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
    let text = "
version: 1
entries:
  - model: authentik_flows.flow
    id: flow
    identifiers: {slug: bound}
    attrs: {name: Bound, designation: authentication}
  - model: authentik_stages_dummy.dummystage
    id: stage
    identifiers: {name: dummy}
    attrs: {throw_error: false, broken: !KeyOf nothing-like-this}
  - model: authentik_flows.flowstagebinding
    identifiers: {target: !KeyOf flow, stage: !KeyOf stage, order: 0}
  - model: AUTHENTIK_CORE.Group
    identifiers: {name: !Format ['%s', !KeyOf stage]}
";
    assert_eq!(fx.import(text).await.unwrap(), report(1, 0, 0, 0, 3));
    assert_eq!(fx.import(text).await.unwrap(), report(0, 0, 1, 0, 3));
}

async fn unknown_models_are_refused_naming_the_entry(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
    for (model, detail) in [
        (
            "authentik_core.grop",
            "App 'authentik_core' doesn't have a 'grop' model.",
        ),
        (
            "authentik_sources_plx.plexsource",
            "No installed app with label 'authentik_sources_plx'.",
        ),
        (
            "plexsource",
            "Model label must be in the form 'app_label.model_name', got 'plexsource'.",
        ),
    ] {
        let text = format!(
            "version: 1\nentries:\n  - model: authentik_flows.flow\n    identifiers: {{slug: first}}\n    attrs: {{name: F, designation: authentication}}\n  - model: {model}\n    identifiers: {{name: x}}\n"
        );
        let err = fx.import(&text).await.unwrap_err();
        assert_eq!(err.entry_index(), Some(1));
        assert_eq!(violated_fields(&err), ["model"]);
        assert!(
            err.to_string().ends_with(&format!(
                "entry 1 ({model}): model: App or Model does not exist: {detail}"
            )),
            "{err}"
        );
        assert!(fx.flow("first").await.is_none());
    }
}

async fn key_of_from_a_stored_entry_to_a_skipped_one_names_both(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
    let text = include_str!("fixtures/bootstrap.yaml");
    let err = fx.import(text).await.unwrap_err();
    assert_eq!(err.entry_index(), Some(1));
    assert_eq!(violated_fields(&err), ["groups[0]"]);
    let shown = err.to_string();
    assert!(
        shown.ends_with(
            "entry 1 (authentik_core.user): groups[0]: KeyOf: `admin-group` is entry 0 \
             (authentik_core.group), a model this service does not store, so it has no \
             object to refer to."
        ),
        "{shown}"
    );
    // Without the reference, the rest of the shape imports, twice alike.
    let text = text.replace("      groups:\n        - !KeyOf admin-group\n", "");
    assert_eq!(fx.import(&text).await.unwrap(), report(1, 0, 0, 0, 2));
    assert_eq!(fx.import(&text).await.unwrap(), report(0, 0, 1, 0, 2));
    let users = fx.users().await;
    assert!(users.iter().any(|u| u.username == "akadmin"), "{users:?}");
}
