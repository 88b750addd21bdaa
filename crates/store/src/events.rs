//! The change log of Plex sources (an outbox written in the same
//! transaction as the change), read by watchers on every replica.

use std::{collections::HashMap, sync::Arc};
use tracing::Instrument;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Select,
    sea_query::SimpleExpr,
};
use uuid::Uuid;

use super::{
    StoreError,
    entities::{plex_source, source_event},
    snapshot::Snapshot,
};
use domain::{PlexSource, PlexToken};

/// Key of the PostgreSQL advisory lock that writers share and a blueprint
/// import holds alone.
const WRITE_LOCK: i64 = 0x504c_4558_5352_4331; // "PLEXSRC1"

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Created,
    Updated,
    Deleted,
}

impl ChangeKind {
    fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Created => "created",
            ChangeKind::Updated => "updated",
            ChangeKind::Deleted => "deleted",
        }
    }

    fn parse(value: &str) -> Option<Self> {
        // Kinds are written by this service only; anything else is a row
        // this version cannot read.
        match value {
            "created" => Some(ChangeKind::Created),
            "updated" => Some(ChangeKind::Updated),
            "deleted" => Some(ChangeKind::Deleted),
            _ => None,
        }
    }
}

/// One logged change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceChange {
    pub revision: i64,
    pub kind: ChangeKind,
    pub source_pk: Uuid,
    pub slug: String,
    /// The source after the change (before it, for a delete). The log keeps
    /// no token: it is empty here until [`fill_current_tokens`] puts in
    /// the one the source has now (for readers allowed to see it). Shared:
    /// one change goes out on every stream of a replica.
    pub source: Arc<PlexSource>,
    /// For a delete: users who held the object view permission on it then
    /// (the grants go with the source).
    pub viewers: Vec<Uuid>,
}

/// Starts a transaction that may change sources.
///
/// On PostgreSQL, writers run side by side (each locks the rows it changes,
/// see [`super::lock_source_by_slug`]), so their revisions can commit out
/// of order: revision 11 may be visible while 10 is still being written.
/// The change feed waits for such a gap to fill or to be abandoned (see
/// [`Running`]); for that, each writer takes its transaction id before it
/// can draw a revision. It also takes the writers' advisory lock in shared
/// mode, so a blueprint import ([`begin_exclusive_write`]) runs alone.
///
/// On SQLite the transaction is `BEGIN IMMEDIATE`: it takes the single
/// write lock up front (waiting up to the busy timeout), so writers commit
/// one after another in revision order, and two replicas sharing a file
/// never fail a read-then-write upgrade.
pub async fn begin_write(db: &crate::Db) -> Result<crate::Txn, StoreError> {
    let span = crate::db_span(db, "db begin_write", "BEGIN", None);
    async move { begin_locked(&db.0, "pg_advisory_xact_lock_shared").await }
        .instrument(span)
        .await
}

/// Starts a write transaction that runs alone: no other write of any
/// replica runs until it ends (a blueprint import reads what it is about
/// to change and must not be raced).
pub async fn begin_exclusive_write(db: &crate::Db) -> Result<crate::Txn, StoreError> {
    let span = crate::db_span(db, "db begin_exclusive_write", "BEGIN", None);
    async move { begin_locked(&db.0, "pg_advisory_xact_lock").await }
        .instrument(span)
        .await
}

async fn begin_locked(db: &DatabaseConnection, lock: &str) -> Result<crate::Txn, StoreError> {
    let txn = crate::handle::begin_immediate(db).await?;
    if txn.get_database_backend() == DatabaseBackend::Postgres {
        txn.execute_unprepared(&format!(
            "SELECT {lock}({WRITE_LOCK}), pg_current_xact_id()"
        ))
        .await?;
    }
    Ok(crate::Txn(txn))
}

/// Logs a change of `source` (as it is after the change; before it, for a
/// delete); call inside the transaction that makes it, opened with
/// [`begin_write`].
pub async fn append<C: crate::Conn>(
    db: &C,
    kind: ChangeKind,
    source: &PlexSource,
    viewers: &[Uuid],
) -> Result<(), StoreError> {
    let snapshot = Snapshot::of(source, viewers).encode();
    append_as_written(
        db,
        kind.as_str(),
        source.pk,
        source.fields.slug.as_str(),
        snapshot,
    )
    .await
}

/// Logs a row exactly as given, snapshot text included: how another
/// version of the service (older or newer) would have written it. For
/// tools and tests; the service logs its changes with [`append`].
pub async fn append_as_written<C: crate::Conn>(
    db: &C,
    kind: &str,
    source_pk: Uuid,
    slug: &str,
    snapshot: String,
) -> Result<(), StoreError> {
    let db = &crate::raw(db);
    source_event::Entity::insert(source_event::ActiveModel {
        revision: NotSet,
        kind: Set(kind.to_owned()),
        source_pk: Set(source_pk),
        slug: Set(slug.to_owned()),
        snapshot: Set(Some(snapshot)),
        created: Set(Utc::now()),
    })
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// Changes after `revision`, oldest first, at most `limit`. A row this
/// version cannot read is an error, never skipped: a watcher must not miss
/// a change silently.
pub async fn changes_after<C: crate::Conn>(
    db: &C,
    revision: i64,
    limit: u64,
) -> Result<Vec<SourceChange>, StoreError> {
    let find = source_event::Entity::find()
        .filter(source_event::Column::Revision.gt(revision))
        .limit(limit);
    oldest_first(db, find).await
}

/// The changes at these revisions, oldest first: what came of revisions
/// found missing earlier.
pub async fn changes_at<C: crate::Conn>(
    db: &C,
    revisions: &[i64],
) -> Result<Vec<SourceChange>, StoreError> {
    if revisions.is_empty() {
        return Ok(Vec::new());
    }
    let find = source_event::Entity::find()
        .filter(source_event::Column::Revision.is_in(revisions.iter().copied()));
    oldest_first(db, find).await
}

/// The changes `find` selects, oldest first.
async fn oldest_first<C: crate::Conn>(
    db: &C,
    find: Select<source_event::Entity>,
) -> Result<Vec<SourceChange>, StoreError> {
    let db = &crate::raw(db);
    let rows = find
        .order_by_asc(source_event::Column::Revision)
        .all(db)
        .await?;
    rows.into_iter().map(decode).collect()
}

fn decode(row: source_event::Model) -> Result<SourceChange, StoreError> {
    let unreadable =
        |why: &str| StoreError::Corrupt(format!("change log revision {}: {why}", row.revision));
    let kind = ChangeKind::parse(&row.kind).ok_or_else(|| unreadable("unknown kind"))?;
    let text = row
        .snapshot
        .as_deref()
        .ok_or_else(|| unreadable("no snapshot"))?;
    let mut snapshot = Snapshot::decode(text).map_err(|why| unreadable(&why))?;
    let viewers = std::mem::take(&mut snapshot.viewers);
    Ok(SourceChange {
        revision: row.revision,
        kind,
        source_pk: row.source_pk,
        slug: row.slug,
        source: Arc::new(snapshot.into_source(PlexToken::new(""))?),
        viewers,
    })
}

/// Puts into each change's source the Plex token the source has now, in
/// one query; empty for sources that are gone.
pub async fn fill_current_tokens<C: crate::Conn>(
    db: &C,
    changes: &mut [SourceChange],
) -> Result<(), StoreError> {
    let db = &crate::raw(db);
    let mut pks: Vec<Uuid> = changes.iter().map(|c| c.source_pk).collect();
    pks.sort_unstable();
    pks.dedup();
    if pks.is_empty() {
        return Ok(());
    }
    let tokens: HashMap<Uuid, String> = plex_source::Entity::find()
        .select_only()
        .column(plex_source::Column::Pk)
        .column(plex_source::Column::PlexToken)
        .filter(plex_source::Column::Pk.is_in(pks))
        .into_tuple::<(Uuid, String)>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    for change in changes {
        let token = tokens.get(&change.source_pk).cloned().unwrap_or_default();
        Arc::make_mut(&mut change.source).fields.plex_token = PlexToken::new(token);
    }
    Ok(())
}

/// The newest revision, 0 before any change.
pub async fn latest_revision<C: crate::Conn>(db: &C) -> Result<i64, StoreError> {
    let max = revision_aggregate(db, source_event::Column::Revision.max(), "max").await?;
    Ok(max.unwrap_or(0))
}

/// What replicas poll, in one round trip.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PollState {
    /// The newest visible source revision, 0 before any change.
    pub revision: i64,
    /// The access epoch, bumped by every change to users, roles, tokens or
    /// grants.
    pub access: i64,
    /// Which writes were still running as these were read.
    pub running: Running,
}

/// The writes running at one instant, as PostgreSQL's snapshot tells them:
/// every transaction id below `xmin` had ended, every one from `xmax` on
/// had not started. A revision missing below a visible one belongs to a
/// write that drew it before the visible one committed, so to a
/// transaction below that instant's `xmax`; once a later instant's `xmin`
/// has passed that `xmax`, the write has ended, and a revision still
/// missing was rolled back and never comes. On SQLite writers commit in
/// revision order, nothing is ever running here, and a gap is final at
/// once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Running {
    pub xmin: i64,
    pub xmax: i64,
}

impl Running {
    /// Whether every write running at `earlier` has ended by `self`.
    pub fn ended(self, earlier: Running) -> bool {
        self.xmin >= earlier.xmax
    }
}

/// The newest source revision, the access epoch and the running writes.
pub async fn poll_state(db: &crate::Db) -> Result<PollState, StoreError> {
    let db = &db.0;
    let backend = db.get_database_backend();
    // One statement, so all three come from one snapshot.
    let running = if backend == DatabaseBackend::Postgres {
        "pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS xmin, \
         pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS xmax"
    } else {
        "0 AS xmin, 0 AS xmax"
    };
    let sql = format!(
        "SELECT (SELECT MAX(revision) FROM plex_source_events) AS revision, \
         (SELECT value FROM store_epochs WHERE name = 'access') AS access, {running}"
    );
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(backend, sql))
        .await?;
    let Some(row) = row else {
        return Ok(PollState::default());
    };
    let revision: Option<i64> = row.try_get("", "revision")?;
    let access: Option<i64> = row.try_get("", "access")?;
    Ok(PollState {
        revision: revision.unwrap_or(0),
        access: access.unwrap_or(0),
        running: Running {
            xmin: row.try_get("", "xmin")?,
            xmax: row.try_get("", "xmax")?,
        },
    })
}

/// The transactions of this database holding the writers' lock shared,
/// by virtual transaction id; none on SQLite. One holding it alone (a
/// blueprint import) is left out: it drew its revisions after every one
/// visible, so no gap below a visible revision can be its.
pub async fn write_lock_holders(db: &crate::Db) -> Result<Vec<String>, StoreError> {
    let db = &db.0;
    let backend = db.get_database_backend();
    if backend != DatabaseBackend::Postgres {
        return Ok(Vec::new());
    }
    // A bigint advisory key is shown as its high and low halves.
    let (high, low) = (WRITE_LOCK >> 32, WRITE_LOCK & 0xffff_ffff);
    let sql = format!(
        "SELECT virtualtransaction AS holder FROM pg_locks \
         WHERE locktype = 'advisory' AND objsubid = 1 AND granted AND mode = 'ShareLock' \
         AND classid::bigint = {high} AND objid::bigint = {low} \
         AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    );
    let rows = db
        .query_all_raw(sea_orm::Statement::from_string(backend, sql))
        .await?;
    rows.iter()
        .map(|row| {
            row.try_get::<String>("", "holder")
                .map_err(StoreError::from)
        })
        .collect()
}

/// The oldest revision still retained, if any.
pub async fn oldest_revision<C: crate::Conn>(db: &C) -> Result<Option<i64>, StoreError> {
    revision_aggregate(db, source_event::Column::Revision.min(), "min").await
}

/// An aggregate of the revisions retained (`MAX`, `MIN`) as `alias`;
/// `None` while the log is empty.
async fn revision_aggregate<C: crate::Conn>(
    db: &C,
    aggregate: SimpleExpr,
    alias: &str,
) -> Result<Option<i64>, StoreError> {
    let db = &crate::raw(db);
    let value: Option<Option<i64>> = source_event::Entity::find()
        .select_only()
        .column_as(aggregate, alias)
        .into_tuple()
        .one(db)
        .await?;
    Ok(value.flatten())
}

/// Forgets changes made before `before`, always keeping the newest so the
/// revision counter stays known.
pub async fn prune<C: crate::Conn>(db: &C, before: DateTime<Utc>) -> Result<u64, StoreError> {
    let db = &crate::raw(db);
    let latest = latest_revision(db).await?;
    let result = source_event::Entity::delete_many()
        .filter(source_event::Column::Created.lt(before))
        .filter(source_event::Column::Revision.lt(latest))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}
