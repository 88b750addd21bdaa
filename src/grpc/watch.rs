//! `WatchPlexSources`: an optional snapshot, then one event per change of a
//! source the caller may view, read from the change log from the stream's
//! own cursor; each event carries the source as that change left it.
//! Permissions are re-read before every batch of events.

use std::{collections::HashSet, pin::Pin};

use tokio::sync::mpsc;
use tokio_stream::{Stream, wrappers::ReceiverStream};
use tonic::Status;
use uuid::Uuid;

use super::{
    error::{AuthFailure, ServiceError},
    service::PlexSources,
};
use crate::{
    domain::access::{Caller, Permission},
    proto as pb,
    store::{
        self, SourceFilter,
        events::{self, ChangeKind},
    },
};

pub type WatchStream =
    Pin<Box<dyn Stream<Item = Result<pb::WatchPlexSourcesResponse, Status>> + Send>>;

/// Changes read from the log per query.
const BATCH: u64 = 500;
/// Sources per snapshot page.
const SNAPSHOT_PAGE: u64 = 500;

/// Checks the resume point, then streams from a task of its own.
pub async fn watch(
    service: PlexSources,
    caller: Caller,
    request: pb::WatchPlexSourcesRequest,
) -> Result<WatchStream, ServiceError> {
    let db = service.db();
    let latest = events::latest_revision(db).await?;
    let cursor = match request.since_revision {
        None => latest,
        Some(since) if since > latest => {
            return Err(ServiceError::OutOfRange(format!(
                "revision {since} is ahead of the newest ({latest}); resync with initial_snapshot"
            )));
        }
        Some(since) => {
            let oldest = events::oldest_revision(db).await?.unwrap_or(latest + 1);
            if since + 1 < oldest && since < latest {
                return Err(ServiceError::OutOfRange(format!(
                    "changes after revision {since} are no longer retained; resync with initial_snapshot"
                )));
            }
            since
        }
    };
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        let mut stream = Watcher {
            service,
            caller,
            cursor,
            seen: HashSet::new(),
            tx,
        };
        if let Err(status) = stream.run(request.initial_snapshot, latest).await {
            let _ = stream.tx.send(Err(status)).await;
        }
    });
    Ok(Box::pin(ReceiverStream::new(rx)))
}

struct Watcher {
    service: PlexSources,
    caller: Caller,
    /// Last revision handled.
    cursor: i64,
    /// Sources this stream has shown, so their deletion can be told even
    /// after the object permission went with them.
    seen: HashSet<Uuid>,
    tx: mpsc::Sender<Result<pb::WatchPlexSourcesResponse, Status>>,
}

/// The client went away: stop quietly.
struct Gone;

impl Watcher {
    async fn run(&mut self, snapshot: bool, snapshot_revision: i64) -> Result<(), Status> {
        let mut latest = self.service.feed().subscribe();
        if snapshot && self.snapshot(snapshot_revision).await.is_err() {
            return Ok(());
        }
        loop {
            if self.catch_up().await?.is_err() {
                return Ok(());
            }
            tokio::select! {
                changed = latest.changed() => if changed.is_err() { return Ok(()) },
                () = self.tx.closed() => return Ok(()),
            }
        }
    }

    async fn send(&self, event: pb::WatchPlexSourcesResponse) -> Result<(), Gone> {
        self.tx.send(Ok(event)).await.map_err(|_| Gone)
    }

    /// Every visible source, then SNAPSHOT_COMPLETE, all at `revision`.
    async fn snapshot(&mut self, revision: i64) -> Result<(), Gone> {
        let ordering = crate::domain::listing::parse_ordering("pk").unwrap_or_default();
        let mut filter = SourceFilter::default();
        if !self.caller.may_globally(Permission::View) {
            filter.visible = Some(self.caller.objects_with(Permission::View));
        }
        let mut after = None;
        loop {
            let page = match store::list_sources(
                self.service.db(),
                &filter,
                &ordering,
                after.as_deref(),
                SNAPSHOT_PAGE,
            )
            .await
            {
                Ok(page) => page,
                Err(err) => {
                    let _ = self.tx.send(Err(ServiceError::from(err).into())).await;
                    return Err(Gone);
                }
            };
            let rendered = match self.service.render_all(&self.caller, &page.sources).await {
                Ok(r) => r,
                Err(err) => {
                    let _ = self.tx.send(Err(err.into())).await;
                    return Err(Gone);
                }
            };
            for (source, wire) in page.sources.iter().zip(rendered) {
                self.seen.insert(source.pk);
                self.send(event(
                    revision,
                    pb::EventKind::Existing,
                    source.pk,
                    source.fields.slug.as_str(),
                    Some(wire),
                ))
                .await?;
            }
            match (page.more, page.sources.last()) {
                (true, Some(last)) => after = Some(store::cursor_of(last, &ordering)),
                _ => break,
            }
        }
        self.send(event(
            revision,
            pb::EventKind::SnapshotComplete,
            Uuid::nil(),
            "",
            None,
        ))
        .await
    }

    /// Sends every logged change after the cursor that the caller may see.
    async fn catch_up(&mut self) -> Result<Result<(), Gone>, Status> {
        loop {
            let db = self.service.db();
            let changes = events::changes_after(db, self.cursor, BATCH)
                .await
                .map_err(ServiceError::from)?;
            if changes.is_empty() {
                return Ok(Ok(()));
            }
            // Permissions as they stand now: a revoked token, user or grant
            // ends or narrows the stream before the next event.
            self.caller =
                store::access::reauthenticate(db, self.caller.token_id, chrono::Utc::now())
                    .await
                    .map_err(ServiceError::from)?
                    .ok_or(ServiceError::Unauthenticated(AuthFailure::Invalid))?;
            for change in changes {
                self.cursor = change.revision;
                if self.deliver(change).await?.is_err() {
                    return Ok(Err(Gone));
                }
            }
        }
    }

    async fn deliver(&mut self, change: events::SourceChange) -> Result<Result<(), Gone>, Status> {
        let pk = change.source_pk;
        if change.kind == ChangeKind::Deleted {
            // Object grants go with the source: those who held one then,
            // and streams that showed it, are told too.
            let known = self.seen.remove(&pk);
            if known
                || change.viewers.contains(&self.caller.user_id)
                || self.caller.may_globally(Permission::View)
            {
                return Ok(self
                    .send(event(
                        change.revision,
                        pb::EventKind::Deleted,
                        pk,
                        &change.slug,
                        None,
                    ))
                    .await);
            }
            return Ok(Ok(()));
        }
        // The source as this change left it.
        let Some(source) = change.source else {
            return Ok(Ok(()));
        };
        if !self.caller.may(Permission::View, Some(pk)) {
            self.seen.remove(&pk);
            return Ok(Ok(()));
        }
        let wire = self.service.render(&self.caller, &source).await?;
        self.seen.insert(pk);
        let kind = match change.kind {
            ChangeKind::Created => pb::EventKind::Created,
            _ => pb::EventKind::Updated,
        };
        Ok(self
            .send(event(
                change.revision,
                kind,
                pk,
                source.fields.slug.as_str(),
                Some(wire),
            ))
            .await)
    }
}

fn event(
    revision: i64,
    kind: pb::EventKind,
    pk: Uuid,
    slug: &str,
    source: Option<pb::PlexSource>,
) -> pb::WatchPlexSourcesResponse {
    pb::WatchPlexSourcesResponse {
        revision,
        kind: kind as i32,
        plex_source: source,
        slug: slug.to_owned(),
        pk: if pk.is_nil() {
            String::new()
        } else {
            pk.to_string()
        },
    }
}
