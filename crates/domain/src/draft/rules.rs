//! The rule of each kind of attribute: what a given, null or missing value
//! becomes, and the violation it reports.

use std::collections::HashSet;

use uuid::Uuid;

use super::{Field, MAX_ALLOWED_SERVERS, MAX_PROPERTY_MAPPINGS};
use crate::{
    Slug, Violations, modes::InvalidChoice, plex_source::ICON_MAX_LEN, violations::messages,
};

pub(super) fn parse_uuid(raw: &str) -> Option<Uuid> {
    Uuid::parse_str(raw.trim()).ok()
}

/// A text field as Django REST framework's `CharField` takes it: surrounding
/// whitespace trimmed, blank refused.
pub(super) fn non_blank(v: &mut Violations, field: &str, value: String) -> Option<String> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        v.blank(field);
        None
    } else {
        Some(trimmed.to_owned())
    }
}

/// The rule of an attribute that may not be null: `given` reads the value
/// a request sets, `absent` stands in for one it leaves out.
fn not_null<T, U>(
    v: &mut Violations,
    field: &str,
    value: Field<T>,
    given: impl FnOnce(&mut Violations, T) -> Option<U>,
    absent: impl FnOnce(&mut Violations) -> Option<U>,
) -> Option<U> {
    match value {
        Field::Set(value) => given(v, value),
        Field::Null => {
            v.null(field);
            None
        }
        Field::Missing => absent(v),
    }
}

/// Whether a list is longer than its rule allows (reported if so).
fn too_many<T>(v: &mut Violations, field: &str, items: &[T], max: usize) -> bool {
    let over = items.len() > max;
    if over {
        v.add(field, "max_length", messages::max_items(max));
    }
    over
}

/// A text attribute every source has: trimmed, not blank, not null;
/// missing keeps `base` (an update) or is required (a create).
pub fn required_text(
    v: &mut Violations,
    field: &str,
    value: Field<String>,
    base: Option<&str>,
) -> Option<String> {
    not_null(
        v,
        field,
        value,
        |v, s| non_blank(v, field, s),
        |v| {
            if base.is_none() {
                v.required(field);
            }
            base.map(str::to_owned)
        },
    )
}

pub(super) fn defaulted_text(
    v: &mut Violations,
    field: &str,
    value: Field<String>,
    base: Option<&String>,
    default: impl FnOnce() -> String,
) -> Option<String> {
    not_null(
        v,
        field,
        value,
        |v, s| non_blank(v, field, s),
        |_| Some(base.cloned().unwrap_or_else(default)),
    )
}

pub(super) fn slug(v: &mut Violations, value: Field<String>, base: Option<&Slug>) -> Option<Slug> {
    let text = required_text(v, "slug", value, base.map(Slug::as_str))?;
    match Slug::parse(&text) {
        Ok(slug) => Some(slug),
        Err(err) => {
            err.report(v, "slug");
            None
        }
    }
}

/// A boolean attribute: given, null (refused), or the stored value or the
/// default.
pub fn flag(
    v: &mut Violations,
    field: &str,
    value: Field<bool>,
    base: Option<bool>,
    default: bool,
) -> Option<bool> {
    not_null(
        v,
        field,
        value,
        |_, b| Some(b),
        |_| Some(base.unwrap_or(default)),
    )
}

pub(super) fn flow(
    v: &mut Violations,
    field: &str,
    value: Field<String>,
    base: Option<Option<Uuid>>,
) -> Option<Option<Uuid>> {
    match value {
        Field::Set(raw) => match parse_uuid(&raw) {
            Some(id) => Some(Some(id)),
            None => {
                v.invalid_pk(field, &raw);
                None
            }
        },
        Field::Null => Some(None),
        Field::Missing => Some(base.flatten()),
    }
}

pub(super) fn mappings(
    v: &mut Violations,
    field: &str,
    value: Field<Vec<String>>,
    base: Option<&Vec<Uuid>>,
) -> Option<Vec<Uuid>> {
    let given = |v: &mut Violations, items: Vec<String>| {
        if too_many(v, field, &items, MAX_PROPERTY_MAPPINGS) {
            return None;
        }
        let mut ok = true;
        let mut seen = HashSet::with_capacity(items.len());
        let mut ids = Vec::with_capacity(items.len());
        for (i, raw) in items.iter().enumerate() {
            match parse_uuid(raw) {
                Some(id) => {
                    if seen.insert(id) {
                        ids.push(id);
                    }
                }
                None => {
                    v.invalid_pk(format!("{field}[{i}]"), raw);
                    ok = false;
                }
            }
        }
        ok.then_some(ids)
    };
    not_null(v, field, value, given, |_| {
        Some(base.cloned().unwrap_or_default())
    })
}

pub(super) fn choice<T: std::str::FromStr<Err = InvalidChoice> + Default + Copy>(
    v: &mut Violations,
    field: &str,
    value: Field<String>,
    base: Option<T>,
) -> Option<T> {
    let given = |v: &mut Violations, raw: String| match raw.parse::<T>() {
        Ok(mode) => Some(mode),
        Err(err) => {
            v.add(field, "invalid_choice", err.to_string());
            None
        }
    };
    not_null(v, field, value, given, |_| Some(base.unwrap_or_default()))
}

pub(super) fn icon(
    v: &mut Violations,
    value: Field<String>,
    base: Option<&Option<String>>,
) -> Option<Option<String>> {
    match value {
        Field::Set(url) if url.chars().count() > ICON_MAX_LEN => {
            v.add("icon", "max_length", messages::max_length(ICON_MAX_LEN));
            None
        }
        Field::Set(url) if url.trim().is_empty() => Some(None),
        Field::Set(url) => Some(Some(url.trim().to_owned())),
        Field::Null => Some(None),
        Field::Missing => Some(base.cloned().flatten()),
    }
}

pub(super) fn servers(
    v: &mut Violations,
    value: Field<Vec<String>>,
    base: Option<&Vec<String>>,
) -> Option<Vec<String>> {
    let given = |v: &mut Violations, items: Vec<String>| {
        if too_many(v, "allowed_servers", &items, MAX_ALLOWED_SERVERS) {
            return None;
        }
        crate::drf::items(v, "allowed_servers", items, non_blank)
    };
    not_null(v, "allowed_servers", value, given, |_| {
        Some(base.cloned().unwrap_or_default())
    })
}
