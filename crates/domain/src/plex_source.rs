//! The Plex source: its writable fields, its stored extras and the values
//! authentik computes for display.

use rand::{Rng, distr::Alphanumeric};
use uuid::Uuid;

use super::{GroupMatchingMode, PlexToken, PolicyEngineMode, Slug, UserMatchingMode};

/// Admin UI form that edits a Plex source.
pub const COMPONENT: &str = "ak-source-plex-form";
pub const VERBOSE_NAME: &str = "Plex Source";
pub const VERBOSE_NAME_PLURAL: &str = "Plex Sources";
/// `<app_label>.<model_name>`; also the blueprint model name.
pub const META_MODEL_NAME: &str = "authentik_sources_plex.plexsource";
/// The built-in Plex logo under authentik's default static URL (`/static/`).
pub const DEFAULT_ICON: &str = "/static/authentik/sources/plex.svg";
/// Where authentik serves uploaded files with local storage.
pub const MEDIA_URL: &str = "/media/";
pub const DEFAULT_USER_PATH_TEMPLATE: &str = "goauthentik.io/sources/%(slug)s";
/// Length of a generated `client_id`.
pub const CLIENT_ID_LEN: usize = 40;
/// Longest stored icon name or URL (`varchar(500)`).
pub const ICON_MAX_LEN: usize = 500;

/// Everything a client may write about a Plex source, already validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlexSourceFields {
    /// Display name; may repeat across sources.
    pub name: String,
    pub slug: Slug,
    pub enabled: bool,
    pub authentication_flow: Option<Uuid>,
    pub enrollment_flow: Option<Uuid>,
    pub user_property_mappings: Vec<Uuid>,
    pub group_property_mappings: Vec<Uuid>,
    pub policy_engine_mode: PolicyEngineMode,
    pub user_matching_mode: UserMatchingMode,
    /// Path new users are created under; `%(slug)s` becomes the slug.
    pub user_path_template: String,
    /// Stored icon name or URL; writable only through blueprints.
    pub icon: Option<String>,
    pub group_matching_mode: GroupMatchingMode,
    /// Identifier this source presents to plex.tv.
    pub client_id: String,
    /// Plex server identifiers whose members may sign in.
    pub allowed_servers: Vec<String>,
    pub allow_friends: bool,
    pub plex_token: PlexToken,
}

impl PlexSourceFields {
    /// Name and slug in lower case, one per line: what search matches.
    pub fn search_text(&self) -> String {
        format!(
            "{}\n{}",
            self.name.to_lowercase(),
            self.slug.as_str().to_lowercase()
        )
    }
}

/// A stored Plex source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlexSource {
    pub pk: Uuid,
    /// Set only on objects authentik itself manages; never writable here.
    pub managed: Option<String>,
    pub fields: PlexSourceFields,
}

impl PlexSource {
    /// The icon URL clients show: a custom URL or static path as stored, an
    /// uploaded file under the media URL, else the built-in Plex logo (a
    /// Plex source never has no icon).
    pub fn icon_url(&self) -> String {
        match self.fields.icon.as_deref() {
            None | Some("") => DEFAULT_ICON.to_owned(),
            Some(url) if url.contains("://") || url.starts_with("/static") => url.to_owned(),
            Some(file) => format!("{MEDIA_URL}{file}"),
        }
    }
}

/// A fresh `client_id`: 40 characters of `[A-Za-z0-9]` from the thread's
/// cryptographically secure generator, as authentik makes them.
pub fn generate_client_id() -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(CLIENT_ID_LEN)
        .map(char::from)
        .collect()
}

/// A valid source for tests: every field set, the Plex token
/// `secret-owner-token`. With the `test-util` feature (other crates'
/// tests).
#[cfg(any(test, feature = "test-util"))]
pub fn example() -> PlexSource {
    PlexSource {
        pk: Uuid::new_v4(),
        managed: None,
        fields: PlexSourceFields {
            name: "Plex".into(),
            slug: Slug::parse("plex").unwrap(),
            enabled: true,
            authentication_flow: Some(Uuid::new_v4()),
            enrollment_flow: None,
            user_property_mappings: vec![Uuid::new_v4()],
            group_property_mappings: vec![],
            policy_engine_mode: PolicyEngineMode::All,
            user_matching_mode: UserMatchingMode::EmailLink,
            user_path_template: "p".into(),
            icon: None,
            group_matching_mode: GroupMatchingMode::NameDeny,
            client_id: "c".into(),
            allowed_servers: vec!["s".into()],
            allow_friends: false,
            plex_token: PlexToken::new("secret-owner-token"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source_with_icon(icon: Option<&str>) -> PlexSource {
        let mut source = example();
        source.fields.icon = icon.map(str::to_owned);
        source
    }

    #[test]
    fn icon_follows_authentiks_derivation() {
        assert_eq!(source_with_icon(None).icon_url(), DEFAULT_ICON);
        assert_eq!(source_with_icon(Some("")).icon_url(), DEFAULT_ICON);
        assert_eq!(
            source_with_icon(Some("https://example.com/p.png")).icon_url(),
            "https://example.com/p.png"
        );
        assert_eq!(
            source_with_icon(Some("/static/custom.svg")).icon_url(),
            "/static/custom.svg"
        );
        assert_eq!(
            source_with_icon(Some("source-icons/plex.png")).icon_url(),
            "/media/source-icons/plex.png"
        );
    }

    #[test]
    fn generated_client_ids_are_40_alphanumerics_and_differ() {
        let a = generate_client_id();
        let b = generate_client_id();
        assert_eq!(a.len(), CLIENT_ID_LEN);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }
}
