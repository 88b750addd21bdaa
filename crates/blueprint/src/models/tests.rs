use domain::Violations;
use serde_yaml_ng::{Mapping, Value};
use uuid::Uuid;

use super::authentik::{AUTHENTIK_MODELS, META_MODELS};
use super::*;
use crate::{
    lookup::{Identifier, Lookup},
    values::{fields, pairs},
};

/// [`identity`] of identifiers written as YAML, with what it reports.
fn identify(
    model: Model,
    identifiers: &str,
    serializer: bool,
) -> (Result<Query, Refused>, Violations) {
    let mut v = Violations::new();
    let query = identity(&mut v, model, pairs(identifiers), serializer);
    (query, v)
}

#[test]
fn model_names_match_regardless_of_case() {
    assert_eq!(
        Model::from_name("authentik_sources_plex.PlexSource"),
        Some(Model::PlexSource)
    );
    assert_eq!(Model::from_name("authentik_flows.flow"), Some(Model::Flow));
    assert_eq!(
        Model::from_name("authentik_sources_plex.plexsourcepropertymapping"),
        Some(Model::PropertyMapping)
    );
    assert_eq!(Model::from_name("authentik_core.User"), Some(Model::User));
    assert_eq!(Model::from_name("authentik_rbac.role"), Some(Model::Role));
    assert_eq!(Model::from_name("authentik_core.group"), None);
    assert_eq!(
        Model::User.identifier_column("username"),
        Some(Identifier::Username)
    );
    assert_eq!(Model::Role.identifier_column("username"), None);
    assert_eq!(Model::PropertyMapping.identifier_column("slug"), None);
    assert_eq!(
        Model::Flow.identifier_column("slug"),
        Some(Identifier::Slug)
    );
}

#[test]
fn bad_identifiers_are_each_reported_and_the_first_says_why() {
    let (query, v) = identify(
        Model::PropertyMapping,
        "{name: '', slug: x, expression: null, pk: nope}",
        true,
    );
    // Django reads `pk` first: a malformed one fails the lookup.
    assert_eq!(query, Err(Refused::Value));
    assert_eq!(
        fields(&v),
        [
            "identifiers.pk",
            "identifiers.name",
            "identifiers.slug",
            "identifiers.expression"
        ]
    );
    assert_eq!(
        v.iter().next().unwrap().message,
        "\u{201c}nope\u{201d} is not a valid UUID."
    );
    assert_eq!(
        v.iter().nth(2).unwrap().message,
        "Invalid identifier field: Cannot resolve keyword 'slug' into field. \
         Choices are: pk, name, expression."
    );

    // Without the serializer's rules, null and blank text select
    // nothing; the unknown field comes first.
    let (query, v) = identify(
        Model::PropertyMapping,
        "{name: '', slug: x, expression: null}",
        false,
    );
    assert_eq!(query, Err(Refused::Entry));
    assert_eq!(fields(&v), ["identifiers.slug"]);

    let (query, v) = identify(Model::Flow, "{}", true);
    assert_eq!(query, Err(Refused::Entry));
    assert_eq!(v.to_string(), "identifiers: No or invalid identifiers");
}

#[test]
fn any_field_identifies_with_djangos_reading() {
    let pk = Uuid::new_v4();
    let (query, _) = identify(
        Model::PlexSource,
        &format!("{{pk: '{pk}', slug: ' plex ', enabled: 'yes', name: 2024}}"),
        true,
    );
    let query = query.unwrap();
    assert_eq!(query.pk, Some(pk));
    assert_eq!(
        query.all,
        [
            ("slug", Kind::Text, Value::String("plex".into())),
            ("enabled", Kind::Bool, Value::Bool(true)),
            ("name", Kind::Text, Value::String("2024".into())),
        ]
    );
    let lookup = query.narrowing(Model::PlexSource);
    assert_eq!(
        lookup.fields,
        [
            (Identifier::Slug, "plex".to_owned()),
            (Identifier::Name, "2024".to_owned())
        ]
    );

    let mut stored = Mapping::new();
    stored.insert("slug".into(), "plex".into());
    stored.insert("enabled".into(), true.into());
    stored.insert("name".into(), "2024".into());
    assert!(query.selects(Uuid::new_v4(), &stored));
    stored.insert("enabled".into(), false.into());
    assert!(!query.selects(Uuid::new_v4(), &stored));
    assert!(query.selects(pk, &stored), "the pk alone is enough");

    // A field that is no column: every row is read and compared.
    let (query, _) = identify(Model::Flow, "{designation: authentication}", true);
    let query = query.unwrap();
    assert_eq!(query.narrowing(Model::Flow), Lookup::default());
}

#[test]
fn model_names_are_authentiks() {
    assert_eq!(
        known("authentik_sources_plex.PlexSource"),
        Ok(Known::Stored(Model::PlexSource))
    );
    assert_eq!(
        known("authentik_core.Group"),
        Ok(Known::Elsewhere("authentik_core.group"))
    );
    assert_eq!(
        known("authentik_core.grop"),
        Err("App 'authentik_core' doesn't have a 'grop' model.".into())
    );
    assert_eq!(
        known("authentik_cor.group"),
        Err("No installed app with label 'authentik_cor'.".into())
    );
    assert!(known("flow").is_err());
    for name in AUTHENTIK_MODELS {
        assert!(known(name).is_ok(), "{name}");
    }
    let stored = [
        Model::PlexSource,
        Model::Flow,
        Model::PropertyMapping,
        Model::User,
        Model::Role,
    ];
    for model in stored {
        assert!(AUTHENTIK_MODELS.contains(&model.name()), "{model:?}");
        assert_eq!(model.fields()[0], ("pk", Kind::Pk));
    }
    assert_eq!(
        rbac_models().get("plexsource"),
        Some(&Value::String("authentik_sources_plex".into()))
    );
}

#[test]
fn the_model_list_is_authentik_2025_10s() {
    // 108 models of `ModelEnum` and one meta model, sorted, each once.
    assert_eq!(AUTHENTIK_MODELS.len(), 109);
    assert!(AUTHENTIK_MODELS.windows(2).all(|w| w[0] < w[1]));
    for meta in META_MODELS {
        assert!(AUTHENTIK_MODELS.contains(meta), "{meta}");
    }
    // authentik's `rbac_models()` names the apps' models only.
    assert_eq!(rbac_models().len(), 108);
    assert_eq!(rbac_models().get("metaapplyblueprint"), None);
    assert!(known("authentik_sources_telegram.telegramsource").is_ok());
    assert!(known("authentik_endpoints.deviceaccessgroup").is_err());
}
