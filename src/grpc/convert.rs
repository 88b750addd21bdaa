//! Conversions between domain values and the generated proto types. Every
//! wire field is named, so a new proto field fails to compile until it is
//! handled here.

use crate::{
    domain::{
        GroupMatchingMode, PlexSource, PlexSourceFields, PolicyEngineMode, UserMatchingMode,
        plex_source,
    },
    proto as pb,
};

/// Which optional parts of a source a caller may receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenVisibility {
    Shown,
    Hidden,
}

/// The wire form of a source, as authentik's serializer renders it.
pub fn source_to_proto(source: &PlexSource, token: TokenVisibility) -> pb::PlexSource {
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
        plex_token,
    } = fields;
    pb::PlexSource {
        pk: pk.to_string(),
        name: name.clone(),
        slug: slug.as_str().to_owned(),
        enabled: Some(*enabled),
        authentication_flow: authentication_flow.map(|id| id.to_string()),
        enrollment_flow: enrollment_flow.map(|id| id.to_string()),
        user_property_mappings: user_property_mappings
            .iter()
            .map(ToString::to_string)
            .collect(),
        group_property_mappings: group_property_mappings
            .iter()
            .map(ToString::to_string)
            .collect(),
        component: plex_source::COMPONENT.to_owned(),
        verbose_name: plex_source::VERBOSE_NAME.to_owned(),
        verbose_name_plural: plex_source::VERBOSE_NAME_PLURAL.to_owned(),
        meta_model_name: plex_source::META_MODEL_NAME.to_owned(),
        policy_engine_mode: policy_engine_mode_to_proto(*policy_engine_mode) as i32,
        user_matching_mode: user_matching_mode_to_proto(*user_matching_mode) as i32,
        managed: managed.clone(),
        user_path_template: user_path_template.clone(),
        icon: Some(source.icon_url()),
        group_matching_mode: group_matching_mode_to_proto(*group_matching_mode) as i32,
        client_id: client_id.clone(),
        allowed_servers: allowed_servers.clone(),
        allow_friends: Some(*allow_friends),
        plex_token: match token {
            TokenVisibility::Shown => plex_token.expose().to_owned(),
            TokenVisibility::Hidden => String::new(),
        },
    }
}

pub fn policy_engine_mode_to_proto(mode: PolicyEngineMode) -> pb::PolicyEngineMode {
    match mode {
        PolicyEngineMode::All => pb::PolicyEngineMode::All,
        PolicyEngineMode::Any => pb::PolicyEngineMode::Any,
    }
}

pub fn user_matching_mode_to_proto(mode: UserMatchingMode) -> pb::UserMatchingMode {
    match mode {
        UserMatchingMode::Identifier => pb::UserMatchingMode::Identifier,
        UserMatchingMode::EmailLink => pb::UserMatchingMode::EmailLink,
        UserMatchingMode::EmailDeny => pb::UserMatchingMode::EmailDeny,
        UserMatchingMode::UsernameLink => pb::UserMatchingMode::UsernameLink,
        UserMatchingMode::UsernameDeny => pb::UserMatchingMode::UsernameDeny,
    }
}

pub fn group_matching_mode_to_proto(mode: GroupMatchingMode) -> pb::GroupMatchingMode {
    match mode {
        GroupMatchingMode::Identifier => pb::GroupMatchingMode::Identifier,
        GroupMatchingMode::NameLink => pb::GroupMatchingMode::NameLink,
        GroupMatchingMode::NameDeny => pb::GroupMatchingMode::NameDeny,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The proto enum names end in the authentik value, upper-cased: a
    /// mapping to the wrong variant fails here.
    #[test]
    fn enum_mappings_match_by_name() {
        for m in PolicyEngineMode::ALL {
            let name = policy_engine_mode_to_proto(*m).as_str_name();
            assert_eq!(
                name,
                format!("POLICY_ENGINE_MODE_{}", m.as_str().to_uppercase())
            );
        }
        for m in UserMatchingMode::ALL {
            let name = user_matching_mode_to_proto(*m).as_str_name();
            assert_eq!(
                name,
                format!("USER_MATCHING_MODE_{}", m.as_str().to_uppercase())
            );
        }
        for m in GroupMatchingMode::ALL {
            let name = group_matching_mode_to_proto(*m).as_str_name();
            assert_eq!(
                name,
                format!("GROUP_MATCHING_MODE_{}", m.as_str().to_uppercase())
            );
        }
    }
}
