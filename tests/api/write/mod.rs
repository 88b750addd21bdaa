//! CreatePlexSource, UpdatePlexSource and DeletePlexSource: validation,
//! defaults, PUT versus PATCH, slug renames, cascades and permissions.

mod create;
mod delete;
mod permissions;
mod replicas;
mod slugs;
mod together;
mod update;

use plex_source_service::store::{self, Match};
use tonic::Status;
use tonic_types::StatusExt;

use crate::helpers::TestApp;

const CATALOG: &str = r#"
version: 1
entries:
  - model: authentik_flows.flow
    identifiers: {slug: w-auth}
    attrs: {name: Auth, designation: authentication}
  - model: authentik_flows.flow
    identifiers: {slug: w-enroll}
    attrs: {name: Enroll, designation: enrollment}
  - model: authentik_sources_plex.plexsourcepropertymapping
    identifiers: {name: w-user}
  - model: authentik_sources_plex.plexsourcepropertymapping
    identifiers: {name: w-group}
"#;

/// (field, message) of every violation.
pub fn violations(status: &Status) -> Vec<(String, String)> {
    status
        .get_details_bad_request()
        .map(|b| {
            b.field_violations
                .into_iter()
                .map(|v| (v.field, v.description))
                .collect()
        })
        .unwrap_or_default()
}

pub async fn count_sources(app: &TestApp) -> usize {
    store::find_source(&app.db, &Match::default())
        .await
        .expect("count sources")
        .len()
}
