//! What the models stored as one record share (every model but the Plex
//! source, whose rules and store checks are the API's own): a draft whose
//! rules need no store, one column kept unique, and a record that the
//! checked fields fill whole. [`record_steps!`] writes their [`Target`]
//! steps from the store functions that read and write them.

use store::Txn;
use uuid::Uuid;

use super::{Referenced, Target, finished};
use domain::{Reference, Violations};
use store::StoreError;

use crate::lookup::{Identifier, Lookup};

/// The column a model keeps unique, with authentik's message for a value
/// another object already holds.
pub(crate) struct Unique {
    pub column: Identifier,
    pub taken: &'static str,
}

/// The draft of a model stored as one record.
pub(crate) trait RecordDraft {
    /// What is stored; an update starts from it.
    type Record;
    /// What gets written, checked.
    type Fields;
    const UNIQUE: Unique;

    /// The value this draft would write in the unique column, when it is a
    /// valid one: the one to check.
    fn unique_value(&self) -> Option<String>;

    /// Pks this draft names and the model they name, to look up after its
    /// rules: a list too long for `references` to check before typing is
    /// still checked here. None unless the model says.
    fn named_pks(&self) -> Option<(Referenced, Vec<Reference>)> {
        None
    }

    /// Applies the rules; missing fields come from `base` (an update).
    fn finish(self, base: Option<&Self::Record>) -> Result<Self::Fields, Violations>;
}

/// [`Target::check`] of a model stored as one record: the draft's rules,
/// then the pks it names and its unique column in the store. The fields
/// only when no rule at all was broken.
pub(crate) async fn check_record<T>(
    db: &Txn,
    draft: T::Draft,
    existing: Option<&T::Stored>,
    v: &mut Violations,
) -> Result<Option<T::Fields>, StoreError>
where
    T: Target,
    T::Draft: RecordDraft<Record = T::Stored, Fields = T::Fields>,
{
    let named = draft.named_pks();
    let unique_value = draft.unique_value();
    let fields = finished(v, draft.finish(existing));
    if let Some((to, refs)) = named {
        let missing = to.missing(db, &ids(&refs)).await?;
        for r in refs.iter().filter(|r| missing.contains(&r.id)) {
            v.invalid_pk(r.field.clone(), &r.raw);
        }
    }
    check_unique::<T>(db, v, existing, unique_value).await?;
    Ok(fields.filter(|_| v.is_empty()))
}

/// Reports the unique column as `unique`, with the model's message, when
/// an object other than `existing` already holds `value` (`None`: nothing
/// to check, e.g. a blank value already reported). Looked up with the
/// model's own `find`, so the value matches as an identifier would.
async fn check_unique<T>(
    db: &Txn,
    v: &mut Violations,
    existing: Option<&T::Stored>,
    value: Option<String>,
) -> Result<(), StoreError>
where
    T: Target,
    T::Draft: RecordDraft,
{
    let Some(value) = value else {
        return Ok(());
    };
    let Unique { column, taken } = <T::Draft as RecordDraft>::UNIQUE;
    let lookup = Lookup {
        pk: None,
        fields: vec![(column, value)],
    };
    let owners = T::find(db, &lookup).await?;
    let existing = existing.map(T::pk);
    if owners.iter().any(|owner| Some(T::pk(owner)) != existing) {
        v.add(column.field(), "unique", taken);
    }
    Ok(())
}

/// The distinct ids `refs` name.
fn ids(refs: &[Reference]) -> Vec<Uuid> {
    let mut ids: Vec<Uuid> = refs.iter().map(|r| r.id).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// The [`Target`] steps of a model stored as one record, inside its
/// `impl Target`: `pk`, `find`, `check` ([`check_record`]), `unchanged` and
/// the writes. Its `Draft` is a [`RecordDraft`], its `Fields` build the
/// stored record with `record(pk)`, and the store functions named read and
/// write it. Each model's store functions share a shape but no trait, so no
/// generic can call them.
macro_rules! record_steps {
    (find: $find:path, insert: $insert:path, update: $update:path, delete: $delete:path $(,)?) => {
        fn pk(stored: &Self::Stored) -> ::uuid::Uuid {
            stored.pk
        }

        async fn find(
            db: &::store::Txn,
            lookup: &$crate::lookup::Lookup,
        ) -> Result<Vec<Self::Stored>, ::store::StoreError> {
            $find(db, &lookup.to_match()).await
        }

        async fn check(
            db: &::store::Txn,
            draft: Self::Draft,
            existing: Option<&Self::Stored>,
            v: &mut ::domain::Violations,
        ) -> Result<Option<Self::Fields>, ::store::StoreError> {
            $crate::models::check_record::<Self>(db, draft, existing, v).await
        }

        fn unchanged(stored: &Self::Stored, fields: &Self::Fields) -> bool {
            *stored == fields.record(stored.pk)
        }

        async fn insert(
            db: &::store::Txn,
            pk: ::uuid::Uuid,
            fields: &Self::Fields,
        ) -> Result<(), ::store::StoreError> {
            $insert(db, &fields.record(pk)).await
        }

        async fn update(
            db: &::store::Txn,
            pk: ::uuid::Uuid,
            fields: &Self::Fields,
        ) -> Result<(), ::store::StoreError> {
            $update(db, &fields.record(pk)).await
        }

        async fn delete(db: &::store::Txn, pk: ::uuid::Uuid) -> Result<(), ::store::StoreError> {
            $delete(db, pk).await.map(drop)
        }
    };
}

pub(crate) use record_steps;
