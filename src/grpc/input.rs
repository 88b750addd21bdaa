//! Requests to operation inputs: a `PlexSource` body to a draft, the update
//! mask, and list arguments. Each message is destructured in full (no `..`),
//! so a new proto field fails to compile until it is read here.

use super::convert::Choice;
use crate::{
    domain::{
        Field, GroupMatchingMode, PlexSourceDraft, PolicyEngineMode, UserMatchingMode, Violations,
        attributes,
    },
    ops::{ListParams, SourceUpdate},
    proto as pb,
};

/// Most paths an update mask takes (each writable field once, with room
/// for repeats); more is refused before any path is read.
pub const MAX_MASK_PATHS: usize = 64;

/// Whether a mask path names a field a client may write.
fn writable(path: &str) -> bool {
    attributes::writable().any(|a| a.name == path)
}

/// Whether a mask path names a field the API computes or protects: naming
/// it in a mask is an error, sending it in a body is ignored (as authentik
/// does).
fn read_only(path: &str) -> bool {
    attributes::attribute_named(path).is_some_and(|a| !writable(a.name))
}

/// A create body, or the populated fields of a maskless update: fields at
/// their zero value (unset, for `optional` ones) were not given.
pub fn draft(source: pb::PlexSource) -> PlexSourceDraft {
    draft_as(source, Presence::Create)
}

/// What an update mask asks for (AIP-134).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateMask {
    /// No mask, or one without paths: the implied mask of every populated
    /// field (see [`draft`]); the others keep their stored values.
    Implied,
    /// `*`: full replacement; fields not populated take the defaults.
    Full,
    /// Exactly these writable fields, zero values included.
    Paths(Vec<String>),
}

/// An update (AIP-134). Without a mask, the populated fields are written
/// and the rest stay as stored; with `*`, the source is replaced and fields
/// not populated take authentik's defaults; other masks write exactly the
/// listed fields, zero values included.
///
/// A field is populated when it has a value on the wire: a field with
/// explicit presence (`optional`: `enabled`, `allow_friends`, the flows)
/// when it is set, even to `false` or `""`; any other field when it is not
/// its zero value (an empty string or list, an `_UNSPECIFIED` enum).
pub fn source_update(
    source: pb::PlexSource,
    mask: Option<&prost_types::FieldMask>,
) -> Result<SourceUpdate, Violations> {
    Ok(match mask_paths(mask)? {
        UpdateMask::Implied => SourceUpdate::Patch(draft(source)),
        UpdateMask::Full => SourceUpdate::Replace(draft(source)),
        UpdateMask::Paths(paths) => SourceUpdate::Patch(
            draft_as(source, Presence::Patch).retain(|name| paths.iter().any(|p| p == name)),
        ),
    })
}

/// How a zero value on the wire is read: proto3 cannot tell "not sent"
/// from "sent empty" for fields without explicit presence, so a create or
/// a maskless update takes it as not given (the default, or the stored
/// value, applies) and a masked patch, whose mask says what was sent, as
/// the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Presence {
    Create,
    Patch,
}

impl Presence {
    fn absent<T>(self) -> Field<T> {
        match self {
            Presence::Create => Field::Missing,
            Presence::Patch => Field::Null,
        }
    }

    fn text(self, value: String) -> Field<String> {
        if value.is_empty() && self == Presence::Create {
            Field::Missing
        } else {
            Field::Set(value)
        }
    }

    fn list(self, items: Vec<String>) -> Field<Vec<String>> {
        if items.is_empty() && self == Presence::Create {
            Field::Missing
        } else {
            Field::Set(items)
        }
    }

    fn flag(self, value: Option<bool>) -> Field<bool> {
        value.map_or_else(|| self.absent(), Field::Set)
    }

    /// A flow id: an empty string clears it; unset is "not given" on
    /// create and clears it in a patch.
    fn flow(self, value: Option<String>) -> Field<String> {
        match value {
            Some(id) if id.is_empty() => Field::Null,
            Some(id) => Field::Set(id),
            None => self.absent(),
        }
    }

    /// A wire enum as authentik's value; `UNSPECIFIED` is absent, and a
    /// number no variant has is passed on as text so validation names it.
    fn choice<D>(self, raw: i32) -> Field<String>
    where
        D: Choice + std::fmt::Display,
        D::Proto: TryFrom<i32>,
    {
        match choice_text::<D>(raw) {
            Some(text) => Field::Set(text),
            None => self.absent(),
        }
    }
}

/// A wire enum as authentik's value: `None` for `UNSPECIFIED`, and a
/// number no variant has as its digits, so validation names it.
fn choice_text<D>(raw: i32) -> Option<String>
where
    D: Choice + std::fmt::Display,
    D::Proto: TryFrom<i32>,
{
    match D::Proto::try_from(raw) {
        Ok(wire) => D::from_proto(wire).map(|d| d.to_string()),
        Err(_) => Some(raw.to_string()),
    }
}

/// The draft a message writes. A field the draft gains is named here (the
/// draft is built whole); the message's read-only fields are not read.
fn draft_as(s: pb::PlexSource, presence: Presence) -> PlexSourceDraft {
    let p = presence;
    PlexSourceDraft {
        name: p.text(s.name),
        slug: p.text(s.slug),
        enabled: p.flag(s.enabled),
        authentication_flow: p.flow(s.authentication_flow),
        enrollment_flow: p.flow(s.enrollment_flow),
        user_property_mappings: p.list(s.user_property_mappings),
        group_property_mappings: p.list(s.group_property_mappings),
        policy_engine_mode: p.choice::<PolicyEngineMode>(s.policy_engine_mode),
        user_matching_mode: p.choice::<UserMatchingMode>(s.user_matching_mode),
        user_path_template: p.text(s.user_path_template),
        icon: Field::Missing,
        group_matching_mode: p.choice::<GroupMatchingMode>(s.group_matching_mode),
        client_id: p.text(s.client_id),
        allowed_servers: p.list(s.allowed_servers),
        allow_friends: p.flag(s.allow_friends),
        plex_token: p.text(s.plex_token),
    }
}

/// The update-mask reader: the implied mask, a full replacement, or the
/// paths of a patch. Every path must be a writable field.
pub fn mask_paths(mask: Option<&prost_types::FieldMask>) -> Result<UpdateMask, Violations> {
    let paths: &[String] = mask.map_or(&[], |m| &m.paths);
    if paths.len() > MAX_MASK_PATHS {
        return Err(Violations::single(
            "update_mask",
            "max_length",
            format!("Ensure this field has no more than {MAX_MASK_PATHS} paths."),
        ));
    }
    if paths.is_empty() {
        return Ok(UpdateMask::Implied);
    }
    if paths == ["*"] {
        return Ok(UpdateMask::Full);
    }
    let mut v = Violations::new();
    let mut fields: Vec<String> = Vec::new();
    for path in paths {
        let path = path.as_str();
        if writable(path) {
            if !fields.iter().any(|f| f == path) {
                fields.push(path.to_owned());
            }
        } else if read_only(path) {
            v.add(
                "update_mask",
                "read_only",
                format!("Field \"{path}\" is read-only."),
            );
        } else if path == "*" {
            v.add(
                "update_mask",
                "invalid",
                "\"*\" cannot be combined with other paths.",
            );
        } else {
            v.add(
                "update_mask",
                "invalid",
                format!("Unknown field \"{path}\"."),
            );
        }
    }
    v.into_result(UpdateMask::Paths(fields))
}

/// List arguments as text, as authentik's query parameters carry them.
pub fn list_params(request: pb::ListPlexSourcesRequest) -> ListParams {
    let pb::ListPlexSourcesRequest {
        page_size,
        page_token,
        name,
        slug,
        enabled,
        authentication_flow,
        enrollment_flow,
        policy_engine_mode,
        user_matching_mode,
        client_id,
        allow_friends,
        group_matching_mode,
        search,
        ordering,
    } = request;
    ListParams {
        // authentik's REST filter; the gRPC request has no such field.
        pbm_uuid: None,
        name,
        slug,
        enabled,
        authentication_flow,
        enrollment_flow,
        policy_engine_mode: policy_engine_mode.map(filter_choice::<PolicyEngineMode>),
        user_matching_mode: user_matching_mode.map(filter_choice::<UserMatchingMode>),
        client_id,
        allow_friends,
        group_matching_mode: group_matching_mode.map(filter_choice::<GroupMatchingMode>),
        search,
        ordering,
        page_size,
        page_token,
        page: None,
    }
}

/// A choice filter as authentik's value; `UNSPECIFIED` and unknown numbers
/// as their number, which the operation refuses by name.
fn filter_choice<D>(raw: i32) -> String
where
    D: Choice + std::fmt::Display,
    D::Proto: TryFrom<i32>,
{
    choice_text::<D>(raw).unwrap_or_else(|| raw.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask(paths: &[&str]) -> prost_types::FieldMask {
        prost_types::FieldMask {
            paths: paths.iter().map(|p| (*p).to_owned()).collect(),
        }
    }

    #[test]
    fn masks_name_read_only_and_unknown_paths() {
        assert_eq!(mask_paths(None).unwrap(), UpdateMask::Implied);
        assert_eq!(mask_paths(Some(&mask(&[]))).unwrap(), UpdateMask::Implied);
        assert_eq!(mask_paths(Some(&mask(&["*"]))).unwrap(), UpdateMask::Full);
        assert_eq!(
            mask_paths(Some(&mask(&["name", "allow_friends", "name"]))).unwrap(),
            UpdateMask::Paths(vec!["name".to_owned(), "allow_friends".to_owned()])
        );
        let v = mask_paths(Some(&mask(&["pk", "colour", "icon"]))).unwrap_err();
        let messages: Vec<_> = v.iter().map(|x| x.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "Field \"pk\" is read-only.",
                "Unknown field \"colour\".",
                "Field \"icon\" is read-only."
            ]
        );
    }

    #[test]
    fn every_writable_field_can_be_patched() {
        let writable: Vec<&str> = PlexSourceDraft::FIELDS
            .iter()
            .copied()
            .filter(|f| writable(f))
            .collect();
        let declared: Vec<&str> = attributes::writable().map(|a| a.name).collect();
        assert_eq!(writable, declared);
        for field in writable {
            assert!(mask_paths(Some(&mask(&[field]))).is_ok(), "{field}");
        }
    }

    #[test]
    fn unknown_enum_numbers_reach_validation_as_text() {
        let source = pb::PlexSource {
            policy_engine_mode: 42,
            ..Default::default()
        };
        assert_eq!(draft(source).policy_engine_mode, Field::Set("42".into()));
        let source = pb::PlexSource {
            policy_engine_mode: 1,
            ..Default::default()
        };
        assert_eq!(draft(source).policy_engine_mode, Field::Set("all".into()));
        assert_eq!(filter_choice::<PolicyEngineMode>(0), "0");
        assert_eq!(filter_choice::<UserMatchingMode>(2), "email_link");
    }

    #[test]
    fn patches_write_zero_values_creates_do_not() {
        let create = draft(pb::PlexSource::default());
        assert_eq!(create.name, Field::Missing);
        assert_eq!(create.enabled, Field::Missing);
        assert_eq!(create.policy_engine_mode, Field::Missing);
        let Ok(SourceUpdate::Patch(patch)) = source_update(
            pb::PlexSource::default(),
            Some(&mask(&[
                "name",
                "enabled",
                "allowed_servers",
                "user_matching_mode",
            ])),
        ) else {
            panic!("a mask patches");
        };
        assert_eq!(patch.name, Field::Set(String::new()));
        assert_eq!(patch.enabled, Field::Null);
        assert_eq!(patch.allowed_servers, Field::Set(vec![]));
        assert_eq!(patch.user_matching_mode, Field::Null);
        assert_eq!(patch.slug, Field::Missing);
    }

    #[test]
    fn without_a_mask_only_populated_fields_are_written() {
        let body = pb::PlexSource {
            name: "  ".into(),
            enabled: Some(false),
            authentication_flow: Some(String::new()),
            enrollment_flow: None,
            allow_friends: None,
            allowed_servers: vec![],
            user_matching_mode: pb::UserMatchingMode::EmailLink as i32,
            ..Default::default()
        };
        let Ok(SourceUpdate::Patch(patch)) = source_update(body.clone(), None) else {
            panic!("no mask patches the populated fields");
        };
        // Present but blank is written (and refused by the rules).
        assert_eq!(patch.name, Field::Set("  ".into()));
        // Explicit presence: `false` and "" are values.
        assert_eq!(patch.enabled, Field::Set(false));
        assert_eq!(patch.authentication_flow, Field::Null);
        assert_eq!(patch.user_matching_mode, Field::Set("email_link".into()));
        // Unset or zero: kept as stored.
        for missing in [&patch.slug, &patch.plex_token, &patch.enrollment_flow] {
            assert_eq!(*missing, Field::Missing);
        }
        assert_eq!(patch.allow_friends, Field::Missing);
        assert_eq!(patch.allowed_servers, Field::Missing);
        assert_eq!(patch.policy_engine_mode, Field::Missing);
        // An empty mask is no mask; `*` replaces.
        assert!(matches!(
            source_update(body.clone(), Some(&mask(&[]))),
            Ok(SourceUpdate::Patch(_))
        ));
        assert!(matches!(
            source_update(body, Some(&mask(&["*"]))),
            Ok(SourceUpdate::Replace(_))
        ));
    }
}
