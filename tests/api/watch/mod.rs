//! WatchPlexSources: live events in order, the initial snapshot, resuming
//! from a revision, visibility, revocation, blueprint writes and replicas.

mod change_log;
mod events;
mod fan_out;
mod gaps;
mod limits;
mod resume;
mod shutdown;
mod visibility;

use std::time::Duration;

use tonic::{Status, Streaming};

use crate::helpers::pb;

type Events = Streaming<pb::WatchPlexSourcesResponse>;
use pb::EventKind as Kind;

/// Guard against hanging only; events normally arrive within milliseconds.
const PATIENCE: Duration = Duration::from_secs(10);

/// Changes from now on.
fn live() -> pb::WatchPlexSourcesRequest {
    pb::WatchPlexSourcesRequest::default()
}

/// Every source the caller may view, then changes from there on.
fn snapshot() -> pb::WatchPlexSourcesRequest {
    pb::WatchPlexSourcesRequest {
        initial_snapshot: true,
        since_revision: None,
    }
}

/// The changes after `revision`, then live ones.
fn since(revision: i64) -> pb::WatchPlexSourcesRequest {
    pb::WatchPlexSourcesRequest {
        initial_snapshot: false,
        since_revision: Some(revision),
    }
}

/// The next message, which must be an event.
async fn next(stream: &mut Events) -> pb::WatchPlexSourcesResponse {
    match tokio::time::timeout(PATIENCE, stream.message()).await {
        Ok(Ok(Some(event))) => event,
        Ok(Ok(None)) => panic!("stream ended"),
        Ok(Err(status)) => panic!("stream failed: {status:?}"),
        Err(_) => panic!("no event within {PATIENCE:?}"),
    }
}

/// The next message, which must be an error.
async fn next_error(stream: &mut Events) -> Status {
    match tokio::time::timeout(PATIENCE, stream.message()).await {
        Ok(Ok(Some(event))) => panic!("expected an error, got {event:?}"),
        Ok(Ok(None)) => panic!("stream ended without an error"),
        Ok(Err(status)) => status,
        Err(_) => panic!("no error within {PATIENCE:?}"),
    }
}

fn kind(event: &pb::WatchPlexSourcesResponse) -> Kind {
    Kind::try_from(event.kind).expect("known kind")
}

/// (kind, slug) of each event, for compact comparisons.
fn summary(events: &[pb::WatchPlexSourcesResponse]) -> Vec<(Kind, &str)> {
    events.iter().map(|e| (kind(e), e.slug.as_str())).collect()
}

async fn take(stream: &mut Events, n: usize) -> Vec<pb::WatchPlexSourcesResponse> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(next(stream).await);
    }
    out
}

fn assert_increasing(events: &[pb::WatchPlexSourcesResponse]) {
    for pair in events.windows(2) {
        assert!(
            pair[0].revision < pair[1].revision,
            "revisions must increase: {} then {}",
            pair[0].revision,
            pair[1].revision
        );
    }
}

fn source_of(event: &pb::WatchPlexSourcesResponse) -> &pb::PlexSource {
    event
        .plex_source
        .as_ref()
        .unwrap_or_else(|| panic!("plex_source missing in {event:?}"))
}
