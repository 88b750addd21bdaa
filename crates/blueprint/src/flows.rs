//! `authentik_flows.flow` entries: the flows a Plex source points to.
//! Attributes are `name`, `slug`, `title` and `designation`; any of them
//! (or `pk`) identifies. Only what this service stores is kept.

use store::Txn;

use crate::lookup::{Identifier, Lookup};
use serde_yaml_ng::{Mapping, Value};
use uuid::Uuid;

use super::{
    models::{Model, Target, check_unique, finished, ignore},
    values::{assign, required_text, text},
};
use domain::{Field, FlowDesignation, Slug, Violations};
use store::{self, FlowRow, StoreError};

/// A flow as an entry describes it, before its rules are checked.
#[derive(Debug, Clone, Default)]
pub(crate) struct FlowDraft {
    pub name: Field<String>,
    pub slug: Field<String>,
    pub title: Field<String>,
    pub designation: Field<String>,
}

/// A flow's checked fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FlowFields {
    pub name: String,
    pub slug: Slug,
    pub title: String,
    pub designation: FlowDesignation,
}

impl FlowFields {
    pub(crate) fn row(&self, pk: Uuid) -> FlowRow {
        FlowRow {
            pk,
            name: self.name.clone(),
            slug: self.slug.as_str().to_owned(),
            title: self.title.clone(),
            designation: self.designation.as_str().to_owned(),
        }
    }
}

/// Types a flow's `attrs`. Only what this service stores is kept; the rest
/// of authentik's flow attributes (`layout`, `background`, ...) are dropped
/// with a warning.
pub(crate) fn flow_draft(v: &mut Violations, attrs: Vec<(String, Value)>) -> FlowDraft {
    let mut d = FlowDraft::default();
    for (key, value) in attrs {
        let k = key.as_str();
        match k {
            "name" => assign(&mut d.name, text(v, k, value)),
            "slug" => assign(&mut d.slug, text(v, k, value)),
            "designation" => assign(&mut d.designation, text(v, k, value)),
            "title" => assign(&mut d.title, text(v, k, value)),
            _ => ignore(Model::Flow, k),
        }
    }
    d
}

impl FlowDraft {
    /// The slug this draft would write, when it is a valid one: the one to
    /// check for uniqueness.
    pub(crate) fn new_slug(&self) -> Option<Slug> {
        match &self.slug {
            Field::Set(s) => Slug::parse(s.trim()).ok(),
            _ => None,
        }
    }

    /// Applies the rules; missing fields come from `base` (an update).
    pub(crate) fn finish(self, base: Option<&FlowRow>) -> Result<FlowFields, Violations> {
        let mut v = Violations::new();
        let name = required_text(&mut v, "name", self.name, base.map(|b| b.name.as_str()));
        let slug = required_text(&mut v, "slug", self.slug, base.map(|b| b.slug.as_str()))
            .and_then(|s| match Slug::parse(&s) {
                Ok(slug) => Some(slug),
                Err(err) => {
                    err.report(&mut v, "slug");
                    None
                }
            });
        // Optional here (authentik requires it): flows written before titles
        // were kept have none. Trimmed, as DRF trims text.
        let title = match self.title {
            Field::Set(t) => Some(t.trim().to_owned()),
            Field::Null => {
                v.null("title");
                None
            }
            Field::Missing => Some(base.map(|b| b.title.clone()).unwrap_or_default()),
        };
        // A choice is matched as given, untrimmed, as authentik does.
        let designation = match self.designation {
            Field::Set(raw) => Some(raw),
            Field::Null => {
                v.null("designation");
                None
            }
            Field::Missing => match base {
                Some(b) => Some(b.designation.clone()),
                None => {
                    v.required("designation");
                    None
                }
            },
        }
        .and_then(|raw| match raw.parse::<FlowDesignation>() {
            Ok(d) => Some(d),
            Err(err) => {
                v.add("designation", "invalid_choice", err.to_string());
                None
            }
        });
        match (name, slug, title, designation) {
            (Some(name), Some(slug), Some(title), Some(designation)) if v.is_empty() => {
                Ok(FlowFields {
                    name,
                    slug,
                    title,
                    designation,
                })
            }
            _ => Err(v),
        }
    }
}

pub(crate) struct FlowTarget;

impl Target for FlowTarget {
    const MODEL: Model = Model::Flow;
    type Stored = FlowRow;
    type Draft = FlowDraft;
    type Fields = FlowFields;

    fn pk(stored: &FlowRow) -> Uuid {
        stored.pk
    }

    fn draft(v: &mut Violations, attrs: Vec<(String, Value)>) -> FlowDraft {
        flow_draft(v, attrs)
    }

    fn serialize(stored: &FlowRow) -> Mapping {
        let mut m = Mapping::new();
        m.insert("pk".into(), stored.pk.to_string().into());
        m.insert("name".into(), stored.name.clone().into());
        m.insert("slug".into(), stored.slug.clone().into());
        m.insert("title".into(), stored.title.clone().into());
        m.insert("designation".into(), stored.designation.clone().into());
        m
    }

    async fn find(db: &Txn, lookup: &Lookup) -> Result<Vec<FlowRow>, StoreError> {
        store::flows::find(db, &lookup.to_match()).await
    }

    async fn check(
        db: &Txn,
        draft: FlowDraft,
        existing: Option<&FlowRow>,
        v: &mut Violations,
    ) -> Result<Option<FlowFields>, StoreError> {
        let new_slug = draft.new_slug();
        let fields = finished(v, draft.finish(existing));
        check_unique::<Self>(
            db,
            v,
            existing,
            Identifier::Slug,
            new_slug.map(|s| s.as_str().to_owned()),
            "flow with this slug already exists.",
        )
        .await?;
        Ok(fields.filter(|_| v.is_empty()))
    }

    fn unchanged(stored: &FlowRow, fields: &FlowFields) -> bool {
        *stored == fields.row(stored.pk)
    }

    async fn insert(db: &Txn, pk: Uuid, fields: &FlowFields) -> Result<(), StoreError> {
        store::flows::insert(db, &fields.row(pk)).await
    }

    async fn update(db: &Txn, pk: Uuid, fields: &FlowFields) -> Result<(), StoreError> {
        store::flows::update(db, &fields.row(pk)).await
    }

    async fn delete(db: &Txn, pk: Uuid) -> Result<(), StoreError> {
        store::flows::delete(db, pk).await.map(drop)
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
    fn flow_rules() {
        let mut v = Violations::new();
        let d = flow_draft(
            &mut v,
            pairs(
                "{name: ' Welcome ', slug: welcome, designation: enrollment, title: Hi, layout: stacked}",
            ),
        );
        assert!(v.is_empty());
        let f = d.finish(None).unwrap();
        assert_eq!(f.name, "Welcome");
        assert_eq!(f.title, "Hi");
        assert_eq!(f.designation, FlowDesignation::Enrollment);

        let d = flow_draft(
            &mut v,
            pairs("{name: '  ', slug: 'a b', designation: login}"),
        );
        let err = d.finish(None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "name: This field may not be blank.; \
             slug: Enter a valid \"slug\" consisting of letters, numbers, underscores or hyphens.; \
             designation: \"login\" is not a valid choice."
        );
        let err = FlowDraft::default().finish(None).unwrap_err();
        assert_eq!(fields(&err), ["name", "slug", "designation"]);
    }

    #[test]
    fn flow_update_keeps_what_it_does_not_name() {
        let base = FlowRow {
            pk: Uuid::new_v4(),
            name: "Old".into(),
            slug: "old".into(),
            title: "Old title".into(),
            designation: "recovery".into(),
        };
        let d = FlowDraft {
            name: Field::Set("New".into()),
            ..Default::default()
        };
        let f = d.finish(Some(&base)).unwrap();
        assert_eq!(
            f.row(base.pk),
            FlowRow {
                name: "New".into(),
                ..base
            }
        );
    }
}
