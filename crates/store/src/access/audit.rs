//! The audit log: every hand-out of a Plex owner's token is recorded, as
//! one row per caller and source for each flush interval, with a count.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    EntityTrait, QueryOrder,
};
use uuid::Uuid;

use crate::{StoreError, entities::audit_event};

/// Audit action recorded whenever a Plex owner's token is handed out.
pub const SECRET_VIEW: &str = "secret_view";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    pub action: String,
    pub username: String,
    pub object_pk: Option<Uuid>,
    pub object_slug: String,
    /// First hand-out the row stands for.
    pub created: DateTime<Utc>,
    /// Last hand-out the row stands for (`created` for a row of one).
    pub last_seen: DateTime<Utc>,
    /// Hand-outs the row stands for.
    pub occurrences: i64,
}

/// Hand-outs of one source's Plex token to one user, between `first` and
/// `last`, as the audit trail keeps them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenViews {
    pub user_id: Uuid,
    pub username: String,
    pub source_pk: Uuid,
    pub slug: String,
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
    pub count: i64,
}

/// Records hand-outs of Plex tokens, in one statement.
pub async fn record_token_views<C: crate::Conn>(
    db: &C,
    views: &[TokenViews],
) -> Result<(), StoreError> {
    let db = &crate::raw(db);
    if views.is_empty() {
        return Ok(());
    }
    let rows = views.iter().map(|v| audit_event::ActiveModel {
        id: NotSet,
        action: Set(SECRET_VIEW.to_owned()),
        username: Set(v.username.clone()),
        user_id: Set(Some(v.user_id)),
        object_pk: Set(Some(v.source_pk)),
        object_slug: Set(v.slug.clone()),
        created: Set(v.first),
        occurrences: Set(v.count),
        last_seen: Set((v.count > 1).then_some(v.last)),
    });
    audit_event::Entity::insert_many(rows)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Audit events, oldest first.
pub async fn list_audit_events<C: crate::Conn>(db: &C) -> Result<Vec<AuditRow>, StoreError> {
    let db = &crate::raw(db);
    Ok(audit_event::Entity::find()
        .order_by_asc(audit_event::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(|e| AuditRow {
            action: e.action,
            username: e.username,
            object_pk: e.object_pk,
            object_slug: e.object_slug,
            created: e.created,
            last_seen: e.last_seen.unwrap_or(e.created),
            occurrences: e.occurrences,
        })
        .collect())
}
