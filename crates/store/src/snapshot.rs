//! What a change-log row keeps of a source, in a versioned format of its
//! own rather than the table's columns: rows written before an upgrade are
//! still read after it, and a row that cannot be read is an error, never
//! skipped. The Plex token is never kept: it lives only in `plex_sources`,
//! so a rotated or deleted token leaves no copy behind.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::StoreError;
use domain::{PlexSource, PlexSourceFields, PlexToken, Slug};

/// The format written now. 1 was the table row as JSON, token included.
pub const FORMAT: u32 = 2;

/// A source as one change left it, without its token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    v: u32,
    pk: Uuid,
    managed: Option<String>,
    name: String,
    slug: String,
    enabled: bool,
    authentication_flow: Option<Uuid>,
    enrollment_flow: Option<Uuid>,
    user_property_mappings: Vec<Uuid>,
    group_property_mappings: Vec<Uuid>,
    policy_engine_mode: String,
    user_matching_mode: String,
    user_path_template: String,
    icon: Option<String>,
    group_matching_mode: String,
    client_id: String,
    allowed_servers: Vec<String>,
    allow_friends: bool,
    /// For a delete: users who held the object view permission on the
    /// source then (the grants go with it).
    #[serde(default)]
    pub viewers: Vec<Uuid>,
}

impl Snapshot {
    /// The snapshot of `source`, without its token. A field the domain
    /// gains is named by `into_source` (it must build it), then here.
    pub fn of(source: &PlexSource, viewers: &[Uuid]) -> Self {
        let f = &source.fields;
        Snapshot {
            v: FORMAT,
            pk: source.pk,
            managed: source.managed.clone(),
            name: f.name.clone(),
            slug: f.slug.as_str().to_owned(),
            enabled: f.enabled,
            authentication_flow: f.authentication_flow,
            enrollment_flow: f.enrollment_flow,
            user_property_mappings: f.user_property_mappings.clone(),
            group_property_mappings: f.group_property_mappings.clone(),
            policy_engine_mode: f.policy_engine_mode.as_str().to_owned(),
            user_matching_mode: f.user_matching_mode.as_str().to_owned(),
            user_path_template: f.user_path_template.clone(),
            icon: f.icon.clone(),
            group_matching_mode: f.group_matching_mode.as_str().to_owned(),
            client_id: f.client_id.clone(),
            allowed_servers: f.allowed_servers.clone(),
            allow_friends: f.allow_friends,
            viewers: viewers.to_vec(),
        }
    }

    pub fn encode(&self) -> String {
        // Strings, numbers, bools and UUIDs only: serializing cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads any format this service ever wrote. The message of an error
    /// names the position only: a format-1 row holds a token, and serde
    /// quotes the values it trips on.
    pub fn decode(text: &str) -> Result<Self, String> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("not JSON ({:?})", e.classify()))?;
        let unreadable = |e: serde_json::Error| format!("unreadable ({:?})", e.classify());
        match value.get("v").and_then(serde_json::Value::as_u64) {
            Some(2) => serde_json::from_value(value).map_err(unreadable),
            Some(other) => Err(format!("format {other} is newer than this service")),
            None => Ok(serde_json::from_value::<V1>(value)
                .map_err(unreadable)?
                .into_current()),
        }
    }

    /// The source this snapshot shows, with `plex_token` (the current one:
    /// the log keeps none).
    pub fn into_source(self, plex_token: PlexToken) -> Result<PlexSource, StoreError> {
        let pk = self.pk;
        let corrupt =
            |field: &str| StoreError::Corrupt(format!("change snapshot of {pk}: {field}"));
        Ok(PlexSource {
            pk,
            managed: self.managed,
            fields: PlexSourceFields {
                name: self.name,
                slug: Slug::parse(&self.slug).map_err(|_| corrupt("slug"))?,
                enabled: self.enabled,
                authentication_flow: self.authentication_flow,
                enrollment_flow: self.enrollment_flow,
                user_property_mappings: self.user_property_mappings,
                group_property_mappings: self.group_property_mappings,
                policy_engine_mode: self
                    .policy_engine_mode
                    .parse()
                    .map_err(|_| corrupt("policy_engine_mode"))?,
                user_matching_mode: self
                    .user_matching_mode
                    .parse()
                    .map_err(|_| corrupt("user_matching_mode"))?,
                user_path_template: self.user_path_template,
                icon: self.icon,
                group_matching_mode: self
                    .group_matching_mode
                    .parse()
                    .map_err(|_| corrupt("group_matching_mode"))?,
                client_id: self.client_id,
                allowed_servers: self.allowed_servers,
                allow_friends: self.allow_friends,
                plex_token,
            },
        })
    }
}

/// Format 1: `{row: <plex_sources row>, user, group, viewers}`.
#[derive(Deserialize)]
struct V1 {
    row: V1Row,
    user: Vec<Uuid>,
    group: Vec<Uuid>,
    #[serde(default)]
    viewers: Vec<Uuid>,
}

/// The columns format 1 copied; its token and search text are ignored.
#[derive(Deserialize)]
struct V1Row {
    pk: Uuid,
    name: String,
    slug: String,
    enabled: bool,
    authentication_flow_id: Option<Uuid>,
    enrollment_flow_id: Option<Uuid>,
    policy_engine_mode: String,
    user_matching_mode: String,
    managed: Option<String>,
    user_path_template: String,
    icon: Option<String>,
    group_matching_mode: String,
    client_id: String,
    allowed_servers: Vec<String>,
    allow_friends: bool,
}

impl V1 {
    fn into_current(self) -> Snapshot {
        let r = self.row;
        Snapshot {
            v: FORMAT,
            pk: r.pk,
            managed: r.managed,
            name: r.name,
            slug: r.slug,
            enabled: r.enabled,
            authentication_flow: r.authentication_flow_id,
            enrollment_flow: r.enrollment_flow_id,
            user_property_mappings: self.user,
            group_property_mappings: self.group,
            policy_engine_mode: r.policy_engine_mode,
            user_matching_mode: r.user_matching_mode,
            user_path_template: r.user_path_template,
            icon: r.icon,
            group_matching_mode: r.group_matching_mode,
            client_id: r.client_id,
            allowed_servers: r.allowed_servers,
            allow_friends: r.allow_friends,
            viewers: self.viewers,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source() -> PlexSource {
        domain::plex_source::example()
    }

    #[test]
    fn the_current_format_round_trips_without_the_token() {
        let s = source();
        let text = Snapshot::of(&s, &[]).encode();
        assert!(!text.contains("secret-owner-token"), "{text}");
        let back = Snapshot::decode(&text).unwrap();
        let restored = back.into_source(PlexToken::new("now")).unwrap();
        assert_eq!(restored.fields.plex_token.expose(), "now");
        let mut expected = s.clone();
        expected.fields.plex_token = PlexToken::new("now");
        assert_eq!(restored, expected);
    }

    #[test]
    fn format_one_rows_are_read() {
        let pk = Uuid::new_v4();
        let text = format!(
            r#"{{"row":{{"pk":"{pk}","name":"Old","slug":"old","enabled":true,
            "authentication_flow_id":null,"enrollment_flow_id":null,
            "policy_engine_mode":"any","user_matching_mode":"identifier","managed":null,
            "user_path_template":"t","icon":null,"group_matching_mode":"identifier",
            "client_id":"c","allowed_servers":["a"],"allow_friends":true,
            "plex_token":"old-secret","search_text":"old\nold"}},
            "user":[],"group":[],"viewers":[]}}"#
        );
        let snapshot = Snapshot::decode(&text).unwrap();
        let source = snapshot.into_source(PlexToken::new("")).unwrap();
        assert_eq!(source.pk, pk);
        assert_eq!(source.fields.slug.as_str(), "old");
        assert_eq!(source.fields.allowed_servers, ["a"]);
    }

    /// A row of format 2 as this format was first written, frozen: a field
    /// added to the snapshot must keep such rows readable (with
    /// `#[serde(default)]`), or this fails.
    #[test]
    fn format_two_rows_written_before_any_later_field_are_read() {
        let text = r#"{"v":2,"pk":"53dda43a-edb7-46bc-b185-34d5c4a6a226","managed":null,
            "name":"Plex","slug":"plex","enabled":true,
            "authentication_flow":"01e244af-2747-4a9c-8b47-7b16e31bbac3","enrollment_flow":null,
            "user_property_mappings":["e2e33500-d0bd-4f9e-975d-50f06d9ec25c"],
            "group_property_mappings":[],"policy_engine_mode":"all",
            "user_matching_mode":"email_link","user_path_template":"p","icon":null,
            "group_matching_mode":"name_deny","client_id":"c","allowed_servers":["s"],
            "allow_friends":false,"viewers":[]}"#;
        let snapshot = Snapshot::decode(text).expect("a format 2 row reads");
        let source = snapshot.into_source(PlexToken::new("t")).unwrap();
        assert_eq!(source.fields.slug.as_str(), "plex");
        assert_eq!(source.fields.allowed_servers, ["s"]);
        assert!(!source.fields.allow_friends);
        assert_eq!(
            source.pk.to_string(),
            "53dda43a-edb7-46bc-b185-34d5c4a6a226"
        );
    }

    #[test]
    fn unreadable_rows_are_errors_that_quote_nothing() {
        for bad in [
            "",
            "{",
            r#"{"v":3}"#,
            r#"{"v":2,"pk":"x"}"#,
            r#"{"row":{"plex_token":"leaked"}}"#,
        ] {
            let err = Snapshot::decode(bad).unwrap_err();
            assert!(!err.contains("leaked"), "{err}");
        }
    }
}
