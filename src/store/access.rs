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
    authenticate_hash(db, &hash_key(key), now).await
}

/// As [`authenticate`], for a key already hashed.
pub async fn authenticate_hash<C: ConnectionTrait>(
    db: &C,
    key_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<Caller>, StoreError> {
    let token = token::Entity::find()
        .filter(token::Column::KeyHash.eq(key_hash))
        .one(db)
        .await?;
    caller_of(db, token, now).await
}

/// The caller behind a token already presented, as it stands now: `None`
/// once the token is revoked or expired or its user deactivated.
pub async fn reauthenticate<C: ConnectionTrait>(
    db: &C,
    token_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<Caller>, StoreError> {
    let token = token::Entity::find_by_id(token_id).one(db).await?;
    caller_of(db, token, now).await
}

async fn caller_of<C: ConnectionTrait>(
    db: &C,
    token: Option<token::Model>,
    now: DateTime<Utc>,
) -> Result<Option<Caller>, StoreError> {
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
    bump_access_epoch(db).await?;
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
    bump_access_epoch(db).await?;
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
            bump_access_epoch(db).await?;
            outcome = Bootstrap::KeyReplaced;
        }
        Some(_) => {}
    }
    Ok(outcome)
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

/// Users holding `view_plexsource` on this one source, directly or
/// through a role.
pub(crate) async fn object_viewers<C: ConnectionTrait>(
    db: &C,
    source: Uuid,
) -> Result<Vec<Uuid>, StoreError> {
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

// --- By primary key, for blueprints ------------------------------------------
//
// The administrative functions above take names, as people type them.
// Blueprints name objects by pk (`!KeyOf`, `!Find`) and look them up by
// their identifiers, so they get their own functions.

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
pub async fn lookup_users<C: ConnectionTrait>(
    db: &C,
    lookup: &super::Lookup,
) -> Result<Vec<UserRecord>, StoreError> {
    let users = user::Entity::find()
        .filter(lookup.condition("id"))
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
pub async fn insert_user<C: ConnectionTrait>(
    db: &C,
    record: &UserRecord,
) -> Result<(), StoreError> {
    user::Entity::insert(user_active(record))
        .exec_without_returning(db)
        .await?;
    link_roles(db, record.pk, &record.roles).await?;
    bump_access_epoch(db).await
}

/// Writes a user's row and replaces its roles with `record.roles`.
pub async fn update_user<C: ConnectionTrait>(
    db: &C,
    record: &UserRecord,
) -> Result<(), StoreError> {
    user::Entity::update(user_active(record)).exec(db).await?;
    user_role::Entity::delete_many()
        .filter(user_role::Column::UserId.eq(record.pk))
        .exec(db)
        .await?;
    link_roles(db, record.pk, &record.roles).await?;
    bump_access_epoch(db).await
}

/// Deletes a user; its tokens, role links and grants go with it (ON DELETE
/// CASCADE). Whether a user was deleted.
pub async fn delete_user<C: ConnectionTrait>(db: &C, pk: Uuid) -> Result<bool, StoreError> {
    bump_access_epoch(db).await?;
    Ok(user::Entity::delete_by_id(pk).exec(db).await?.rows_affected > 0)
}

/// Roles matching blueprint identifiers (`pk`, `name`).
pub async fn lookup_roles<C: ConnectionTrait>(
    db: &C,
    lookup: &super::Lookup,
) -> Result<Vec<RoleRecord>, StoreError> {
    Ok(role::Entity::find()
        .filter(lookup.condition("id"))
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

pub async fn insert_role<C: ConnectionTrait>(
    db: &C,
    record: &RoleRecord,
) -> Result<(), StoreError> {
    role::Entity::insert(role_active(record))
        .exec_without_returning(db)
        .await?;
    bump_access_epoch(db).await?;
    Ok(())
}

pub async fn update_role<C: ConnectionTrait>(
    db: &C,
    record: &RoleRecord,
) -> Result<(), StoreError> {
    role::Entity::update(role_active(record)).exec(db).await?;
    bump_access_epoch(db).await?;
    Ok(())
}

/// Deletes a role; its user links and grants go with it (ON DELETE
/// CASCADE). Whether a role was deleted.
pub async fn delete_role<C: ConnectionTrait>(db: &C, pk: Uuid) -> Result<bool, StoreError> {
    bump_access_epoch(db).await?;
    Ok(role::Entity::delete_by_id(pk).exec(db).await?.rows_affected > 0)
}

/// The ids among `ids` that name no user.
pub async fn missing_users<C: ConnectionTrait>(
    db: &C,
    ids: &[Uuid],
) -> Result<Vec<Uuid>, StoreError> {
    super::lookup::missing_ids::<user::Entity, _>(db, user::Column::Id, ids).await
}

/// The ids among `ids` that name no role.
pub async fn missing_roles<C: ConnectionTrait>(
    db: &C,
    ids: &[Uuid],
) -> Result<Vec<Uuid>, StoreError> {
    super::lookup::missing_ids::<role::Entity, _>(db, role::Column::Id, ids).await
}

/// Grants `permission` on the Plex source `source_pk` to a user or role;
/// granting twice adds no second row. Whether a grant was added.
pub async fn grant_on_source<C: ConnectionTrait>(
    db: &C,
    permission: Permission,
    principal: PrincipalPk,
    source_pk: Uuid,
) -> Result<bool, StoreError> {
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

async fn link_roles<C: ConnectionTrait>(
    db: &C,
    user_id: Uuid,
    roles: &[Uuid],
) -> Result<(), StoreError> {
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

/// Tells every replica that users, roles, tokens or grants changed, so
/// cached callers are dropped on their next poll. Runs in the caller's
/// transaction, if any.
pub async fn bump_access_epoch<C: ConnectionTrait>(db: &C) -> Result<(), StoreError> {
    db.execute_unprepared("UPDATE store_epochs SET value = value + 1 WHERE name = 'access'")
        .await?;
    Ok(())
}
