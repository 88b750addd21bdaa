//! `authentik_rbac.role` entries. Identifiers are `pk` and `name`; the one
//! attribute is `name` (required, not blank, at most 150 characters).
//! Users get roles through their `roles` attribute, and Plex source entries
//! grant roles object permissions through `permissions`.

use crate::lookup::Identifier;
use serde_yaml_ng::{Mapping, Value};
use uuid::Uuid;

use super::{
    models::{Attributes, Model, RecordDraft, Target, Unique, record_steps},
    values::{assign, required_name, text},
};
use domain::{Field, RoleName, Violations};
use store::access::{self, RoleRecord};

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

impl Attributes for RoleDraft {
    fn take(&mut self, v: &mut Violations, key: &str, value: Value) -> bool {
        match key {
            "name" => assign(&mut self.name, text(v, key, value)),
            _ => return false,
        }
        true
    }
}

impl RecordDraft for RoleDraft {
    type Record = RoleRecord;
    type Fields = RoleFields;
    const UNIQUE: Unique = Unique {
        column: Identifier::Name,
        taken: "role with this name already exists.",
    };

    fn unique_value(&self) -> Option<String> {
        match &self.name {
            Field::Set(s) => RoleName::parse(s).ok().map(|n| n.as_str().to_owned()),
            _ => None,
        }
    }

    fn finish(self, base: Option<&RoleRecord>) -> Result<RoleFields, Violations> {
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

    fn serialize(stored: &RoleRecord) -> Mapping {
        let mut m = Mapping::new();
        m.insert("pk".into(), stored.pk.to_string().into());
        m.insert("name".into(), stored.name.clone().into());
        m
    }

    record_steps! {
        find: access::lookup_roles,
        insert: access::insert_role,
        update: access::update_role,
        // The role's user links and grants go with it.
        delete: access::delete_role,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::pairs;

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
        let d = RoleTarget::draft(&mut v, pairs("{name: ' readers ', users: [x]}"));
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
