//! `authentik_flows.flow` entries: the flows a Plex source points to.
//! Attributes are `name`, `slug`, `title` and `designation`; any of them
//! (or `pk`) identifies. Only what this service stores is kept.

use crate::lookup::Identifier;
use serde_yaml_ng::{Mapping, Value};
use uuid::Uuid;

use super::{
    models::{Attributes, Model, RecordDraft, Target, Unique, record_steps},
    values::{assign, text},
};
use domain::{Field, FlowDesignation, Slug, Violations};
use store::{self, FlowRow};

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
    pub(crate) fn record(&self, pk: Uuid) -> FlowRow {
        FlowRow {
            pk,
            name: self.name.clone(),
            slug: self.slug.as_str().to_owned(),
            title: self.title.clone(),
            designation: self.designation.as_str().to_owned(),
        }
    }
}

/// Only what this service stores is kept; the rest of authentik's flow
/// attributes (`layout`, `background`, ...) are dropped with a warning.
impl Attributes for FlowDraft {
    fn take(&mut self, v: &mut Violations, key: &str, value: Value) -> bool {
        match key {
            "name" => assign(&mut self.name, text(v, key, value)),
            "slug" => assign(&mut self.slug, text(v, key, value)),
            "designation" => assign(&mut self.designation, text(v, key, value)),
            "title" => assign(&mut self.title, text(v, key, value)),
            _ => return false,
        }
        true
    }
}

impl RecordDraft for FlowDraft {
    type Record = FlowRow;
    type Fields = FlowFields;
    const UNIQUE: Unique = Unique {
        column: Identifier::Slug,
        taken: "flow with this slug already exists.",
    };

    fn unique_value(&self) -> Option<String> {
        match &self.slug {
            Field::Set(s) => Slug::parse(s.trim()).ok().map(|s| s.as_str().to_owned()),
            _ => None,
        }
    }

    fn finish(self, base: Option<&FlowRow>) -> Result<FlowFields, Violations> {
        let mut v = Violations::new();
        let name =
            domain::draft_required_text(&mut v, "name", self.name, base.map(|b| b.name.as_str()));
        let slug =
            domain::draft_required_text(&mut v, "slug", self.slug, base.map(|b| b.slug.as_str()))
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

    fn serialize(stored: &FlowRow) -> Mapping {
        let mut m = Mapping::new();
        m.insert("pk".into(), stored.pk.to_string().into());
        m.insert("name".into(), stored.name.clone().into());
        m.insert("slug".into(), stored.slug.clone().into());
        m.insert("title".into(), stored.title.clone().into());
        m.insert("designation".into(), stored.designation.clone().into());
        m
    }

    record_steps! {
        find: store::flows::find,
        insert: store::flows::insert,
        update: store::flows::update,
        delete: store::flows::delete,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::{fields, pairs};

    #[test]
    fn flow_rules() {
        let mut v = Violations::new();
        let d = FlowTarget::draft(
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

        let d = FlowTarget::draft(
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
            f.record(base.pk),
            FlowRow {
                name: "New".into(),
                ..base
            }
        );
    }
}
