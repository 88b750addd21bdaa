//! Applying entries one by one: conditions, the entry's state against what
//! is stored, and the report.

use std::{collections::HashMap, future::Future};

use sea_orm::DatabaseTransaction;
use serde_yaml_ng::{Mapping, Value};
use uuid::Uuid;

use super::{
    document::{Entry, State},
    flows::FlowTarget,
    mappings::MappingTarget,
    models::{Model, Target, identity},
    permissions::{self, ObjectGrant},
    plex_source::PlexSourceTarget,
    report::{Failure, ImportReport},
    roles::RoleTarget,
    tags::{EnvReader, Finder, Resolver, TagError},
    users::UserTarget,
    values::not_a_list,
};
use crate::{
    domain::Violations,
    store::{Lookup, StoreError},
};

/// Replaces secret values quoted in messages (`"<value>" is not a valid
/// choice.`); every message that embeds a value quotes it.
const REDACTED: &str = "\"[REDACTED]\"";

/// Applies the entries of one file inside its transaction.
pub(crate) struct Importer<'a> {
    db: &'a DatabaseTransaction,
    env: &'a EnvReader,
    /// `id` → pk of the object an earlier entry produced or matched.
    keys: HashMap<String, Uuid>,
    report: ImportReport,
}

/// The violations of the entry being applied and the `!Env` values its
/// tags produced, which must not show in them.
#[derive(Default)]
struct Findings {
    violations: Violations,
    secrets: Vec<String>,
}

impl Findings {
    fn into_failure(self, entry: &EntryRef) -> Failure {
        Failure::Entry {
            index: entry.index,
            model: entry.model.clone(),
            violations: scrub(self.violations, &self.secrets),
        }
    }
}

/// What writing an entry's object did, before its permissions.
enum Outcome {
    Created,
    Updated,
    Unchanged,
}

/// What errors need to know about the entry being applied.
struct EntryRef {
    index: usize,
    model: String,
}

impl<'a> Importer<'a> {
    pub(crate) fn new(db: &'a DatabaseTransaction, env: &'a EnvReader) -> Self {
        Self {
            db,
            env,
            keys: HashMap::new(),
            report: ImportReport::default(),
        }
    }

    pub(crate) fn into_report(self) -> ImportReport {
        self.report
    }

    pub(crate) async fn apply(&mut self, entry: Entry) -> Result<(), Failure> {
        let Some(model) = Model::from_name(&entry.model) else {
            tracing::warn!(
                model = %entry.model,
                index = entry.index,
                "skipping blueprint entry of unsupported model"
            );
            self.report.skipped += 1;
            return Ok(());
        };
        if !self.conditions_hold(&entry).await? {
            tracing::info!(
                model = model.name(),
                index = entry.index,
                "skipping blueprint entry: a condition is false"
            );
            self.report.skipped += 1;
            return Ok(());
        }
        match model {
            Model::PlexSource => self.apply_as::<PlexSourceTarget>(entry).await,
            Model::Flow => self.apply_as::<FlowTarget>(entry).await,
            Model::PropertyMapping => self.apply_as::<MappingTarget>(entry).await,
            Model::User => self.apply_as::<UserTarget>(entry).await,
            Model::Role => self.apply_as::<RoleTarget>(entry).await,
        }
    }

    /// Whether every condition is true. Conditions must resolve to
    /// booleans; anything else is an error rather than a guess.
    async fn conditions_hold(&self, entry: &Entry) -> Result<bool, Failure> {
        let mut findings = Findings::default();
        let mut hold = true;
        for (i, condition) in entry.conditions.iter().enumerate() {
            let path = format!("conditions[{i}]");
            match self
                .resolve(condition.clone(), path.clone(), entry.index, &mut findings)
                .await?
            {
                Some(Value::Bool(b)) => hold &= b,
                Some(_) => findings
                    .violations
                    .add(path, "invalid", "Must be a valid boolean."),
                None => {}
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

    /// Resolves the tags of one value. A tag that cannot be resolved becomes
    /// a violation and gives `None`.
    async fn resolve(
        &self,
        value: Value,
        path: String,
        index: usize,
        findings: &mut Findings,
    ) -> Result<Option<Value>, Failure> {
        let finder = StoreFinder(self.db);
        let mut resolver = Resolver::new(self.env, &self.keys, &finder);
        let result = resolver.resolve(value, path).await;
        findings.secrets.extend(resolver.into_secrets());
        match result {
            Ok(value) => Ok(Some(value)),
            Err(TagError::Invalid(v)) => {
                findings.violations.add(v.field, v.code, v.message);
                Ok(None)
            }
            Err(TagError::Store(error)) => Err(Failure::store(Some(index))(error)),
        }
    }

    /// Resolves each value of `identifiers` or `attrs`; pairs whose tags
    /// fail are dropped (and reported).
    async fn resolve_pairs(
        &self,
        pairs: Vec<(String, Value)>,
        prefix: &str,
        index: usize,
        findings: &mut Findings,
    ) -> Result<Vec<(String, Value)>, Failure> {
        let mut out = Vec::with_capacity(pairs.len());
        for (key, value) in pairs {
            let path = format!("{prefix}{key}");
            if let Some(value) = self.resolve(value, path, index, findings).await? {
                out.push((key, value));
            }
        }
        Ok(out)
    }

    /// Resolves and checks an entry's `permissions`. Each item's values are
    /// resolved on their own, so every broken tag is reported; an item with
    /// one is not typed further (its other faults would only add noise).
    async fn entry_permissions(
        &self,
        raw: Value,
        index: usize,
        findings: &mut Findings,
    ) -> Result<Vec<ObjectGrant>, Failure> {
        let items = match raw {
            Value::Null => return Ok(Vec::new()),
            Value::Sequence(items) => items,
            other => {
                findings
                    .violations
                    .add("permissions", "not_a_list", not_a_list(&other));
                return Ok(Vec::new());
            }
        };
        let mut resolved = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            let path = format!("permissions[{i}]");
            let item = match item {
                Value::Mapping(map) => {
                    let mut out = Mapping::with_capacity(map.len());
                    let mut whole = true;
                    for (key, value) in map {
                        let sub = key
                            .as_str()
                            .map_or_else(|| path.clone(), |k| format!("{path}.{k}"));
                        match self.resolve(value, sub, index, findings).await? {
                            Some(value) => {
                                out.insert(key, value);
                            }
                            None => whole = false,
                        }
                    }
                    whole.then_some(Value::Mapping(out))
                }
                other => self.resolve(other, path, index, findings).await?,
            };
            if let Some(item) = item {
                resolved.push((i, item));
            }
        }
        let pending = permissions::parse(&mut findings.violations, resolved);
        permissions::check(self.db, pending, &mut findings.violations)
            .await
            .map_err(Failure::store(Some(index)))
    }

    /// The state machine, the same for every model.
    async fn apply_as<T: Target>(&mut self, entry: Entry) -> Result<(), Failure> {
        let Entry {
            index,
            model,
            state,
            identifiers,
            attrs,
            id,
            conditions: _,
            permissions,
        } = entry;
        let permissions = if T::OBJECT_PERMISSIONS {
            permissions
        } else {
            if !permissions.is_null() {
                tracing::warn!(
                    model = T::MODEL.name(),
                    index,
                    "blueprint entry permissions are supported on Plex sources only; ignoring them"
                );
            }
            Value::Null
        };
        let at = EntryRef { index, model };
        let store_failure = Failure::store(Some(index));
        let mut findings = Findings::default();

        let identifiers = self
            .resolve_pairs(identifiers, "identifiers.", index, &mut findings)
            .await?;
        let lookup = identity(&mut findings.violations, T::MODEL, identifiers);
        let lookup = match lookup {
            Some(lookup) if findings.violations.is_empty() => lookup,
            _ => return Err(findings.into_failure(&at)),
        };
        let mut found = T::find(self.db, &lookup).await.map_err(store_failure)?;
        if found.len() > 1 {
            findings.violations.add(
                "identifiers",
                "multiple",
                "More than one object matches these identifiers.",
            );
            return Err(findings.into_failure(&at));
        }
        let existing = found.pop();

        let (pk, outcome, grants) = match (state, existing) {
            (State::Absent, Some(existing)) => {
                T::delete(self.db, T::pk(&existing))
                    .await
                    .map_err(Failure::store(Some(index)))?;
                self.report.deleted += 1;
                return Ok(());
            }
            (State::Absent, None) => {
                self.report.unchanged += 1;
                return Ok(());
            }
            (State::MustCreated, Some(_)) => {
                findings.violations.add(
                    "identifiers",
                    "unique",
                    "Object with these identifiers already exists.",
                );
                return Err(findings.into_failure(&at));
            }
            // The object stays as it is; its permissions are still granted,
            // as authentik does.
            (State::Created, Some(existing)) => {
                let grants = self
                    .entry_permissions(permissions, index, &mut findings)
                    .await?;
                if !findings.violations.is_empty() {
                    return Err(findings.into_failure(&at));
                }
                (T::pk(&existing), Outcome::Unchanged, grants)
            }
            (State::Present | State::Created | State::MustCreated, existing) => {
                let attrs = self.resolve_pairs(attrs, "", index, &mut findings).await?;
                let mut draft = T::draft(&mut findings.violations, attrs);
                T::apply_identifiers(&mut draft, &lookup);
                let mut broken = Violations::new();
                let fields = T::check(self.db, draft, existing.as_ref(), &mut broken)
                    .await
                    .map_err(Failure::store(Some(index)))?;
                merge_unreported(&mut findings.violations, broken);
                let grants = self
                    .entry_permissions(permissions, index, &mut findings)
                    .await?;
                let fields = match fields {
                    Some(fields) if findings.violations.is_empty() => fields,
                    _ => return Err(findings.into_failure(&at)),
                };
                match existing {
                    Some(existing) => {
                        let pk = T::pk(&existing);
                        if T::unchanged(&existing, &fields) {
                            (pk, Outcome::Unchanged, grants)
                        } else {
                            T::update(self.db, pk, &fields)
                                .await
                                .map_err(Failure::store(Some(index)))?;
                            (pk, Outcome::Updated, grants)
                        }
                    }
                    None => {
                        // A `pk` identifier names the object to create.
                        let pk = lookup.pk.unwrap_or_else(Uuid::new_v4);
                        T::insert(self.db, pk, &fields)
                            .await
                            .map_err(Failure::store(Some(index)))?;
                        (pk, Outcome::Created, grants)
                    }
                }
            }
        };
        let granted = permissions::grant(self.db, pk, &grants)
            .await
            .map_err(Failure::store(Some(index)))?;
        match outcome {
            Outcome::Created => self.report.created += 1,
            // A new grant is a change to what the object lets people do.
            Outcome::Updated => self.report.updated += 1,
            Outcome::Unchanged if granted => self.report.updated += 1,
            Outcome::Unchanged => self.report.unchanged += 1,
        }
        self.remember(id, pk);
        Ok(())
    }

    /// Makes the object available to later `!KeyOf id`; the first entry
    /// with an id wins, as in authentik.
    fn remember(&mut self, id: Option<String>, pk: Uuid) {
        if let Some(id) = id {
            self.keys.entry(id).or_insert(pk);
        }
    }
}

/// Answers `!Find` from the store, inside the file's transaction so objects
/// created by earlier entries are found.
struct StoreFinder<'a>(&'a DatabaseTransaction);

impl Finder for StoreFinder<'_> {
    fn find(
        &self,
        model: Model,
        lookup: Lookup,
    ) -> impl Future<Output = Result<Vec<Uuid>, StoreError>> + Send {
        let db = self.0;
        async move {
            match model {
                Model::PlexSource => pks::<PlexSourceTarget>(db, &lookup).await,
                Model::Flow => pks::<FlowTarget>(db, &lookup).await,
                Model::PropertyMapping => pks::<MappingTarget>(db, &lookup).await,
                Model::User => pks::<UserTarget>(db, &lookup).await,
                Model::Role => pks::<RoleTarget>(db, &lookup).await,
            }
        }
    }
}

/// The pks of the objects of `T` matching `lookup`, in store order.
async fn pks<T: Target>(
    db: &DatabaseTransaction,
    lookup: &Lookup,
) -> Result<Vec<Uuid>, StoreError> {
    Ok(T::find(db, lookup).await?.iter().map(T::pk).collect())
}

/// Adds the rule violations of fields not already reported while typing or
/// resolving tags: a refused value is left missing, and "This field is
/// required." on top of "Not a valid string." would only confuse.
fn merge_unreported(reported: &mut Violations, more: Violations) {
    let roots: Vec<String> = reported.iter().map(|v| root(&v.field).to_owned()).collect();
    for v in more.iter() {
        if !roots.iter().any(|r| r == root(&v.field)) {
            reported.add(v.field.clone(), v.code, v.message.clone());
        }
    }
}

/// `user_property_mappings` of `user_property_mappings[1]`.
fn root(field: &str) -> &str {
    field.split(['[', '.']).next().unwrap_or(field)
}

/// Removes `!Env` values from messages.
fn scrub(violations: Violations, secrets: &[String]) -> Violations {
    if secrets.is_empty() {
        return violations;
    }
    let quoted: Vec<String> = secrets
        .iter()
        .filter(|s| !s.is_empty())
        .map(|s| format!("\"{s}\""))
        .collect();
    let mut out = Violations::new();
    for v in violations.iter() {
        let message = quoted
            .iter()
            .fold(v.message.clone(), |m, q| m.replace(q.as_str(), REDACTED));
        out.add(v.field.clone(), v.code, message);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_hides_quoted_secrets_only() {
        let mut v = Violations::new();
        v.add(
            "policy_engine_mode",
            "invalid_choice",
            "\"hunter2\" is not a valid choice.",
        );
        v.add("name", "blank", "This field may not be blank.");
        let out = scrub(v, &["hunter2".into(), String::new()]);
        assert_eq!(
            out.to_string(),
            "policy_engine_mode: \"[REDACTED]\" is not a valid choice.; name: This field may not be blank."
        );
    }

    #[test]
    fn later_violations_on_reported_fields_are_dropped() {
        let mut reported = Violations::single("name", "invalid", "Not a valid string.");
        reported.null("user_property_mappings[1]");
        let mut more = Violations::new();
        more.required("name");
        more.invalid_pk("user_property_mappings[0]", "x");
        more.required("plex_token");
        merge_unreported(&mut reported, more);
        let fields: Vec<_> = reported.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["name", "user_property_mappings[1]", "plex_token"]);
    }
}
