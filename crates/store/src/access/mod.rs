//! Users, roles, API tokens, permission grants and the audit log.
//!
//! Callers use the flat `store::access::*` paths re-exported here; the
//! submodules only group the functions by concern.

mod accounts;
mod audit;
mod authenticate;
mod epoch;
mod grants;
mod principals;

pub use accounts::{
    BOOTSTRAP_TOKEN_IDENTIFIER, BOOTSTRAP_USERNAME, Bootstrap, TokenRow, UserRow, assign_role,
    create_role, create_token, create_user, deactivate_user, ensure_bootstrap, list_tokens,
    list_users, revoke_token,
};
pub use audit::{AuditRow, SECRET_VIEW, TokenViews, list_audit_events, record_token_views};
pub use authenticate::{authenticate_hash, reauthenticate, token_key_hashes};
pub use epoch::bump_access_epoch;
pub(crate) use grants::object_viewers;
pub use grants::{GrantRow, Principal, grant, list_grants, revoke};
pub use principals::{
    PrincipalPk, RoleRecord, UserRecord, delete_role, delete_user, grant_on_source, insert_role,
    insert_user, lookup_roles, lookup_users, missing_roles, missing_users, update_role,
    update_user,
};

use super::StoreError;

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
