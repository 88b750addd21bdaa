//! `authentik_sources_plex.plexsource` entries. The attributes are every
//! writable field of spec §1.1 plus `icon`; any serialized field (or `pk`)
//! identifies, usually `slug`. The rules and store checks are the API's own
//! ([`store::check_source`]), so a blueprint cannot store what the API
//! would refuse.

use store::Txn;

use crate::lookup::Lookup;
use serde_yaml_ng::{Mapping, Value};
use uuid::Uuid;

use super::{
    models::{Attributes, Model, RefField, Referenced, Target, finished},
    values::{flag, pk, pk_list, text, text_list},
};
use domain::{
    Input, PlexSource, PlexSourceDraft, PlexSourceFields, Violations,
    attributes::{self, Access, Value as AttributeValue},
    plex_source::{COMPONENT, META_MODEL_NAME, VERBOSE_NAME, VERBOSE_NAME_PLURAL},
};
use store::{self, StoreError};

/// Every attribute the domain declares written by anyone, `icon`
/// (blueprints only) included.
impl Attributes for PlexSourceDraft {
    fn take(&mut self, v: &mut Violations, key: &str, value: Value) -> bool {
        let Some(attribute) =
            attributes::attribute_named(key).filter(|a| a.access != Access::ReadOnly)
        else {
            return false;
        };
        let input = match attribute.value {
            AttributeValue::Text | AttributeValue::Slug | AttributeValue::Choice(_) => {
                text(v, key, value).map(Input::Text)
            }
            AttributeValue::Ref => pk(v, key, value).map(Input::Text),
            AttributeValue::Bool => flag(v, key, value).map(Input::Flag),
            AttributeValue::RefList => pk_list(v, key, value).map(Input::List),
            AttributeValue::TextList => text_list(v, key, value).map(Input::List),
            AttributeValue::Pk => None,
        };
        // The declaration and the draft agree (the domain's tests say so).
        if let Some(input) = input {
            self.set(key, input);
        }
        true
    }
}

/// The source as authentik's `PlexSourceSerializer` shows it: every field
/// of spec §1.1, `plex_token` included. Whoever uses it treats the token as
/// the secret it is.
pub(crate) fn serialize_source(source: &PlexSource) -> Mapping {
    let f = &source.fields;
    let uuids = |ids: &[uuid::Uuid]| {
        Value::Sequence(ids.iter().map(|id| Value::String(id.to_string())).collect())
    };
    let flow = |id: Option<uuid::Uuid>| id.map_or(Value::Null, |id| Value::String(id.to_string()));
    let text = |s: &str| Value::String(s.to_owned());
    let mut m = Mapping::new();
    m.insert("pk".into(), text(&source.pk.to_string()));
    m.insert("name".into(), text(&f.name));
    m.insert("slug".into(), text(f.slug.as_str()));
    m.insert("enabled".into(), f.enabled.into());
    m.insert("authentication_flow".into(), flow(f.authentication_flow));
    m.insert("enrollment_flow".into(), flow(f.enrollment_flow));
    m.insert(
        "user_property_mappings".into(),
        uuids(&f.user_property_mappings),
    );
    m.insert(
        "group_property_mappings".into(),
        uuids(&f.group_property_mappings),
    );
    m.insert("component".into(), text(COMPONENT));
    m.insert("verbose_name".into(), text(VERBOSE_NAME));
    m.insert("verbose_name_plural".into(), text(VERBOSE_NAME_PLURAL));
    m.insert("meta_model_name".into(), text(META_MODEL_NAME));
    m.insert(
        "policy_engine_mode".into(),
        text(f.policy_engine_mode.as_str()),
    );
    m.insert(
        "user_matching_mode".into(),
        text(f.user_matching_mode.as_str()),
    );
    m.insert(
        "managed".into(),
        source.managed.as_deref().map_or(Value::Null, text),
    );
    m.insert("user_path_template".into(), text(&f.user_path_template));
    m.insert("icon".into(), text(&source.icon_url()));
    m.insert(
        "group_matching_mode".into(),
        text(f.group_matching_mode.as_str()),
    );
    m.insert("client_id".into(), text(&f.client_id));
    let servers = f.allowed_servers.iter().map(|s| text(s)).collect();
    m.insert("allowed_servers".into(), Value::Sequence(servers));
    m.insert("allow_friends".into(), f.allow_friends.into());
    m.insert("plex_token".into(), text(f.plex_token.expose()));
    m
}

pub(crate) struct PlexSourceTarget;

impl Target for PlexSourceTarget {
    const MODEL: Model = Model::PlexSource;
    const OBJECT_PERMISSIONS: bool = true;
    const REFERENCES: &'static [RefField] = &[
        RefField::one("authentication_flow", Referenced::Flow),
        RefField::one("enrollment_flow", Referenced::Flow),
        RefField::many("user_property_mappings", Referenced::PropertyMapping),
        RefField::many("group_property_mappings", Referenced::PropertyMapping),
    ];
    type Stored = PlexSource;
    type Draft = PlexSourceDraft;
    type Fields = PlexSourceFields;

    fn pk(stored: &PlexSource) -> Uuid {
        stored.pk
    }

    fn serialize(stored: &PlexSource) -> Mapping {
        serialize_source(stored)
    }

    async fn find(db: &Txn, lookup: &Lookup) -> Result<Vec<PlexSource>, StoreError> {
        store::find_source(db, &lookup.to_match()).await
    }

    async fn check(
        db: &Txn,
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

    async fn insert(db: &Txn, pk: Uuid, fields: &PlexSourceFields) -> Result<(), StoreError> {
        store::insert_source(db, pk, fields).await.map(drop)
    }

    async fn update(db: &Txn, pk: Uuid, fields: &PlexSourceFields) -> Result<(), StoreError> {
        store::update_source_by_pk(db, pk, fields).await.map(drop)
    }

    async fn delete(db: &Txn, pk: Uuid) -> Result<(), StoreError> {
        store::delete_source_by_pk(db, pk).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    /// Every attribute of the draft is read from a blueprint: a field added
    /// to the draft but not here would otherwise be dropped with a warning.
    #[test]
    fn every_draft_attribute_is_read() {
        for name in PlexSourceDraft::FIELDS {
            let declared = attributes::attribute_named(name).expect("declared");
            let id = || Value::String(uuid::Uuid::nil().to_string());
            let value = match declared.value {
                AttributeValue::Bool => Value::Bool(false),
                AttributeValue::RefList | AttributeValue::TextList => Value::Sequence(vec![id()]),
                AttributeValue::Ref => id(),
                _ => Value::String("x".into()),
            };
            let mut v = Violations::new();
            let draft = PlexSourceTarget::draft(&mut v, vec![((*name).to_owned(), value)]);
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
    use crate::values::pairs;
    use domain::{
        Field,
        attributes::{self, Value as AttributeValue},
    };

    /// The draft of attributes written as YAML, with what typing reported.
    fn read(attrs: &str) -> (PlexSourceDraft, Violations) {
        let mut v = Violations::new();
        let draft = PlexSourceTarget::draft(&mut v, pairs(attrs));
        (draft, v)
    }

    #[test]
    fn plex_source_attrs_fill_the_draft() {
        let (d, v) = read(
            "{name: Plex, slug: plex, enabled: false, authentication_flow: null, \
             enrollment_flow: 00000000-0000-4000-8000-00000000000c, \
             user_property_mappings: [00000000-0000-4000-8000-00000000000a, 00000000-0000-4000-8000-00000000000b], \
             group_property_mappings: [], \
             policy_engine_mode: all, user_matching_mode: email_link, user_path_template: p, \
             icon: 'https://x/y.png', group_matching_mode: name_link, client_id: c, \
             allowed_servers: [s1], allow_friends: true, plex_token: t}",
        );
        assert!(v.is_empty(), "{v}");
        assert_eq!(d.name, Field::Set("Plex".into()));
        assert_eq!(d.enabled, Field::Set(false));
        assert_eq!(d.authentication_flow, Field::Null);
        assert_eq!(
            d.enrollment_flow,
            Field::Set("00000000-0000-4000-8000-00000000000c".into())
        );
        assert_eq!(
            d.user_property_mappings,
            Field::Set(vec![
                "00000000-0000-4000-8000-00000000000a".into(),
                "00000000-0000-4000-8000-00000000000b".into()
            ])
        );
        assert_eq!(d.group_property_mappings, Field::Set(vec![]));
        assert_eq!(d.icon, Field::Set("https://x/y.png".into()));
        assert_eq!(d.allowed_servers, Field::Set(vec!["s1".into()]));
        assert_eq!(d.allow_friends, Field::Set(true));
        assert_eq!(d.plex_token, Field::Set("t".into()));
    }

    #[test]
    fn read_only_and_unknown_attrs_are_dropped() {
        let (d, v) = read(
            "{pk: x, managed: y, component: c, verbose_name: a, meta_model_name: m, whatever: 1}",
        );
        assert!(v.is_empty());
        assert_eq!(d.name, Field::Missing);
    }

    #[test]
    fn wrong_types_get_authentiks_messages() {
        let (_, v) = read(
            "{name: [5], slug: true, enabled: 'maybe', allow_friends: 2, allowed_servers: abc, \
             user_property_mappings: [3, null, x], group_property_mappings: {a: b}, \
             authentication_flow: [x], enrollment_flow: true, icon: null}",
        );
        // A list stops at its first failing item, as DRF reads it; `3` is
        // a UUID to Django, null names no object, a mapping gives its keys.
        assert_eq!(
            v.to_string(),
            "name: Not a valid string.; slug: Not a valid string.; \
             enabled: Must be a valid boolean.; allow_friends: Must be a valid boolean.; \
             allowed_servers: Expected a list of items but got type \"str\".; \
             user_property_mappings[1]: Invalid pk \"None\" - object does not exist.; \
             group_property_mappings[0]: \u{201c}a\u{201d} is not a valid UUID.; \
             authentication_flow: \u{201c}['x']\u{201d} is not a valid UUID.; \
             enrollment_flow: Incorrect type. Expected pk value, received bool."
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
                "does_not_exist",
                "invalid",
                "invalid",
                "incorrect_type"
            ]
        );
        // DRF's readings: numbers become text, booleans take its spellings.
        let (d, v) = read(
            "{name: 2024, client_id: 1.5, enabled: 'off', allow_friends: 'yes', allowed_servers: [7, s]}",
        );
        assert!(v.is_empty(), "{v}");
        assert_eq!(d.name, Field::Set("2024".into()));
        assert_eq!(d.client_id, Field::Set("1.5".into()));
        assert_eq!(d.enabled, Field::Set(false));
        assert_eq!(d.allow_friends, Field::Set(true));
        assert_eq!(d.allowed_servers, Field::Set(vec!["7".into(), "s".into()]));
        // Refused values leave the field missing; an explicit null is kept.
        let (d, _) = read("{name: [5], user_property_mappings: [x], icon: null}");
        assert_eq!(d.name, Field::Missing);
        assert_eq!(d.user_property_mappings, Field::Missing);
        assert_eq!(d.icon, Field::Null);
    }

    #[test]
    fn serialized_fields_are_the_models_fields() {
        let (d, _) = read("{name: Plex, slug: plex, plex_token: t}");
        let fields = d.finish(None).unwrap();
        let source = PlexSource {
            pk: uuid::Uuid::new_v4(),
            managed: None,
            fields,
        };
        let m = serialize_source(&source);
        let keys: Vec<&str> = m.keys().filter_map(Value::as_str).collect();
        let expected: Vec<&str> = Model::PlexSource.fields().iter().map(|(n, _)| *n).collect();
        assert_eq!(keys, expected);
        assert_eq!(m["plex_token"], Value::String("t".into()));
    }
}
