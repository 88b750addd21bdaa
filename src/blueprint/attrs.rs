//! Typing plain YAML values (tags already resolved) into drafts, with the
//! messages authentik's serializers give for wrong types. Rules beyond the
//! type (blank, slug format, choices, defaults) belong to the drafts'
//! `finish`, so blueprints and the API share them.

use serde_yaml_ng::Value;
use uuid::Uuid;

use super::{document::not_a_list, models::Model};
use crate::{
    domain::{Field, FlowDesignation, PlexSourceDraft, Slug, Violations, violations::messages},
    store::{FlowRow, Lookup, MappingRow},
};

/// Keys authentik's serializers return but never write; blueprints exported
/// from authentik may carry them, so they are dropped without a word.
const READ_ONLY: &[&str] = &[
    "pk",
    "managed",
    "component",
    "verbose_name",
    "verbose_name_plural",
    "meta_model_name",
];

/// The Python type name authentik puts in its messages.
pub(crate) fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Sequence(_) => "list",
        Value::Mapping(_) => "dict",
        Value::Tagged(_) => "tagged value",
    }
}

/// A string attribute. `None` means the value was refused (violation added).
pub(crate) fn text(v: &mut Violations, field: &str, value: Value) -> Option<Field<String>> {
    match value {
        Value::Null => Some(Field::Null),
        Value::String(s) => Some(Field::Set(s)),
        _ => {
            v.add(field, "invalid", "Not a valid string.");
            None
        }
    }
}

/// A boolean attribute: YAML booleans only.
pub(crate) fn flag(v: &mut Violations, field: &str, value: Value) -> Option<Field<bool>> {
    match value {
        Value::Null => Some(Field::Null),
        Value::Bool(b) => Some(Field::Set(b)),
        _ => {
            v.add(field, "invalid", "Must be a valid boolean.");
            None
        }
    }
}

/// A list of strings (`allowed_servers`); item errors name the item.
pub(crate) fn text_list(
    v: &mut Violations,
    field: &str,
    value: Value,
) -> Option<Field<Vec<String>>> {
    list(v, field, value, |v, item_field, item| match item {
        Value::String(s) => Some(s),
        Value::Null => {
            v.null(item_field);
            None
        }
        _ => {
            v.add(item_field, "invalid", "Not a valid string.");
            None
        }
    })
}

/// A reference to one object by pk (a uuid string), or null.
pub(crate) fn pk(v: &mut Violations, field: &str, value: Value) -> Option<Field<String>> {
    match value {
        Value::Null => Some(Field::Null),
        Value::String(s) => Some(Field::Set(s)),
        other => {
            incorrect_pk_type(v, field, &other);
            None
        }
    }
}

/// A list of references by pk.
pub(crate) fn pk_list(v: &mut Violations, field: &str, value: Value) -> Option<Field<Vec<String>>> {
    list(v, field, value, |v, item_field, item| match item {
        Value::String(s) => Some(s),
        Value::Null => {
            v.null(item_field);
            None
        }
        other => {
            incorrect_pk_type(v, item_field, &other);
            None
        }
    })
}

fn incorrect_pk_type(v: &mut Violations, field: &str, value: &Value) {
    v.add(
        field,
        "incorrect_type",
        format!(
            "Incorrect type. Expected pk value, received {}.",
            type_name(value)
        ),
    );
}

fn list<T>(
    v: &mut Violations,
    field: &str,
    value: Value,
    item: impl Fn(&mut Violations, &str, Value) -> Option<T>,
) -> Option<Field<Vec<T>>> {
    match value {
        Value::Null => Some(Field::Null),
        Value::Sequence(items) => {
            let mut ok = true;
            let mut out = Vec::with_capacity(items.len());
            for (i, value) in items.into_iter().enumerate() {
                match item(v, &format!("{field}[{i}]"), value) {
                    Some(value) => out.push(value),
                    None => ok = false,
                }
            }
            ok.then_some(Field::Set(out))
        }
        other => {
            v.add(field, "not_a_list", not_a_list(&other));
            None
        }
    }
}

/// Stores a typed value; a refused one leaves the field missing, so `finish`
/// does not report the field a second time.
pub(super) fn assign<T>(slot: &mut Field<T>, value: Option<Field<T>>) {
    if let Some(value) = value {
        *slot = value;
    }
}

/// Whether `key` is read-only (dropped silently); otherwise warns that it is
/// unknown. Only the key is logged: values may be secrets.
pub(super) fn ignore(model: Model, key: &str) {
    if !READ_ONLY.contains(&key) {
        tracing::warn!(
            model = model.name(),
            key,
            "ignoring unknown blueprint attribute"
        );
    }
}

/// The lookup an entry's `identifiers` describe: `pk` ORed with the AND of
/// the model's other identifier fields. `None` when any is refused.
pub(crate) fn identity(
    v: &mut Violations,
    model: Model,
    identifiers: Vec<(String, Value)>,
) -> Option<Lookup> {
    if identifiers.is_empty() {
        v.required("identifiers");
        return None;
    }
    let before = v.clone();
    let mut lookup = Lookup::default();
    for (key, value) in identifiers {
        let field = format!("identifiers.{key}");
        if key == "pk" {
            match value {
                Value::String(s) => match Uuid::parse_str(s.trim()) {
                    Ok(id) => lookup.pk = Some(id),
                    Err(_) => v.add(field, "invalid", "Must be a valid UUID."),
                },
                Value::Null => v.null(&field),
                _ => v.add(field, "invalid", "Must be a valid UUID."),
            }
        } else if let Some(column) = model.identifier_column(&key) {
            // Trimmed as the value is when written, so the next import
            // finds what this one stored.
            match value {
                Value::String(s) if s.trim().is_empty() => v.blank(&field),
                Value::String(s) => lookup.fields.push((column, s.trim().to_owned())),
                Value::Null => v.null(&field),
                _ => v.add(field, "invalid", "Not a valid string."),
            }
        } else {
            v.add(
                field,
                "invalid",
                format!(
                    "Not an identifier of {}; use pk or {}.",
                    model.name(),
                    model.identifier_fields().join(", ")
                ),
            );
        }
    }
    (*v == before).then_some(lookup)
}

/// The value an identifier field gives the object (identifiers are applied
/// to the object too, overriding `attrs`).
pub(super) fn identifier<'l>(lookup: &'l Lookup, column: &str) -> Option<&'l str> {
    lookup
        .fields
        .iter()
        .find(|(c, _)| *c == column)
        .map(|(_, value)| value.as_str())
}

// --- Plex source -------------------------------------------------------------

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

// --- Flow --------------------------------------------------------------------

/// A flow as an entry describes it, before its rules are checked.
#[derive(Debug, Clone, Default)]
pub(crate) struct FlowDraft {
    pub name: Field<String>,
    pub slug: Field<String>,
    pub designation: Field<String>,
}

/// A flow's checked fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FlowFields {
    pub name: String,
    pub slug: Slug,
    pub designation: FlowDesignation,
}

impl FlowFields {
    pub(crate) fn row(&self, pk: Uuid) -> FlowRow {
        FlowRow {
            pk,
            name: self.name.clone(),
            slug: self.slug.as_str().to_owned(),
            designation: self.designation.as_str().to_owned(),
        }
    }
}

/// Types a flow's `attrs`. Only what this service stores is kept; `title`
/// is accepted and dropped (authentik shows it, the Plex source does not).
pub(crate) fn flow_draft(v: &mut Violations, attrs: Vec<(String, Value)>) -> FlowDraft {
    let mut d = FlowDraft::default();
    for (key, value) in attrs {
        let k = key.as_str();
        match k {
            "name" => assign(&mut d.name, text(v, k, value)),
            "slug" => assign(&mut d.slug, text(v, k, value)),
            "designation" => assign(&mut d.designation, text(v, k, value)),
            "title" => {}
            _ => ignore(Model::Flow, k),
        }
    }
    d
}

pub(crate) fn apply_flow_identifiers(draft: &mut FlowDraft, lookup: &Lookup) {
    if let Some(slug) = identifier(lookup, "slug") {
        draft.slug = Field::Set(slug.to_owned());
    }
    if let Some(name) = identifier(lookup, "name") {
        draft.name = Field::Set(name.to_owned());
    }
}

impl FlowDraft {
    /// The slug this draft would write, when it is a valid one: the one to
    /// check for uniqueness.
    pub(crate) fn new_slug(&self) -> Option<Slug> {
        match &self.slug {
            Field::Set(s) => Slug::parse(s.trim()).ok(),
            _ => None,
        }
    }

    /// Applies the rules; missing fields come from `base` (an update).
    pub(crate) fn finish(self, base: Option<&FlowRow>) -> Result<FlowFields, Violations> {
        let mut v = Violations::new();
        let name = required_text(&mut v, "name", self.name, base.map(|b| b.name.as_str()));
        let slug = required_text(&mut v, "slug", self.slug, base.map(|b| b.slug.as_str()))
            .and_then(|s| match Slug::parse(&s) {
                Ok(slug) => Some(slug),
                Err(err) => {
                    v.add("slug", err.code(), err.to_string());
                    None
                }
            });
        // A choice is matched as given, untrimmed, as authentik does.
        let designation = match self.designation {
            Field::Set(raw) => Some(raw),
            Field::Null => {
                v.null("designation");
                None
            }
            Field::Missing => match base {
                Some(b) => Some(b.designation.clone()),
                None => {
                    v.required("designation");
                    None
                }
            },
        }
        .and_then(|raw| match raw.parse::<FlowDesignation>() {
            Ok(d) => Some(d),
            Err(err) => {
                v.add("designation", "invalid_choice", err.to_string());
                None
            }
        });
        match (name, slug, designation) {
            (Some(name), Some(slug), Some(designation)) if v.is_empty() => Ok(FlowFields {
                name,
                slug,
                designation,
            }),
            _ => Err(v),
        }
    }
}

// --- Property mapping -----------------------------------------------------

/// A Plex source property mapping as an entry describes it.
#[derive(Debug, Clone, Default)]
pub(crate) struct MappingDraft {
    pub name: Field<String>,
    pub expression: Field<String>,
}

/// A property mapping's checked fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MappingFields {
    pub name: String,
    pub expression: String,
}

impl MappingFields {
    pub(crate) fn row(&self, pk: Uuid) -> MappingRow {
        MappingRow {
            pk,
            name: self.name.clone(),
            expression: self.expression.clone(),
        }
    }
}

pub(crate) fn mapping_draft(v: &mut Violations, attrs: Vec<(String, Value)>) -> MappingDraft {
    let mut d = MappingDraft::default();
    for (key, value) in attrs {
        let k = key.as_str();
        match k {
            "name" => assign(&mut d.name, text(v, k, value)),
            "expression" => assign(&mut d.expression, text(v, k, value)),
            _ => ignore(Model::PropertyMapping, k),
        }
    }
    d
}

pub(crate) fn apply_mapping_identifiers(draft: &mut MappingDraft, lookup: &Lookup) {
    if let Some(name) = identifier(lookup, "name") {
        draft.name = Field::Set(name.to_owned());
    }
}

impl MappingDraft {
    /// The name this draft would write, to check for uniqueness.
    pub(crate) fn new_name(&self) -> Option<String> {
        match &self.name {
            Field::Set(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
            _ => None,
        }
    }

    pub(crate) fn finish(self, base: Option<&MappingRow>) -> Result<MappingFields, Violations> {
        let mut v = Violations::new();
        let name = required_text(&mut v, "name", self.name, base.map(|b| b.name.as_str()));
        // Python source: kept byte for byte, indentation matters.
        let expression = match self.expression {
            Field::Set(e) => Some(e),
            Field::Null => {
                v.null("expression");
                None
            }
            Field::Missing => Some(base.map(|b| b.expression.clone()).unwrap_or_default()),
        };
        match (name, expression) {
            (Some(name), Some(expression)) if v.is_empty() => {
                Ok(MappingFields { name, expression })
            }
            _ => Err(v),
        }
    }
}

/// A required text field, trimmed and not blank; missing keeps `base`.
pub(super) fn required_text(
    v: &mut Violations,
    field: &str,
    value: Field<String>,
    base: Option<&str>,
) -> Option<String> {
    match (value, base) {
        (Field::Set(s), _) if s.trim().is_empty() => {
            v.blank(field);
            None
        }
        (Field::Set(s), _) => Some(s.trim().to_owned()),
        (Field::Null, _) => {
            v.null(field);
            None
        }
        (Field::Missing, Some(b)) => Some(b.to_owned()),
        (Field::Missing, None) => {
            v.add(field, "required", messages::REQUIRED);
            None
        }
    }
}

/// [`required_text`] with authentik's `max_length` on top (usernames and
/// role names are 150 characters at most).
pub(super) fn bounded_text(
    v: &mut Violations,
    field: &str,
    value: Field<String>,
    base: Option<&str>,
    max: usize,
) -> Option<String> {
    let text = required_text(v, field, value, base)?;
    if text.chars().count() > max {
        v.add(field, "max_length", messages::max_length(max));
        return None;
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Value {
        serde_yaml_ng::from_str(text).unwrap()
    }

    fn pairs(text: &str) -> Vec<(String, Value)> {
        match yaml(text) {
            Value::Mapping(map) => map
                .into_iter()
                .map(|(k, v)| (k.as_str().unwrap().to_owned(), v))
                .collect(),
            other => panic!("{other:?}"),
        }
    }

    fn fields(v: &Violations) -> Vec<&str> {
        v.iter().map(|f| f.field.as_str()).collect()
    }

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

    #[test]
    fn bad_identifiers_are_each_reported() {
        let mut v = Violations::new();
        let lookup = identity(
            &mut v,
            Model::PropertyMapping,
            pairs("{pk: nope, name: 5, slug: x, expression: ''}"),
        );
        assert!(lookup.is_none());
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
            v.iter().nth(2).unwrap().message,
            "Not an identifier of authentik_sources_plex.plexsourcepropertymapping; use pk or name."
        );

        let mut v = Violations::new();
        assert!(identity(&mut v, Model::Flow, vec![]).is_none());
        assert_eq!(v.to_string(), "identifiers: This field is required.");
    }

    #[test]
    fn flow_rules() {
        let mut v = Violations::new();
        let d = flow_draft(
            &mut v,
            pairs(
                "{name: ' Welcome ', slug: welcome, designation: enrollment, title: Hi, layout: stacked}",
            ),
        );
        assert!(v.is_empty());
        let f = d.finish(None).unwrap();
        assert_eq!(f.name, "Welcome");
        assert_eq!(f.designation, FlowDesignation::Enrollment);

        let d = flow_draft(
            &mut v,
            pairs("{name: '  ', slug: 'a b', designation: login}"),
        );
        let err = d.finish(None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "name: This field may not be blank.; \
             slug: Enter a valid \"slug\" consisting of letters, numbers, underscores or hyphens.; \
             designation: \"login\" is not a valid choice."
        );
        let err = FlowDraft::default().finish(None).unwrap_err();
        assert_eq!(fields(&err), ["name", "slug", "designation"]);
    }

    #[test]
    fn flow_update_keeps_what_it_does_not_name() {
        let base = FlowRow {
            pk: Uuid::new_v4(),
            name: "Old".into(),
            slug: "old".into(),
            designation: "recovery".into(),
        };
        let d = FlowDraft {
            name: Field::Set("New".into()),
            ..Default::default()
        };
        let f = d.finish(Some(&base)).unwrap();
        assert_eq!(
            f.row(base.pk),
            FlowRow {
                name: "New".into(),
                ..base
            }
        );
    }

    #[test]
    fn mapping_rules() {
        let mut v = Violations::new();
        let d = mapping_draft(&mut v, pairs("{name: m}"));
        assert_eq!(
            d.finish(None).unwrap(),
            MappingFields {
                name: "m".into(),
                expression: String::new()
            }
        );
        let d = mapping_draft(&mut v, pairs("{expression: \"  return {}\\n\"}"));
        let base = MappingRow {
            pk: Uuid::new_v4(),
            name: "m".into(),
            expression: "x".into(),
        };
        assert_eq!(d.finish(Some(&base)).unwrap().expression, "  return {}\n");
        let d = mapping_draft(&mut v, pairs("{name: null, expression: null}"));
        assert_eq!(fields(&d.finish(None).unwrap_err()), ["name", "expression"]);
        assert!(v.is_empty());
    }
}
