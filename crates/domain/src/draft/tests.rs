use super::*;
use crate::{GroupMatchingMode, PolicyEngineMode, UserMatchingMode};

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
    assert_eq!(
        v.field_messages(),
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
        group_property_mappings: Field::Set([a, b, a, b, a].iter().map(Uuid::to_string).collect()),
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
