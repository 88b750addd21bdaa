//! Who presents a key: the caller behind an API token, with the grants it
//! holds directly and through its roles.

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, EntityTrait, QueryFilter, QuerySelect,
    sea_query::{ExprTrait, Query},
};
use tracing::Instrument;
use uuid::Uuid;

use domain::access::{Caller, Grant};

use crate::{
    StoreError,
    entities::{permission_grant, token, user, user_role},
};

/// The caller whose key hashes to `key_hash` (see
/// [`domain::access::hash_key`]), or `None` for an unknown or
/// expired key or an inactive user.
pub async fn authenticate_hash<C: crate::Conn>(
    db: &C,
    key_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<Caller>, StoreError> {
    let span = crate::db_span(db, "db authenticate_hash", "SELECT", Some("tokens"));
    async move {
        let db = &crate::raw(db);
        let token = token::Entity::find()
            .filter(token::Column::KeyHash.eq(key_hash))
            .one(db)
            .await?;
        caller_of(db, token, now).await
    }
    .instrument(span)
    .await
}

/// The key hash of every token: what a replica needs to tell a key that
/// may work from one that cannot, without a query per key.
pub async fn token_key_hashes<C: crate::Conn>(db: &C) -> Result<Vec<String>, StoreError> {
    let span = crate::db_span(db, "db token_key_hashes", "SELECT", Some("tokens"));
    async move {
        let db = &crate::raw(db);
        Ok(token::Entity::find()
            .select_only()
            .column(token::Column::KeyHash)
            .into_tuple()
            .all(db)
            .await?)
    }
    .instrument(span)
    .await
}

/// The caller behind a token already presented, as it stands now: `None`
/// once the token is revoked or expired or its user deactivated.
pub async fn reauthenticate<C: crate::Conn>(
    db: &C,
    token_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<Caller>, StoreError> {
    let span = crate::db_span(db, "db reauthenticate", "SELECT", Some("tokens"));
    async move {
        let db = &crate::raw(db);
        let token = token::Entity::find_by_id(token_id).one(db).await?;
        caller_of(db, token, now).await
    }
    .instrument(span)
    .await
}

async fn caller_of<C: crate::Conn>(
    db: &C,
    token: Option<token::Model>,
    now: DateTime<Utc>,
) -> Result<Option<Caller>, StoreError> {
    let db = &crate::raw(db);
    let Some(token) = token else {
        return Ok(None);
    };
    if token.expires.is_some_and(|expires| expires <= now) {
        return Ok(None);
    }
    let Some(user) = user::Entity::find_by_id(token.user_id).one(db).await? else {
        return Ok(None);
    };
    if !user.is_active {
        return Ok(None);
    }
    let grants = grants_of(db, user.id).await?;
    Ok(Some(Caller {
        token_id: token.id,
        user_id: user.id,
        username: user.username,
        is_superuser: user.is_superuser,
        expires: token.expires,
        grants,
    }))
}

/// Every grant a user holds, directly or through its roles.
async fn grants_of<C: crate::Conn>(db: &C, user_id: Uuid) -> Result<Vec<Grant>, StoreError> {
    let db = &crate::raw(db);
    let roles = Query::select()
        .column(user_role::Column::RoleId)
        .from(user_role::Entity)
        .and_where(user_role::Column::UserId.eq(user_id))
        .to_owned();
    let rows: Vec<(String, Option<Uuid>)> = permission_grant::Entity::find()
        .select_only()
        .column(permission_grant::Column::Codename)
        .column(permission_grant::Column::ObjectPk)
        .filter(
            permission_grant::Column::UserId
                .eq(user_id)
                .or(permission_grant::Column::RoleId.in_subquery(roles)),
        )
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(codename, object)| {
            codename
                .parse()
                .ok()
                .map(|permission| Grant { permission, object })
        })
        .collect())
}
