//! `authentik_sources_plex.plexsourcepropertymapping` entries: the
//! property mappings a Plex source lists. Attributes are `name` and
//! `expression`; any of them (or `pk`) identifies.

use crate::lookup::Identifier;
use serde_yaml_ng::{Mapping, Value};
use uuid::Uuid;

use super::{
    models::{Attributes, Model, RecordDraft, Target, Unique, record_steps},
    values::{assign, text},
};
use domain::{Field, Violations};
use store::{self, MappingRow};

/// A Plex source property mapping as an entry describes it.
#[derive(Debug, Clone, Default)]
pub(crate) struct MappingDraft {
    pub name: Field<String>,
    pub expression: Field<String>,
}

/// A property mapping's checked fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MappingFields {
    pub name: String,
    pub expression: String,
}

impl MappingFields {
    pub(crate) fn record(&self, pk: Uuid) -> MappingRow {
        MappingRow {
            pk,
            name: self.name.clone(),
            expression: self.expression.clone(),
        }
    }
}

impl Attributes for MappingDraft {
    fn take(&mut self, v: &mut Violations, key: &str, value: Value) -> bool {
        match key {
            "name" => assign(&mut self.name, text(v, key, value)),
            "expression" => assign(&mut self.expression, text(v, key, value)),
            _ => return false,
        }
        true
    }
}

impl RecordDraft for MappingDraft {
    type Record = MappingRow;
    type Fields = MappingFields;
    const UNIQUE: Unique = Unique {
        column: Identifier::Name,
        taken: "property mapping with this name already exists.",
    };

    fn unique_value(&self) -> Option<String> {
        match &self.name {
            Field::Set(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
            _ => None,
        }
    }

    fn finish(self, base: Option<&MappingRow>) -> Result<MappingFields, Violations> {
        let mut v = Violations::new();
        let name =
            domain::draft_required_text(&mut v, "name", self.name, base.map(|b| b.name.as_str()));
        // Python source: kept byte for byte, indentation matters.
        let expression = match self.expression {
            Field::Set(e) => Some(e),
            Field::Null => {
                v.null("expression");
                None
            }
            Field::Missing => Some(base.map(|b| b.expression.clone()).unwrap_or_default()),
        };
        match (name, expression) {
            (Some(name), Some(expression)) if v.is_empty() => {
                Ok(MappingFields { name, expression })
            }
            _ => Err(v),
        }
    }
}

pub(crate) struct MappingTarget;

impl Target for MappingTarget {
    const MODEL: Model = Model::PropertyMapping;
    type Stored = MappingRow;
    type Draft = MappingDraft;
    type Fields = MappingFields;

    fn serialize(stored: &MappingRow) -> Mapping {
        let mut m = Mapping::new();
        m.insert("pk".into(), stored.pk.to_string().into());
        m.insert("name".into(), stored.name.clone().into());
        m.insert("expression".into(), stored.expression.clone().into());
        m
    }

    record_steps! {
        find: store::mappings::find,
        insert: store::mappings::insert,
        update: store::mappings::update,
        delete: store::mappings::delete,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::{fields, pairs};

    #[test]
    fn mapping_rules() {
        let mut v = Violations::new();
        let d = MappingTarget::draft(&mut v, pairs("{name: m}"));
        assert_eq!(
            d.finish(None).unwrap(),
            MappingFields {
                name: "m".into(),
                expression: String::new()
            }
        );
        let d = MappingTarget::draft(&mut v, pairs("{expression: \"  return {}\\n\"}"));
        let base = MappingRow {
            pk: Uuid::new_v4(),
            name: "m".into(),
            expression: "x".into(),
        };
        assert_eq!(d.finish(Some(&base)).unwrap().expression, "  return {}\n");
        let d = MappingTarget::draft(&mut v, pairs("{name: null, expression: null}"));
        assert_eq!(fields(&d.finish(None).unwrap_err()), ["name", "expression"]);
        assert!(v.is_empty());
    }
}
