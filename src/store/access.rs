//! Users, roles, API tokens, permission grants and the audit log.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{ExprTrait, Query},
};
use uuid::Uuid;

use super::{
    StoreError,
    entities::{audit_event, permission_grant, plex_source, role, token, user, user_role},
};
use crate::domain::{
    Slug,
    access::{Caller, Grant, Permission, hash_key},
};

/// Username of the superuser that `BOOTSTRAP_TOKEN` provisions.
pub const BOOTSTRAP_USERNAME: &str = "akadmin";
/// Identifier of the bootstrap token, as authentik names it.
pub const BOOTSTRAP_TOKEN_IDENTIFIER: &str = "authentik-bootstrap-token";
/// Audit action recorded whenever a Plex owner's token is handed out.
pub const SECRET_VIEW: &str = "secret_view";

/// Why an administrative change could not be made.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("unknown user \"{0}\"")]
    UnknownUser(String),
    #[error("unknown role \"{0}\"")]
    UnknownRole(String),
    #[error("unknown token \"{0}\"")]
    UnknownToken(String),
    #[error("no Plex source with slug \"{0}\"")]
    UnknownSlug(String),
    #[error("{0} already exists")]
    Exists(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sea_orm::DbErr> for AccessError {
    fn from(err: sea_orm::DbErr) -> Self {
        AccessError::Store(err.into())
    }
}

/// A user or a role, by name: who a permission is granted to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    User(String),
    Role(String),
}

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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRow {
    pub permission: Permission,
    pub principal: Principal,
    /// `None`: global.
    pub slug: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    pub action: String,
    pub username: String,
    pub object_pk: Option<Uuid>,
    pub object_slug: String,
    pub created: DateTime<Utc>,
}

/// The caller a key belongs to, or `None` for an unknown or expired key or
/// an inactive user.
pub async fn authenticate<C: ConnectionTrait>(
    db: &C,
    key: &str,
    now: DateTime<Utc>,
) -> Result<Option<Caller>, StoreError> {
    let Some(token) = token::Entity::find()
        .filter(token::Column::KeyHash.eq(hash_key(key)))
        .one(db)
        .await?
    else {
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
        user_id: user.id,
        username: user.username,
        is_superuser: user.is_superuser,
        grants,
    }))
}

/// Every grant a user holds, directly or through its roles.
async fn grants_of<C: ConnectionTrait>(db: &C, user_id: Uuid) -> Result<Vec<Grant>, StoreError> {
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

pub async fn create_user<C: ConnectionTrait>(
    db: &C,
    username: &str,
    is_superuser: bool,
) -> Result<(), AccessError> {
    let username = username.trim();
    if username.is_empty() || username.chars().count() > 150 {
        return Err(AccessError::Invalid(
            "username must be 1 to 150 characters".into(),
        ));
    }
    if find_user(db, username).await?.is_some() {
        return Err(AccessError::Exists(format!("user \"{username}\"")));
    }
    user::Entity::insert(user::ActiveModel {
        id: Set(Uuid::new_v4()),
        username: Set(username.to_owned()),
        is_active: Set(true),
        is_superuser: Set(is_superuser),
    })
    .exec_without_returning(db)
    .await?;
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
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 150 {
        return Err(AccessError::Invalid(
            "role name must be 1 to 150 characters".into(),
        ));
    }
    if find_role(db, name).await?.is_some() {
        return Err(AccessError::Exists(format!("role \"{name}\"")));
    }
    role::Entity::insert(role::ActiveModel {
        id: Set(Uuid::new_v4()),
        name: Set(name.to_owned()),
    })
    .exec_without_returning(db)
    .await?;
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

/// Grants a permission globally or on one source; granting twice changes
/// nothing.
pub async fn grant<C: ConnectionTrait>(
    db: &C,
    permission: Permission,
    principal: &Principal,
    slug: Option<&str>,
) -> Result<(), AccessError> {
    let filter = grant_filter(db, permission, principal, slug).await?;
    if permission_grant::Entity::find()
        .filter(filter.clone())
        .one(db)
        .await?
        .is_some()
    {
        return Ok(());
    }
    let (user_id, role_id) = principal_ids(db, principal).await?;
    permission_grant::Entity::insert(permission_grant::ActiveModel {
        id: NotSet,
        codename: Set(permission.codename()),
        user_id: Set(user_id),
        role_id: Set(role_id),
        object_pk: Set(object_pk(db, slug).await?),
    })
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// Withdraws a grant made with the same arguments.
pub async fn revoke<C: ConnectionTrait>(
    db: &C,
    permission: Permission,
    principal: &Principal,
    slug: Option<&str>,
) -> Result<(), AccessError> {
    let filter = grant_filter(db, permission, principal, slug).await?;
    let result = permission_grant::Entity::delete_many()
        .filter(filter)
        .exec(db)
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
}

pub async fn list_grants<C: ConnectionTrait>(db: &C) -> Result<Vec<GrantRow>, AccessError> {
    let grants = permission_grant::Entity::find()
        .order_by_asc(permission_grant::Column::Id)
        .all(db)
        .await?;
    let users = user::Entity::find().all(db).await?;
    let roles = role::Entity::find().all(db).await?;
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
            (Some(id), _) => Principal::User(
                users
                    .iter()
                    .find(|u| u.id == id)
                    .map(|u| u.username.clone())
                    .unwrap_or_default(),
            ),
            (None, Some(id)) => Principal::Role(
                roles
                    .iter()
                    .find(|r| r.id == id)
                    .map(|r| r.name.clone())
                    .unwrap_or_default(),
            ),
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
            outcome = Bootstrap::KeyReplaced;
        }
        Some(_) => {}
    }
    Ok(outcome)
}

/// Records that `caller` was handed the Plex token of a source.
pub async fn record_token_view<C: ConnectionTrait>(
    db: &C,
    caller: &Caller,
    source_pk: Uuid,
    slug: &Slug,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    audit_event::Entity::insert(audit_event::ActiveModel {
        id: NotSet,
        action: Set(SECRET_VIEW.to_owned()),
        username: Set(caller.username.clone()),
        user_id: Set(Some(caller.user_id)),
        object_pk: Set(Some(source_pk)),
        object_slug: Set(slug.as_str().to_owned()),
        created: Set(at),
    })
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

async fn find_user<C: ConnectionTrait>(
    db: &C,
    username: &str,
) -> Result<Option<user::Model>, StoreError> {
    Ok(user::Entity::find()
        .filter(user::Column::Username.eq(username))
        .one(db)
        .await?)
}

async fn require_user<C: ConnectionTrait>(
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

async fn require_role<C: ConnectionTrait>(db: &C, name: &str) -> Result<role::Model, AccessError> {
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

async fn principal_ids<C: ConnectionTrait>(
    db: &C,
    principal: &Principal,
) -> Result<(Option<Uuid>, Option<Uuid>), AccessError> {
    Ok(match principal {
        Principal::User(name) => (Some(require_user(db, name).await?.id), None),
        Principal::Role(name) => (None, Some(require_role(db, name).await?.id)),
    })
}

async fn object_pk<C: ConnectionTrait>(
    db: &C,
    slug: Option<&str>,
) -> Result<Option<Uuid>, AccessError> {
    let Some(slug) = slug else { return Ok(None) };
    let parsed = Slug::parse(slug).map_err(|_| AccessError::UnknownSlug(slug.to_owned()))?;
    super::slug_owner(db, &parsed)
        .await?
        .map(Some)
        .ok_or_else(|| AccessError::UnknownSlug(slug.to_owned()))
}

async fn grant_filter<C: ConnectionTrait>(
    db: &C,
    permission: Permission,
    principal: &Principal,
    slug: Option<&str>,
) -> Result<sea_orm::Condition, AccessError> {
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
