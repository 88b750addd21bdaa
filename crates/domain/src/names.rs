//! User and role names. The command line and blueprints both create users
//! and roles, so the rules live here once: surrounding whitespace is
//! dropped and what remains must be 1 to `MAX_LEN` characters.

use std::fmt;

/// A username as authentik stores it: trimmed, 1 to [`UserName::MAX_LEN`]
/// characters.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserName(String);

/// Why a user or role name was refused: blueprints report each case with
/// authentik's own message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameProblem {
    /// Nothing but whitespace.
    Blank,
    /// More than `MAX_LEN` characters once trimmed.
    TooLong,
}

/// A blank or too long username.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("username must be 1 to {max} characters", max = UserName::MAX_LEN)]
pub struct UserNameError(pub NameProblem);

impl UserName {
    /// Longest username authentik stores (`varchar(150)`).
    pub const MAX_LEN: usize = 150;

    pub fn parse(value: &str) -> Result<Self, UserNameError> {
        trimmed_within(value, Self::MAX_LEN)
            .map(|name| Self(name.to_owned()))
            .map_err(UserNameError)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A role name as authentik stores it: trimmed, 1 to [`RoleName::MAX_LEN`]
/// characters.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoleName(String);

/// A blank or too long role name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("role name must be 1 to {max} characters", max = RoleName::MAX_LEN)]
pub struct RoleNameError(pub NameProblem);

impl RoleName {
    /// Longest role name authentik stores (`varchar(150)`).
    pub const MAX_LEN: usize = 150;

    pub fn parse(value: &str) -> Result<Self, RoleNameError> {
        trimmed_within(value, Self::MAX_LEN)
            .map(|name| Self(name.to_owned()))
            .map_err(RoleNameError)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

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

impl AsRef<str> for UserName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for UserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UserName({:?})", self.0)
    }
}

impl AsRef<str> for RoleName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RoleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RoleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RoleName({:?})", self.0)
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
