//! `authentik_sources_plex.plexsource` entries. Identifiers are `pk`,
//! `slug` and `name`; the attributes are every writable field of spec §1.1
//! plus `icon`. The rules and store checks are the API's own
//! ([`store::check_source`]), so a blueprint cannot store what the API
//! would refuse.

use sea_orm::DatabaseTransaction;
use serde_yaml_ng::Value;
use uuid::Uuid;

use super::{
    models::{Model, Target, finished, identifier, ignore},
    values::{assign, flag, pk, pk_list, text, text_list},
};
use crate::{
    domain::{Field, PlexSource, PlexSourceDraft, PlexSourceFields, Violations},
    store::{self, Lookup, StoreError},
};

/// Types a Plex source's `attrs` into a draft: every writable field of
/// spec §1.1 plus `icon`, writable in blueprints.
pub(crate) fn plex_source_draft(
    v: &mut Violations,
    attrs: Vec<(String, Value)>,
) -> PlexSourceDraft {
    let mut d = PlexSourceDraft::default();
    for (key, value) in attrs {
        let k = key.as_str();
        match k {
            "name" => assign(&mut d.name, text(v, k, value)),
            "slug" => assign(&mut d.slug, text(v, k, value)),
            "enabled" => assign(&mut d.enabled, flag(v, k, value)),
            "authentication_flow" => assign(&mut d.authentication_flow, pk(v, k, value)),
            "enrollment_flow" => assign(&mut d.enrollment_flow, pk(v, k, value)),
            "user_property_mappings" => assign(&mut d.user_property_mappings, pk_list(v, k, value)),
            "group_property_mappings" => {
                assign(&mut d.group_property_mappings, pk_list(v, k, value))
            }
            "policy_engine_mode" => assign(&mut d.policy_engine_mode, text(v, k, value)),
            "user_matching_mode" => assign(&mut d.user_matching_mode, text(v, k, value)),
            "user_path_template" => assign(&mut d.user_path_template, text(v, k, value)),
            "icon" => assign(&mut d.icon, text(v, k, value)),
            "group_matching_mode" => assign(&mut d.group_matching_mode, text(v, k, value)),
            "client_id" => assign(&mut d.client_id, text(v, k, value)),
            "allowed_servers" => assign(&mut d.allowed_servers, text_list(v, k, value)),
            "allow_friends" => assign(&mut d.allow_friends, flag(v, k, value)),
            "plex_token" => assign(&mut d.plex_token, text(v, k, value)),
            _ => ignore(Model::PlexSource, k),
        }
    }
    d
}

pub(crate) fn apply_plex_source_identifiers(draft: &mut PlexSourceDraft, lookup: &Lookup) {
    if let Some(slug) = identifier(lookup, "slug") {
        draft.slug = Field::Set(slug.to_owned());
    }
    if let Some(name) = identifier(lookup, "name") {
        draft.name = Field::Set(name.to_owned());
    }
}

pub(crate) struct PlexSourceTarget;

impl Target for PlexSourceTarget {
    const MODEL: Model = Model::PlexSource;
    const OBJECT_PERMISSIONS: bool = true;
    type Stored = PlexSource;
    type Draft = PlexSourceDraft;
    type Fields = PlexSourceFields;

    fn pk(stored: &PlexSource) -> Uuid {
        stored.pk
    }

    fn draft(v: &mut Violations, attrs: Vec<(String, Value)>) -> PlexSourceDraft {
        plex_source_draft(v, attrs)
    }

    fn apply_identifiers(draft: &mut PlexSourceDraft, lookup: &Lookup) {
        apply_plex_source_identifiers(draft, lookup);
    }

    async fn find(
        db: &DatabaseTransaction,
        lookup: &Lookup,
    ) -> Result<Vec<PlexSource>, StoreError> {
        store::find_source(db, lookup).await
    }

    async fn check(
        db: &DatabaseTransaction,
        draft: PlexSourceDraft,
        existing: Option<&PlexSource>,
        v: &mut Violations,
    ) -> Result<Option<PlexSourceFields>, StoreError> {
        // The API's rules, shared. Missing fields keep the stored values,
        // `client_id` included: it is generated only on create.
        let checked = store::check_source(
            db,
            draft,
            existing.map(|e| &e.fields),
            existing.map(|e| e.pk),
        )
        .await?;
        let fields = finished(v, checked);
        Ok(fields.filter(|_| v.is_empty()))
    }

    fn unchanged(stored: &PlexSource, fields: &PlexSourceFields) -> bool {
        stored.fields == *fields
    }

    async fn insert(
        db: &DatabaseTransaction,
        pk: Uuid,
        fields: &PlexSourceFields,
    ) -> Result<(), StoreError> {
        store::insert_source(db, pk, fields).await.map(drop)
    }

    async fn update(
        db: &DatabaseTransaction,
        pk: Uuid,
        fields: &PlexSourceFields,
    ) -> Result<(), StoreError> {
        store::update_source(db, pk, fields).await.map(drop)
    }

    async fn delete(db: &DatabaseTransaction, pk: Uuid) -> Result<(), StoreError> {
        store::delete_source(db, pk).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    /// Every attribute of the draft is read from a blueprint: a field added
    /// to the draft but not here would otherwise be dropped with a warning.
    #[test]
    fn every_draft_attribute_is_read() {
        for name in PlexSourceDraft::FIELDS {
            let value = match *name {
                "enabled" | "allow_friends" => Value::Bool(false),
                "user_property_mappings" | "group_property_mappings" | "allowed_servers" => {
                    Value::Sequence(vec![Value::String(uuid::Uuid::nil().to_string())])
                }
                _ => Value::String("x".into()),
            };
            let mut v = Violations::new();
            let draft = plex_source_draft(&mut v, vec![((*name).to_owned(), value)]);
            assert!(v.is_empty(), "{name}: {v}");
            let kept = draft.clone().retain(|n| n == *name);
            assert_ne!(
                format!("{kept:?}"),
                format!("{:?}", PlexSourceDraft::default()),
                "the blueprint ignores {name}"
            );
        }
    }

    use super::*;
    use crate::blueprint::{models::identity, values::pairs};

    #[test]
    fn plex_source_attrs_fill_the_draft() {
        let mut v = Violations::new();
        let d = plex_source_draft(
            &mut v,
            pairs(
                "{name: Plex, slug: plex, enabled: false, authentication_flow: null, \
                 enrollment_flow: abc, user_property_mappings: [a, b], group_property_mappings: [], \
                 policy_engine_mode: all, user_matching_mode: email_link, user_path_template: p, \
                 icon: 'https://x/y.png', group_matching_mode: name_link, client_id: c, \
                 allowed_servers: [s1], allow_friends: true, plex_token: t}",
            ),
        );
        assert!(v.is_empty(), "{v}");
        assert_eq!(d.name, Field::Set("Plex".into()));
        assert_eq!(d.enabled, Field::Set(false));
        assert_eq!(d.authentication_flow, Field::Null);
        assert_eq!(d.enrollment_flow, Field::Set("abc".into()));
        assert_eq!(
            d.user_property_mappings,
            Field::Set(vec!["a".into(), "b".into()])
        );
        assert_eq!(d.group_property_mappings, Field::Set(vec![]));
        assert_eq!(d.icon, Field::Set("https://x/y.png".into()));
        assert_eq!(d.allowed_servers, Field::Set(vec!["s1".into()]));
        assert_eq!(d.allow_friends, Field::Set(true));
        assert_eq!(d.plex_token, Field::Set("t".into()));
    }

    #[test]
    fn read_only_and_unknown_attrs_are_dropped() {
        let mut v = Violations::new();
        let d = plex_source_draft(
            &mut v,
            pairs(
                "{pk: x, managed: y, component: c, verbose_name: a, meta_model_name: m, whatever: 1}",
            ),
        );
        assert!(v.is_empty());
        assert_eq!(d.name, Field::Missing);
    }

    #[test]
    fn wrong_types_get_authentiks_messages() {
        let mut v = Violations::new();
        let d = plex_source_draft(
            &mut v,
            pairs(
                "{name: 5, slug: true, enabled: 'yes', allow_friends: 1, allowed_servers: abc, \
                 user_property_mappings: [x, null, 3], group_property_mappings: {a: b}, \
                 authentication_flow: [x], icon: null}",
            ),
        );
        assert_eq!(
            v.to_string(),
            "name: Not a valid string.; slug: Not a valid string.; \
             enabled: Must be a valid boolean.; allow_friends: Must be a valid boolean.; \
             allowed_servers: Expected a list of items but got type \"str\".; \
             user_property_mappings[1]: This field may not be null.; \
             user_property_mappings[2]: Incorrect type. Expected pk value, received int.; \
             group_property_mappings: Expected a list of items but got type \"dict\".; \
             authentication_flow: Incorrect type. Expected pk value, received list."
        );
        let codes: Vec<_> = v.iter().map(|f| f.code).collect();
        assert_eq!(
            codes,
            [
                "invalid",
                "invalid",
                "invalid",
                "invalid",
                "not_a_list",
                "null",
                "incorrect_type",
                "not_a_list",
                "incorrect_type"
            ]
        );
        // Refused values leave the field missing; an explicit null is kept.
        assert_eq!(d.name, Field::Missing);
        assert_eq!(d.user_property_mappings, Field::Missing);
        assert_eq!(d.icon, Field::Null);
    }

    #[test]
    fn identifiers_build_the_lookup_and_apply_to_the_draft() {
        let pk = Uuid::new_v4();
        let mut v = Violations::new();
        let lookup = identity(
            &mut v,
            Model::PlexSource,
            pairs(&format!("{{pk: '{pk}', slug: ' plex ', name: Plex}}")),
        )
        .unwrap();
        assert_eq!(lookup.pk, Some(pk));
        assert_eq!(
            lookup.fields,
            [("slug", "plex".to_owned()), ("name", "Plex".to_owned())]
        );
        let mut d = PlexSourceDraft {
            slug: Field::Set("other".into()),
            ..Default::default()
        };
        apply_plex_source_identifiers(&mut d, &lookup);
        assert_eq!(d.slug, Field::Set("plex".into()));
        assert_eq!(d.name, Field::Set("Plex".into()));
    }
}
