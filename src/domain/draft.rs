//! Unvalidated writes to a Plex source and the rules that turn them into
//! [`PlexSourceFields`]. Blueprint import (and any write API) goes through
//! here, so every path applies the same rules and defaults.

use std::collections::HashSet;

use uuid::Uuid;

use super::{
    PlexSourceFields, PlexToken, Slug, Violations,
    plex_source::{DEFAULT_USER_PATH_TEMPLATE, ICON_MAX_LEN, generate_client_id},
    violations::messages,
};

/// Most Plex server identifiers a source takes: far above any real
/// deployment, low enough that one write cannot store an unbounded list.
pub const MAX_ALLOWED_SERVERS: usize = 1000;
/// Most property mappings of one kind (user or group) a source takes.
pub const MAX_PROPERTY_MAPPINGS: usize = 1000;

/// One attribute of a write: left out, explicitly null, or given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Field<T> {
    #[default]
    Missing,
    Null,
    Set(T),
}

/// Declares the draft once; the list of attribute names and [`retain`]
/// come from the same declaration, so they cannot drift apart.
///
/// [`retain`]: PlexSourceDraft::retain
macro_rules! draft {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$fmeta:meta])* $field:ident: $ty:ty,)+ }) => {
        $(#[$meta])*
        pub struct $name {
            $($(#[$fmeta])* pub $field: Field<$ty>,)+
        }

        impl $name {
            /// Every attribute's name, in authentik's field order.
            pub const FIELDS: &'static [&'static str] = &[$(stringify!($field)),+];

            /// This draft with only the attributes `keep` names; the others
            /// become [`Field::Missing`] (a partial update).
            pub fn retain(self, keep: impl Fn(&str) -> bool) -> Self {
                Self {
                    $($field: if keep(stringify!($field)) { self.$field } else { Field::Missing },)+
                }
            }
        }
    };
}

draft! {
    /// The writable attributes of a Plex source as a client sent them, typed
    /// but not yet checked against any rule.
    #[derive(Debug, Clone, Default)]
    pub struct PlexSourceDraft {
        name: String,
        slug: String,
        enabled: bool,
        authentication_flow: String,
        enrollment_flow: String,
        user_property_mappings: Vec<String>,
        group_property_mappings: Vec<String>,
        policy_engine_mode: String,
        user_matching_mode: String,
        user_path_template: String,
        /// Writable through blueprints only; the API computes it for display.
        icon: String,
        group_matching_mode: String,
        client_id: String,
        allowed_servers: Vec<String>,
        allow_friends: bool,
        plex_token: String,
    }
}

/// A flow or property mapping a draft points at, with the field path that
/// names it in errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub field: String,
    pub raw: String,
    pub id: Uuid,
}

impl PlexSourceDraft {
    /// Flows the draft references, for an existence check by the store.
    pub fn flow_references(&self) -> Vec<Reference> {
        [
            ("authentication_flow", &self.authentication_flow),
            ("enrollment_flow", &self.enrollment_flow),
        ]
        .into_iter()
        .filter_map(|(field, value)| match value {
            Field::Set(raw) => parse_uuid(raw).map(|id| Reference {
                field: field.to_owned(),
                raw: raw.clone(),
                id,
            }),
            _ => None,
        })
        .collect()
    }

    /// Property mappings the draft references, for an existence check.
    pub fn mapping_references(&self) -> Vec<Reference> {
        let mut refs = Vec::new();
        for (field, value) in [
            ("user_property_mappings", &self.user_property_mappings),
            ("group_property_mappings", &self.group_property_mappings),
        ] {
            if let Field::Set(items) = value
                && items.len() <= MAX_PROPERTY_MAPPINGS
            {
                for (i, raw) in items.iter().enumerate() {
                    if let Some(id) = parse_uuid(raw) {
                        refs.push(Reference {
                            field: format!("{field}[{i}]"),
                            raw: raw.clone(),
                            id,
                        });
                    }
                }
            }
        }
        refs
    }

    /// A full replacement (PUT) of `stored`: as a create, except that the
    /// stored `client_id` (the identity plex.tv knows) stays unless given,
    /// and the icon, which the API cannot write, stays as it is.
    pub fn replacing(mut self, stored: &PlexSourceFields) -> Self {
        if self.client_id == Field::Missing {
            self.client_id = Field::Set(stored.client_id.clone());
        }
        self.icon = stored.icon.clone().map_or(Field::Null, Field::Set);
        self
    }

    /// Whether a list field holds more items than its rule allows; such a
    /// draft is refused before any of its references is looked up.
    pub fn exceeds_limits(&self) -> bool {
        let over = |value: &Field<Vec<String>>, max: usize| matches!(value, Field::Set(items) if items.len() > max);
        over(&self.user_property_mappings, MAX_PROPERTY_MAPPINGS)
            || over(&self.group_property_mappings, MAX_PROPERTY_MAPPINGS)
            || over(&self.allowed_servers, MAX_ALLOWED_SERVERS)
    }

    /// Applies the rules and fills what is missing from `base` (the stored
    /// source, for an update) or from authentik's defaults (a create).
    /// Every broken rule is reported, not only the first.
    pub fn finish(self, base: Option<&PlexSourceFields>) -> Result<PlexSourceFields, Violations> {
        let mut v = Violations::new();
        let name = required_text(&mut v, "name", self.name, base.map(|b| &b.name));
        let slug = slug(&mut v, self.slug, base.map(|b| &b.slug));
        let enabled = flag(
            &mut v,
            "enabled",
            self.enabled,
            base.map(|b| b.enabled),
            true,
        );
        let authentication_flow = flow(
            &mut v,
            "authentication_flow",
            self.authentication_flow,
            base.map(|b| b.authentication_flow),
        );
        let enrollment_flow = flow(
            &mut v,
            "enrollment_flow",
            self.enrollment_flow,
            base.map(|b| b.enrollment_flow),
        );
        let user_property_mappings = mappings(
            &mut v,
            "user_property_mappings",
            self.user_property_mappings,
            base.map(|b| &b.user_property_mappings),
        );
        let group_property_mappings = mappings(
            &mut v,
            "group_property_mappings",
            self.group_property_mappings,
            base.map(|b| &b.group_property_mappings),
        );
        let policy_engine_mode = choice(
            &mut v,
            "policy_engine_mode",
            self.policy_engine_mode,
            base.map(|b| b.policy_engine_mode),
        );
        let user_matching_mode = choice(
            &mut v,
            "user_matching_mode",
            self.user_matching_mode,
            base.map(|b| b.user_matching_mode),
        );
        let user_path_template = defaulted_text(
            &mut v,
            "user_path_template",
            self.user_path_template,
            base.map(|b| &b.user_path_template),
            || DEFAULT_USER_PATH_TEMPLATE.to_owned(),
        );
        let icon = icon(&mut v, self.icon, base.map(|b| &b.icon));
        let group_matching_mode = choice(
            &mut v,
            "group_matching_mode",
            self.group_matching_mode,
            base.map(|b| b.group_matching_mode),
        );
        let client_id = defaulted_text(
            &mut v,
            "client_id",
            self.client_id,
            base.map(|b| &b.client_id),
            generate_client_id,
        );
        let allowed_servers = servers(
            &mut v,
            self.allowed_servers,
            base.map(|b| &b.allowed_servers),
        );
        let allow_friends = flag(
            &mut v,
            "allow_friends",
            self.allow_friends,
            base.map(|b| b.allow_friends),
            true,
        );
        let plex_token = required_text(
            &mut v,
            "plex_token",
            self.plex_token,
            base.map(|b| b.plex_token.expose())
                .map(str::to_owned)
                .as_ref(),
        )
        .map(PlexToken::new);

        match (
            name,
            slug,
            authentication_flow,
            enrollment_flow,
            user_property_mappings,
            group_property_mappings,
            policy_engine_mode,
            user_matching_mode,
            user_path_template,
            icon,
            group_matching_mode,
            client_id,
            allowed_servers,
            plex_token,
        ) {
            (
                Some(name),
                Some(slug),
                Some(authentication_flow),
                Some(enrollment_flow),
                Some(user_property_mappings),
                Some(group_property_mappings),
                Some(policy_engine_mode),
                Some(user_matching_mode),
                Some(user_path_template),
                Some(icon),
                Some(group_matching_mode),
                Some(client_id),
                Some(allowed_servers),
                Some(plex_token),
            ) if v.is_empty() => Ok(PlexSourceFields {
                name,
                slug,
                enabled: enabled.unwrap_or(true),
                authentication_flow,
                enrollment_flow,
                user_property_mappings,
                group_property_mappings,
                policy_engine_mode,
                user_matching_mode,
                user_path_template,
                icon,
                group_matching_mode,
                client_id,
                allowed_servers,
                allow_friends: allow_friends.unwrap_or(true),
                plex_token,
            }),
            _ => Err(v),
        }
    }
}

fn parse_uuid(raw: &str) -> Option<Uuid> {
    Uuid::parse_str(raw.trim()).ok()
}

/// A text field as Django REST framework's `CharField` takes it: surrounding
/// whitespace trimmed, blank refused.
fn non_blank(v: &mut Violations, field: &str, value: String) -> Option<String> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        v.blank(field);
        None
    } else {
        Some(trimmed.to_owned())
    }
}

fn required_text(
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

fn defaulted_text(
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

fn slug(v: &mut Violations, value: Field<String>, base: Option<&Slug>) -> Option<Slug> {
    let text = required_text(
        v,
        "slug",
        value,
        base.map(|s| s.as_str().to_owned()).as_ref(),
    )?;
    match Slug::parse(&text) {
        Ok(slug) => Some(slug),
        Err(err) => {
            v.add("slug", err.code(), err.to_string());
            None
        }
    }
}

/// A boolean attribute: given, null (refused), or the stored value or the
/// default.
pub(crate) fn flag(
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

fn flow(
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

fn mappings(
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

fn choice<T: std::str::FromStr<Err = super::modes::InvalidChoice> + Default + Copy>(
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

fn icon(
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

fn servers(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{GroupMatchingMode, PolicyEngineMode, UserMatchingMode};

    fn minimal() -> PlexSourceDraft {
        PlexSourceDraft {
            name: Field::Set("Plex".into()),
            slug: Field::Set("plex".into()),
            plex_token: Field::Set("token".into()),
            ..Default::default()
        }
    }

    #[test]
    fn a_minimal_create_gets_authentiks_defaults() {
        let f = minimal().finish(None).unwrap();
        assert!(f.enabled);
        assert!(f.allow_friends);
        assert_eq!(f.authentication_flow, None);
        assert!(f.user_property_mappings.is_empty());
        assert!(f.allowed_servers.is_empty());
        assert_eq!(f.policy_engine_mode, PolicyEngineMode::Any);
        assert_eq!(f.user_matching_mode, UserMatchingMode::Identifier);
        assert_eq!(f.group_matching_mode, GroupMatchingMode::Identifier);
        assert_eq!(f.user_path_template, "goauthentik.io/sources/%(slug)s");
        assert_eq!(f.client_id.len(), 40);
        assert_eq!(f.icon, None);
    }

    #[test]
    fn every_violation_is_reported_at_once() {
        let draft = PlexSourceDraft {
            name: Field::Set("  ".into()),
            slug: Field::Set("not a slug".into()),
            enabled: Field::Null,
            authentication_flow: Field::Set("nope".into()),
            user_property_mappings: Field::Set(vec![Uuid::nil().to_string(), "bad".into()]),
            policy_engine_mode: Field::Set("some".into()),
            allowed_servers: Field::Set(vec!["ok".into(), " ".into()]),
            ..Default::default()
        };
        let v = draft.finish(None).unwrap_err();
        let fields: Vec<_> = v.iter().map(|x| (x.field.as_str(), x.code)).collect();
        assert_eq!(
            fields,
            [
                ("name", "blank"),
                ("slug", "invalid"),
                ("enabled", "null"),
                ("authentication_flow", "does_not_exist"),
                ("user_property_mappings[1]", "does_not_exist"),
                ("policy_engine_mode", "invalid_choice"),
                ("allowed_servers[1]", "blank"),
                ("plex_token", "required"),
            ]
        );
    }

    #[test]
    fn an_update_keeps_what_it_does_not_name() {
        let stored = minimal().finish(None).unwrap();
        let patch = PlexSourceDraft {
            allow_friends: Field::Set(false),
            ..Default::default()
        };
        let updated = patch.finish(Some(&stored)).unwrap();
        assert!(!updated.allow_friends);
        assert_eq!(updated.client_id, stored.client_id);
        assert_eq!(updated.slug, stored.slug);
    }

    #[test]
    fn retain_keeps_exactly_the_named_attributes() {
        let full = PlexSourceDraft {
            enabled: Field::Set(false),
            icon: Field::Null,
            ..minimal()
        };
        let kept = full.clone().retain(|n| n == "slug" || n == "enabled");
        assert_eq!(kept.slug, Field::Set("plex".into()));
        assert_eq!(kept.enabled, Field::Set(false));
        assert_eq!(kept.name, Field::Missing);
        assert_eq!(kept.icon, Field::Missing);
        assert_eq!(kept.plex_token, Field::Missing);
        assert_eq!(PlexSourceDraft::FIELDS.len(), 16);
        assert_eq!(PlexSourceDraft::FIELDS[0], "name");
    }

    #[test]
    fn oversized_lists_are_refused_whole() {
        let draft = PlexSourceDraft {
            allowed_servers: Field::Set(vec![" ".into(); MAX_ALLOWED_SERVERS + 1]),
            user_property_mappings: Field::Set(vec![
                Uuid::nil().to_string();
                MAX_PROPERTY_MAPPINGS + 1
            ]),
            ..minimal()
        };
        assert!(draft.exceeds_limits());
        assert!(draft.mapping_references().is_empty());
        let v = draft.finish(None).unwrap_err();
        let got: Vec<_> = v
            .iter()
            .map(|x| (x.field.as_str(), x.message.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "user_property_mappings",
                    "Ensure this field has no more than 1000 elements."
                ),
                (
                    "allowed_servers",
                    "Ensure this field has no more than 1000 elements."
                ),
            ]
        );
    }

    #[test]
    fn duplicate_mappings_are_kept_once_in_order() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let draft = PlexSourceDraft {
            group_property_mappings: Field::Set(
                [a, b, a, b, a].iter().map(Uuid::to_string).collect(),
            ),
            ..minimal()
        };
        assert_eq!(draft.finish(None).unwrap().group_property_mappings, [a, b]);
    }

    #[test]
    fn references_carry_their_field_path() {
        let id = Uuid::new_v4();
        let draft = PlexSourceDraft {
            enrollment_flow: Field::Set(id.to_string()),
            group_property_mappings: Field::Set(vec!["x".into(), id.to_string()]),
            ..Default::default()
        };
        assert_eq!(draft.flow_references()[0].field, "enrollment_flow");
        assert_eq!(
            draft.mapping_references()[0].field,
            "group_property_mappings[1]"
        );
    }
}
