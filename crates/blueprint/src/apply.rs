//! Applying entries one by one: the model, conditions, the entry's state
//! against what is stored, and the report.

use std::{collections::HashMap, future::Future};

use serde_yaml_ng::{Mapping, Value};
use store::Txn;
use uuid::Uuid;

use super::{
    document::{Entry, State},
    flows::FlowTarget,
    mappings::MappingTarget,
    models::{Known, Model, Query, Refused, Target, find_matching, identity, known},
    permissions::{self, ObjectGrant},
    plex_source::PlexSourceTarget,
    python, references,
    report::{Failure, ImportReport},
    roles::RoleTarget,
    tags::{Finder, Inputs, Key, Resolver, TagError},
    users::UserTarget,
    values::not_a_list,
};
use domain::{FieldViolation, Violations};
use store::StoreError;

/// Replaces secret values quoted in messages (`"<value>" is not a valid
/// choice.`, `“<value>” is not a valid UUID.`); every message that embeds a
/// value quotes it.
const REDACTED: &str = "[REDACTED]";

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
            violations: self.scrubbed(),
        }
    }

    /// The violations without the secrets they quote.
    fn scrubbed(self) -> Violations {
        scrub(self.violations, &self.secrets)
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
        let mut resolver = Resolver::new(self.inputs, &self.keys, &finder);
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
        if state == State::Absent {
            return self.delete_as::<T>(at, identifiers, attrs).await;
        }
        let store_failure = Failure::store(Some(index));
        let mut findings = Findings::default();
        let written_pk = identifiers
            .iter()
            .find(|(key, _)| key == "pk")
            .map(|(_, value)| value.clone())
            .filter(|value| matches!(value, Value::String(_) | Value::Number(_) | Value::Bool(_)));

        let identifiers = self
            .resolve_pairs(identifiers, "identifiers.", index, &mut findings)
            .await?;
        let identifiers = self.remap_identifiers(identifiers);
        let query = identity(
            &mut findings.violations,
            T::MODEL,
            identifiers.clone(),
            true,
        );
        let query: Query = match query {
            Ok(query) if findings.violations.is_empty() => query,
            _ => return Err(findings.into_failure(&at)),
        };
        // Several matches: the first, as authentik's `.first()` takes.
        let existing = find_matching::<T>(self.db, &query)
            .await
            .map_err(store_failure)?
            .into_iter()
            .next();

        if state == State::MustCreated && existing.is_some() {
            // authentik's text, its state printed as Python prints the enum.
            findings.violations.add(
                "identifiers",
                "unique",
                "State is set to BlueprintEntryDesiredState.MUST_CREATED and object exists \
                 already",
            );
            return Err(findings.into_failure(&at));
        }
        // Every other state resolves and checks the whole entry, even
        // `created` with an existing object, which is then left as it is
        // (its permissions are still granted), as authentik does.
        let attrs = self.remap_pks(self.resolve_pairs(attrs, "", index, &mut findings).await?);
        let draft = self
            .draft::<T>(with_identifiers(attrs, identifiers), index, &mut findings)
            .await?;
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
        let (pk, outcome) = match existing {
            Some(existing) if state == State::Created => (T::pk(&existing), Outcome::Unchanged),
            Some(existing) => {
                let pk = T::pk(&existing);
                if T::unchanged(&existing, &fields) {
                    (pk, Outcome::Unchanged)
                } else {
                    T::update(self.db, pk, &fields)
                        .await
                        .map_err(Failure::store(Some(index)))?;
                    (pk, Outcome::Updated)
                }
            }
            None => {
                // A `pk` identifier names the object to create.
                let pk = query.pk.unwrap_or_else(Uuid::new_v4);
                T::insert(self.db, pk, &fields)
                    .await
                    .map_err(Failure::store(Some(index)))?;
                (pk, Outcome::Created)
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
        if let Some(written) = written_pk {
            self.pks.insert(written, pk);
        }
        Ok(())
    }

    /// `state: absent`, as authentik runs it. Its importer drops the error
    /// of an entry it would only delete and goes on: an entry whose tags
    /// cannot be resolved (identifiers, then attributes), that has no
    /// identifiers, or that names a field the model lacks deletes nothing
    /// and is skipped. A value Django cannot read for its field (a
    /// malformed `pk`) still fails the import, as it does there; the
    /// attributes' rules are never checked (a refused value does not keep
    /// the object).
    async fn delete_as<T: Target>(
        &mut self,
        at: EntryRef,
        identifiers: Vec<(String, Value)>,
        attrs: Vec<(String, Value)>,
    ) -> Result<(), Failure> {
        let index = at.index;
        let mut findings = Findings::default();
        let identifiers = self
            .resolve_pairs(identifiers, "identifiers.", index, &mut findings)
            .await?;
        let identifiers = self.remap_identifiers(identifiers);
        let query = if findings.violations.is_empty() {
            identity(&mut findings.violations, T::MODEL, identifiers, false)
        } else {
            Err(Refused::Entry)
        };
        let query = match query {
            Ok(query) => query,
            Err(Refused::Entry) => {
                self.skip_absent(index, &at.model, &findings.scrubbed());
                return Ok(());
            }
            Err(Refused::Value) => return Err(findings.into_failure(&at)),
        };
        let existing = find_matching::<T>(self.db, &query)
            .await
            .map_err(Failure::store(Some(index)))?
            .into_iter()
            .next();
        // Resolved for their tags only: one that fails keeps the object.
        self.resolve_pairs(attrs, "", index, &mut findings).await?;
        if !findings.violations.is_empty() {
            self.skip_absent(index, &at.model, &findings.scrubbed());
            return Ok(());
        }
        match existing {
            Some(existing) => {
                T::delete(self.db, T::pk(&existing))
                    .await
                    .map_err(Failure::store(Some(index)))?;
                self.report.deleted += 1;
            }
            None => self.report.unchanged += 1,
        }
        Ok(())
    }

    /// An `absent` entry authentik skips without a word; here a warning
    /// says which and why (secrets already scrubbed from the reason).
    fn skip_absent(&mut self, index: usize, model: &str, why: &Violations) {
        tracing::warn!(
            index,
            model,
            reason = %why,
            "skipping blueprint entry to delete: authentik skips an absent entry it cannot validate"
        );
        self.report.skipped += 1;
    }

    /// Checks the entry's references in the store and types the rest into
    /// the model's draft; violations come in the order of the attributes.
    async fn draft<T: Target>(
        &self,
        pairs: Vec<(String, Value)>,
        index: usize,
        findings: &mut Findings,
    ) -> Result<T::Draft, Failure> {
        let keys: Vec<String> = pairs.iter().map(|(k, _)| k.clone()).collect();
        let mut refused = Violations::new();
        let pairs = references::check(self.db, T::REFERENCES, pairs, &mut refused)
            .await
            .map_err(Failure::store(Some(index)))?;
        let mut typed = Violations::new();
        let draft = T::draft(&mut typed, pairs);
        findings
            .violations
            .extend(in_key_order(&keys, refused, typed));
        Ok(draft)
    }

    /// Values (top-level, or one level down in a list or mapping) equal
    /// to an earlier entry's `pk` identifier become the pk of the object
    /// that entry stored or matched, as authentik rewrites them: an
    /// exported blueprint keeps referring to the right object when it
    /// matched an existing one by another identifier.
    fn remap_pks(&self, pairs: Vec<(String, Value)>) -> Vec<(String, Value)> {
        if self.pks.is_empty() {
            return pairs;
        }
        let remap = |value: Value| match self.pks.get(&value) {
            Some(pk) => Value::String(pk.to_string()),
            None => value,
        };
        pairs
            .into_iter()
            .map(|(key, value)| {
                let value = match value {
                    Value::Sequence(items) => {
                        Value::Sequence(items.into_iter().map(remap).collect())
                    }
                    Value::Mapping(map) => {
                        Value::Mapping(map.into_iter().map(|(k, v)| (k, remap(v))).collect())
                    }
                    other => remap(other),
                };
                (key, value)
            })
            .collect()
    }

    /// [`Self::remap_pks`], then an identifier holding a mapping with a
    /// `pk` (a `!FindObject` answer) stands for that pk, as in authentik.
    fn remap_identifiers(&self, pairs: Vec<(String, Value)>) -> Vec<(String, Value)> {
        self.remap_pks(pairs)
            .into_iter()
            .map(|(key, value)| match value {
                Value::Mapping(map) => {
                    let pk = map.get("pk").cloned();
                    (key, pk.unwrap_or(Value::Mapping(map)))
                }
                other => (key, other),
            })
            .collect()
    }

    /// Makes the object available to later `!KeyOf id`. As in authentik,
    /// the first entry with that id and an object wins.
    fn remember(&mut self, id: Option<String>, pk: Uuid) {
        if let Some(id) = id {
            let slot = self.keys.entry(id).or_insert(Key::Object(pk));
            if matches!(slot, Key::NotStored(..)) {
                *slot = Key::Object(pk);
            }
        }
    }
}

/// `attrs` with the identifiers merged over them, as authentik merges them
/// into the data its serializer reads (`pk` is dropped there as read-only).
fn with_identifiers(
    attrs: Vec<(String, Value)>,
    identifiers: Vec<(String, Value)>,
) -> Vec<(String, Value)> {
    let to_map = |pairs: Vec<(String, Value)>| {
        pairs
            .into_iter()
            .map(|(k, v)| (Value::String(k), v))
            .collect::<Mapping>()
    };
    let mut merged = to_map(attrs);
    python::merge_maps(&mut merged, to_map(identifiers));
    merged
        .into_iter()
        .filter_map(|(k, v)| match k {
            Value::String(k) => Some((k, v)),
            _ => None,
        })
        .collect()
}

/// Answers `!Find` from the store, inside the file's transaction so objects
/// created by earlier entries are found.
struct StoreFinder<'a>(&'a Txn);

impl Finder for StoreFinder<'_> {
    fn find(
        &self,
        model: Model,
        query: Query,
    ) -> impl Future<Output = Result<Vec<(Uuid, Mapping)>, StoreError>> + Send {
        let db = self.0;
        async move {
            match model {
                Model::PlexSource => found::<PlexSourceTarget>(db, &query).await,
                Model::Flow => found::<FlowTarget>(db, &query).await,
                Model::PropertyMapping => found::<MappingTarget>(db, &query).await,
                Model::User => found::<UserTarget>(db, &query).await,
                Model::Role => found::<RoleTarget>(db, &query).await,
            }
        }
    }
}

/// The objects of `T` that `query` selects, as pk and serialized fields,
/// ordered by pk.
async fn found<T: Target>(db: &Txn, query: &Query) -> Result<Vec<(Uuid, Mapping)>, StoreError> {
    let rows = find_matching::<T>(db, query).await?;
    Ok(rows.iter().map(|r| (T::pk(r), T::serialize(r))).collect())
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

/// `first` and `then` together, ordered by the position of their field's
/// attribute in `keys` (stable: `first` before `then` on the same one).
fn in_key_order(keys: &[String], first: Violations, then: Violations) -> Violations {
    let mut all: Vec<&FieldViolation> = first.iter().chain(then.iter()).collect();
    all.sort_by_key(|v| {
        keys.iter()
            .position(|k| k == root(&v.field))
            .unwrap_or(keys.len())
    });
    let mut out = Violations::new();
    for v in all {
        out.add(v.field.clone(), v.code, v.message.clone());
    }
    out
}

/// `user_property_mappings` of `user_property_mappings[1]`.
fn root(field: &str) -> &str {
    field.split(['[', '.']).next().unwrap_or(field)
}

/// Removes secrets (`!Env`, `!File`, Plex tokens) from messages, where
/// they are quoted, straight or curly.
fn scrub(violations: Violations, secrets: &[String]) -> Violations {
    if secrets.is_empty() {
        return violations;
    }
    let quoted: Vec<(String, String)> = secrets
        .iter()
        .filter(|s| !s.is_empty())
        .flat_map(|s| {
            [
                (format!("\"{s}\""), format!("\"{REDACTED}\"")),
                (
                    format!("\u{201c}{s}\u{201d}"),
                    format!("\u{201c}{REDACTED}\u{201d}"),
                ),
            ]
        })
        .collect();
    let mut out = Violations::new();
    for v in violations.iter() {
        let message = quoted
            .iter()
            .fold(v.message.clone(), |m, (q, r)| m.replace(q.as_str(), r));
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
