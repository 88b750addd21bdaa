//! The audit log: every hand-out of a Plex owner's token is recorded.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ConnectionTrait, EntityTrait, QueryOrder,
};
use uuid::Uuid;

use crate::{
    domain::{Slug, access::Caller},
    store::{StoreError, entities::audit_event},
};

/// Audit action recorded whenever a Plex owner's token is handed out.
pub const SECRET_VIEW: &str = "secret_view";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    pub action: String,
    pub username: String,
    pub object_pk: Option<Uuid>,
    pub object_slug: String,
    pub created: DateTime<Utc>,
}

/// Records that `caller` was handed the Plex tokens of these sources, in
/// one statement.
pub async fn record_token_views<C: ConnectionTrait>(
    db: &C,
    caller: &Caller,
    sources: &[(Uuid, &Slug)],
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    if sources.is_empty() {
        return Ok(());
    }
    let rows = sources.iter().map(|(pk, slug)| audit_event::ActiveModel {
        id: NotSet,
        action: Set(SECRET_VIEW.to_owned()),
        username: Set(caller.username.clone()),
        user_id: Set(Some(caller.user_id)),
        object_pk: Set(Some(*pk)),
        object_slug: Set(slug.as_str().to_owned()),
        created: Set(at),
    });
    audit_event::Entity::insert_many(rows)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Audit events, oldest first.
pub async fn list_audit_events<C: ConnectionTrait>(db: &C) -> Result<Vec<AuditRow>, StoreError> {
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
        })
        .collect())
}
