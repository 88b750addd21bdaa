//! `authentik_sources_plex.plexsourcepropertymapping` entries: the
//! property mappings a Plex source lists. Attributes are `name` and
//! `expression`; any of them (or `pk`) identifies.

use store::Txn;

use crate::lookup::{Identifier, Lookup};
use serde_yaml_ng::{Mapping, Value};
use uuid::Uuid;

use super::{
    models::{Model, Target, check_unique, finished, ignore},
    values::{assign, required_text, text},
};
use domain::{Field, Violations};
use store::{self, MappingRow, StoreError};

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
    pub(crate) fn row(&self, pk: Uuid) -> MappingRow {
        MappingRow {
            pk,
            name: self.name.clone(),
            expression: self.expression.clone(),
        }
    }
}

pub(crate) fn mapping_draft(v: &mut Violations, attrs: Vec<(String, Value)>) -> MappingDraft {
    let mut d = MappingDraft::default();
    for (key, value) in attrs {
        let k = key.as_str();
        match k {
            "name" => assign(&mut d.name, text(v, k, value)),
            "expression" => assign(&mut d.expression, text(v, k, value)),
            _ => ignore(Model::PropertyMapping, k),
        }
    }
    d
}

impl MappingDraft {
    /// The name this draft would write, to check for uniqueness.
    pub(crate) fn new_name(&self) -> Option<String> {
        match &self.name {
            Field::Set(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
            _ => None,
        }
    }

    pub(crate) fn finish(self, base: Option<&MappingRow>) -> Result<MappingFields, Violations> {
        let mut v = Violations::new();
        let name = required_text(&mut v, "name", self.name, base.map(|b| b.name.as_str()));
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

    fn pk(stored: &MappingRow) -> Uuid {
        stored.pk
    }

    fn draft(v: &mut Violations, attrs: Vec<(String, Value)>) -> MappingDraft {
        mapping_draft(v, attrs)
    }

    fn serialize(stored: &MappingRow) -> Mapping {
        let mut m = Mapping::new();
        m.insert("pk".into(), stored.pk.to_string().into());
        m.insert("name".into(), stored.name.clone().into());
        m.insert("expression".into(), stored.expression.clone().into());
        m
    }

    async fn find(db: &Txn, lookup: &Lookup) -> Result<Vec<MappingRow>, StoreError> {
        store::mappings::find(db, &lookup.to_match()).await
    }

    async fn check(
        db: &Txn,
        draft: MappingDraft,
        existing: Option<&MappingRow>,
        v: &mut Violations,
    ) -> Result<Option<MappingFields>, StoreError> {
        let new_name = draft.new_name();
        let fields = finished(v, draft.finish(existing));
        check_unique::<Self>(
            db,
            v,
            existing,
            Identifier::Name,
            new_name,
            "property mapping with this name already exists.",
        )
        .await?;
        Ok(fields.filter(|_| v.is_empty()))
    }

    fn unchanged(stored: &MappingRow, fields: &MappingFields) -> bool {
        *stored == fields.row(stored.pk)
    }

    async fn insert(db: &Txn, pk: Uuid, fields: &MappingFields) -> Result<(), StoreError> {
        store::mappings::insert(db, &fields.row(pk)).await
    }

    async fn update(db: &Txn, pk: Uuid, fields: &MappingFields) -> Result<(), StoreError> {
        store::mappings::update(db, &fields.row(pk)).await
    }

    async fn delete(db: &Txn, pk: Uuid) -> Result<(), StoreError> {
        store::mappings::delete(db, pk).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::pairs;

    fn fields(v: &Violations) -> Vec<&str> {
        v.iter().map(|f| f.field.as_str()).collect()
    }

    #[test]
    fn mapping_rules() {
        let mut v = Violations::new();
        let d = mapping_draft(&mut v, pairs("{name: m}"));
        assert_eq!(
            d.finish(None).unwrap(),
            MappingFields {
                name: "m".into(),
                expression: String::new()
            }
        );
        let d = mapping_draft(&mut v, pairs("{expression: \"  return {}\\n\"}"));
        let base = MappingRow {
            pk: Uuid::new_v4(),
            name: "m".into(),
            expression: "x".into(),
        };
        assert_eq!(d.finish(Some(&base)).unwrap().expression, "  return {}\n");
        let d = mapping_draft(&mut v, pairs("{name: null, expression: null}"));
        assert_eq!(fields(&d.finish(None).unwrap_err()), ["name", "expression"]);
        assert!(v.is_empty());
    }
}
