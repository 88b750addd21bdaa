//! The three choice fields of a Plex source, with authentik's stored values.

use std::{fmt, str::FromStr};

/// A value that is not one of a choice field's options. Displays as
/// authentik's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("\"{0}\" is not a valid choice.")]
pub struct InvalidChoice(pub String);

macro_rules! choice_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $value:literal),+ $(,)? } default $default:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every option, in authentik's order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The value authentik stores and its REST API returns.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $value),+
                }
            }
        }

        impl Default for $name {
            fn default() -> Self {
                $name::$default
            }
        }

        impl FromStr for $name {
            type Err = InvalidChoice;

            fn from_str(value: &str) -> Result<Self, Self::Err> {
                match value {
                    $($value => Ok($name::$variant),)+
                    other => Err(InvalidChoice(other.to_owned())),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

choice_enum! {
    /// How the results of the policies bound to the source are combined.
    PolicyEngineMode {
        /// Access only if every bound policy passes.
        All => "all",
        /// Access if at least one bound policy passes.
        Any => "any",
    } default Any
}

choice_enum! {
    /// What happens when a Plex identity arrives that is not linked to a user.
    UserMatchingMode {
        /// Match only on the Plex account id; never link automatically.
        Identifier => "identifier",
        /// Link to an existing user with the same email address.
        EmailLink => "email_link",
        /// Refuse enrollment if a user with that email exists.
        EmailDeny => "email_deny",
        /// Link to an existing user with the same username.
        UsernameLink => "username_link",
        /// Refuse enrollment if that username exists.
        UsernameDeny => "username_deny",
    } default Identifier
}

choice_enum! {
    /// What happens to groups delivered by the source.
    GroupMatchingMode {
        /// Match only on the source's group identifier.
        Identifier => "identifier",
        /// Link to an existing group with the same name.
        NameLink => "name_link",
        /// Refuse creation if a group with that name exists.
        NameDeny => "name_deny",
    } default Identifier
}

choice_enum! {
    /// What a flow is for; a Plex source accepts flows of any designation.
    FlowDesignation {
        Authentication => "authentication",
        Authorization => "authorization",
        Invalidation => "invalidation",
        Enrollment => "enrollment",
        Unenrollment => "unenrollment",
        Recovery => "recovery",
        StageConfiguration => "stage_configuration",
    } default Authentication
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_round_trips() {
        for mode in UserMatchingMode::ALL {
            assert_eq!(mode.as_str().parse::<UserMatchingMode>(), Ok(*mode));
        }
        for mode in GroupMatchingMode::ALL {
            assert_eq!(mode.as_str().parse::<GroupMatchingMode>(), Ok(*mode));
        }
        for mode in PolicyEngineMode::ALL {
            assert_eq!(mode.as_str().parse::<PolicyEngineMode>(), Ok(*mode));
        }
    }

    #[test]
    fn unknown_values_get_authentiks_message() {
        let err = "ALL".parse::<PolicyEngineMode>().unwrap_err();
        assert_eq!(err.to_string(), "\"ALL\" is not a valid choice.");
    }

    #[test]
    fn defaults_are_authentiks() {
        assert_eq!(PolicyEngineMode::default(), PolicyEngineMode::Any);
        assert_eq!(UserMatchingMode::default(), UserMatchingMode::Identifier);
        assert_eq!(GroupMatchingMode::default(), GroupMatchingMode::Identifier);
    }
}
