//! sea-orm entities for the tables of the `migrations` crate. The two
//! source ↔ property mapping link tables are reached through
//! [`super::links`] instead, as one code path serves both.

pub mod audit_event;
pub mod bootstrap_key;
pub mod flow;
pub mod permission_grant;
pub mod plex_source;
pub mod property_mapping;
pub mod role;
pub mod source_event;
pub mod token;
pub mod user;
pub mod user_role;
