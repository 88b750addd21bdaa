//! The supported blueprint models (their names and identifiers), the
//! [`Target`] each one implements, and the rules every model shares:
//! identifiers, unknown attributes, uniqueness and references.

use sea_orm::DatabaseTransaction;
use serde_yaml_ng::Value;
use uuid::Uuid;

use crate::{
    domain::{Reference, Violations},
    store::{Lookup, StoreError},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Model {
    PlexSource,
    Flow,
    PropertyMapping,
    User,
    Role,
}

impl Model {
    /// The model an entry names; authentik matches model names regardless
    /// of case.
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        [
            Model::PlexSource,
            Model::Flow,
            Model::PropertyMapping,
            Model::User,
            Model::Role,
        ]
        .into_iter()
        .find(|m| m.name().eq_ignore_ascii_case(name))
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Model::PlexSource => crate::domain::plex_source::META_MODEL_NAME,
            Model::Flow => "authentik_flows.flow",
            Model::PropertyMapping => "authentik_sources_plex.plexsourcepropertymapping",
            Model::User => "authentik_core.user",
            Model::Role => "authentik_rbac.role",
        }
    }

    /// Fields besides `pk` that identify an object, in identifiers and in
    /// `!Find`. They are also the column names.
    pub(crate) fn identifier_fields(self) -> &'static [&'static str] {
        match self {
            Model::PlexSource | Model::Flow => &["slug", "name"],
            Model::PropertyMapping | Model::Role => &["name"],
            Model::User => &["username"],
        }
    }

    pub(crate) fn identifier_column(self, key: &str) -> Option<&'static str> {
        self.identifier_fields().iter().copied().find(|f| *f == key)
    }
}

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

/// One model's part of an import: typing, rules, and the store calls. The
/// state machine that applies an entry is the same for every model.
pub(crate) trait Target {
    const MODEL: Model;
    /// Whether entries may carry `permissions` on the object; the store
    /// holds object permissions on Plex sources only. Other models warn
    /// and ignore them.
    const OBJECT_PERMISSIONS: bool = false;
    /// An object as stored.
    type Stored: Send + Sync;
    type Draft: Send;
    /// What gets written, checked.
    type Fields: Send + Sync;

    fn pk(stored: &Self::Stored) -> Uuid;

    /// Types `attrs`; refused values are violations and stay missing.
    fn draft(v: &mut Violations, attrs: Vec<(String, Value)>) -> Self::Draft;

    /// Identifiers are written to the object too, over `attrs` (spec §5).
    fn apply_identifiers(draft: &mut Self::Draft, lookup: &Lookup);

    async fn find(
        db: &DatabaseTransaction,
        lookup: &Lookup,
    ) -> Result<Vec<Self::Stored>, StoreError>;

    /// The fields to write, or `None` with the broken rules in `v`: the
    /// draft's own rules, then references and uniqueness in the store.
    async fn check(
        db: &DatabaseTransaction,
        draft: Self::Draft,
        existing: Option<&Self::Stored>,
        v: &mut Violations,
    ) -> Result<Option<Self::Fields>, StoreError>;

    /// Whether writing `fields` would change nothing.
    fn unchanged(stored: &Self::Stored, fields: &Self::Fields) -> bool;

    async fn insert(
        db: &DatabaseTransaction,
        pk: Uuid,
        fields: &Self::Fields,
    ) -> Result<(), StoreError>;

    async fn update(
        db: &DatabaseTransaction,
        pk: Uuid,
        fields: &Self::Fields,
    ) -> Result<(), StoreError>;

    async fn delete(db: &DatabaseTransaction, pk: Uuid) -> Result<(), StoreError>;
}

/// Reports `column` as `unique`, with the model's `message`, when an object
/// other than `existing` already holds `value` (`None`: nothing to check,
/// e.g. a blank value already reported). Looked up with the model's own
/// `find`, so the value matches as an identifier would.
pub(super) async fn check_unique<T: Target>(
    db: &DatabaseTransaction,
    v: &mut Violations,
    existing: Option<&T::Stored>,
    column: &'static str,
    value: Option<String>,
    message: &str,
) -> Result<(), StoreError> {
    let Some(value) = value else {
        return Ok(());
    };
    let lookup = Lookup {
        pk: None,
        fields: vec![(column, value)],
    };
    let owners = T::find(db, &lookup).await?;
    let existing = existing.map(T::pk);
    if owners.iter().any(|owner| Some(T::pk(owner)) != existing) {
        v.add(column, "unique", message);
    }
    Ok(())
}

/// `Ok(fields)` only when no rule at all was broken.
pub(super) fn finished<T>(v: &mut Violations, result: Result<T, Violations>) -> Option<T> {
    match result {
        Ok(fields) => Some(fields),
        Err(broken) => {
            v.extend(broken);
            None
        }
    }
}

pub(super) fn ids(refs: &[Reference]) -> Vec<Uuid> {
    let mut ids: Vec<Uuid> = refs.iter().map(|r| r.id).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

pub(super) fn report_missing(v: &mut Violations, refs: &[Reference], missing: &[Uuid]) {
    for r in refs.iter().filter(|r| missing.contains(&r.id)) {
        v.invalid_pk(r.field.clone(), &r.raw);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blueprint::values::pairs;

    fn fields(v: &Violations) -> Vec<&str> {
        v.iter().map(|f| f.field.as_str()).collect()
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
        assert_eq!(Model::User.identifier_column("username"), Some("username"));
        assert_eq!(Model::Role.identifier_column("username"), None);
        assert_eq!(Model::PropertyMapping.identifier_column("slug"), None);
        assert_eq!(Model::Flow.identifier_column("slug"), Some("slug"));
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
}
