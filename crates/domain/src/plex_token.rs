//! The Plex owner's token: a credential that never shows in logs.

use secrecy::{ExposeSecret, SecretString};

/// The Plex token of the account that owns the source. `Debug` prints
/// nothing of it; code that must hand it out calls [`PlexToken::expose`].
#[derive(Clone)]
pub struct PlexToken(SecretString);

impl PlexToken {
    pub fn new(value: impl Into<String>) -> Self {
        Self(SecretString::from(value.into()))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl PartialEq for PlexToken {
    fn eq(&self, other: &Self) -> bool {
        self.expose() == other.expose()
    }
}

impl Eq for PlexToken {}

impl std::fmt::Debug for PlexToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PlexToken([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_value() {
        let token = PlexToken::new("very-secret-value");
        assert!(!format!("{token:?}").contains("very-secret-value"));
        assert_eq!(token.expose(), "very-secret-value");
    }
}
