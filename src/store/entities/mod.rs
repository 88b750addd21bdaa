//! sea-orm entities for the tables of the `migrations` crate. The two
//! source ↔ property mapping link tables are reached through
//! [`super::links`] instead, as one code path serves both.

pub mod flow;
pub mod plex_source;
pub mod property_mapping;
