//! Unvalidated writes to a Plex source and the rules that turn them into
//! [`PlexSourceFields`]. Blueprint import (and any write API) goes through
//! here, so every path applies the same rules and defaults.

use uuid::Uuid;

mod rules;
#[cfg(test)]
mod tests;

use rules::{choice, defaulted_text, flow, icon, mappings, parse_uuid, servers, slug};
pub use rules::{flag, required_text};

use super::{
    PlexSourceFields, PlexToken, Violations,
    plex_source::{DEFAULT_USER_PATH_TEMPLATE, generate_client_id},
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

/// An attribute's value as a transport typed it, for [`PlexSourceDraft::set`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Text(Field<String>),
    Flag(Field<bool>),
    List(Field<Vec<String>>),
}

/// The draft attribute types an [`Input`] becomes.
trait FromInput: Sized {
    fn from_input(input: Input) -> Option<Field<Self>>;
}

impl FromInput for String {
    fn from_input(input: Input) -> Option<Field<Self>> {
        match input {
            Input::Text(value) => Some(value),
            _ => None,
        }
    }
}

impl FromInput for bool {
    fn from_input(input: Input) -> Option<Field<Self>> {
        match input {
            Input::Flag(value) => Some(value),
            _ => None,
        }
    }
}

impl FromInput for Vec<String> {
    fn from_input(input: Input) -> Option<Field<Self>> {
        match input {
            Input::List(value) => Some(value),
            _ => None,
        }
    }
}

/// Declares the draft once; the list of attribute names, [`retain`] and
/// [`set`] come from the same declaration, so they cannot drift apart.
///
/// [`retain`]: PlexSourceDraft::retain
/// [`set`]: PlexSourceDraft::set
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

            /// Sets the attribute `name` to `input`, when the draft has such
            /// an attribute of that type; whether it did.
            pub fn set(&mut self, name: &str, input: Input) -> bool {
                match name {
                    $(stringify!($field) => match <$ty as FromInput>::from_input(input) {
                        Some(value) => {
                            self.$field = value;
                            true
                        }
                        None => false,
                    },)+
                    _ => false,
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

    /// A full replacement (`*` mask) of `stored`: as a create, except that the
    /// stored `client_id` (the identity plex.tv knows) stays unless given,
    /// and the icon, which the API cannot write, stays as it is.
    pub fn replacing(mut self, stored: &PlexSourceFields) -> Self {
        if self.client_id == Field::Missing {
            self.client_id = Field::Set(stored.client_id.clone());
        }
        self.icon = stored.icon.clone().map_or(Field::Null, Field::Set);
        self
    }

    /// The attributes every create needs, and a full update (Django REST
    /// framework's PUT) too, that this draft leaves out: each is
    /// `This field is required.`.
    pub fn missing_required(&self) -> Violations {
        let mut v = Violations::new();
        for (field, missing) in [
            ("name", self.name == Field::Missing),
            ("slug", self.slug == Field::Missing),
            ("plex_token", self.plex_token == Field::Missing),
        ] {
            if missing {
                v.required(field);
            }
        }
        v
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
        let name = required_text(&mut v, "name", self.name, base.map(|b| b.name.as_str()));
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
            base.map(|b| b.plex_token.expose()),
        )
        .map(PlexToken::new);

        // Each rule that gives no value has reported why.
        let fields = || {
            Some(PlexSourceFields {
                name: name?,
                slug: slug?,
                enabled: enabled?,
                authentication_flow: authentication_flow?,
                enrollment_flow: enrollment_flow?,
                user_property_mappings: user_property_mappings?,
                group_property_mappings: group_property_mappings?,
                policy_engine_mode: policy_engine_mode?,
                user_matching_mode: user_matching_mode?,
                user_path_template: user_path_template?,
                icon: icon?,
                group_matching_mode: group_matching_mode?,
                client_id: client_id?,
                allowed_servers: allowed_servers?,
                allow_friends: allow_friends?,
                plex_token: plex_token?,
            })
        };
        match fields() {
            Some(fields) if v.is_empty() => Ok(fields),
            _ => Err(v),
        }
    }
}
