//! Requests to domain values: the writable fields of a `PlexSource` sent for
//! create or update, the update mask, and list filters.

use uuid::Uuid;

use crate::{
    domain::{Field, PlexSourceDraft, PlexSourceFields, Violations, listing},
    proto as pb,
    store::SourceFilter,
};

/// Fields a client may write through the API, in wire order.
pub const WRITABLE: [&str; 15] = [
    "name",
    "slug",
    "enabled",
    "authentication_flow",
    "enrollment_flow",
    "user_property_mappings",
    "group_property_mappings",
    "policy_engine_mode",
    "user_matching_mode",
    "user_path_template",
    "group_matching_mode",
    "client_id",
    "allowed_servers",
    "allow_friends",
    "plex_token",
];

/// Fields the API computes or protects; naming them in a mask is an error,
/// sending them in a body is ignored (as authentik does).
const READ_ONLY: [&str; 7] = [
    "pk",
    "component",
    "verbose_name",
    "verbose_name_plural",
    "meta_model_name",
    "managed",
    "icon",
];

/// Most paths an update mask takes (each writable field once, with room
/// for repeats); more is refused before any path is read.
pub const MAX_MASK_PATHS: usize = 64;

/// How an update applies its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateMode {
    /// PUT: every writable field; zero values take the defaults.
    Replace,
    /// PATCH: exactly these fields, zero values included.
    Patch(Vec<String>),
}

/// Reads the update mask: absent, empty or `*` replaces; otherwise every
/// path must be a writable field.
pub fn update_mode(mask: Option<&prost_types::FieldMask>) -> Result<UpdateMode, Violations> {
    let paths: Vec<&str> = mask
        .map(|m| m.paths.iter().map(String::as_str).collect())
        .unwrap_or_default();
    if paths.len() > MAX_MASK_PATHS {
        return Err(Violations::single(
            "update_mask",
            "max_length",
            format!("Ensure this field has no more than {MAX_MASK_PATHS} paths."),
        ));
    }
    if paths.is_empty() || paths == ["*"] {
        return Ok(UpdateMode::Replace);
    }
    let mut v = Violations::new();
    let mut fields = Vec::new();
    for path in paths {
        if WRITABLE.contains(&path) {
            if !fields.iter().any(|f| f == path) {
                fields.push(path.to_owned());
            }
        } else if READ_ONLY.contains(&path) {
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
    v.into_result(UpdateMode::Patch(fields))
}

/// A create (or replace) body: fields at their zero value were not given.
pub fn draft_for_create(source: &pb::PlexSource) -> PlexSourceDraft {
    let text = |s: &str| {
        if s.is_empty() {
            Field::Missing
        } else {
            Field::Set(s.to_owned())
        }
    };
    let list = |l: &[String]| {
        if l.is_empty() {
            Field::Missing
        } else {
            Field::Set(l.to_vec())
        }
    };
    let flag = |b: Option<bool>| b.map_or(Field::Missing, Field::Set);
    PlexSourceDraft {
        name: text(&source.name),
        slug: text(&source.slug),
        enabled: flag(source.enabled),
        authentication_flow: flow(source.authentication_flow.as_deref()),
        enrollment_flow: flow(source.enrollment_flow.as_deref()),
        user_property_mappings: list(&source.user_property_mappings),
        group_property_mappings: list(&source.group_property_mappings),
        policy_engine_mode: policy_engine_mode(source.policy_engine_mode)
            .map_or(Field::Missing, Field::Set),
        user_matching_mode: user_matching_mode(source.user_matching_mode)
            .map_or(Field::Missing, Field::Set),
        user_path_template: text(&source.user_path_template),
        icon: Field::Missing,
        group_matching_mode: group_matching_mode(source.group_matching_mode)
            .map_or(Field::Missing, Field::Set),
        client_id: text(&source.client_id),
        allowed_servers: list(&source.allowed_servers),
        allow_friends: flag(source.allow_friends),
        plex_token: text(&source.plex_token),
    }
}

/// A PUT body over a stored source: as a create, but the stored client_id
/// (the identity plex.tv knows) and icon stay unless given.
pub fn draft_for_replace(source: &pb::PlexSource, stored: &PlexSourceFields) -> PlexSourceDraft {
    let mut draft = draft_for_create(source);
    if draft.client_id == Field::Missing {
        draft.client_id = Field::Set(stored.client_id.clone());
    }
    draft.icon = stored.icon.clone().map_or(Field::Null, Field::Set);
    draft
}

/// A PATCH body: each listed field is written as sent, zero values
/// included (an empty name is blank, an unset flow clears it).
pub fn draft_for_patch(source: &pb::PlexSource, paths: &[String]) -> PlexSourceDraft {
    let mut d = PlexSourceDraft::default();
    let flag = |b: Option<bool>| b.map_or(Field::Null, Field::Set);
    let choice = |c: Option<String>| c.map_or(Field::Null, Field::Set);
    for path in paths {
        match path.as_str() {
            "name" => d.name = Field::Set(source.name.clone()),
            "slug" => d.slug = Field::Set(source.slug.clone()),
            "enabled" => d.enabled = flag(source.enabled),
            "authentication_flow" => {
                d.authentication_flow = patch_flow(source.authentication_flow.as_deref())
            }
            "enrollment_flow" => d.enrollment_flow = patch_flow(source.enrollment_flow.as_deref()),
            "user_property_mappings" => {
                d.user_property_mappings = Field::Set(source.user_property_mappings.clone())
            }
            "group_property_mappings" => {
                d.group_property_mappings = Field::Set(source.group_property_mappings.clone())
            }
            "policy_engine_mode" => {
                d.policy_engine_mode = choice(policy_engine_mode(source.policy_engine_mode))
            }
            "user_matching_mode" => {
                d.user_matching_mode = choice(user_matching_mode(source.user_matching_mode))
            }
            "user_path_template" => {
                d.user_path_template = Field::Set(source.user_path_template.clone())
            }
            "group_matching_mode" => {
                d.group_matching_mode = choice(group_matching_mode(source.group_matching_mode))
            }
            "client_id" => d.client_id = Field::Set(source.client_id.clone()),
            "allowed_servers" => d.allowed_servers = Field::Set(source.allowed_servers.clone()),
            "allow_friends" => d.allow_friends = flag(source.allow_friends),
            "plex_token" => d.plex_token = Field::Set(source.plex_token.clone()),
            _ => {}
        }
    }
    d
}

/// An unset flow is "not given" on create; an empty string means null.
fn flow(value: Option<&str>) -> Field<String> {
    match value {
        None => Field::Missing,
        Some("") => Field::Null,
        Some(id) => Field::Set(id.to_owned()),
    }
}

/// In a patch, unset and empty both clear the flow.
fn patch_flow(value: Option<&str>) -> Field<String> {
    match value {
        None | Some("") => Field::Null,
        Some(id) => Field::Set(id.to_owned()),
    }
}

/// The authentik value of a wire enum: `None` for UNSPECIFIED; an unknown
/// number is passed on as text so validation names it.
fn choice_value<E: TryFrom<i32>>(
    value: i32,
    name: impl Fn(E) -> Option<&'static str>,
) -> Option<String> {
    if value == 0 {
        return None;
    }
    match E::try_from(value).ok().and_then(name) {
        Some(text) => Some(text.to_owned()),
        None => Some(value.to_string()),
    }
}

fn policy_engine_mode(value: i32) -> Option<String> {
    choice_value(value, |m: pb::PolicyEngineMode| match m {
        pb::PolicyEngineMode::Unspecified => None,
        pb::PolicyEngineMode::All => Some("all"),
        pb::PolicyEngineMode::Any => Some("any"),
    })
}

fn user_matching_mode(value: i32) -> Option<String> {
    choice_value(value, |m: pb::UserMatchingMode| match m {
        pb::UserMatchingMode::Unspecified => None,
        pb::UserMatchingMode::Identifier => Some("identifier"),
        pb::UserMatchingMode::EmailLink => Some("email_link"),
        pb::UserMatchingMode::EmailDeny => Some("email_deny"),
        pb::UserMatchingMode::UsernameLink => Some("username_link"),
        pb::UserMatchingMode::UsernameDeny => Some("username_deny"),
    })
}

fn group_matching_mode(value: i32) -> Option<String> {
    choice_value(value, |m: pb::GroupMatchingMode| match m {
        pb::GroupMatchingMode::Unspecified => None,
        pb::GroupMatchingMode::Identifier => Some("identifier"),
        pb::GroupMatchingMode::NameLink => Some("name_link"),
        pb::GroupMatchingMode::NameDeny => Some("name_deny"),
    })
}

/// The validated arguments of a list call.
#[derive(Debug, Clone)]
pub struct ListArgs {
    pub filter: SourceFilter,
    pub ordering: Vec<listing::SortKey>,
    pub page_size: u64,
    /// Binds page tokens to these arguments.
    pub fingerprint: String,
}

/// Checks every list argument, reporting all problems at once.
pub fn list_args(request: &pb::ListPlexSourcesRequest) -> Result<ListArgs, Violations> {
    let mut v = Violations::new();
    let page_size = listing::page_size(request.page_size)
        .map_err(|e| v.extend(e))
        .ok();
    let ordering = listing::parse_ordering(&request.ordering)
        .map_err(|e| v.extend(e))
        .ok();
    let search = listing::search_terms(&request.search)
        .map_err(|e| v.extend(e))
        .ok();
    let mut flow_filter = |field: &str, value: &Option<String>| -> Option<Uuid> {
        let raw = value.as_deref()?;
        match Uuid::parse_str(raw) {
            Ok(id) => Some(id),
            Err(_) => {
                v.add(field, "invalid", format!("“{raw}” is not a valid UUID."));
                None
            }
        }
    };
    let authentication_flow = flow_filter("authentication_flow", &request.authentication_flow);
    let enrollment_flow = flow_filter("enrollment_flow", &request.enrollment_flow);
    let mut choice_filter = |field: &str, value: Option<i32>, text: fn(i32) -> Option<String>| {
        let raw = value?;
        let parsed = text(raw);
        // UNSPECIFIED (None), or a number no variant has (passed on as text).
        if parsed.as_deref().is_none_or(|t| t.parse::<i64>().is_ok()) {
            v.add(
                field,
                "invalid_choice",
                format!("Select a valid choice. {raw} is not one of the available choices."),
            );
        }
        parsed
    };
    let policy = choice_filter(
        "policy_engine_mode",
        request.policy_engine_mode,
        policy_engine_mode,
    );
    let user = choice_filter(
        "user_matching_mode",
        request.user_matching_mode,
        user_matching_mode,
    );
    let group = choice_filter(
        "group_matching_mode",
        request.group_matching_mode,
        group_matching_mode,
    );
    let fingerprint = listing::fingerprint(&[
        &format!("{:?}", request.name),
        &format!("{:?}", request.slug),
        &format!("{:?}", request.enabled),
        &format!("{authentication_flow:?}"),
        &format!("{enrollment_flow:?}"),
        &format!("{policy:?}"),
        &format!("{user:?}"),
        &format!("{:?}", request.client_id),
        &format!("{:?}", request.allow_friends),
        &format!("{group:?}"),
        &search.as_deref().unwrap_or_default().join(" "),
        &format!("{ordering:?}"),
    ]);
    let (Some(page_size), Some(ordering), Some(search)) = (page_size, ordering, search) else {
        return Err(v);
    };
    let filter = SourceFilter {
        name: request.name.clone(),
        slug: request.slug.clone(),
        enabled: request.enabled,
        authentication_flow,
        enrollment_flow,
        policy_engine_mode: policy.and_then(|p| p.parse().ok()),
        user_matching_mode: user.and_then(|p| p.parse().ok()),
        client_id: request.client_id.clone(),
        allow_friends: request.allow_friends,
        group_matching_mode: group.and_then(|p| p.parse().ok()),
        search,
        visible: None,
    };
    v.into_result(ListArgs {
        filter,
        ordering,
        page_size,
        fingerprint,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_name_read_only_and_unknown_paths() {
        assert_eq!(update_mode(None).unwrap(), UpdateMode::Replace);
        let star = prost_types::FieldMask {
            paths: vec!["*".into()],
        };
        assert_eq!(update_mode(Some(&star)).unwrap(), UpdateMode::Replace);
        let ok = prost_types::FieldMask {
            paths: vec!["name".into(), "allow_friends".into()],
        };
        assert_eq!(
            update_mode(Some(&ok)).unwrap(),
            UpdateMode::Patch(vec!["name".into(), "allow_friends".into()])
        );
        let bad = prost_types::FieldMask {
            paths: vec!["pk".into(), "colour".into()],
        };
        let v = update_mode(Some(&bad)).unwrap_err();
        let messages: Vec<_> = v.iter().map(|x| x.message.as_str()).collect();
        assert_eq!(
            messages,
            ["Field \"pk\" is read-only.", "Unknown field \"colour\"."]
        );
    }

    #[test]
    fn unknown_enum_numbers_reach_validation_as_text() {
        let source = pb::PlexSource {
            policy_engine_mode: 42,
            ..Default::default()
        };
        assert_eq!(
            draft_for_create(&source).policy_engine_mode,
            Field::Set("42".into())
        );
        let source = pb::PlexSource {
            policy_engine_mode: 1,
            ..Default::default()
        };
        assert_eq!(
            draft_for_create(&source).policy_engine_mode,
            Field::Set("all".into())
        );
    }

    #[test]
    fn patches_write_zero_values_creates_do_not() {
        let source = pb::PlexSource::default();
        let create = draft_for_create(&source);
        assert_eq!(create.name, Field::Missing);
        assert_eq!(create.enabled, Field::Missing);
        let patch = draft_for_patch(
            &source,
            &["name".into(), "enabled".into(), "allowed_servers".into()],
        );
        assert_eq!(patch.name, Field::Set(String::new()));
        assert_eq!(patch.enabled, Field::Null);
        assert_eq!(patch.allowed_servers, Field::Set(vec![]));
        assert_eq!(patch.slug, Field::Missing);
    }

    #[test]
    fn list_arguments_report_every_problem() {
        let request = pb::ListPlexSourcesRequest {
            page_size: -1,
            ordering: "nope".into(),
            authentication_flow: Some("x".into()),
            policy_engine_mode: Some(9),
            ..Default::default()
        };
        let v = list_args(&request).unwrap_err();
        let fields: Vec<_> = v.iter().map(|x| x.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "page_size",
                "ordering",
                "authentication_flow",
                "policy_engine_mode"
            ]
        );
    }
}
