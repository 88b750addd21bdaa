//! JSON bodies as authentik writes and reads them: the Plex source in the
//! serializer's fields and their order, the paginated list, and a request body
//! typed into a [`PlexSourceDraft`] with Django REST framework's messages
//! for values of the wrong JSON type. The rules beyond the type (required,
//! blank, slug, choices, references, defaults) are the domain's, so every
//! transport reports them alike.

use serde::{Serialize, Serializer, ser::SerializeSeq};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    domain::{
        Field, Input, PlexSourceDraft, Violations,
        attributes::{self, Value as AttributeValue},
        drf, plex_source,
        violations::messages,
    },
    ops::{ListPage, Visible},
};

/// authentik's `PlexSourceSerializer` output. Borrowed from the cached
/// source: rendering copies nothing but the icon URL.
#[derive(Serialize, ToSchema)]
#[schema(as = PlexSource, description = "Plex Source Serializer")]
pub struct PlexSourceJson<'a> {
    #[schema(value_type = uuid::Uuid, read_only)]
    pk: Id,
    /// Source's display Name.
    name: &'a str,
    /// Internal source name, used in URLs.
    #[schema(max_length = 50, pattern = r"^[-a-zA-Z0-9_]+$")]
    slug: &'a str,
    enabled: bool,
    /// Flow to use when authenticating existing users.
    #[schema(value_type = Option<uuid::Uuid>)]
    authentication_flow: Option<Id>,
    /// Flow to use when enrolling new users.
    #[schema(value_type = Option<uuid::Uuid>)]
    enrollment_flow: Option<Id>,
    #[schema(value_type = Vec<uuid::Uuid>)]
    user_property_mappings: Ids<'a>,
    #[schema(value_type = Vec<uuid::Uuid>)]
    group_property_mappings: Ids<'a>,
    /// Get object component so that we know how to edit the object
    #[schema(read_only)]
    component: &'static str,
    /// Return object's verbose_name
    #[schema(read_only)]
    verbose_name: &'static str,
    /// Return object's plural verbose_name
    #[schema(read_only)]
    verbose_name_plural: &'static str,
    /// Return internal model name
    #[schema(read_only)]
    meta_model_name: &'static str,
    #[schema(value_type = super::openapi::PolicyEngineMode)]
    policy_engine_mode: &'static str,
    /// How the source determines if an existing user should be authenticated or a new user enrolled.
    #[schema(value_type = super::openapi::UserMatchingModeEnum)]
    user_matching_mode: &'static str,
    /// Objects that are managed by authentik.
    #[schema(read_only)]
    managed: Option<&'a str>,
    user_path_template: &'a str,
    #[schema(read_only)]
    icon: String,
    /// How the source determines if an existing group should be used or a new group created.
    #[schema(value_type = super::openapi::GroupMatchingModeEnum)]
    group_matching_mode: &'static str,
    /// Client identifier used to talk to Plex.
    client_id: &'a str,
    /// Which servers a user has to be a member of to be granted access. Empty list allows every server.
    allowed_servers: &'a [String],
    /// Allow friends to authenticate, even if you don't share a server.
    allow_friends: bool,
    /// Plex token used to check friends (empty unless the caller may read it)
    plex_token: &'a str,
}

/// A uuid, written as its canonical text without an allocation.
#[derive(Clone, Copy)]
pub struct Id(Uuid);

impl Serialize for Id {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0.hyphenated())
    }
}

pub struct Ids<'a>(&'a [Uuid]);

impl Serialize for Ids<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for id in self.0 {
            seq.serialize_element(&Id(*id))?;
        }
        seq.end()
    }
}

/// The wire form of a source; the Plex token only when the operation
/// decided the caller may have it. A field the domain gains is named by the
/// test of the answer's keys (`body/tests.rs`), then by this type.
pub fn source_json(visible: &Visible) -> PlexSourceJson<'_> {
    let source = visible.source.as_ref();
    let f = &source.fields;
    PlexSourceJson {
        pk: Id(source.pk),
        name: &f.name,
        slug: f.slug.as_str(),
        enabled: f.enabled,
        authentication_flow: f.authentication_flow.map(Id),
        enrollment_flow: f.enrollment_flow.map(Id),
        user_property_mappings: Ids(&f.user_property_mappings),
        group_property_mappings: Ids(&f.group_property_mappings),
        component: plex_source::COMPONENT,
        verbose_name: plex_source::VERBOSE_NAME,
        verbose_name_plural: plex_source::VERBOSE_NAME_PLURAL,
        meta_model_name: plex_source::META_MODEL_NAME,
        policy_engine_mode: f.policy_engine_mode.as_str(),
        user_matching_mode: f.user_matching_mode.as_str(),
        managed: source.managed.as_deref(),
        user_path_template: &f.user_path_template,
        icon: source.icon_url(),
        group_matching_mode: f.group_matching_mode.as_str(),
        client_id: &f.client_id,
        allowed_servers: &f.allowed_servers,
        allow_friends: f.allow_friends,
        plex_token: visible.plex_token(),
    }
}

/// authentik's list envelope (`PaginatedPlexSourceList`).
#[derive(Serialize, ToSchema)]
#[schema(as = PaginatedPlexSourceList)]
pub struct PaginatedJson<'a> {
    pagination: Pagination,
    results: Vec<PlexSourceJson<'a>>,
    /// authentik's query-language autocompletion (an enterprise feature);
    /// always empty here.
    #[schema(value_type = Object)]
    autocomplete: Map<String, Value>,
}

/// authentik's `Pagination`: page numbers, 0 where there is none.
#[derive(Serialize, ToSchema, Debug, PartialEq, Eq)]
pub struct Pagination {
    pub next: u64,
    pub previous: u64,
    pub count: u64,
    pub current: u64,
    pub total_pages: u64,
    pub start_index: u64,
    pub end_index: u64,
}

impl Pagination {
    /// Django's `Paginator` figures for page `current` of `page_size` over
    /// `count` rows (an empty result has one, empty, page); `None` when
    /// there is no such page.
    pub fn of(current: u64, page_size: u64, count: u64) -> Option<Self> {
        let total_pages = count.div_ceil(page_size).max(1);
        if current == 0 || current > total_pages {
            return None;
        }
        let (start_index, end_index) = if count == 0 {
            (0, 0)
        } else {
            let start = (current - 1) * page_size + 1;
            (start, (start + page_size - 1).min(count))
        };
        Some(Self {
            next: if current < total_pages {
                current + 1
            } else {
                0
            },
            previous: current - 1,
            count,
            current,
            total_pages,
            start_index,
            end_index,
        })
    }
}

pub fn page_json(page: &ListPage, pagination: Pagination) -> PaginatedJson<'_> {
    PaginatedJson {
        pagination,
        results: page.sources.iter().map(source_json).collect(),
        autocomplete: Map::new(),
    }
}

/// A request body typed into a draft. A key left out is
/// [`Field::Missing`], `null` is [`Field::Null`]; read-only and unknown keys
/// are ignored, as authentik's serializer ignores them. A value of the wrong
/// JSON type is left out of the draft and reported, with Django REST
/// framework's message, in the violations beside it (the operation reports
/// them with the draft's own). A body that is no JSON object has no draft.
pub fn draft(body: Value) -> Result<(PlexSourceDraft, Violations), Violations> {
    let object = match body {
        Value::Object(object) => object,
        Value::Null => {
            return Err(Violations::single(
                "non_field_errors",
                "null",
                "No data provided",
            ));
        }
        other => {
            return Err(Violations::single(
                "non_field_errors",
                "invalid",
                format!(
                    "Invalid data. Expected a dictionary, but got {}.",
                    type_name(&other)
                ),
            ));
        }
    };
    let mut v = Violations::new();
    let mut d = PlexSourceDraft::default();
    for (key, value) in object {
        // Read-only (`pk`, `icon`, the computed fields) and unknown keys are
        // ignored.
        let Some(attribute) = attributes::writable().find(|a| a.name == key) else {
            continue;
        };
        let k = key.as_str();
        let input = match attribute.value {
            AttributeValue::Text | AttributeValue::Slug => Input::Text(text(&mut v, k, value)),
            AttributeValue::Choice(_) => Input::Text(choice(k, value)),
            AttributeValue::Ref => Input::Text(pk(&mut v, k, value)),
            AttributeValue::Bool => Input::Flag(flag(&mut v, k, value)),
            AttributeValue::RefList => Input::List(pk_list(&mut v, k, value)),
            AttributeValue::TextList => Input::List(text_list(&mut v, k, value)),
            AttributeValue::Pk => continue,
        };
        // The declaration and the draft agree (the domain's tests say so).
        d.set(k, input);
    }
    Ok((d, v))
}

/// The Python type name DRF puts in its messages.
fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

/// Text as DRF's `CharField` reads it: numbers become their text.
fn as_text(value: Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn text(v: &mut Violations, field: &str, value: Value) -> Field<String> {
    match value {
        Value::Null => Field::Null,
        other => match as_text(other) {
            Some(s) => Field::Set(s),
            None => {
                v.add(field, "invalid", messages::INVALID_STRING);
                Field::Missing
            }
        },
    }
}

/// A choice as DRF's `ChoiceField` reads it: any value, compared as text,
/// so a wrong type is `"…" is not a valid choice.` from the domain's rule.
fn choice(_field: &str, value: Value) -> Field<String> {
    match value {
        Value::Null => Field::Null,
        Value::String(s) => Field::Set(s),
        Value::Bool(true) => Field::Set("True".to_owned()),
        Value::Bool(false) => Field::Set("False".to_owned()),
        other => Field::Set(other.to_string()),
    }
}

/// DRF's `BooleanField`.
fn flag(v: &mut Violations, field: &str, value: Value) -> Field<bool> {
    let parsed = match &value {
        Value::Null => return Field::Null,
        Value::Bool(b) => Some(*b),
        Value::String(s) => drf::bool_from_text(s),
        Value::Number(n) => drf::bool_from_number(n.as_f64()),
        _ => None,
    };
    match parsed {
        Some(b) => Field::Set(b),
        None => {
            v.add(field, "invalid", messages::INVALID_BOOLEAN);
            Field::Missing
        }
    }
}

/// A reference by pk: a uuid's text, or null. Text that is no uuid is
/// Django's `“…” is not a valid UUID.`, as DRF reports it.
fn pk(v: &mut Violations, field: &str, value: Value) -> Field<String> {
    match value {
        Value::Null => Field::Null,
        Value::String(s) => match uuid_text(v, field, s) {
            Some(s) => Field::Set(s),
            None => Field::Missing,
        },
        other => {
            incorrect_pk_type(v, field, &other);
            Field::Missing
        }
    }
}

fn uuid_text(v: &mut Violations, field: &str, raw: String) -> Option<String> {
    if Uuid::parse_str(&raw).is_ok() {
        Some(raw)
    } else {
        v.add(field, "invalid", messages::not_a_uuid(&raw));
        None
    }
}

fn incorrect_pk_type(v: &mut Violations, field: &str, value: &Value) {
    v.add(
        field,
        "incorrect_type",
        messages::incorrect_pk_type(type_name(value)),
    );
}

fn pk_list(v: &mut Violations, field: &str, value: Value) -> Field<Vec<String>> {
    list(v, field, value, |v, item_field, item| match item {
        Value::String(s) => uuid_text(v, item_field, s),
        other => {
            incorrect_pk_type(v, item_field, &other);
            None
        }
    })
}

fn text_list(v: &mut Violations, field: &str, value: Value) -> Field<Vec<String>> {
    list(v, field, value, |v, item_field, item| {
        let item = (!item.is_null()).then(|| as_text(item));
        drf::text_item(v, item_field, item)
    })
}

fn list(
    v: &mut Violations,
    field: &str,
    value: Value,
    item: impl Fn(&mut Violations, &str, Value) -> Option<String>,
) -> Field<Vec<String>> {
    match value {
        Value::Null => Field::Null,
        Value::Array(items) => drf::items(v, field, items, item).map_or(Field::Missing, Field::Set),
        other => {
            v.add(field, "not_a_list", messages::not_a_list(type_name(&other)));
            Field::Missing
        }
    }
}

#[cfg(test)]
mod tests;
