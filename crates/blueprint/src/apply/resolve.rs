//! Resolving the tags of an entry's values, inside the file's transaction
//! (`!Find` reads the store through it), and rewriting values that name an
//! earlier entry's `pk` identifier.

use std::future::Future;

use serde_yaml_ng::{Mapping, Value};
use store::Txn;
use uuid::Uuid;

use super::{Importer, findings::Findings};
use crate::{
    flows::FlowTarget,
    mappings::MappingTarget,
    models::{Model, Query, Target, find_matching},
    permissions::{self, ObjectGrant},
    plex_source::PlexSourceTarget,
    report::Failure,
    roles::RoleTarget,
    tags::{Finder, Resolver, TagError},
    users::UserTarget,
    values::not_a_list,
};
use store::StoreError;

impl Importer<'_> {
    /// Resolves the tags of one value. A tag that cannot be resolved becomes
    /// a violation and gives `None`.
    pub(super) async fn resolve(
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
    pub(super) async fn resolve_pairs(
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
    pub(super) async fn entry_permissions(
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

    /// Values (top-level, or one level down in a list or mapping) equal
    /// to an earlier entry's `pk` identifier become the pk of the object
    /// that entry stored or matched, as authentik rewrites them: an
    /// exported blueprint keeps referring to the right object when it
    /// matched an existing one by another identifier.
    pub(super) fn remap_pks(&self, pairs: Vec<(String, Value)>) -> Vec<(String, Value)> {
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
    pub(super) fn remap_identifiers(&self, pairs: Vec<(String, Value)>) -> Vec<(String, Value)> {
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
