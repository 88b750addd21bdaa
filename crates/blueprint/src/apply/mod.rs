//! Applying entries one by one: the model, conditions, the entry's state
//! against what is stored, and the report.
//!
//! The [`Importer`] is here, with what it does before an entry's state:
//! the entry's model and its conditions. The rest of its work is split by
//! concern:
//! - [`states`] runs an entry's state (`present`, `created`,
//!   `must_created`, `absent`) through the model's target;
//! - [`resolve`] resolves the tags of an entry's values (answering `!Find`
//!   from the store) and rewrites the pks earlier entries named;
//! - [`findings`] collects what an entry breaks and scrubs the secrets its
//!   tags produced from the messages.

mod findings;
mod resolve;
mod states;

use std::collections::HashMap;

use serde_yaml_ng::Value;
use store::Txn;
use uuid::Uuid;

use super::{
    document::{Entry, State},
    flows::FlowTarget,
    mappings::MappingTarget,
    models::{Known, Model, known},
    plex_source::PlexSourceTarget,
    python,
    report::{Failure, ImportReport},
    roles::RoleTarget,
    tags::{Inputs, Key},
    users::UserTarget,
};
use domain::Violations;
use findings::Findings;

/// Applies the entries of one file inside its transaction.
pub(crate) struct Importer<'a> {
    db: &'a Txn,
    inputs: &'a Inputs<'a>,
    /// `id` → what an earlier entry produced or matched.
    keys: HashMap<String, Key>,
    /// An earlier entry's `pk` identifier, as written → the pk of the
    /// object it stored or matched (authentik's `__pk_map`).
    pks: HashMap<Value, Uuid>,
    report: ImportReport,
}

/// What errors need to know about the entry being applied.
struct EntryRef {
    index: usize,
    model: String,
}

impl<'a> Importer<'a> {
    pub(crate) fn new(db: &'a Txn, inputs: &'a Inputs<'a>) -> Self {
        Self {
            db,
            inputs,
            keys: HashMap::new(),
            pks: HashMap::new(),
            report: ImportReport::default(),
        }
    }

    pub(crate) fn into_report(self) -> ImportReport {
        self.report
    }

    pub(crate) async fn apply(&mut self, entry: Entry) -> Result<(), Failure> {
        let model = match known(&entry.model) {
            Ok(Known::Stored(model)) => model,
            Ok(Known::Elsewhere(model)) => {
                tracing::warn!(
                    model,
                    index = entry.index,
                    "skipping blueprint entry of a model this service does not store"
                );
                self.report.skipped += 1;
                if let Some(id) = entry.id {
                    self.keys
                        .entry(id)
                        .or_insert(Key::NotStored(entry.index, model));
                }
                return Ok(());
            }
            Err(detail) => {
                return Err(Failure::Entry {
                    index: entry.index,
                    model: entry.model,
                    violations: Violations::single(
                        "model",
                        "does_not_exist",
                        format!("App or Model does not exist: {detail}"),
                    ),
                });
            }
        };
        match self.conditions_hold(&entry).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::info!(
                    model = model.name(),
                    index = entry.index,
                    "skipping blueprint entry: a condition is false"
                );
                self.report.skipped += 1;
                return Ok(());
            }
            Err(Failure::Entry {
                index, violations, ..
            }) if entry.state == State::Absent => {
                self.skip_absent(index, &entry.model, &violations);
                return Ok(());
            }
            Err(failure) => return Err(failure),
        }
        match model {
            Model::PlexSource => self.apply_as::<PlexSourceTarget>(entry).await,
            Model::Flow => self.apply_as::<FlowTarget>(entry).await,
            Model::PropertyMapping => self.apply_as::<MappingTarget>(entry).await,
            Model::User => self.apply_as::<UserTarget>(entry).await,
            Model::Role => self.apply_as::<RoleTarget>(entry).await,
        }
    }

    /// Whether every condition holds, by Python's truthiness (`all()`), as
    /// authentik decides.
    async fn conditions_hold(&self, entry: &Entry) -> Result<bool, Failure> {
        let mut findings = Findings::default();
        let mut hold = true;
        for (i, condition) in entry.conditions.iter().enumerate() {
            let path = format!("conditions[{i}]");
            if let Some(value) = self
                .resolve(condition.clone(), path, entry.index, &mut findings)
                .await?
            {
                hold &= python::truthy(&value);
            }
        }
        if findings.violations.is_empty() {
            Ok(hold)
        } else {
            Err(findings.into_failure(&EntryRef {
                index: entry.index,
                model: entry.model.clone(),
            }))
        }
    }
}
