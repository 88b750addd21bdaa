//! The [`Target`] trait each stored model implements, and the checks its
//! implementations share: references, uniqueness and the final verdict.

use serde_yaml_ng::{Mapping, Value};
use store::Txn;
use uuid::Uuid;

use super::Model;
use domain::{Reference, Violations};
use store::StoreError;

use crate::lookup::{Identifier, Lookup};

/// A model other objects refer to by pk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Referenced {
    Flow,
    PropertyMapping,
    Role,
}

/// An attribute holding a reference: authentik's serializer field is a
/// `PrimaryKeyRelatedField` (`many` for a list of them).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RefField {
    pub name: &'static str,
    pub to: Referenced,
    pub many: bool,
}

/// One model's part of an import: typing, rules, and the store calls. The
/// state machine that applies an entry is the same for every model.
pub(crate) trait Target {
    const MODEL: Model;
    /// Whether entries may carry `permissions` on the object; the store
    /// holds object permissions on Plex sources only. Other models warn
    /// and ignore them.
    const OBJECT_PERMISSIONS: bool = false;
    /// The attributes that refer to other objects by pk, checked as DRF
    /// checks them before the draft is typed (see `references`).
    const REFERENCES: &'static [RefField] = &[];
    /// An object as stored.
    type Stored: Send + Sync;
    type Draft: Send;
    /// What gets written, checked.
    type Fields: Send + Sync;

    fn pk(stored: &Self::Stored) -> Uuid;

    /// Types `attrs`; refused values are violations and stay missing.
    fn draft(v: &mut Violations, attrs: Vec<(String, Value)>) -> Self::Draft;

    /// The object as authentik's serializer shows it: what `!FindObject`
    /// returns and what identifiers and `!Find` compare.
    fn serialize(stored: &Self::Stored) -> Mapping;

    async fn find(db: &Txn, lookup: &Lookup) -> Result<Vec<Self::Stored>, StoreError>;

    /// The fields to write, or `None` with the broken rules in `v`: the
    /// draft's own rules, then references and uniqueness in the store.
    async fn check(
        db: &Txn,
        draft: Self::Draft,
        existing: Option<&Self::Stored>,
        v: &mut Violations,
    ) -> Result<Option<Self::Fields>, StoreError>;

    /// Whether writing `fields` would change nothing.
    fn unchanged(stored: &Self::Stored, fields: &Self::Fields) -> bool;

    async fn insert(db: &Txn, pk: Uuid, fields: &Self::Fields) -> Result<(), StoreError>;

    async fn update(db: &Txn, pk: Uuid, fields: &Self::Fields) -> Result<(), StoreError>;

    async fn delete(db: &Txn, pk: Uuid) -> Result<(), StoreError>;
}

/// Reports `column` as `unique`, with the model's `message`, when an object
/// other than `existing` already holds `value` (`None`: nothing to check,
/// e.g. a blank value already reported). Looked up with the model's own
/// `find`, so the value matches as an identifier would.
pub(crate) async fn check_unique<T: Target>(
    db: &Txn,
    v: &mut Violations,
    existing: Option<&T::Stored>,
    column: Identifier,
    value: Option<String>,
    message: &str,
) -> Result<(), StoreError> {
    let Some(value) = value else {
        return Ok(());
    };
    let lookup = Lookup {
        pk: None,
        fields: vec![(column, value)],
    };
    let owners = T::find(db, &lookup).await?;
    let existing = existing.map(T::pk);
    if owners.iter().any(|owner| Some(T::pk(owner)) != existing) {
        v.add(column.field(), "unique", message);
    }
    Ok(())
}

/// `Ok(fields)` only when no rule at all was broken.
pub(crate) fn finished<T>(v: &mut Violations, result: Result<T, Violations>) -> Option<T> {
    match result {
        Ok(fields) => Some(fields),
        Err(broken) => {
            v.extend(broken);
            None
        }
    }
}

pub(crate) fn ids(refs: &[Reference]) -> Vec<Uuid> {
    let mut ids: Vec<Uuid> = refs.iter().map(|r| r.id).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

pub(crate) fn report_missing(v: &mut Violations, refs: &[Reference], missing: &[Uuid]) {
    for r in refs.iter().filter(|r| missing.contains(&r.id)) {
        v.invalid_pk(r.field.clone(), &r.raw);
    }
}
