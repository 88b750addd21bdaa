//! The slug: a source's unique, URL-safe name and its lookup key.

use std::fmt;

/// A slug that satisfies authentik's rules: 1 to [`Slug::MAX_LEN`] characters
/// of `[-a-zA-Z0-9_]`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Slug(String);

/// Which slug rule a value broke. The messages are authentik's (Django REST
/// framework's) so clients see the same text over REST and gRPC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SlugError {
    #[error("This field may not be blank.")]
    Blank,
    #[error("Ensure this field has no more than {max} characters.", max = Slug::MAX_LEN)]
    TooLong,
    #[error("Enter a valid \"slug\" consisting of letters, numbers, underscores or hyphens.")]
    Invalid,
}

impl SlugError {
    /// The Django REST framework error code of the broken rule.
    pub fn code(self) -> &'static str {
        match self {
            SlugError::Blank => "blank",
            SlugError::TooLong => "max_length",
            SlugError::Invalid => "invalid",
        }
    }
}

impl Slug {
    /// Longest slug authentik stores (`varchar(50)`).
    pub const MAX_LEN: usize = 50;

    pub fn parse(value: &str) -> Result<Self, SlugError> {
        if value.is_empty() {
            return Err(SlugError::Blank);
        }
        if value.chars().count() > Self::MAX_LEN {
            return Err(SlugError::TooLong);
        }
        if !value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(SlugError::Invalid);
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Slug {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Slug({:?})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_every_allowed_character_class() {
        for ok in ["a", "plex-login", "Plex_Login_2", "-", "_", &"x".repeat(50)] {
            assert_eq!(Slug::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn rejects_each_rule_with_its_own_error() {
        assert_eq!(Slug::parse(""), Err(SlugError::Blank));
        assert_eq!(Slug::parse(&"x".repeat(51)), Err(SlugError::TooLong));
        for bad in [" ", "a b", "a/b", "ä", "a.b", "a\n", "%"] {
            assert_eq!(Slug::parse(bad), Err(SlugError::Invalid), "{bad:?}");
        }
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        // 50 multi-byte characters are too long only once they exceed 50.
        assert_eq!(Slug::parse(&"é".repeat(50)), Err(SlugError::Invalid));
        assert_eq!(Slug::parse(&"é".repeat(51)), Err(SlugError::TooLong));
    }

    #[test]
    fn messages_quote_the_limit() {
        assert_eq!(
            SlugError::TooLong.to_string(),
            "Ensure this field has no more than 50 characters."
        );
    }
}
