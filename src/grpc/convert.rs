//! Domain values to the generated proto types. Every wire field is named
//! (no `..`), so a new proto or domain field fails to compile until it is
//! handled here; requests are read in [`super::input`].

use uuid::Uuid;

use crate::{
    domain::{
        GroupMatchingMode, PlexSource, PlexSourceFields, PolicyEngineMode, UserMatchingMode,
        plex_source,
    },
    ops::{EventKind, ListPage, Visible, WatchEvent},
    proto as pb,
};

/// A domain choice and its proto enum.
pub trait Choice: Sized {
    type Proto;
    fn to_proto(self) -> Self::Proto;
    /// `None` for `UNSPECIFIED`.
    fn from_proto(proto: Self::Proto) -> Option<Self>;
}

/// Both directions between a domain choice and its proto enum, each an
/// exhaustive match: a variant added on either side fails to compile here.
macro_rules! enum_mapping {
    ($domain:ident <=> $proto:ident { $($variant:ident),+ $(,)? }) => {
        impl Choice for $domain {
            type Proto = pb::$proto;

            fn to_proto(self) -> pb::$proto {
                match self {
                    $($domain::$variant => pb::$proto::$variant),+
                }
            }

            fn from_proto(proto: pb::$proto) -> Option<Self> {
                match proto {
                    pb::$proto::Unspecified => None,
                    $(pb::$proto::$variant => Some($domain::$variant)),+
                }
            }
        }
    };
}

enum_mapping!(PolicyEngineMode <=> PolicyEngineMode { All, Any });
enum_mapping!(UserMatchingMode <=> UserMatchingMode {
    Identifier,
    EmailLink,
    EmailDeny,
    UsernameLink,
    UsernameDeny,
});
enum_mapping!(GroupMatchingMode <=> GroupMatchingMode {
    Identifier,
    NameLink,
    NameDeny,
});

/// The wire form of a source, as authentik's serializer renders it; the
/// Plex token only when the operation decided the caller may have it.
pub fn source_to_proto(visible: &Visible) -> pb::PlexSource {
    let source = visible.source.as_ref();
    let PlexSource {
        pk,
        managed,
        fields,
    } = source;
    let PlexSourceFields {
        name,
        slug,
        enabled,
        authentication_flow,
        enrollment_flow,
        user_property_mappings,
        group_property_mappings,
        policy_engine_mode,
        user_matching_mode,
        user_path_template,
        icon: _,
        group_matching_mode,
        client_id,
        allowed_servers,
        allow_friends,
        plex_token: _,
    } = fields;
    pb::PlexSource {
        pk: pk.to_string(),
        name: name.clone(),
        slug: slug.as_str().to_owned(),
        enabled: Some(*enabled),
        authentication_flow: authentication_flow.map(|id| id.to_string()),
        enrollment_flow: enrollment_flow.map(|id| id.to_string()),
        user_property_mappings: ids(user_property_mappings),
        group_property_mappings: ids(group_property_mappings),
        component: plex_source::COMPONENT.to_owned(),
        verbose_name: plex_source::VERBOSE_NAME.to_owned(),
        verbose_name_plural: plex_source::VERBOSE_NAME_PLURAL.to_owned(),
        meta_model_name: plex_source::META_MODEL_NAME.to_owned(),
        policy_engine_mode: policy_engine_mode.to_proto().into(),
        user_matching_mode: user_matching_mode.to_proto().into(),
        managed: managed.clone(),
        user_path_template: user_path_template.clone(),
        icon: Some(source.icon_url()),
        group_matching_mode: group_matching_mode.to_proto().into(),
        client_id: client_id.clone(),
        allowed_servers: allowed_servers.clone(),
        allow_friends: Some(*allow_friends),
        plex_token: visible.plex_token().to_owned(),
    }
}

pub fn page_to_proto(page: &ListPage) -> pb::ListPlexSourcesResponse {
    let ListPage {
        sources,
        next_page_token,
        total,
    } = page;
    pb::ListPlexSourcesResponse {
        plex_sources: sources.iter().map(source_to_proto).collect(),
        next_page_token: next_page_token.clone(),
        total_size: i32::try_from(*total).unwrap_or(i32::MAX),
    }
}

pub fn event_to_proto(event: &WatchEvent) -> pb::WatchPlexSourcesResponse {
    let WatchEvent {
        revision,
        kind,
        pk,
        slug,
        source,
    } = event;
    let kind = match kind {
        EventKind::Existing => pb::EventKind::Existing,
        EventKind::SnapshotComplete => pb::EventKind::SnapshotComplete,
        EventKind::Created => pb::EventKind::Created,
        EventKind::Updated => pb::EventKind::Updated,
        EventKind::Deleted => pb::EventKind::Deleted,
    };
    pb::WatchPlexSourcesResponse {
        revision: *revision,
        kind: kind.into(),
        plex_source: source.as_ref().map(source_to_proto),
        slug: slug.clone(),
        pk: pk.map(|pk| pk.to_string()).unwrap_or_default(),
    }
}

fn ids(ids: &[Uuid]) -> Vec<String> {
    ids.iter().map(ToString::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The wire message's fields are authentik's serializer's attributes,
    /// in its order: an attribute declared and not in the proto (or the
    /// other way round) fails here.
    #[test]
    fn the_message_has_every_attribute_in_order() {
        use prost::Message;
        let set = prost_types::FileDescriptorSet::decode(pb::FILE_DESCRIPTOR_SET).expect("set");
        let message = set
            .file
            .iter()
            .flat_map(|f| &f.message_type)
            .find(|m| m.name() == "PlexSource")
            .expect("PlexSource");
        let fields: Vec<&str> = message.field.iter().map(|f| f.name()).collect();
        let declared: Vec<&str> = crate::domain::attributes::ATTRIBUTES
            .iter()
            .map(|a| a.name)
            .collect();
        assert_eq!(fields, declared);
    }

    /// The proto enum names end in the authentik value, upper-cased, and
    /// each maps back to itself: a mapping to the wrong variant fails here.
    #[test]
    fn enum_mappings_match_by_name_and_round_trip() {
        for m in PolicyEngineMode::ALL {
            let wire = m.to_proto();
            let name = format!("POLICY_ENGINE_MODE_{}", m.as_str().to_uppercase());
            assert_eq!(wire.as_str_name(), name);
            assert_eq!(PolicyEngineMode::from_proto(wire), Some(*m));
        }
        for m in UserMatchingMode::ALL {
            let wire = m.to_proto();
            let name = format!("USER_MATCHING_MODE_{}", m.as_str().to_uppercase());
            assert_eq!(wire.as_str_name(), name);
            assert_eq!(UserMatchingMode::from_proto(wire), Some(*m));
        }
        for m in GroupMatchingMode::ALL {
            let wire = m.to_proto();
            let name = format!("GROUP_MATCHING_MODE_{}", m.as_str().to_uppercase());
            assert_eq!(wire.as_str_name(), name);
            assert_eq!(GroupMatchingMode::from_proto(wire), Some(*m));
        }
        assert_eq!(
            PolicyEngineMode::from_proto(pb::PolicyEngineMode::Unspecified),
            None
        );
    }
}
