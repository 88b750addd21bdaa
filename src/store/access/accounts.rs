//! Account administration from the command line: users, roles and API
//! tokens by name, and the bootstrap superuser.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
};
use uuid::Uuid;

use super::{AccessError, bump_access_epoch};
use crate::{
    domain::{RoleName, UserName},
    store::{
        StoreError,
        entities::{role, token, user, user_role},
    },
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

pub async fn create_user<C: ConnectionTrait>(
    db: &C,
    username: &str,
    is_superuser: bool,
) -> Result<(), AccessError> {
    let username = UserName::parse(username).map_err(|e| AccessError::Invalid(e.to_string()))?;
    if find_user(db, username.as_str()).await?.is_some() {
        return Err(AccessError::Exists(format!("user \"{username}\"")));
    }
    user::Entity::insert(user::ActiveModel {
        id: Set(Uuid::new_v4()),
        username: Set(username.as_str().to_owned()),
        is_active: Set(true),
        is_superuser: Set(is_superuser),
    })
    .exec_without_returning(db)
    .await?;
    bump_access_epoch(db).await?;
    Ok(())
}

pub async fn deactivate_user<C: ConnectionTrait>(
    db: &C,
    username: &str,
) -> Result<(), AccessError> {
    let user = require_user(db, username).await?;
    user::Entity::update(user::ActiveModel {
        id: Set(user.id),
        is_active: Set(false),
        ..Default::default()
    })
    .exec(db)
    .await?;
    bump_access_epoch(db).await?;
    Ok(())
}

pub async fn list_users<C: ConnectionTrait>(db: &C) -> Result<Vec<UserRow>, AccessError> {
    let users = user::Entity::find()
        .order_by_asc(user::Column::Username)
        .all(db)
        .await?;
    let links = user_role::Entity::find().all(db).await?;
    let roles = role::Entity::find().all(db).await?;
    Ok(users
        .into_iter()
        .map(|u| {
            let mut names: Vec<String> = links
                .iter()
                .filter(|l| l.user_id == u.id)
                .filter_map(|l| roles.iter().find(|r| r.id == l.role_id))
                .map(|r| r.name.clone())
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

pub async fn create_role<C: ConnectionTrait>(db: &C, name: &str) -> Result<(), AccessError> {
    let name = RoleName::parse(name).map_err(|e| AccessError::Invalid(e.to_string()))?;
    if find_role(db, name.as_str()).await?.is_some() {
        return Err(AccessError::Exists(format!("role \"{name}\"")));
    }
    role::Entity::insert(role::ActiveModel {
        id: Set(Uuid::new_v4()),
        name: Set(name.as_str().to_owned()),
    })
    .exec_without_returning(db)
    .await?;
    bump_access_epoch(db).await?;
    Ok(())
}

/// Gives a user a role; assigning it twice changes nothing.
pub async fn assign_role<C: ConnectionTrait>(
    db: &C,
    role: &str,
    username: &str,
) -> Result<(), AccessError> {
    let role = require_role(db, role).await?;
    let user = require_user(db, username).await?;
    let exists = user_role::Entity::find()
        .filter(user_role::Column::UserId.eq(user.id))
        .filter(user_role::Column::RoleId.eq(role.id))
        .one(db)
        .await?
        .is_some();
    if !exists {
        user_role::Entity::insert(user_role::ActiveModel {
            id: NotSet,
            user_id: Set(user.id),
            role_id: Set(role.id),
        })
        .exec_without_returning(db)
        .await?;
    }
    bump_access_epoch(db).await?;
    Ok(())
}

/// Stores a new token for `username` under the hash of its key.
pub async fn create_token<C: ConnectionTrait>(
    db: &C,
    identifier: &str,
    username: &str,
    key_hash: String,
    expires: Option<DateTime<Utc>>,
    description: &str,
) -> Result<(), AccessError> {
    let identifier = identifier.trim();
    if identifier.is_empty() || identifier.chars().count() > 255 {
        return Err(AccessError::Invalid(
            "token identifier must be 1 to 255 characters".into(),
        ));
    }
    let user = require_user(db, username).await?;
    if find_token(db, identifier).await?.is_some() {
        return Err(AccessError::Exists(format!("token \"{identifier}\"")));
    }
    token::Entity::insert(token::ActiveModel {
        id: Set(Uuid::new_v4()),
        identifier: Set(identifier.to_owned()),
        user_id: Set(user.id),
        key_hash: Set(key_hash),
        expires: Set(expires),
        description: Set(description.to_owned()),
    })
    .exec_without_returning(db)
    .await?;
    bump_access_epoch(db).await?;
    Ok(())
}

/// Revokes a token by deleting it: its key stops working at once.
pub async fn revoke_token<C: ConnectionTrait>(db: &C, identifier: &str) -> Result<(), AccessError> {
    let result = token::Entity::delete_many()
        .filter(token::Column::Identifier.eq(identifier))
        .exec(db)
        .await?;
    if result.rows_affected == 0 {
        return Err(AccessError::UnknownToken(identifier.to_owned()));
    }
    bump_access_epoch(db).await?;
    Ok(())
}

pub async fn list_tokens<C: ConnectionTrait>(db: &C) -> Result<Vec<TokenRow>, AccessError> {
    let tokens = token::Entity::find()
        .order_by_asc(token::Column::Identifier)
        .all(db)
        .await?;
    let users = user::Entity::find().all(db).await?;
    Ok(tokens
        .into_iter()
        .map(|t| TokenRow {
            username: users
                .iter()
                .find(|u| u.id == t.user_id)
                .map(|u| u.username.clone())
                .unwrap_or_default(),
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
}

/// Makes sure the superuser `akadmin` exists and holds a token with this
/// key hash, as authentik's `AUTHENTIK_BOOTSTRAP_TOKEN` does.
pub async fn ensure_bootstrap<C: ConnectionTrait>(
    db: &C,
    key_hash: String,
) -> Result<Bootstrap, AccessError> {
    let mut outcome = Bootstrap::Unchanged;
    if find_user(db, BOOTSTRAP_USERNAME).await?.is_none() {
        create_user(db, BOOTSTRAP_USERNAME, true).await?;
        outcome = Bootstrap::Created;
    }
    match find_token(db, BOOTSTRAP_TOKEN_IDENTIFIER).await? {
        None => {
            create_token(
                db,
                BOOTSTRAP_TOKEN_IDENTIFIER,
                BOOTSTRAP_USERNAME,
                key_hash,
                None,
                "Created from BOOTSTRAP_TOKEN",
            )
            .await?;
            outcome = Bootstrap::Created;
        }
        Some(existing) if existing.key_hash != key_hash => {
            token::Entity::update(token::ActiveModel {
                id: Set(existing.id),
                key_hash: Set(key_hash),
                ..Default::default()
            })
            .exec(db)
            .await?;
            bump_access_epoch(db).await?;
            outcome = Bootstrap::KeyReplaced;
        }
        Some(_) => {}
    }
    Ok(outcome)
}

async fn find_user<C: ConnectionTrait>(
    db: &C,
    username: &str,
) -> Result<Option<user::Model>, StoreError> {
    Ok(user::Entity::find()
        .filter(user::Column::Username.eq(username))
        .one(db)
        .await?)
}

pub(super) async fn require_user<C: ConnectionTrait>(
    db: &C,
    username: &str,
) -> Result<user::Model, AccessError> {
    find_user(db, username)
        .await?
        .ok_or_else(|| AccessError::UnknownUser(username.to_owned()))
}

async fn find_role<C: ConnectionTrait>(
    db: &C,
    name: &str,
) -> Result<Option<role::Model>, StoreError> {
    Ok(role::Entity::find()
        .filter(role::Column::Name.eq(name))
        .one(db)
        .await?)
}

pub(super) async fn require_role<C: ConnectionTrait>(
    db: &C,
    name: &str,
) -> Result<role::Model, AccessError> {
    find_role(db, name)
        .await?
        .ok_or_else(|| AccessError::UnknownRole(name.to_owned()))
}

async fn find_token<C: ConnectionTrait>(
    db: &C,
    identifier: &str,
) -> Result<Option<token::Model>, StoreError> {
    Ok(token::Entity::find()
        .filter(token::Column::Identifier.eq(identifier))
        .one(db)
        .await?)
}
