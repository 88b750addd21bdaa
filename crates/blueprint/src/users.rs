//! `authentik_core.user` entries: the users API tokens belong to.
//!
//! Any attribute (or `pk`) identifies; usually `username`. Attributes:
//! - `username` (required on create, not blank, at most 150 characters);
//! - `is_active` (default `true`): an inactive user's tokens stop working.
//!
//! authentik's other user attributes (`name`, `email`, `path`,
//! `attributes`, `type`) are accepted and dropped without a warning, so a
//! blueprint exported from authentik imports as is: this service keeps only
//! what authorization needs.
//!
//! Two extensions beyond authentik's serializer, because this service has
//! no groups to carry them:
//! - `is_superuser` (default `false`): in authentik a user is a superuser
//!   through a superuser group;
//! - `roles`: role pks (`!KeyOf role-entry`, `!Find [authentik_rbac.role,
//!   [name, x]]`) that REPLACE the user's roles; in authentik roles come
//!   through groups. Left out, an update keeps the roles the user has.

use crate::lookup::Identifier;
use serde_yaml_ng::{Mapping, Value};
use uuid::Uuid;

use super::{
    models::{Attributes, Model, RecordDraft, RefField, Referenced, Target, Unique, record_steps},
    values::{assign, flag, pk_list, required_name, text},
};
use domain::{Field, Reference, UserName, Violations};
use store::access::{self, UserRecord};

/// User attributes authentik has and this service drops silently.
const DROPPED: &[&str] = &["name", "email", "path", "attributes", "type"];

/// A user as an entry describes it, before its rules are checked.
#[derive(Debug, Clone, Default)]
pub(crate) struct UserDraft {
    pub username: Field<String>,
    pub is_active: Field<bool>,
    pub is_superuser: Field<bool>,
    pub roles: Field<Vec<String>>,
}

/// A user's checked fields; `roles` sorted and without duplicates, so two
/// equal role sets compare equal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UserFields {
    pub username: String,
    pub is_active: bool,
    pub is_superuser: bool,
    pub roles: Vec<Uuid>,
}

impl UserFields {
    fn record(&self, pk: Uuid) -> UserRecord {
        UserRecord {
            pk,
            username: self.username.clone(),
            is_active: self.is_active,
            is_superuser: self.is_superuser,
            roles: self.roles.clone(),
        }
    }
}

impl Attributes for UserDraft {
    fn take(&mut self, v: &mut Violations, key: &str, value: Value) -> bool {
        match key {
            "username" => assign(&mut self.username, text(v, key, value)),
            "is_active" => assign(&mut self.is_active, flag(v, key, value)),
            "is_superuser" => assign(&mut self.is_superuser, flag(v, key, value)),
            "roles" => assign(&mut self.roles, pk_list(v, key, value)),
            _ if DROPPED.contains(&key) => {}
            _ => return false,
        }
        true
    }
}

impl RecordDraft for UserDraft {
    type Record = UserRecord;
    type Fields = UserFields;
    const UNIQUE: Unique = Unique {
        column: Identifier::Username,
        taken: "A user with that username already exists.",
    };

    fn unique_value(&self) -> Option<String> {
        match &self.username {
            Field::Set(s) => UserName::parse(s).ok().map(|n| n.as_str().to_owned()),
            _ => None,
        }
    }

    /// The roles named by a valid pk.
    fn named_pks(&self) -> Option<(Referenced, Vec<Reference>)> {
        let Field::Set(items) = &self.roles else {
            return None;
        };
        let refs = items
            .iter()
            .enumerate()
            .filter_map(|(i, raw)| {
                Uuid::parse_str(raw.trim()).ok().map(|id| Reference {
                    field: format!("roles[{i}]"),
                    raw: raw.clone(),
                    id,
                })
            })
            .collect();
        Some((Referenced::Role, refs))
    }

    fn finish(self, base: Option<&UserRecord>) -> Result<UserFields, Violations> {
        let mut v = Violations::new();
        let username = required_name(
            &mut v,
            "username",
            self.username,
            base.map(|b| b.username.as_str()),
            |s| UserName::parse(s).map_err(|e| e.0),
            UserName::MAX_LEN,
        )
        .map(|name| name.as_str().to_owned());
        let is_active = domain::draft_flag(
            &mut v,
            "is_active",
            self.is_active,
            base.map(|b| b.is_active),
            true,
        );
        let is_superuser = domain::draft_flag(
            &mut v,
            "is_superuser",
            self.is_superuser,
            base.map(|b| b.is_superuser),
            false,
        );
        let roles = role_pks(&mut v, self.roles, base.map(|b| b.roles.as_slice()));
        match (username, is_active, is_superuser, roles) {
            (Some(username), Some(is_active), Some(is_superuser), Some(roles)) if v.is_empty() => {
                Ok(UserFields {
                    username,
                    is_active,
                    is_superuser,
                    roles,
                })
            }
            _ => Err(v),
        }
    }
}

/// The role pks, sorted and deduplicated; a value that is no UUID names no
/// role. Missing keeps `base` (no roles on create).
fn role_pks(
    v: &mut Violations,
    value: Field<Vec<String>>,
    base: Option<&[Uuid]>,
) -> Option<Vec<Uuid>> {
    match value {
        Field::Set(items) => {
            let mut ok = true;
            let mut pks = Vec::with_capacity(items.len());
            for (i, raw) in items.iter().enumerate() {
                match Uuid::parse_str(raw.trim()) {
                    Ok(id) => pks.push(id),
                    Err(_) => {
                        v.invalid_pk(format!("roles[{i}]"), raw);
                        ok = false;
                    }
                }
            }
            pks.sort_unstable();
            pks.dedup();
            ok.then_some(pks)
        }
        Field::Null => {
            v.null("roles");
            None
        }
        Field::Missing => Some(base.map(<[Uuid]>::to_vec).unwrap_or_default()),
    }
}

pub(crate) struct UserTarget;

impl Target for UserTarget {
    const MODEL: Model = Model::User;
    const REFERENCES: &'static [RefField] = &[RefField::many("roles", Referenced::Role)];
    type Stored = UserRecord;
    type Draft = UserDraft;
    type Fields = UserFields;

    fn serialize(stored: &UserRecord) -> Mapping {
        let mut m = Mapping::new();
        m.insert("pk".into(), stored.pk.to_string().into());
        m.insert("username".into(), stored.username.clone().into());
        m.insert("is_active".into(), stored.is_active.into());
        m.insert("is_superuser".into(), stored.is_superuser.into());
        let roles = stored.roles.iter().map(|r| Value::String(r.to_string()));
        m.insert("roles".into(), Value::Sequence(roles.collect()));
        m
    }

    record_steps! {
        find: access::lookup_users,
        insert: access::insert_user,
        update: access::update_user,
        // Tokens, role links and grants of the user go with it.
        delete: access::delete_user,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::pairs;

    #[test]
    fn authentiks_other_attrs_are_dropped_and_defaults_apply() {
        let mut v = Violations::new();
        let d = UserTarget::draft(
            &mut v,
            pairs(
                "{username: ' alice ', name: Alice, email: a@x, path: users, attributes: {a: 1}, type: internal}",
            ),
        );
        assert!(v.is_empty(), "{v}");
        let f = d.finish(None).unwrap();
        assert_eq!(
            f,
            UserFields {
                username: "alice".into(),
                is_active: true,
                is_superuser: false,
                roles: vec![],
            }
        );
    }

    #[test]
    fn user_rules() {
        let mut v = Violations::new();
        let long = "x".repeat(151);
        let d = UserTarget::draft(
            &mut v,
            pairs(&format!(
                "{{username: {long}, is_active: null, roles: [nope, null]}}"
            )),
        );
        assert_eq!(
            v.to_string(),
            "roles[0]: \u{201c}nope\u{201d} is not a valid UUID."
        );
        let err = d.finish(None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "username: Ensure this field has no more than 150 characters.; \
             is_active: This field may not be null."
        );
        let mut v = Violations::new();
        let d = UserTarget::draft(&mut v, pairs("{username: '  ', roles: [nope]}"));
        assert_eq!(
            v.to_string(),
            "roles[0]: \u{201c}nope\u{201d} is not a valid UUID."
        );
        assert_eq!(
            d.finish(None).unwrap_err().to_string(),
            "username: This field may not be blank."
        );
        assert_eq!(
            UserDraft::default().finish(None).unwrap_err().to_string(),
            "username: This field is required."
        );
    }

    #[test]
    fn usernames_follow_the_command_lines_rule() {
        for name in ["a", " a ", "  ", &"x".repeat(150), &"x".repeat(151)] {
            let d = UserDraft {
                username: Field::Set(name.to_owned()),
                ..Default::default()
            };
            assert_eq!(
                d.finish(None).map(|f| f.username).ok(),
                UserName::parse(name).ok().map(|n| n.as_str().to_owned()),
                "{name:?}"
            );
        }
    }

    #[test]
    fn an_update_keeps_roles_unless_given_and_replaces_them_when_given() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let base = UserRecord {
            pk: Uuid::new_v4(),
            username: "bob".into(),
            is_active: false,
            is_superuser: true,
            roles: vec![a],
        };
        let kept = UserDraft::default().finish(Some(&base)).unwrap();
        assert_eq!(kept.record(base.pk), base);
        let d = UserDraft {
            roles: Field::Set(vec![b.to_string(), b.to_string()]),
            ..Default::default()
        };
        assert_eq!(d.finish(Some(&base)).unwrap().roles, [b]);
    }
}
