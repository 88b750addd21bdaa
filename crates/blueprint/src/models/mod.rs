//! The supported blueprint models (their names and identifiers), the
//! [`Target`] each one implements, and the rules every model shares:
//! identifiers, unknown attributes, uniqueness and references.
//!
//! This file holds [`Model`], the models stored, with their names; the rest
//! is split by concern:
//! - [`authentik`] lists every model authentik accepts in a blueprint and
//!   tells the stored ones from the others;
//! - [`fields`] holds the fields each stored model serializes to, with how
//!   each compares, and the keys dropped as read-only;
//! - [`query`] reads identifiers and `!Find` into the objects they select;
//! - [`target`] holds the [`Target`] trait and the typing of drafts;
//! - [`record`] holds what the models stored as one record share (their
//!   draft's rules, uniqueness, the store steps).

mod authentik;
mod fields;
mod query;
mod record;
mod target;

pub(crate) use authentik::{Known, known, rbac_models};
pub(crate) use fields::{Kind, ignore};
pub(crate) use query::{Query, Refused, find_matching, identity, lookup_value};
pub(crate) use record::{RecordDraft, Unique, check_record, record_steps};
pub(crate) use target::{Attributes, RefField, Referenced, Target, finished};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Model {
    PlexSource,
    Flow,
    PropertyMapping,
    User,
    Role,
}

impl Model {
    /// The model an entry names; authentik matches model names regardless
    /// of case.
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        [
            Model::PlexSource,
            Model::Flow,
            Model::PropertyMapping,
            Model::User,
            Model::Role,
        ]
        .into_iter()
        .find(|m| m.name().eq_ignore_ascii_case(name))
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Model::PlexSource => domain::plex_source::META_MODEL_NAME,
            Model::Flow => "authentik_flows.flow",
            Model::PropertyMapping => "authentik_sources_plex.plexsourcepropertymapping",
            Model::User => "authentik_core.user",
            Model::Role => "authentik_rbac.role",
        }
    }
}

#[cfg(test)]
mod tests;
