//! Users, roles and object grants by primary key, for blueprints.
//!
//! Account administration takes names, as people type them. Blueprints name
//! objects by pk (`!KeyOf`, `!Find`) and look them up by their identifiers,
//! so they get their own functions.

use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::ExprTrait,
};
use uuid::Uuid;

use super::bump_access_epoch;
use domain::access::Permission;

use crate::{
    Match, StoreError,
    entities::{permission_grant, role, user, user_role},
    lookup::missing_ids,
    rows,
};

/// A user with the pks of its roles (sorted), as blueprints read and write
/// it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub pk: Uuid,
    pub username: String,
    pub is_active: bool,
    pub is_superuser: bool,
    pub roles: Vec<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleRecord {
    pub pk: Uuid,
    pub name: String,
}

/// Who an object permission goes to, by pk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrincipalPk {
    User(Uuid),
    Role(Uuid),
}

/// Users matching blueprint identifiers (`pk`, `username`).
pub async fn lookup_users<C: crate::Conn>(
    db: &C,
    lookup: &Match,
) -> Result<Vec<UserRecord>, StoreError> {
    let db = &crate::raw(db);
    let users = user::Entity::find()
        .filter(lookup.condition(
            user::Column::Id,
            None::<user::Column>,
            user::Column::Username,
        ))
        .order_by_asc(user::Column::Username)
        .all(db)
        .await?;
    if users.is_empty() {
        return Ok(Vec::new());
    }
    let links: Vec<(Uuid, Uuid)> = user_role::Entity::find()
        .select_only()
        .column(user_role::Column::UserId)
        .column(user_role::Column::RoleId)
        .filter(user_role::Column::UserId.is_in(users.iter().map(|u| u.id)))
        .into_tuple()
        .all(db)
        .await?;
    Ok(users
        .into_iter()
        .map(|u| {
            let mut roles: Vec<Uuid> = links
                .iter()
                .filter(|(user_id, _)| *user_id == u.id)
                .map(|(_, role_id)| *role_id)
                .collect();
            roles.sort_unstable();
            roles.dedup();
            UserRecord {
                pk: u.id,
                username: u.username,
                is_active: u.is_active,
                is_superuser: u.is_superuser,
                roles,
            }
        })
        .collect())
}

/// Inserts a user and links it to `record.roles`.
pub async fn insert_user<C: crate::Conn>(db: &C, record: &UserRecord) -> Result<(), StoreError> {
    let db = &crate::raw(db);
    rows::insert(db, user_active(record)).await?;
    link_roles(db, record.pk, &record.roles).await?;
    bump_access_epoch(db).await
}

/// Writes a user's row and replaces its roles with `record.roles`.
pub async fn update_user<C: crate::Conn>(db: &C, record: &UserRecord) -> Result<(), StoreError> {
    let db = &crate::raw(db);
    rows::update(db, user_active(record)).await?;
    user_role::Entity::delete_many()
        .filter(user_role::Column::UserId.eq(record.pk))
        .exec(db)
        .await?;
    link_roles(db, record.pk, &record.roles).await?;
    bump_access_epoch(db).await
}

/// Deletes a user; its tokens, role links and grants go with it (ON DELETE
/// CASCADE). Whether a user was deleted.
pub async fn delete_user<C: crate::Conn>(db: &C, pk: Uuid) -> Result<bool, StoreError> {
    let db = &crate::raw(db);
    bump_access_epoch(db).await?;
    rows::delete::<user::Entity>(db, pk).await
}

/// Roles matching blueprint identifiers (`pk`, `name`).
pub async fn lookup_roles<C: crate::Conn>(
    db: &C,
    lookup: &Match,
) -> Result<Vec<RoleRecord>, StoreError> {
    let db = &crate::raw(db);
    Ok(role::Entity::find()
        .filter(lookup.condition(role::Column::Id, None::<role::Column>, role::Column::Name))
        .order_by_asc(role::Column::Name)
        .all(db)
        .await?
        .into_iter()
        .map(|r| RoleRecord {
            pk: r.id,
            name: r.name,
        })
        .collect())
}

pub async fn insert_role<C: crate::Conn>(db: &C, record: &RoleRecord) -> Result<(), StoreError> {
    let db = &crate::raw(db);
    rows::insert(db, role_active(record)).await?;
    bump_access_epoch(db).await
}

pub async fn update_role<C: crate::Conn>(db: &C, record: &RoleRecord) -> Result<(), StoreError> {
    let db = &crate::raw(db);
    rows::update(db, role_active(record)).await?;
    bump_access_epoch(db).await
}

/// Deletes a role; its user links and grants go with it (ON DELETE
/// CASCADE). Whether a role was deleted.
pub async fn delete_role<C: crate::Conn>(db: &C, pk: Uuid) -> Result<bool, StoreError> {
    let db = &crate::raw(db);
    bump_access_epoch(db).await?;
    rows::delete::<role::Entity>(db, pk).await
}

/// The ids among `ids` that name no user.
pub async fn missing_users<C: crate::Conn>(db: &C, ids: &[Uuid]) -> Result<Vec<Uuid>, StoreError> {
    let db = &crate::raw(db);
    missing_ids::<user::Entity, _>(db, user::Column::Id, ids).await
}

/// The ids among `ids` that name no role.
pub async fn missing_roles<C: crate::Conn>(db: &C, ids: &[Uuid]) -> Result<Vec<Uuid>, StoreError> {
    let db = &crate::raw(db);
    missing_ids::<role::Entity, _>(db, role::Column::Id, ids).await
}

/// Grants `permission` on the Plex source `source_pk` to a user or role;
/// granting twice adds no second row. Whether a grant was added.
pub async fn grant_on_source<C: crate::Conn>(
    db: &C,
    permission: Permission,
    principal: PrincipalPk,
    source_pk: Uuid,
) -> Result<bool, StoreError> {
    let db = &crate::raw(db);
    let (user_id, role_id) = match principal {
        PrincipalPk::User(id) => (Some(id), None),
        PrincipalPk::Role(id) => (None, Some(id)),
    };
    let principal_filter = match principal {
        PrincipalPk::User(id) => permission_grant::Column::UserId
            .eq(id)
            .and(permission_grant::Column::RoleId.is_null()),
        PrincipalPk::Role(id) => permission_grant::Column::RoleId
            .eq(id)
            .and(permission_grant::Column::UserId.is_null()),
    };
    let exists = permission_grant::Entity::find()
        .filter(permission_grant::Column::Codename.eq(permission.codename()))
        .filter(principal_filter)
        .filter(permission_grant::Column::ObjectPk.eq(source_pk))
        .one(db)
        .await?
        .is_some();
    if exists {
        return Ok(false);
    }
    permission_grant::Entity::insert(permission_grant::ActiveModel {
        id: NotSet,
        codename: Set(permission.codename()),
        user_id: Set(user_id),
        role_id: Set(role_id),
        object_pk: Set(Some(source_pk)),
    })
    .exec_without_returning(db)
    .await?;
    bump_access_epoch(db).await?;
    Ok(true)
}

fn user_active(record: &UserRecord) -> user::ActiveModel {
    user::ActiveModel {
        id: Set(record.pk),
        username: Set(record.username.clone()),
        is_active: Set(record.is_active),
        is_superuser: Set(record.is_superuser),
    }
}

fn role_active(record: &RoleRecord) -> role::ActiveModel {
    role::ActiveModel {
        id: Set(record.pk),
        name: Set(record.name.clone()),
    }
}

async fn link_roles<C: crate::Conn>(
    db: &C,
    user_id: Uuid,
    roles: &[Uuid],
) -> Result<(), StoreError> {
    let db = &crate::raw(db);
    let mut seen = Vec::with_capacity(roles.len());
    for role_id in roles {
        if seen.contains(role_id) {
            continue;
        }
        seen.push(*role_id);
        user_role::Entity::insert(user_role::ActiveModel {
            id: NotSet,
            user_id: Set(user_id),
            role_id: Set(*role_id),
        })
        .exec_without_returning(db)
        .await?;
    }
    Ok(())
}
