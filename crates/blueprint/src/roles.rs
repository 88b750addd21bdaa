//! `authentik_rbac.role` entries. Identifiers are `pk` and `name`; the one
//! attribute is `name` (required, not blank, at most 150 characters).
//! Users get roles through their `roles` attribute, and Plex source entries
//! grant roles object permissions through `permissions`.

use store::Txn;

use crate::lookup::{Identifier, Lookup};
use serde_yaml_ng::{Mapping, Value};
use uuid::Uuid;

use super::{
    models::{Model, Target, check_unique, finished, ignore},
    values::{assign, required_name, text},
};
use domain::{Field, RoleName, Violations};
use store::{
    StoreError,
    access::{self, RoleRecord},
};

#[derive(Debug, Clone, Default)]
pub(crate) struct RoleDraft {
    pub name: Field<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RoleFields {
    pub name: String,
}

impl RoleFields {
    fn record(&self, pk: Uuid) -> RoleRecord {
        RoleRecord {
            pk,
            name: self.name.clone(),
        }
    }
}

pub(crate) fn role_draft(v: &mut Violations, attrs: Vec<(String, Value)>) -> RoleDraft {
    let mut d = RoleDraft::default();
    for (key, value) in attrs {
        let k = key.as_str();
        match k {
            "name" => assign(&mut d.name, text(v, k, value)),
            _ => ignore(Model::Role, k),
        }
    }
    d
}

impl RoleDraft {
    /// The name this draft would write, to check for uniqueness.
    fn new_name(&self) -> Option<String> {
        match &self.name {
            Field::Set(s) => RoleName::parse(s).ok().map(|n| n.as_str().to_owned()),
            _ => None,
        }
    }

    pub(crate) fn finish(self, base: Option<&RoleRecord>) -> Result<RoleFields, Violations> {
        let mut v = Violations::new();
        let name = required_name(
            &mut v,
            "name",
            self.name,
            base.map(|b| b.name.as_str()),
            |s| RoleName::parse(s).map_err(|e| e.0),
            RoleName::MAX_LEN,
        )
        .map(|name| name.as_str().to_owned());
        match name {
            Some(name) if v.is_empty() => Ok(RoleFields { name }),
            _ => Err(v),
        }
    }
}

pub(crate) struct RoleTarget;

impl Target for RoleTarget {
    const MODEL: Model = Model::Role;
    type Stored = RoleRecord;
    type Draft = RoleDraft;
    type Fields = RoleFields;

    fn pk(stored: &RoleRecord) -> Uuid {
        stored.pk
    }

    fn draft(v: &mut Violations, attrs: Vec<(String, Value)>) -> RoleDraft {
        role_draft(v, attrs)
    }

    fn serialize(stored: &RoleRecord) -> Mapping {
        let mut m = Mapping::new();
        m.insert("pk".into(), stored.pk.to_string().into());
        m.insert("name".into(), stored.name.clone().into());
        m
    }

    async fn find(db: &Txn, lookup: &Lookup) -> Result<Vec<RoleRecord>, StoreError> {
        access::lookup_roles(db, &lookup.to_match()).await
    }

    async fn check(
        db: &Txn,
        draft: RoleDraft,
        existing: Option<&RoleRecord>,
        v: &mut Violations,
    ) -> Result<Option<RoleFields>, StoreError> {
        let new_name = draft.new_name();
        let fields = finished(v, draft.finish(existing));
        check_unique::<Self>(
            db,
            v,
            existing,
            Identifier::Name,
            new_name,
            "role with this name already exists.",
        )
        .await?;
        Ok(fields.filter(|_| v.is_empty()))
    }

    fn unchanged(stored: &RoleRecord, fields: &RoleFields) -> bool {
        *stored == fields.record(stored.pk)
    }

    async fn insert(db: &Txn, pk: Uuid, fields: &RoleFields) -> Result<(), StoreError> {
        access::insert_role(db, &fields.record(pk)).await
    }

    async fn update(db: &Txn, pk: Uuid, fields: &RoleFields) -> Result<(), StoreError> {
        access::update_role(db, &fields.record(pk)).await
    }

    /// The role's user links and grants go with it.
    async fn delete(db: &Txn, pk: Uuid) -> Result<(), StoreError> {
        access::delete_role(db, pk).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_follow_the_command_lines_rule() {
        for name in ["r", " r ", "  ", &"r".repeat(150), &"r".repeat(151)] {
            let d = RoleDraft {
                name: Field::Set(name.to_owned()),
            };
            assert_eq!(
                d.finish(None).map(|f| f.name).ok(),
                RoleName::parse(name).ok().map(|n| n.as_str().to_owned()),
                "{name:?}"
            );
        }
    }

    #[test]
    fn role_rules() {
        let mut v = Violations::new();
        let value: Value = serde_yaml_ng::from_str("{name: ' readers ', users: [x]}").unwrap();
        let Value::Mapping(map) = value else {
            unreachable!()
        };
        let attrs = map
            .into_iter()
            .map(|(k, v)| (k.as_str().unwrap().to_owned(), v))
            .collect();
        let d = role_draft(&mut v, attrs);
        assert!(v.is_empty());
        assert_eq!(d.finish(None).unwrap().name, "readers");
        let long = RoleDraft {
            name: Field::Set("r".repeat(151)),
        };
        assert_eq!(
            long.finish(None).unwrap_err().to_string(),
            "name: Ensure this field has no more than 150 characters."
        );
        assert_eq!(
            RoleDraft::default().finish(None).unwrap_err().to_string(),
            "name: This field is required."
        );
    }
}
