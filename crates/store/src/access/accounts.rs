//! Account administration from the command line: users, roles and API
//! tokens by name, and the bootstrap superuser. Each change commits in one
//! transaction with its access-epoch bump, so a replica never caches a
//! caller across a change it has not been told about.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, TryInsertResult,
    sea_query::OnConflict,
};
use uuid::Uuid;

use super::{
    AccessError, bump_access_epoch,
    epoch::{begin_change, commit_change},
};
use domain::{RoleName, UserName};

use crate::{
    StoreError,
    entities::{bootstrap_key, role, token, user, user_role},
};

/// Username of the superuser that `BOOTSTRAP_TOKEN` provisions.
pub const BOOTSTRAP_USERNAME: &str = "akadmin";
/// Identifier of the bootstrap token, as authentik names it.
pub const BOOTSTRAP_TOKEN_IDENTIFIER: &str = "authentik-bootstrap-token";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    pub username: String,
    pub is_active: bool,
    pub is_superuser: bool,
    pub roles: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRow {
    pub identifier: String,
    pub username: String,
    pub expires: Option<DateTime<Utc>>,
    pub description: String,
}

/// Creates an active user; its epoch bump commits with it.
pub async fn create_user(
    db: &crate::Db,
    username: &str,
    is_superuser: bool,
) -> Result<(), AccessError> {
    let username = UserName::parse(username).map_err(|e| AccessError::Invalid(e.to_string()))?;
    commit_change(db, async |conn| {
        let taken = find_user(&conn, username.as_str()).await?.is_some();
        let user = new_user(&username, is_superuser);
        insert_new(&conn, taken, format!("user \"{username}\""), user).await
    })
    .await
}

/// Deactivates a user: its tokens stop working on every replica's next
/// poll, since the epoch bump commits with the change.
pub async fn deactivate_user(db: &crate::Db, username: &str) -> Result<(), AccessError> {
    commit_change(db, async |conn| {
        let user = require_user(&conn, username).await?;
        user::Entity::update(user::ActiveModel {
            id: Set(user.id),
            is_active: Set(false),
            ..Default::default()
        })
        .exec(&conn)
        .await?;
        Ok(())
    })
    .await
}

pub async fn list_users<C: crate::Conn>(db: &C) -> Result<Vec<UserRow>, AccessError> {
    let db = &crate::raw(db);
    let users = user::Entity::find()
        .order_by_asc(user::Column::Username)
        .all(db)
        .await?;
    let links = user_role::Entity::find().all(db).await?;
    let roles = names_by_id::<role::Entity>(db, |r| (r.id, r.name)).await?;
    Ok(users
        .into_iter()
        .map(|u| {
            let mut names: Vec<String> = links
                .iter()
                .filter(|l| l.user_id == u.id)
                .filter_map(|l| roles.get(&l.role_id).cloned())
                .collect();
            names.sort();
            UserRow {
                username: u.username,
                is_active: u.is_active,
                is_superuser: u.is_superuser,
                roles: names,
            }
        })
        .collect())
}

pub async fn create_role(db: &crate::Db, name: &str) -> Result<(), AccessError> {
    let name = RoleName::parse(name).map_err(|e| AccessError::Invalid(e.to_string()))?;
    commit_change(db, async |conn| {
        let taken = find_role(&conn, name.as_str()).await?.is_some();
        let role = role::ActiveModel {
            id: Set(Uuid::new_v4()),
            name: Set(name.as_str().to_owned()),
        };
        insert_new(&conn, taken, format!("role \"{name}\""), role).await
    })
    .await
}

/// Gives a user a role; assigning it twice changes nothing.
pub async fn assign_role(db: &crate::Db, role: &str, username: &str) -> Result<(), AccessError> {
    let txn = begin_change(&db.0).await?;
    let conn = crate::Raw::Txn(&txn);
    let role = require_role(&conn, role).await?;
    let user = require_user(&conn, username).await?;
    let exists = user_role::Entity::find()
        .filter(user_role::Column::UserId.eq(user.id))
        .filter(user_role::Column::RoleId.eq(role.id))
        .one(&txn)
        .await?
        .is_some();
    if !exists {
        user_role::Entity::insert(user_role::ActiveModel {
            id: NotSet,
            user_id: Set(user.id),
            role_id: Set(role.id),
        })
        .exec_without_returning(&txn)
        .await?;
        bump_access_epoch(&conn).await?;
    }
    txn.commit().await?;
    Ok(())
}

/// Stores a new token for `username` under the hash of its key.
pub async fn create_token(
    db: &crate::Db,
    identifier: &str,
    username: &str,
    key_hash: String,
    expires: Option<DateTime<Utc>>,
    description: &str,
) -> Result<(), AccessError> {
    let identifier = token_identifier(identifier)?;
    commit_change(db, async |conn| {
        let user = require_user(&conn, username).await?;
        let taken = find_token(&conn, identifier).await?.is_some();
        let token = new_token(identifier, user.id, key_hash, expires, description);
        insert_new(&conn, taken, format!("token \"{identifier}\""), token).await
    })
    .await
}

/// Revokes a token by deleting it: its key stops working at once.
pub async fn revoke_token(db: &crate::Db, identifier: &str) -> Result<(), AccessError> {
    commit_change(db, async |conn| {
        let result = token::Entity::delete_many()
            .filter(token::Column::Identifier.eq(identifier))
            .exec(&conn)
            .await?;
        if result.rows_affected == 0 {
            return Err(AccessError::UnknownToken(identifier.to_owned()));
        }
        Ok(())
    })
    .await
}

pub async fn list_tokens<C: crate::Conn>(db: &C) -> Result<Vec<TokenRow>, AccessError> {
    let db = &crate::raw(db);
    let tokens = token::Entity::find()
        .order_by_asc(token::Column::Identifier)
        .all(db)
        .await?;
    let users = names_by_id::<user::Entity>(db, |u| (u.id, u.username)).await?;
    Ok(tokens
        .into_iter()
        .map(|t| TokenRow {
            username: users.get(&t.user_id).cloned().unwrap_or_default(),
            identifier: t.identifier,
            expires: t.expires,
            description: t.description,
        })
        .collect())
}

/// What [`ensure_bootstrap`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bootstrap {
    Created,
    Unchanged,
    /// The token existed with another key; it now holds the configured one.
    KeyReplaced,
    /// The key provisioned the token once, and the token has since been
    /// revoked or given another key: it stays as the operator left it.
    Revoked,
}

/// Makes sure the superuser `akadmin` exists and holds a token with this
/// key hash, as authentik's `AUTHENTIK_BOOTSTRAP_TOKEN` does. Replicas
/// starting together on a fresh database may all run this at once: the
/// inserts skip a row another replica inserted first, and every one of
/// them succeeds.
pub async fn ensure_bootstrap(db: &crate::Db, key_hash: String) -> Result<Bootstrap, AccessError> {
    let username = UserName::parse(BOOTSTRAP_USERNAME).expect("a valid username");
    let txn = begin_change(&db.0).await?;
    let conn = crate::Raw::Txn(&txn);
    let provisioned = bootstrap_key::Entity::find_by_id(key_hash.clone())
        .one(&txn)
        .await?
        .is_some();
    if provisioned {
        let current = find_token(&conn, BOOTSTRAP_TOKEN_IDENTIFIER).await?;
        if current.is_none_or(|token| token.key_hash != key_hash) {
            return Ok(Bootstrap::Revoked);
        }
    }
    bootstrap_key::Entity::insert(bootstrap_key::ActiveModel {
        key_hash: Set(key_hash.clone()),
    })
    .on_conflict(OnConflict::new().do_nothing().to_owned())
    .try_insert()
    .exec_without_returning(&txn)
    .await?;
    let mut outcome = Bootstrap::Unchanged;
    let inserted = user::Entity::insert(new_user(&username, true))
        .on_conflict(OnConflict::new().do_nothing().to_owned())
        .try_insert()
        .exec_without_returning(&txn)
        .await?;
    if matches!(inserted, TryInsertResult::Inserted(n) if n > 0) {
        outcome = Bootstrap::Created;
    }
    let user = require_user(&conn, BOOTSTRAP_USERNAME).await?;
    let inserted = token::Entity::insert(new_token(
        BOOTSTRAP_TOKEN_IDENTIFIER,
        user.id,
        key_hash.clone(),
        None,
        "Created from BOOTSTRAP_TOKEN",
    ))
    .on_conflict(OnConflict::new().do_nothing().to_owned())
    .try_insert()
    .exec_without_returning(&txn)
    .await?;
    if matches!(inserted, TryInsertResult::Inserted(n) if n > 0) {
        outcome = Bootstrap::Created;
    } else {
        let existing = find_token(&conn, BOOTSTRAP_TOKEN_IDENTIFIER)
            .await?
            .ok_or_else(|| {
                AccessError::Invalid("BOOTSTRAP_TOKEN is the key of another token".into())
            })?;
        if existing.key_hash != key_hash {
            token::Entity::update(token::ActiveModel {
                id: Set(existing.id),
                key_hash: Set(key_hash),
                ..Default::default()
            })
            .exec(&txn)
            .await?;
            outcome = Bootstrap::KeyReplaced;
        }
    }
    if outcome != Bootstrap::Unchanged {
        bump_access_epoch(&conn).await?;
    }
    txn.commit().await?;
    Ok(outcome)
}

/// Inserts `row`, a new `what` (`user "alice"`), unless its name is
/// `taken`: then the change fails, and nothing is written.
async fn insert_new<A: ActiveModelTrait>(
    conn: &crate::Raw<'_>,
    taken: bool,
    what: String,
    row: A,
) -> Result<(), AccessError> {
    if taken {
        return Err(AccessError::Exists(what));
    }
    Ok(crate::rows::insert(conn, row).await?)
}

fn new_user(username: &UserName, is_superuser: bool) -> user::ActiveModel {
    user::ActiveModel {
        id: Set(Uuid::new_v4()),
        username: Set(username.as_str().to_owned()),
        is_active: Set(true),
        is_superuser: Set(is_superuser),
    }
}

fn new_token(
    identifier: &str,
    user_id: Uuid,
    key_hash: String,
    expires: Option<DateTime<Utc>>,
    description: &str,
) -> token::ActiveModel {
    token::ActiveModel {
        id: Set(Uuid::new_v4()),
        identifier: Set(identifier.to_owned()),
        user_id: Set(user_id),
        key_hash: Set(key_hash),
        expires: Set(expires),
        description: Set(description.to_owned()),
    }
}

/// A token identifier without surrounding whitespace, 1 to 255 characters.
fn token_identifier(identifier: &str) -> Result<&str, AccessError> {
    let identifier = identifier.trim();
    if identifier.is_empty() || identifier.chars().count() > 255 {
        return Err(AccessError::Invalid(
            "token identifier must be 1 to 255 characters".into(),
        ));
    }
    Ok(identifier)
}

/// Every row of `E` by id, as its name: what names the users and roles
/// that other rows point at.
pub(super) async fn names_by_id<E: EntityTrait>(
    db: &crate::Raw<'_>,
    id_and_name: fn(E::Model) -> (Uuid, String),
) -> Result<HashMap<Uuid, String>, StoreError> {
    Ok(E::find()
        .all(db)
        .await?
        .into_iter()
        .map(id_and_name)
        .collect())
}

/// The row of `E` whose unique text `column` is `value`.
async fn find_by<E: EntityTrait, C: ConnectionTrait>(
    db: &C,
    column: E::Column,
    value: &str,
) -> Result<Option<E::Model>, StoreError> {
    Ok(E::find().filter(column.eq(value)).one(db).await?)
}

async fn find_user<C: crate::Conn>(
    db: &C,
    username: &str,
) -> Result<Option<user::Model>, StoreError> {
    let db = &crate::raw(db);
    find_by::<user::Entity, _>(db, user::Column::Username, username).await
}

async fn find_role<C: crate::Conn>(db: &C, name: &str) -> Result<Option<role::Model>, StoreError> {
    let db = &crate::raw(db);
    find_by::<role::Entity, _>(db, role::Column::Name, name).await
}

async fn find_token<C: crate::Conn>(
    db: &C,
    identifier: &str,
) -> Result<Option<token::Model>, StoreError> {
    let db = &crate::raw(db);
    find_by::<token::Entity, _>(db, token::Column::Identifier, identifier).await
}

pub(super) async fn require_user<C: crate::Conn>(
    db: &C,
    username: &str,
) -> Result<user::Model, AccessError> {
    let db = &crate::raw(db);
    find_user(db, username)
        .await?
        .ok_or_else(|| AccessError::UnknownUser(username.to_owned()))
}

pub(super) async fn require_role<C: crate::Conn>(
    db: &C,
    name: &str,
) -> Result<role::Model, AccessError> {
    let db = &crate::raw(db);
    find_role(db, name)
        .await?
        .ok_or_else(|| AccessError::UnknownRole(name.to_owned()))
}
