//! An entry's state run against what is stored, the same for every model:
//! `present`, `created` and `must_created` write the object (and grant its
//! permissions), `absent` deletes it.

use serde_yaml_ng::{Mapping, Value};
use uuid::Uuid;

use super::{
    EntryRef, Importer,
    findings::{Findings, in_key_order, merge_unreported},
};
use crate::{
    document::{Entry, State},
    models::{Query, Refused, Target, find_matching, identity},
    permissions, python, references,
    report::Failure,
    tags::Key,
};
use domain::Violations;

/// What writing an entry's object did, before its permissions.
enum Outcome {
    Created,
    Updated,
    Unchanged,
}

impl Importer<'_> {
    /// The state machine, the same for every model.
    pub(super) async fn apply_as<T: Target>(&mut self, entry: Entry) -> Result<(), Failure> {
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
    pub(super) fn skip_absent(&mut self, index: usize, model: &str, why: &Violations) {
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
