//! The [`Target`] trait each stored model implements, with the
//! [`Attributes`] its draft is typed by, the models attributes refer to,
//! and the final verdict of a check.

use serde_yaml_ng::{Mapping, Value};
use store::Txn;
use uuid::Uuid;

use super::{Model, ignore};
use domain::Violations;
use store::StoreError;

use crate::lookup::Lookup;

/// A model other objects refer to by pk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Referenced {
    Flow,
    PropertyMapping,
    Role,
}

impl Referenced {
    /// The ids among `ids` that name no object of this model.
    pub(crate) async fn missing(self, db: &Txn, ids: &[Uuid]) -> Result<Vec<Uuid>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        match self {
            Referenced::Flow => store::flows::missing(db, ids).await,
            Referenced::PropertyMapping => store::mappings::missing(db, ids).await,
            Referenced::Role => store::access::missing_roles(db, ids).await,
        }
    }
}

/// An attribute holding a reference: authentik's serializer field is a
/// `PrimaryKeyRelatedField` (`many` for a list of them).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RefField {
    pub name: &'static str,
    pub to: Referenced,
    pub many: bool,
}

impl RefField {
    /// An attribute holding one pk.
    pub(crate) const fn one(name: &'static str, to: Referenced) -> Self {
        Self {
            name,
            to,
            many: false,
        }
    }

    /// An attribute holding a list of pks.
    pub(crate) const fn many(name: &'static str, to: Referenced) -> Self {
        Self {
            name,
            to,
            many: true,
        }
    }
}

/// A draft typed from an entry's `attrs`, one attribute at a time.
pub(crate) trait Attributes: Default {
    /// Types `value` into the attribute `key`, a refused value as a
    /// violation in `v`; `false` when the model has no such attribute.
    fn take(&mut self, v: &mut Violations, key: &str, value: Value) -> bool;
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
    type Draft: Attributes + Send;
    /// What gets written, checked.
    type Fields: Send + Sync;

    fn pk(stored: &Self::Stored) -> Uuid;

    /// Types `attrs`; refused values are violations and stay missing, and
    /// an attribute the model lacks is dropped as [`ignore`] says.
    fn draft(v: &mut Violations, attrs: Vec<(String, Value)>) -> Self::Draft {
        let mut draft = Self::Draft::default();
        for (key, value) in attrs {
            if !draft.take(v, &key, value) {
                ignore(Self::MODEL, &key);
            }
        }
        draft
    }

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
