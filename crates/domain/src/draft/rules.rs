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

pub(super) fn required_text(
    v: &mut Violations,
    field: &str,
    value: Field<String>,
    base: Option<&String>,
) -> Option<String> {
    match (value, base) {
        (Field::Set(s), _) => non_blank(v, field, s),
        (Field::Null, _) => {
            v.null(field);
            None
        }
        (Field::Missing, Some(b)) => Some(b.clone()),
        (Field::Missing, None) => {
            v.required(field);
            None
        }
    }
}

pub(super) fn defaulted_text(
    v: &mut Violations,
    field: &str,
    value: Field<String>,
    base: Option<&String>,
    default: impl FnOnce() -> String,
) -> Option<String> {
    match (value, base) {
        (Field::Set(s), _) => non_blank(v, field, s),
        (Field::Null, _) => {
            v.null(field);
            None
        }
        (Field::Missing, Some(b)) => Some(b.clone()),
        (Field::Missing, None) => Some(default()),
    }
}

pub(super) fn slug(v: &mut Violations, value: Field<String>, base: Option<&Slug>) -> Option<Slug> {
    let text = required_text(
        v,
        "slug",
        value,
        base.map(|s| s.as_str().to_owned()).as_ref(),
    )?;
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
    match value {
        Field::Set(b) => Some(b),
        Field::Null => {
            v.null(field);
            None
        }
        Field::Missing => Some(base.unwrap_or(default)),
    }
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
    match value {
        Field::Set(items) if items.len() > MAX_PROPERTY_MAPPINGS => {
            v.add(
                field,
                "max_length",
                messages::max_items(MAX_PROPERTY_MAPPINGS),
            );
            None
        }
        Field::Set(items) => {
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
        }
        Field::Null => {
            v.null(field);
            None
        }
        Field::Missing => Some(base.cloned().unwrap_or_default()),
    }
}

pub(super) fn choice<T: std::str::FromStr<Err = InvalidChoice> + Default + Copy>(
    v: &mut Violations,
    field: &str,
    value: Field<String>,
    base: Option<T>,
) -> Option<T> {
    match value {
        Field::Set(raw) => match raw.parse() {
            Ok(mode) => Some(mode),
            Err(err) => {
                v.add(field, "invalid_choice", err.to_string());
                None
            }
        },
        Field::Null => {
            v.null(field);
            None
        }
        Field::Missing => Some(base.unwrap_or_default()),
    }
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
    match value {
        Field::Set(items) if items.len() > MAX_ALLOWED_SERVERS => {
            v.add(
                "allowed_servers",
                "max_length",
                messages::max_items(MAX_ALLOWED_SERVERS),
            );
            None
        }
        Field::Set(items) => {
            let mut ok = true;
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                match non_blank(v, &format!("allowed_servers[{i}]"), item) {
                    Some(s) => out.push(s),
                    None => ok = false,
                }
            }
            ok.then_some(out)
        }
        Field::Null => {
            v.null("allowed_servers");
            None
        }
        Field::Missing => Some(base.cloned().unwrap_or_default()),
    }
}
