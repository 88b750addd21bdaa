//! The attributes of a Plex source as authentik's `PlexSourceSerializer`
//! has them: every one, in its order, with what its value is and who may
//! write it. This is the one list of a source's attributes: the REST body's
//! keys and its OpenAPI schemas, the blueprint's attributes and the gRPC
//! update mask's paths are read from it, and the shapes that must be
//! written out by hand (the proto message, the REST answer, the draft) are
//! checked against it by tests, so an attribute added in one place and not
//! another fails a test.

use super::{GroupMatchingMode, PolicyEngineMode, UserMatchingMode};

/// What an attribute's value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value {
    /// The source's primary key (a UUID).
    Pk,
    Text,
    /// A slug (see [`crate::Slug`]).
    Slug,
    Bool,
    /// One of a fixed set of words.
    Choice(Choices),
    /// The UUID of another object (a flow), or null.
    Ref,
    /// UUIDs of other objects (property mappings).
    RefList,
    TextList,
}

/// The choice attributes' sets of words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choices {
    PolicyEngineMode,
    UserMatchingMode,
    GroupMatchingMode,
}

impl Choices {
    /// The words, in authentik's order.
    pub fn words(self) -> Vec<&'static str> {
        match self {
            Choices::PolicyEngineMode => PolicyEngineMode::ALL.iter().map(|c| c.as_str()).collect(),
            Choices::UserMatchingMode => UserMatchingMode::ALL.iter().map(|c| c.as_str()).collect(),
            Choices::GroupMatchingMode => {
                GroupMatchingMode::ALL.iter().map(|c| c.as_str()).collect()
            }
        }
    }
}

/// Who writes an attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Computed or kept by authentik: shown, never written.
    ReadOnly,
    /// Written through the API and blueprints; `required` when creating.
    Writable { required: bool },
    /// Shown by the API, written only by blueprints.
    BlueprintOnly,
}

/// One attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attribute {
    pub name: &'static str,
    pub value: Value,
    pub access: Access,
    /// Whether `null` is a value of it.
    pub nullable: bool,
    /// Whether a written value must not be blank.
    pub non_blank: bool,
}

const fn attribute(name: &'static str, value: Value, access: Access) -> Attribute {
    Attribute {
        name,
        value,
        access,
        nullable: false,
        non_blank: false,
    }
}

impl Attribute {
    /// This attribute, with `null` among its values.
    const fn nullable(self) -> Self {
        Self {
            nullable: true,
            ..self
        }
    }

    /// This attribute, refusing a blank value.
    const fn non_blank(self) -> Self {
        Self {
            non_blank: true,
            ..self
        }
    }
}

const READ_ONLY: Access = Access::ReadOnly;
const OPTIONAL: Access = Access::Writable { required: false };
const REQUIRED: Access = Access::Writable { required: true };

/// Every attribute, in authentik's serializer order.
pub const ATTRIBUTES: [Attribute; 22] = [
    attribute("pk", Value::Pk, READ_ONLY),
    attribute("name", Value::Text, REQUIRED).non_blank(),
    attribute("slug", Value::Slug, REQUIRED).non_blank(),
    attribute("enabled", Value::Bool, OPTIONAL),
    attribute("authentication_flow", Value::Ref, OPTIONAL).nullable(),
    attribute("enrollment_flow", Value::Ref, OPTIONAL).nullable(),
    attribute("user_property_mappings", Value::RefList, OPTIONAL),
    attribute("group_property_mappings", Value::RefList, OPTIONAL),
    attribute("component", Value::Text, READ_ONLY),
    attribute("verbose_name", Value::Text, READ_ONLY),
    attribute("verbose_name_plural", Value::Text, READ_ONLY),
    attribute("meta_model_name", Value::Text, READ_ONLY),
    attribute(
        "policy_engine_mode",
        Value::Choice(Choices::PolicyEngineMode),
        OPTIONAL,
    ),
    attribute(
        "user_matching_mode",
        Value::Choice(Choices::UserMatchingMode),
        OPTIONAL,
    ),
    attribute("managed", Value::Text, READ_ONLY).nullable(),
    attribute("user_path_template", Value::Text, OPTIONAL).non_blank(),
    attribute("icon", Value::Text, Access::BlueprintOnly),
    attribute(
        "group_matching_mode",
        Value::Choice(Choices::GroupMatchingMode),
        OPTIONAL,
    ),
    attribute("client_id", Value::Text, OPTIONAL).non_blank(),
    attribute("allowed_servers", Value::TextList, OPTIONAL),
    attribute("allow_friends", Value::Bool, OPTIONAL),
    attribute("plex_token", Value::Text, REQUIRED).non_blank(),
];

/// The attribute named `name`.
pub fn attribute_named(name: &str) -> Option<&'static Attribute> {
    ATTRIBUTES.iter().find(|a| a.name == name)
}

/// The attributes callers write through the API (REST bodies, gRPC update
/// masks), in order.
pub fn writable() -> impl Iterator<Item = &'static Attribute> {
    ATTRIBUTES
        .iter()
        .filter(|a| matches!(a.access, Access::Writable { .. }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PlexSourceDraft;

    #[test]
    fn the_draft_holds_every_attribute_written_by_anyone() {
        let written: Vec<&str> = ATTRIBUTES
            .iter()
            .filter(|a| a.access != Access::ReadOnly)
            .map(|a| a.name)
            .collect();
        assert_eq!(written, PlexSourceDraft::FIELDS);
    }

    #[test]
    fn choices_name_their_words() {
        assert_eq!(Choices::PolicyEngineMode.words(), ["all", "any"]);
        assert_eq!(Choices::GroupMatchingMode.words()[0], "identifier");
        assert_eq!(Choices::UserMatchingMode.words().len(), 5);
    }

    #[test]
    fn names_are_unique_and_the_api_writes_all_but_the_icon() {
        let mut names: Vec<&str> = ATTRIBUTES.iter().map(|a| a.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ATTRIBUTES.len());
        assert!(writable().all(|a| a.name != "icon" && a.name != "pk"));
        assert_eq!(writable().count(), PlexSourceDraft::FIELDS.len() - 1);
    }
}
