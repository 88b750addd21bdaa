//! Typing plain YAML values (tags already resolved), with the messages
//! authentik's serializers give for wrong types. Every model's draft is
//! built from these, so the same wrong value reads the same everywhere.
//! Rules beyond the type (blank, slug format, choices, defaults) belong to
//! the drafts' `finish`, so blueprints and the API share them.

use serde_yaml_ng::Value;
use uuid::Uuid;

use super::python;
use domain::{Field, NameProblem, Violations, drf, violations::messages};

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

/// Text as DRF's `CharField` reads it: integers and floats become their
/// Python text (`name: 2024` is `"2024"`); booleans, lists and mappings
/// are refused.
fn as_text(value: Value) -> Result<String, Value> {
    match value {
        Value::String(s) => Ok(s),
        n @ Value::Number(_) => Ok(python::str_of(&n)),
        other => Err(other),
    }
}

/// A string attribute. `None` means the value was refused (violation added).
pub(crate) fn text(v: &mut Violations, field: &str, value: Value) -> Option<Field<String>> {
    match value {
        Value::Null => Some(Field::Null),
        other => match as_text(other) {
            Ok(s) => Some(Field::Set(s)),
            Err(_) => {
                v.add(field, "invalid", messages::INVALID_STRING);
                None
            }
        },
    }
}

/// DRF's `BooleanField` spellings: `true`, `"yes"`, `"on"`, `1`, ... and
/// their false counterparts. `None` for anything else.
pub(crate) fn drf_bool(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) => drf::bool_from_text(s),
        Value::Number(n) => drf::bool_from_number(n.as_f64()),
        _ => None,
    }
}

/// A boolean attribute, in any of DRF's spellings.
pub(crate) fn flag(v: &mut Violations, field: &str, value: Value) -> Option<Field<bool>> {
    match value {
        Value::Null => Some(Field::Null),
        other => match drf_bool(&other) {
            Some(b) => Some(Field::Set(b)),
            None => {
                v.add(field, "invalid", messages::INVALID_BOOLEAN);
                None
            }
        },
    }
}

/// A list of strings (`allowed_servers`); item errors name the item.
pub(crate) fn text_list(
    v: &mut Violations,
    field: &str,
    value: Value,
) -> Option<Field<Vec<String>>> {
    list(v, field, value, |v, item_field, item| {
        let item = (!item.is_null()).then(|| as_text(item).ok());
        drf::text_item(v, item_field, item)
    })
}

/// A reference to one object by pk, or null, typed as DRF's
/// `PrimaryKeyRelatedField` reads it: the canonical UUID text, or the
/// violation. Whether the object exists is checked with the store (see
/// `references`).
pub(crate) fn pk(v: &mut Violations, field: &str, value: Value) -> Option<Field<String>> {
    if value.is_null() {
        return Some(Field::Null);
    }
    one_pk(v, field, &value).map(Field::Set)
}

/// A list of references by pk, read as DRF's `ManyRelatedField` reads it:
/// item by item, stopping at the first that fails.
pub(crate) fn pk_list(v: &mut Violations, field: &str, value: Value) -> Option<Field<Vec<String>>> {
    if value.is_null() {
        return Some(Field::Null);
    }
    let items = match pk_items(value) {
        Ok(items) => items,
        Err(message) => {
            v.add(field, "not_a_list", message);
            return None;
        }
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        out.push(one_pk(v, &format!("{field}[{i}]"), item)?);
    }
    Some(Field::Set(out))
}

/// The items DRF's `ManyRelatedField` iterates: a list's items or a
/// mapping's keys; text and scalars are no list (authentik's message).
pub(crate) fn pk_items(value: Value) -> Result<Vec<Value>, String> {
    match value {
        Value::Sequence(items) => Ok(items),
        Value::Mapping(map) => Ok(map.into_iter().map(|(key, _)| key).collect()),
        other => Err(not_a_list(&other)),
    }
}

/// One value as DRF's `PrimaryKeyRelatedField` reads it before looking it
/// up: the pk (`None` for null, which names no object), or the violation's
/// code and message. A bool is the wrong type; anything else is read as
/// Django's UUID field reads it (`5` is `00000000-…-000000000005`).
pub(crate) fn drf_pk(value: &Value) -> Result<Option<Uuid>, (&'static str, String)> {
    match value {
        Value::Null => Ok(None),
        Value::Bool(_) => Err((
            "incorrect_type",
            messages::incorrect_pk_type(type_name(value)),
        )),
        other => python::django_uuid(other)
            .map(Some)
            .ok_or_else(|| ("invalid", messages::not_a_uuid(&python::str_of(other)))),
    }
}

fn one_pk(v: &mut Violations, field: &str, value: &Value) -> Option<String> {
    match drf_pk(value) {
        Ok(Some(id)) => Some(id.to_string()),
        // Null names no object: DRF's lookup finds nothing.
        Ok(None) => {
            v.invalid_pk(field, "None");
            None
        }
        Err((code, message)) => {
            v.add(field, code, message);
            None
        }
    }
}

fn list<T>(
    v: &mut Violations,
    field: &str,
    value: Value,
    item: impl Fn(&mut Violations, &str, Value) -> Option<T>,
) -> Option<Field<Vec<T>>> {
    match value {
        Value::Null => Some(Field::Null),
        Value::Sequence(items) => drf::items(v, field, items, item).map(Field::Set),
        other => {
            v.add(field, "not_a_list", not_a_list(&other));
            None
        }
    }
}

/// authentik's message for a value that should have been a list.
pub(crate) fn not_a_list(value: &Value) -> String {
    messages::not_a_list(type_name(value))
}

/// Stores a typed value; a refused one leaves the field missing, so `finish`
/// does not report the field a second time.
pub(super) fn assign<T>(slot: &mut Field<T>, value: Option<Field<T>>) {
    if let Some(value) = value {
        *slot = value;
    }
}

/// A required user or role name, checked by its domain type's `parse` (the
/// rule the command line uses too); missing keeps `base`. A refusal becomes
/// authentik's message: null, required, blank, or `max_length` with `max`.
pub(super) fn required_name<N>(
    v: &mut Violations,
    field: &str,
    value: Field<String>,
    base: Option<&str>,
    parse: impl FnOnce(&str) -> Result<N, NameProblem>,
    max: usize,
) -> Option<N> {
    let raw = match (value, base) {
        (Field::Set(s), _) => s,
        (Field::Null, _) => {
            v.null(field);
            return None;
        }
        (Field::Missing, Some(b)) => b.to_owned(),
        (Field::Missing, None) => {
            v.add(field, "required", messages::REQUIRED);
            return None;
        }
    };
    match parse(&raw) {
        Ok(name) => Some(name),
        Err(NameProblem::Blank) => {
            v.blank(field);
            None
        }
        Err(NameProblem::TooLong) => {
            v.add(field, "max_length", messages::max_length(max));
            None
        }
    }
}

/// An `attrs` or `identifiers` mapping written as YAML, for unit tests.
#[cfg(test)]
pub(super) fn pairs(text: &str) -> Vec<(String, Value)> {
    match serde_yaml_ng::from_str(text).unwrap() {
        Value::Mapping(map) => map
            .into_iter()
            .map(|(k, v)| (k.as_str().unwrap().to_owned(), v))
            .collect(),
        other => panic!("{other:?}"),
    }
}

/// The fields `v` names, in order, for unit tests.
#[cfg(test)]
pub(super) fn fields(v: &Violations) -> Vec<&str> {
    v.iter().map(|f| f.field.as_str()).collect()
}
