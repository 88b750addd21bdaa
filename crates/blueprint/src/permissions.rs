//! Entry-level `permissions` of Plex source entries, in authentik's format:
//!
//! ```yaml
//! permissions:
//!   - permission: view_plexsource          # or authentik_sources_plex.view_plexsource
//!     user: !KeyOf some-user               # a user pk ...
//!   - permission: view_plexsource_plex_token
//!     role: !Find [authentik_rbac.role, [name, readers]]   # ... or a role pk
//! ```
//!
//! Each item grants its permission on the entry's source only (an object
//! permission). As in authentik, blueprint permissions are added, never
//! replaced: a grant the file stops listing stays until it is revoked.
//! Granting what is already granted changes nothing, so a re-import is
//! idempotent.
//!
//! An item names exactly one of `user` or `role`; a key that is present
//! counts as given even when its value is null (a `!Find` that matched
//! nothing), so that case is reported on the key rather than silently
//! granting nothing.

use serde_yaml_ng::Value;
use store::Txn;
use uuid::Uuid;

use super::values::type_name;
use domain::{Violations, access::Permission, violations::messages};
use store::{
    StoreError,
    access::{self, PrincipalPk},
};

/// One checked item: a permission for a user or role that exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ObjectGrant {
    pub permission: Permission,
    pub principal: PrincipalPk,
}

/// A typed item whose user or role is not yet known to exist; `field` and
/// `raw` say where and what to report if it does not.
#[derive(Debug)]
pub(crate) struct Pending {
    grant: ObjectGrant,
    field: String,
    raw: String,
}

/// Types the items of `permissions` (tags resolved), each with its position
/// in the list. Broken items are reported in `v` and left out.
pub(crate) fn parse(v: &mut Violations, items: Vec<(usize, Value)>) -> Vec<Pending> {
    items
        .into_iter()
        .filter_map(|(i, item)| parse_item(v, &format!("permissions[{i}]"), item))
        .collect()
}

fn parse_item(v: &mut Violations, path: &str, item: Value) -> Option<Pending> {
    let Value::Mapping(map) = item else {
        v.add(
            path,
            "invalid",
            format!(
                "Invalid data. Expected a dictionary, but got {}.",
                type_name(&item)
            ),
        );
        return None;
    };
    let (mut permission, mut user, mut role) = (None, None, None);
    for (key, value) in map {
        match key.as_str() {
            Some("permission") => permission = Some(value),
            Some("user") => user = Some(value),
            Some("role") => role = Some(value),
            Some(other) => {
                tracing::warn!(
                    key = other,
                    "ignoring unknown key of a blueprint permission"
                )
            }
            None => tracing::warn!("ignoring a non-string key of a blueprint permission"),
        }
    }
    let permission = codename(v, &format!("{path}.permission"), permission);
    let principal = match (user, role) {
        (Some(value), None) => {
            let field = format!("{path}.user");
            pk(v, &field, value).map(|(id, raw)| (PrincipalPk::User(id), field, raw))
        }
        (None, Some(value)) => {
            let field = format!("{path}.role");
            pk(v, &field, value).map(|(id, raw)| (PrincipalPk::Role(id), field, raw))
        }
        _ => {
            v.add(path, "invalid", "Give exactly one of user or role.");
            None
        }
    };
    let (permission, (principal, field, raw)) = (permission?, principal?);
    Some(Pending {
        grant: ObjectGrant {
            permission,
            principal,
        },
        field,
        raw,
    })
}

/// A codename, bare (`view_plexsource`) or with the app label.
fn codename(v: &mut Violations, field: &str, value: Option<Value>) -> Option<Permission> {
    match value {
        None => v.required(field),
        Some(Value::Null) => v.null(field),
        Some(Value::String(raw)) => match raw.trim().parse() {
            Ok(permission) => return Some(permission),
            Err(_) => v.add(field, "invalid", format!("Unknown permission \"{raw}\".")),
        },
        Some(_) => v.add(field, "invalid", messages::INVALID_STRING),
    }
    None
}

/// A user or role pk; a string that is no UUID names nothing.
fn pk(v: &mut Violations, field: &str, value: Value) -> Option<(Uuid, String)> {
    match value {
        Value::String(raw) => match Uuid::parse_str(raw.trim()) {
            Ok(id) => return Some((id, raw)),
            Err(_) => v.invalid_pk(field, &raw),
        },
        Value::Null => v.null(field),
        other => v.add(
            field,
            "incorrect_type",
            messages::incorrect_pk_type(type_name(&other)),
        ),
    }
    None
}

/// The grants whose user or role exists; the others are reported in `v`.
pub(crate) async fn check(
    db: &Txn,
    pending: Vec<Pending>,
    v: &mut Violations,
) -> Result<Vec<ObjectGrant>, StoreError> {
    let mut users = Vec::new();
    let mut roles = Vec::new();
    for p in &pending {
        match p.grant.principal {
            PrincipalPk::User(id) => users.push(id),
            PrincipalPk::Role(id) => roles.push(id),
        }
    }
    for ids in [&mut users, &mut roles] {
        ids.sort_unstable();
        ids.dedup();
    }
    let missing_users = access::missing_users(db, &users).await?;
    let missing_roles = access::missing_roles(db, &roles).await?;
    let mut grants = Vec::with_capacity(pending.len());
    for p in pending {
        let missing = match p.grant.principal {
            PrincipalPk::User(id) => missing_users.contains(&id),
            PrincipalPk::Role(id) => missing_roles.contains(&id),
        };
        if missing {
            v.invalid_pk(p.field, &p.raw);
        } else {
            grants.push(p.grant);
        }
    }
    Ok(grants)
}

/// Grants each permission on `source`; whether any grant was new.
pub(crate) async fn grant(
    db: &Txn,
    source: Uuid,
    grants: &[ObjectGrant],
) -> Result<bool, StoreError> {
    let mut added = false;
    for g in grants {
        added |= access::grant_on_source(db, g.permission, g.principal, source).await?;
    }
    Ok(added)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(text: &str) -> Vec<(usize, Value)> {
        match serde_yaml_ng::from_str(text).unwrap() {
            Value::Sequence(items) => items.into_iter().enumerate().collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn items_name_a_codename_and_one_principal() {
        let (u, r) = (Uuid::new_v4(), Uuid::new_v4());
        let mut v = Violations::new();
        let pending = parse(
            &mut v,
            items(&format!(
                "[{{permission: view_plexsource, user: '{u}'}}, \
                 {{permission: authentik_sources_plex.view_plexsource_plex_token, role: '{r}'}}]"
            )),
        );
        assert!(v.is_empty(), "{v}");
        let grants: Vec<_> = pending.iter().map(|p| p.grant).collect();
        assert_eq!(
            grants,
            [
                ObjectGrant {
                    permission: Permission::View,
                    principal: PrincipalPk::User(u),
                },
                ObjectGrant {
                    permission: Permission::ViewPlexToken,
                    principal: PrincipalPk::Role(r),
                },
            ]
        );
        assert_eq!(pending[1].field, "permissions[1].role");
    }

    #[test]
    fn broken_items_are_each_reported() {
        let u = Uuid::new_v4();
        let mut v = Violations::new();
        let pending = parse(
            &mut v,
            items(&format!(
                "[{{permission: view_everything, user: '{u}'}}, \
                  {{permission: view_plexsource, user: '{u}', role: '{u}'}}, \
                  {{permission: view_plexsource}}, \
                  {{user: nope}}, \
                  {{permission: 5, role: null}}, \
                  {{permission: authentik_core.view_user, user: 7}}, \
                  view_plexsource]"
            )),
        );
        assert!(pending.is_empty());
        assert_eq!(
            v.to_string(),
            "permissions[0].permission: Unknown permission \"view_everything\".; \
             permissions[1]: Give exactly one of user or role.; \
             permissions[2]: Give exactly one of user or role.; \
             permissions[3].permission: This field is required.; \
             permissions[3].user: Invalid pk \"nope\" - object does not exist.; \
             permissions[4].permission: Not a valid string.; \
             permissions[4].role: This field may not be null.; \
             permissions[5].permission: Unknown permission \"authentik_core.view_user\".; \
             permissions[5].user: Incorrect type. Expected pk value, received int.; \
             permissions[6]: Invalid data. Expected a dictionary, but got str."
        );
    }
}
