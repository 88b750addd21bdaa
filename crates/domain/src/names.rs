//! User and role names. The command line and blueprints both create users
//! and roles, so the rules live here once: surrounding whitespace is
//! dropped and what remains must be 1 to `MAX_LEN` characters.

use std::fmt;

/// Why a user or role name was refused: blueprints report each case with
/// authentik's own message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameProblem {
    /// Nothing but whitespace.
    Blank,
    /// More than `MAX_LEN` characters once trimmed.
    TooLong,
}

/// Declares a name type, its error and its rule once for each kind of name.
macro_rules! name {
    ($(#[$meta:meta])* $name:ident, $error:ident, $what:literal, $max:literal) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        #[doc = concat!("A blank or too long ", $what, ".")]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
        #[error("{} must be 1 to {} characters", $what, $name::MAX_LEN)]
        pub struct $error(pub NameProblem);

        impl $name {
            #[doc = concat!("Longest ", $what, " authentik stores (`varchar(", stringify!($max), ")`).")]
            pub const MAX_LEN: usize = $max;

            pub fn parse(value: &str) -> Result<Self, $error> {
                trimmed_within(value, Self::MAX_LEN)
                    .map(|name| Self(name.to_owned()))
                    .map_err($error)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({:?})"), self.0)
            }
        }
    };
}

name!(
    /// A username as authentik stores it: trimmed, 1 to
    /// [`UserName::MAX_LEN`] characters.
    UserName,
    UserNameError,
    "username",
    150
);
name!(
    /// A role name as authentik stores it: trimmed, 1 to
    /// [`RoleName::MAX_LEN`] characters.
    RoleName,
    RoleNameError,
    "role name",
    150
);

/// `value` without surrounding whitespace, if that is 1 to `max`
/// characters (not bytes).
fn trimmed_within(value: &str, max: usize) -> Result<&str, NameProblem> {
    let value = value.trim();
    if value.is_empty() {
        Err(NameProblem::Blank)
    } else if value.chars().count() > max {
        Err(NameProblem::TooLong)
    } else {
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed() {
        assert_eq!(UserName::parse("  alice\t").unwrap().as_str(), "alice");
        assert_eq!(RoleName::parse(" readers ").unwrap().as_str(), "readers");
    }

    #[test]
    fn blank_names_are_rejected() {
        for blank in ["", " ", "\t\n"] {
            let problem = NameProblem::Blank;
            assert_eq!(UserName::parse(blank), Err(UserNameError(problem)));
            assert_eq!(RoleName::parse(blank), Err(RoleNameError(problem)));
        }
    }

    #[test]
    fn length_counts_characters_after_trimming() {
        let longest = "é".repeat(150);
        assert_eq!(UserName::parse(&longest).unwrap().as_str(), longest);
        assert_eq!(
            RoleName::parse(&format!(" {longest} ")).unwrap().as_str(),
            longest
        );
        let too_long = "é".repeat(151);
        let problem = NameProblem::TooLong;
        assert_eq!(UserName::parse(&too_long), Err(UserNameError(problem)));
        assert_eq!(RoleName::parse(&too_long), Err(RoleNameError(problem)));
    }

    #[test]
    fn messages_quote_the_limit() {
        assert_eq!(
            UserNameError(NameProblem::TooLong).to_string(),
            "username must be 1 to 150 characters"
        );
        assert_eq!(
            RoleNameError(NameProblem::Blank).to_string(),
            "role name must be 1 to 150 characters"
        );
    }
}
