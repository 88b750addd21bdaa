//! Attributes that refer to other objects by pk, checked as authentik's
//! serializers check them. DRF's `PrimaryKeyRelatedField` reads the value
//! as Django reads a UUID (`“x” is not a valid UUID.`; a bool is the wrong
//! type) and looks the object up (`Invalid pk "…" - object does not
//! exist.`). A list (`ManyRelatedField`) runs that item by item in order
//! and stops at the first item that fails, so a list has one error: its
//! first malformed or missing item, the items after it unread.
//!
//! Checked before the draft is typed, so the draft sees canonical pks of
//! objects that exist; a refused attribute is left out of it.

use serde_yaml_ng::Value;
use store::Txn;
use uuid::Uuid;

use super::{
    models::{RefField, Referenced},
    python,
    values::{drf_pk, pk_items},
};
use domain::{MAX_PROPERTY_MAPPINGS, Violations};
use store::StoreError;

/// Longest list looked up here; a longer one goes to the draft untouched,
/// where the model's limit refuses it before the store is asked.
const MAX_CHECKED: usize = MAX_PROPERTY_MAPPINGS;

/// `attrs` with every reference of `fields` checked: kept as canonical
/// pks, or left out with its violation in `v`. Null stays for the model's
/// rules (a flow may be unset; a list may not be null).
pub(crate) async fn check(
    db: &Txn,
    fields: &[RefField],
    attrs: Vec<(String, Value)>,
    v: &mut Violations,
) -> Result<Vec<(String, Value)>, StoreError> {
    let mut out = Vec::with_capacity(attrs.len());
    for (key, value) in attrs {
        let checked = match fields.iter().find(|f| f.name == key) {
            Some(field) if !value.is_null() => read(db, field, &key, value, v).await?,
            _ => Some(value),
        };
        if let Some(value) = checked {
            out.push((key, value));
        }
    }
    Ok(out)
}

async fn read(
    db: &Txn,
    field: &RefField,
    key: &str,
    value: Value,
    v: &mut Violations,
) -> Result<Option<Value>, StoreError> {
    let text = |id: &Uuid| Value::String(id.to_string());
    if !field.many {
        let found = first_failure(db, field.to, vec![(key.to_owned(), value)], v).await?;
        return Ok(found.and_then(|ids| ids.first().map(text)));
    }
    let items = match pk_items(value) {
        Ok(items) => items,
        Err(message) => {
            v.add(key, "not_a_list", message);
            return Ok(None);
        }
    };
    if items.len() > MAX_CHECKED {
        return Ok(Some(Value::Sequence(items)));
    }
    let named = items
        .into_iter()
        .enumerate()
        .map(|(i, item)| (format!("{key}[{i}]"), item))
        .collect();
    let found = first_failure(db, field.to, named, v).await?;
    Ok(found.map(|ids| Value::Sequence(ids.iter().map(text).collect())))
}

/// The pks of `items` (field path, value) in order, or `None` with the
/// violation of the first item DRF refuses: malformed (reading stops
/// there) or naming no object (null names none).
async fn first_failure(
    db: &Txn,
    to: Referenced,
    items: Vec<(String, Value)>,
    v: &mut Violations,
) -> Result<Option<Vec<Uuid>>, StoreError> {
    let mut read = Vec::with_capacity(items.len());
    let mut malformed = None;
    for (field, item) in items {
        match drf_pk(&item) {
            Ok(id) => read.push((field, item, id)),
            Err(why) => {
                malformed = Some((field, why));
                break;
            }
        }
    }
    let mut ids: Vec<Uuid> = read.iter().filter_map(|(_, _, id)| *id).collect();
    ids.sort_unstable();
    ids.dedup();
    let missing = to.missing(db, &ids).await?;
    let absent = read
        .iter()
        .find(|(_, _, id)| id.is_none_or(|id| missing.contains(&id)));
    if let Some((field, item, _)) = absent {
        v.invalid_pk(field.clone(), &python::str_of(item));
        return Ok(None);
    }
    if let Some((field, (code, message))) = malformed {
        v.add(field, code, message);
        return Ok(None);
    }
    Ok(Some(read.into_iter().filter_map(|(_, _, id)| id).collect()))
}
