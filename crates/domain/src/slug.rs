//! The slug: a source's unique, URL-safe name and its lookup key.

use std::fmt;

use super::Violations;

/// A slug that satisfies authentik's rules: 1 to [`Slug::MAX_LEN`] characters
/// of `[-a-zA-Z0-9_]`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Slug(String);

/// One slug rule. The messages are authentik's (Django REST framework's) so
/// clients see the same text over REST and gRPC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SlugRule {
    #[error("This field may not be blank.")]
    Blank,
    #[error("Ensure this field has no more than {max} characters.", max = Slug::MAX_LEN)]
    TooLong,
    #[error("Null characters are not allowed.")]
    NullCharacters,
    #[error("Enter a valid \"slug\" consisting of letters, numbers, underscores or hyphens.")]
    Invalid,
}

impl SlugRule {
    /// The Django REST framework error code of the rule.
    pub fn code(self) -> &'static str {
        match self {
            SlugRule::Blank => "blank",
            SlugRule::TooLong => "max_length",
            SlugRule::NullCharacters => "null_characters_not_allowed",
            SlugRule::Invalid => "invalid",
        }
    }
}

/// Every rule a value broke, in the order Django REST framework's
/// `SlugField` checks them: blank alone (nothing else is checked then),
/// else length, null characters and the pattern, each reported (a value
/// 60 characters long with a space in it breaks two).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlugError {
    broken: Vec<SlugRule>,
}

impl SlugError {
    /// The broken rules, in order; never empty.
    pub fn rules(&self) -> &[SlugRule] {
        &self.broken
    }

    /// Whether `rule` is among the broken ones.
    pub fn breaks(&self, rule: SlugRule) -> bool {
        self.broken.contains(&rule)
    }

    /// One violation on `field` per broken rule.
    pub fn report(&self, v: &mut Violations, field: &str) {
        for rule in &self.broken {
            v.add(field, rule.code(), rule.to_string());
        }
    }

    /// The violations of this error on `field`.
    pub fn violations(&self, field: &str) -> Violations {
        let mut v = Violations::new();
        self.report(&mut v, field);
        v
    }
}

impl fmt::Display for SlugError {
    /// The rules' messages, separated by spaces.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, rule) in self.broken.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{rule}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SlugError {}

impl Slug {
    /// Longest slug authentik stores (`varchar(50)`).
    pub const MAX_LEN: usize = 50;
    /// The characters of a slug, as authentik's validator writes them (and
    /// as [`Slug::parse`] checks them).
    pub const PATTERN: &'static str = "^[-a-zA-Z0-9_]+$";

    pub fn parse(value: &str) -> Result<Self, SlugError> {
        let mut broken = Vec::new();
        if value.is_empty() {
            broken.push(SlugRule::Blank);
        } else {
            if value.chars().count() > Self::MAX_LEN {
                broken.push(SlugRule::TooLong);
            }
            if value.contains('\0') {
                broken.push(SlugRule::NullCharacters);
            }
            if !value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                broken.push(SlugRule::Invalid);
            }
        }
        if broken.is_empty() {
            Ok(Self(value.to_owned()))
        } else {
            Err(SlugError { broken })
        }
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

    fn rules(value: &str) -> Vec<SlugRule> {
        Slug::parse(value).unwrap_err().rules().to_vec()
    }

    #[test]
    fn accepts_every_allowed_character_class() {
        for ok in ["a", "plex-login", "Plex_Login_2", "-", "_", &"x".repeat(50)] {
            assert_eq!(Slug::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn rejects_each_rule_with_its_own_error() {
        assert_eq!(rules(""), [SlugRule::Blank]);
        assert_eq!(rules(&"x".repeat(51)), [SlugRule::TooLong]);
        for bad in [" ", "a b", "a/b", "ä", "a.b", "a\n", "%"] {
            assert_eq!(rules(bad), [SlugRule::Invalid], "{bad:?}");
        }
    }

    #[test]
    fn every_broken_rule_is_reported_in_drf_order() {
        assert_eq!(
            rules(&format!("{} x", "a".repeat(60))),
            [SlugRule::TooLong, SlugRule::Invalid]
        );
        assert_eq!(rules("a\0b"), [SlugRule::NullCharacters, SlugRule::Invalid]);
        assert_eq!(
            rules(&"\0".repeat(51)),
            [
                SlugRule::TooLong,
                SlugRule::NullCharacters,
                SlugRule::Invalid
            ]
        );
        let err = Slug::parse(&"é".repeat(51)).unwrap_err();
        let v = err.violations("slug");
        let got: Vec<_> = v.iter().map(|x| (x.field.as_str(), x.code)).collect();
        assert_eq!(got, [("slug", "max_length"), ("slug", "invalid")]);
        assert!(err.breaks(SlugRule::TooLong));
        assert_eq!(
            err.to_string(),
            "Ensure this field has no more than 50 characters. Enter a valid \"slug\" consisting of letters, numbers, underscores or hyphens."
        );
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        // 50 multi-byte characters are too long only once they exceed 50.
        assert_eq!(rules(&"é".repeat(50)), [SlugRule::Invalid]);
        assert_eq!(
            rules(&"é".repeat(51)),
            [SlugRule::TooLong, SlugRule::Invalid]
        );
    }

    #[test]
    fn messages_quote_the_limit() {
        assert_eq!(
            SlugRule::TooLong.to_string(),
            "Ensure this field has no more than 50 characters."
        );
    }
}
