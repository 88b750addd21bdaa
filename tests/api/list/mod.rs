//! ListPlexSources: keyset pages under concurrent inserts, page sizes, page
//! tokens, search, exact filters, ordering and visibility, over real gRPC.

mod filters;
mod ordering;
mod paging;
mod search;
mod tokens;
mod visibility;

use tonic::{Code, Status};
use tonic_types::StatusExt;

use crate::helpers::{Caller, TestApp, pb};

type ListRequest = pb::ListPlexSourcesRequest;

/// One blueprint entry for a Plex source; `extra` is appended to its
/// flow-style attrs (e.g. `"enabled: false"`).
pub fn source_entry(slug: &str, name: &str, extra: &str) -> String {
    let name = serde_json::to_string(name).expect("json string");
    let extra = if extra.is_empty() {
        String::new()
    } else {
        format!(", {extra}")
    };
    format!(
        "  - model: authentik_sources_plex.plexsource\n    identifiers: {{slug: {slug}}}\n    attrs: {{name: {name}, plex_token: token-{slug}{extra}}}\n"
    )
}

pub fn blueprint(entries: &[String]) -> String {
    format!("version: 1\nentries:\n{}", entries.concat())
}

/// Every page of a request, followed to the end.
pub async fn list_all<'k>(
    app: &TestApp,
    caller: impl Into<Caller<'k>>,
    request: ListRequest,
) -> Vec<pb::PlexSource> {
    let caller = caller.into();
    let mut out = Vec::new();
    let mut token = String::new();
    for _ in 0..1000 {
        let page = app
            .list(
                caller,
                ListRequest {
                    page_token: token.clone(),
                    ..request.clone()
                },
            )
            .await
            .expect("page");
        out.extend(page.plex_sources);
        if page.next_page_token.is_empty() {
            return out;
        }
        token = page.next_page_token;
    }
    panic!("pagination does not end");
}

pub fn slugs(sources: &[pb::PlexSource]) -> Vec<&str> {
    sources.iter().map(|s| s.slug.as_str()).collect()
}

pub fn sorted_slugs(sources: &[pb::PlexSource]) -> Vec<&str> {
    let mut out = slugs(sources);
    out.sort_unstable();
    out
}

/// INVALID_ARGUMENT with a BadRequest violation on `field`; its description.
pub fn assert_invalid(status: &Status, field: &str) -> String {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let bad = status
        .get_details_bad_request()
        .unwrap_or_else(|| panic!("BadRequest detail in {status:?}"));
    let violation = bad
        .field_violations
        .iter()
        .find(|v| v.field == field)
        .unwrap_or_else(|| panic!("no violation on {field}: {:?}", bad.field_violations));
    assert!(!violation.description.is_empty());
    violation.description.clone()
}
