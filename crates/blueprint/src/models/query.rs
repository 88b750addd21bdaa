//! Which objects identifiers and `!Find` select: values read as Django
//! reads a lookup, the [`Query`] they make, and the objects of the store it
//! selects.

use serde_yaml_ng::{Mapping, Value};
use store::Txn;
use uuid::Uuid;

use super::{Kind, Model, Target};
use crate::{
    lookup::{Identifier, Lookup},
    python,
    values::{drf_bool, type_name},
};
use domain::{Violations, violations::messages};
use store::StoreError;

/// Which objects identifiers or `!Find` select: those whose pk is `pk`, or
/// that match every pair of `all` (values already read for their kind).
/// Neither given: every object.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Query {
    pub pk: Option<Uuid>,
    pub all: Vec<(&'static str, Kind, Value)>,
}

/// Reads `value` as Django reads a lookup on field `name` of `model`; the
/// error is the message to report.
pub(crate) fn lookup_value(
    model: Model,
    name: &str,
    value: Value,
) -> Result<(&'static str, Kind, Value), String> {
    let Some((field, kind)) = model.field(name) else {
        let choices: Vec<&str> = model.fields().iter().map(|(n, _)| *n).collect();
        return Err(format!(
            "Cannot resolve keyword '{name}' into field. Choices are: {}.",
            choices.join(", ")
        ));
    };
    let value = match (kind, value) {
        (_, Value::Null) => Value::Null,
        // Django's UUID field: `5` is `00000000-…-000000000005`.
        (Kind::Pk | Kind::Ref | Kind::RefList, other) => match python::django_uuid(&other) {
            Some(id) => Value::String(id.to_string()),
            None => return Err(messages::not_a_uuid(&python::str_of(&other))),
        },
        (Kind::Bool, other) => match drf_bool(&other) {
            Some(b) => Value::Bool(b),
            None => {
                return Err(format!(
                    "\u{201c}{}\u{201d} value must be either True or False.",
                    python::str_of(&other)
                ));
            }
        },
        // Trimmed as text is when written, so the next import finds what
        // this one stored.
        (Kind::Text, Value::String(s)) => Value::String(s.trim().to_owned()),
        (Kind::Text, other @ (Value::Number(_) | Value::Bool(_))) => {
            Value::String(python::str_of(&other))
        }
        (Kind::TextList, Value::Sequence(items)) => Value::Sequence(
            items
                .into_iter()
                .map(|i| Value::String(python::str_of(&i)))
                .collect(),
        ),
        (_, other) => {
            return Err(format!(
                "Field '{field}' expected a value, got {}.",
                type_name(&other)
            ));
        }
    };
    Ok((field, kind, value))
}

impl Query {
    /// The store lookup that narrows the rows to compare: the pk ORed with
    /// the indexed text fields; empty (every row) when no field is indexed.
    pub(crate) fn narrowing(&self, model: Model) -> Lookup {
        let fields: Vec<(Identifier, String)> = self
            .all
            .iter()
            .filter_map(
                |(name, _, value)| match (model.identifier_column(name), value) {
                    (Some(column), Value::String(s)) => Some((column, s.clone())),
                    _ => None,
                },
            )
            .collect();
        // `!Find`'s pk is one of the ANDed pairs: that one row at most.
        let and_pk = self
            .all
            .iter()
            .find_map(|(name, kind, value)| match (kind, value) {
                (Kind::Pk, Value::String(s)) if *name == "pk" && self.pk.is_none() => {
                    Uuid::parse_str(s).ok()
                }
                _ => None,
            });
        if let Some(pk) = and_pk {
            return Lookup {
                pk: Some(pk),
                fields: Vec::new(),
            };
        }
        let scan = !self.all.is_empty() && fields.is_empty();
        if scan || (self.pk.is_none() && self.all.is_empty()) {
            Lookup::default()
        } else {
            Lookup {
                pk: self.pk,
                fields,
            }
        }
    }

    /// Whether the serialized object (`pk`, `fields`) is selected.
    pub(crate) fn selects(&self, pk: Uuid, fields: &Mapping) -> bool {
        if self.pk.is_none() && self.all.is_empty() {
            return true;
        }
        if self.pk == Some(pk) {
            return true;
        }
        !self.all.is_empty()
            && self.all.iter().all(|(name, kind, wanted)| {
                let stored = fields.get(*name).unwrap_or(&Value::Null);
                match (kind, stored) {
                    (Kind::RefList, Value::Sequence(items)) if !wanted.is_sequence() => {
                        items.contains(wanted)
                    }
                    _ => stored == wanted,
                }
            })
    }
}

/// Why identifiers select no object to work on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// authentik refuses the entry before reading a value (no identifiers:
    /// `No or invalid identifiers`; a field the model does not have:
    /// `Invalid identifier field: ...`): an `absent` entry is skipped.
    Entry,
    /// A value is refused (Django cannot read it for its field, or the
    /// serializer's rules): an error in every state.
    Value,
}

/// The objects an entry's `identifiers` select: `pk` ORed with the AND of
/// every other field, as authentik queries them. Any field of the model may
/// identify (the first match is the object, as in authentik). Every refused
/// identifier is reported in `v`; the first one, in the order Django reads
/// them (`pk` first), says why. `serializer` adds the rules authentik's
/// serializer applies to identifiers merged into the object written (not
/// null, not blank), which an `absent` entry never reaches.
pub(crate) fn identity(
    v: &mut Violations,
    model: Model,
    identifiers: Vec<(String, Value)>,
    serializer: bool,
) -> Result<Query, Refused> {
    if identifiers.is_empty() {
        v.add("identifiers", "invalid", "No or invalid identifiers");
        return Err(Refused::Entry);
    }
    let mut first = None;
    let (pk, others): (Vec<_>, Vec<_>) = identifiers.into_iter().partition(|(k, _)| k == "pk");
    let mut query = Query::default();
    for (key, value) in pk.into_iter().chain(others) {
        let field = format!("identifiers.{key}");
        match (&value, model.field(&key)) {
            (_, None) => {
                let message = lookup_value(model, &key, value).err().unwrap_or_default();
                v.add(
                    field,
                    "invalid",
                    format!("Invalid identifier field: {message}"),
                );
                first.get_or_insert(Refused::Entry);
                continue;
            }
            (Value::Null, Some((_, Kind::Pk | Kind::Text))) if serializer => {
                v.null(&field);
                first.get_or_insert(Refused::Value);
                continue;
            }
            (Value::String(s), Some((_, Kind::Text))) if serializer && s.trim().is_empty() => {
                v.blank(&field);
                first.get_or_insert(Refused::Value);
                continue;
            }
            _ => {}
        }
        match lookup_value(model, &key, value) {
            Ok((_, Kind::Pk, Value::String(s))) if key == "pk" => {
                query.pk = Uuid::parse_str(&s).ok();
            }
            Ok(pair) => query.all.push(pair),
            Err(message) => {
                v.add(field, "invalid", message);
                first.get_or_insert(Refused::Value);
            }
        }
    }
    match first {
        None => Ok(query),
        Some(why) => Err(why),
    }
}

/// The objects of `T` that `query` selects, ordered by pk: the first is
/// the one authentik takes (Django's `.first()` orders by pk).
pub(crate) async fn find_matching<T: Target>(
    db: &Txn,
    query: &Query,
) -> Result<Vec<T::Stored>, StoreError> {
    let rows = T::find(db, &query.narrowing(T::MODEL)).await?;
    let mut rows: Vec<T::Stored> = rows
        .into_iter()
        .filter(|row| query.selects(T::pk(row), &T::serialize(row)))
        .collect();
    rows.sort_by_key(T::pk);
    Ok(rows)
}
