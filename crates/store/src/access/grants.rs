//! Permission grants by name, as the command line makes them, and who may
//! view one source.

use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::{
    AccessError,
    accounts::{names_by_id, require_role, require_user},
    bump_access_epoch,
    epoch::{begin_change, commit_change},
};
use domain::{Slug, access::Permission};

use crate::{
    StoreError,
    entities::{permission_grant, plex_source, role, user, user_role},
};

/// A user or a role, by name: who a permission is granted to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    User(String),
    Role(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRow {
    pub permission: Permission,
    pub principal: Principal,
    /// `None`: global.
    pub slug: Option<String>,
}

/// Grants a permission globally or on one source; granting twice changes
/// nothing. The grant and its epoch bump commit together.
pub async fn grant(
    db: &crate::Db,
    permission: Permission,
    principal: &Principal,
    slug: Option<&str>,
) -> Result<(), AccessError> {
    let txn = begin_change(&db.0).await?;
    let conn = crate::Raw::Txn(&txn);
    let filter = grant_filter(&conn, permission, principal, slug).await?;
    if permission_grant::Entity::find()
        .filter(filter.clone())
        .one(&txn)
        .await?
        .is_some()
    {
        return Ok(());
    }
    let (user_id, role_id) = principal_ids(&conn, principal).await?;
    permission_grant::Entity::insert(permission_grant::ActiveModel {
        id: NotSet,
        codename: Set(permission.codename()),
        user_id: Set(user_id),
        role_id: Set(role_id),
        object_pk: Set(object_pk(&conn, slug).await?),
    })
    .exec_without_returning(&txn)
    .await?;
    bump_access_epoch(&conn).await?;
    txn.commit().await?;
    Ok(())
}

/// Withdraws a grant made with the same arguments; the removal and its
/// epoch bump commit together.
pub async fn revoke(
    db: &crate::Db,
    permission: Permission,
    principal: &Principal,
    slug: Option<&str>,
) -> Result<(), AccessError> {
    commit_change(db, async |conn| {
        let filter = grant_filter(&conn, permission, principal, slug).await?;
        let result = permission_grant::Entity::delete_many()
            .filter(filter)
            .exec(&conn)
            .await?;
        if result.rows_affected == 0 {
            return Err(AccessError::Invalid(format!(
                "{} is not granted to that {} {}",
                permission.codename(),
                match principal {
                    Principal::User(_) => "user",
                    Principal::Role(_) => "role",
                },
                slug.map(|s| format!("on \"{s}\""))
                    .unwrap_or_else(|| "globally".into())
            )));
        }
        Ok(())
    })
    .await
}

pub async fn list_grants<C: crate::Conn>(db: &C) -> Result<Vec<GrantRow>, AccessError> {
    let db = &crate::raw(db);
    let grants = permission_grant::Entity::find()
        .order_by_asc(permission_grant::Column::Id)
        .all(db)
        .await?;
    let users = names_by_id::<user::Entity>(db, |u| (u.id, u.username)).await?;
    let roles = names_by_id::<role::Entity>(db, |r| (r.id, r.name)).await?;
    let sources: Vec<(Uuid, String)> = plex_source::Entity::find()
        .select_only()
        .column(plex_source::Column::Pk)
        .column(plex_source::Column::Slug)
        .into_tuple()
        .all(db)
        .await?;
    let mut rows = Vec::new();
    for g in grants {
        let Ok(permission) = g.codename.parse() else {
            continue;
        };
        let principal = match (g.user_id, g.role_id) {
            (Some(id), _) => Principal::User(users.get(&id).cloned().unwrap_or_default()),
            (None, Some(id)) => Principal::Role(roles.get(&id).cloned().unwrap_or_default()),
            (None, None) => continue,
        };
        let slug = g.object_pk.and_then(|pk| {
            sources
                .iter()
                .find(|(p, _)| *p == pk)
                .map(|(_, s)| s.clone())
        });
        rows.push(GrantRow {
            permission,
            principal,
            slug,
        });
    }
    Ok(rows)
}

/// Users holding `view_plexsource` on this one source, directly or
/// through a role.
pub(crate) async fn object_viewers<C: crate::Conn>(
    db: &C,
    source: Uuid,
) -> Result<Vec<Uuid>, StoreError> {
    let db = &crate::raw(db);
    let grants = permission_grant::Entity::find()
        .filter(permission_grant::Column::Codename.eq(Permission::View.codename()))
        .filter(permission_grant::Column::ObjectPk.eq(source))
        .all(db)
        .await?;
    let mut users: Vec<Uuid> = grants.iter().filter_map(|g| g.user_id).collect();
    let roles: Vec<Uuid> = grants.iter().filter_map(|g| g.role_id).collect();
    if !roles.is_empty() {
        let members: Vec<Uuid> = user_role::Entity::find()
            .select_only()
            .column(user_role::Column::UserId)
            .filter(user_role::Column::RoleId.is_in(roles))
            .into_tuple()
            .all(db)
            .await?;
        users.extend(members);
    }
    users.sort();
    users.dedup();
    Ok(users)
}

async fn principal_ids<C: crate::Conn>(
    db: &C,
    principal: &Principal,
) -> Result<(Option<Uuid>, Option<Uuid>), AccessError> {
    let db = &crate::raw(db);
    Ok(match principal {
        Principal::User(name) => (Some(require_user(db, name).await?.id), None),
        Principal::Role(name) => (None, Some(require_role(db, name).await?.id)),
    })
}

async fn object_pk<C: crate::Conn>(
    db: &C,
    slug: Option<&str>,
) -> Result<Option<Uuid>, AccessError> {
    let db = &crate::raw(db);
    let Some(slug) = slug else { return Ok(None) };
    let parsed = Slug::parse(slug).map_err(|_| AccessError::UnknownSlug(slug.to_owned()))?;
    crate::slug_owner(db, &parsed)
        .await?
        .map(Some)
        .ok_or_else(|| AccessError::UnknownSlug(slug.to_owned()))
}

async fn grant_filter<C: crate::Conn>(
    db: &C,
    permission: Permission,
    principal: &Principal,
    slug: Option<&str>,
) -> Result<sea_orm::Condition, AccessError> {
    let db = &crate::raw(db);
    let (user_id, role_id) = principal_ids(db, principal).await?;
    let object = object_pk(db, slug).await?;
    let mut condition =
        sea_orm::Condition::all().add(permission_grant::Column::Codename.eq(permission.codename()));
    condition = match user_id {
        Some(id) => condition.add(permission_grant::Column::UserId.eq(id)),
        None => condition.add(permission_grant::Column::UserId.is_null()),
    };
    condition = match role_id {
        Some(id) => condition.add(permission_grant::Column::RoleId.eq(id)),
        None => condition.add(permission_grant::Column::RoleId.is_null()),
    };
    condition = match object {
        Some(pk) => condition.add(permission_grant::Column::ObjectPk.eq(pk)),
        None => condition.add(permission_grant::Column::ObjectPk.is_null()),
    };
    Ok(condition)
}
