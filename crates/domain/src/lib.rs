//! The Plex source as authentik defines it: validated types and the rules
//! that build them. Nothing here knows about gRPC or the database.

pub mod access;
pub mod attributes;
pub mod bootstrap_key;
mod draft;
pub mod drf;
pub mod listing;
mod modes;
mod names;
pub mod plex_source;
mod plex_token;
mod slug;
pub mod violations;

pub use draft::{
    Field, Input, MAX_ALLOWED_SERVERS, MAX_PROPERTY_MAPPINGS, PlexSourceDraft, Reference,
};
pub use draft::{flag as draft_flag, required_text as draft_required_text};
pub use modes::{
    FlowDesignation, GroupMatchingMode, InvalidChoice, PolicyEngineMode, UserMatchingMode,
};
pub use names::{NameProblem, RoleName, RoleNameError, UserName, UserNameError};
pub use plex_source::{PlexSource, PlexSourceFields};
pub use plex_token::PlexToken;
pub use slug::{Slug, SlugError, SlugRule};
pub use violations::{FieldViolation, Violations};
