//! The fields each stored model serializes to, with how each compares in
//! identifiers and `!Find`; the indexed ones; and the keys dropped as
//! read-only.

use domain::attributes::{ATTRIBUTES, Value as AttributeValue};

use super::Model;
use crate::lookup::Identifier;

/// How a field compares in identifiers and `!Find`, as Django reads a
/// lookup value for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The primary key (a UUID).
    Pk,
    Text,
    Bool,
    /// A reference to one object by its UUID, or null.
    Ref,
    /// References to several objects: a lookup matches when one is the value.
    RefList,
    TextList,
}

/// A Plex source's fields: its attributes as the domain declares them.
const PLEX_SOURCE_FIELDS: [(&str, Kind); ATTRIBUTES.len()] = {
    let mut fields = [("", Kind::Pk); ATTRIBUTES.len()];
    let mut i = 0;
    while i < ATTRIBUTES.len() {
        fields[i] = (ATTRIBUTES[i].name, kind_of(ATTRIBUTES[i].value));
        i += 1;
    }
    fields
};

/// How a domain attribute's value compares in a lookup.
const fn kind_of(value: AttributeValue) -> Kind {
    match value {
        AttributeValue::Pk => Kind::Pk,
        AttributeValue::Text | AttributeValue::Slug | AttributeValue::Choice(_) => Kind::Text,
        AttributeValue::Bool => Kind::Bool,
        AttributeValue::Ref => Kind::Ref,
        AttributeValue::RefList => Kind::RefList,
        AttributeValue::TextList => Kind::TextList,
    }
}

const FLOW_FIELDS: &[(&str, Kind)] = &[
    ("pk", Kind::Pk),
    ("name", Kind::Text),
    ("slug", Kind::Text),
    ("title", Kind::Text),
    ("designation", Kind::Text),
];

const MAPPING_FIELDS: &[(&str, Kind)] = &[
    ("pk", Kind::Pk),
    ("name", Kind::Text),
    ("expression", Kind::Text),
];

const USER_FIELDS: &[(&str, Kind)] = &[
    ("pk", Kind::Pk),
    ("username", Kind::Text),
    ("is_active", Kind::Bool),
    ("is_superuser", Kind::Bool),
    ("roles", Kind::RefList),
];

const ROLE_FIELDS: &[(&str, Kind)] = &[("pk", Kind::Pk), ("name", Kind::Text)];

impl Model {
    /// Indexed text columns: a lookup on them narrows the rows read before
    /// the other fields are compared. They are also the column names.
    pub(crate) fn identifier_fields(self) -> &'static [Identifier] {
        match self {
            Model::PlexSource | Model::Flow => &[Identifier::Slug, Identifier::Name],
            Model::PropertyMapping | Model::Role => &[Identifier::Name],
            Model::User => &[Identifier::Username],
        }
    }

    pub(crate) fn identifier_column(self, key: &str) -> Option<Identifier> {
        self.identifier_fields()
            .iter()
            .copied()
            .find(|f| f.field() == key)
    }

    /// Every field an object of the model serializes to, with its kind: what
    /// identifiers and `!Find` may name, and what `!FindObject` returns.
    pub(crate) fn fields(self) -> &'static [(&'static str, Kind)] {
        match self {
            Model::PlexSource => &PLEX_SOURCE_FIELDS,
            Model::Flow => FLOW_FIELDS,
            Model::PropertyMapping => MAPPING_FIELDS,
            Model::User => USER_FIELDS,
            Model::Role => ROLE_FIELDS,
        }
    }

    pub(super) fn field(self, name: &str) -> Option<(&'static str, Kind)> {
        self.fields().iter().copied().find(|(n, _)| *n == name)
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
pub(crate) fn ignore(model: Model, key: &str) {
    if !READ_ONLY.contains(&key) {
        tracing::warn!(
            model = model.name(),
            key,
            "ignoring unknown blueprint attribute"
        );
    }
}
