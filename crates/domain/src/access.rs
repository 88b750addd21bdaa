//! Who is calling and what they may do: authentik's permission codenames,
//! API token keys, and the grants a caller holds.

use std::{fmt, str::FromStr};

use rand::{Rng, distr::Alphanumeric};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// App label that prefixes every codename.
pub const APP_LABEL: &str = "authentik_sources_plex";

/// The permissions this service checks, named as authentik names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    View,
    Add,
    Change,
    Delete,
    /// Reading the Plex owner's token, which other callers get empty.
    ViewPlexToken,
}

impl Permission {
    pub const ALL: [Permission; 5] = [
        Permission::View,
        Permission::Add,
        Permission::Change,
        Permission::Delete,
        Permission::ViewPlexToken,
    ];

    /// The codename without the app label.
    pub fn name(self) -> &'static str {
        match self {
            Permission::View => "view_plexsource",
            Permission::Add => "add_plexsource",
            Permission::Change => "change_plexsource",
            Permission::Delete => "delete_plexsource",
            Permission::ViewPlexToken => "view_plexsource_plex_token",
        }
    }

    /// `authentik_sources_plex.<name>`, as stored and shown.
    pub fn codename(self) -> String {
        format!("{APP_LABEL}.{}", self.name())
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{APP_LABEL}.{}", self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown permission \"{0}\"; known: authentik_sources_plex.{{view,add,change,delete}}_plexsource, authentik_sources_plex.view_plexsource_plex_token"
)]
pub struct UnknownPermission(pub String);

impl FromStr for Permission {
    type Err = UnknownPermission;

    /// Takes the full codename; the bare name is accepted too.
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let name = match value.split_once('.') {
            Some((APP_LABEL, name)) => name,
            Some(_) => return Err(UnknownPermission(value.to_owned())),
            None => value,
        };
        Permission::ALL
            .into_iter()
            .find(|p| p.name() == name)
            .ok_or_else(|| UnknownPermission(value.to_owned()))
    }
}

/// One permission held by a caller: everywhere, or on one source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Grant {
    pub permission: Permission,
    /// `None`: global; `Some(pk)`: only on that Plex source.
    pub object: Option<Uuid>,
}

/// An authenticated caller and everything it may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The API token the caller presented; streams re-check it.
    pub token_id: Uuid,
    pub user_id: Uuid,
    pub username: String,
    pub is_superuser: bool,
    /// When the presented token stops working, if ever.
    pub expires: Option<chrono::DateTime<chrono::Utc>>,
    pub grants: Vec<Grant>,
}

impl Caller {
    /// Superusers hold every permission; others need a global grant or one
    /// on `source`.
    pub fn may(&self, permission: Permission, source: Option<Uuid>) -> bool {
        self.is_superuser
            || self.grants.iter().any(|g| {
                g.permission == permission
                    && (g.object.is_none() || (source.is_some() && g.object == source))
            })
    }

    pub fn may_globally(&self, permission: Permission) -> bool {
        self.may(permission, None)
    }

    /// Whether the caller holds `permission` globally or on any source.
    pub fn may_anywhere(&self, permission: Permission) -> bool {
        self.is_superuser || self.grants.iter().any(|g| g.permission == permission)
    }

    /// The sources an object grant of `permission` names.
    pub fn objects_with(&self, permission: Permission) -> Vec<Uuid> {
        let mut objects: Vec<Uuid> = self
            .grants
            .iter()
            .filter(|g| g.permission == permission)
            .filter_map(|g| g.object)
            .collect();
        objects.sort();
        objects.dedup();
        objects
    }
}

/// An API token's secret key. Shown once at creation, stored only as
/// [`TokenKey::hash`]; `Debug` prints nothing of it.
#[derive(Clone)]
pub struct TokenKey(SecretString);

/// Length of generated keys: 64 characters of `[A-Za-z0-9]` (about 381
/// bits), far beyond guessing.
pub const TOKEN_KEY_LEN: usize = 64;

pub use super::bootstrap_key::{BOOTSTRAP_KEY_MIN_LEN, WeakBootstrapKey};

impl TokenKey {
    pub fn generate() -> Self {
        let key: String = rand::rng()
            .sample_iter(&Alphanumeric)
            .take(TOKEN_KEY_LEN)
            .map(char::from)
            .collect();
        Self(SecretString::from(key))
    }

    pub fn new(value: impl Into<String>) -> Self {
        Self(SecretString::from(value.into()))
    }

    /// The key an operator chose for `BOOTSTRAP_TOKEN`, without surrounding
    /// whitespace, as callers' `Bearer` keys are read; refused when it is
    /// weak (see [`super::bootstrap_key`]).
    pub fn bootstrap(value: &str) -> Result<Self, WeakBootstrapKey> {
        let value = value.trim();
        super::bootstrap_key::check(value)?;
        Ok(Self::new(value))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// Hex SHA-256 of the key. Keys are long and random, so a fast hash is
    /// enough: there is no dictionary to try.
    pub fn hash(&self) -> String {
        hash_key(self.expose())
    }
}

/// The stored form of a token key: its SHA-256 in lowercase hex. Runs on
/// every authenticated call, so the hex is written into one buffer rather
/// than collected character by character.
pub fn hash_key(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    let mut hex = [0u8; 64];
    // Neither can fail: 32 bytes take exactly 64 hex digits, all ASCII.
    let _ = hex::encode_to_slice(digest, &mut hex);
    std::str::from_utf8(&hex).unwrap_or_default().to_owned()
}

impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenKey([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stored_as_lowercase_hex_sha256() {
        // FIPS 180-2's test vector.
        assert_eq!(
            hash_key("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn codenames_parse_with_or_without_the_app_label() {
        for p in Permission::ALL {
            assert_eq!(p.codename().parse::<Permission>(), Ok(p));
            assert_eq!(p.name().parse::<Permission>(), Ok(p));
        }
        assert!(
            "authentik_core.view_plexsource"
                .parse::<Permission>()
                .is_err()
        );
        assert!(
            "authentik_sources_plex.view_everything"
                .parse::<Permission>()
                .is_err()
        );
    }

    #[test]
    fn object_grants_apply_only_to_their_object() {
        let a = Uuid::new_v4();
        let b = Uuid::new_v4();
        let caller = Caller {
            token_id: Uuid::new_v4(),
            user_id: Uuid::new_v4(),
            username: "u".into(),
            is_superuser: false,
            expires: None,
            grants: vec![Grant {
                permission: Permission::View,
                object: Some(a),
            }],
        };
        assert!(caller.may(Permission::View, Some(a)));
        assert!(!caller.may(Permission::View, Some(b)));
        assert!(!caller.may(Permission::View, None));
        assert!(!caller.may(Permission::Change, Some(a)));
        let admin = Caller {
            is_superuser: true,
            grants: vec![],
            ..caller
        };
        assert!(admin.may(Permission::Delete, Some(b)));
    }

    #[test]
    fn bootstrap_keys_are_trimmed_and_checked() {
        let key = "0123456789abcdef".repeat(2);
        let padded = TokenKey::bootstrap(&format!(" \t{key}\n")).unwrap();
        assert_eq!(padded.expose(), key);
        assert_eq!(padded.hash(), hash_key(&key));
        let short = format!("  {}  ", &key[1..]);
        assert_eq!(
            TokenKey::bootstrap(&short).err(),
            Some(WeakBootstrapKey::Short)
        );
        assert_eq!(TokenKey::bootstrap("").err(), Some(WeakBootstrapKey::Short));
        // The quickstart's old example key is known to everyone.
        assert_eq!(
            TokenKey::bootstrap("replace-me-with-a-long-random-string").err(),
            Some(WeakBootstrapKey::Example)
        );
    }

    #[test]
    fn keys_are_long_random_and_hash_stably() {
        let a = TokenKey::generate();
        let b = TokenKey::generate();
        assert_eq!(a.expose().len(), TOKEN_KEY_LEN);
        assert_ne!(a.expose(), b.expose());
        assert_eq!(a.hash(), hash_key(a.expose()));
        assert_eq!(a.hash().len(), 64);
        assert!(!format!("{a:?}").contains(a.expose()));
    }
}
