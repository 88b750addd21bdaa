//! The supported blueprint models: their names, identifiers, and how each
//! one is checked against the store and written.

use std::future::Future;

use sea_orm::DatabaseTransaction;
use serde_yaml_ng::Value;
use uuid::Uuid;

use super::{
    attrs::{self, FlowDraft, FlowFields, MappingDraft, MappingFields},
    tags::Finder,
};
use crate::{
    domain::{PlexSource, PlexSourceDraft, PlexSourceFields, Reference, Violations},
    store::{self, FlowRow, Lookup, MappingRow, StoreError},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Model {
    PlexSource,
    Flow,
    PropertyMapping,
    User,
    Role,
}

impl Model {
    /// The model an entry names; authentik matches model names regardless
    /// of case.
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        [
            Model::PlexSource,
            Model::Flow,
            Model::PropertyMapping,
            Model::User,
            Model::Role,
        ]
        .into_iter()
        .find(|m| m.name().eq_ignore_ascii_case(name))
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Model::PlexSource => crate::domain::plex_source::META_MODEL_NAME,
            Model::Flow => "authentik_flows.flow",
            Model::PropertyMapping => "authentik_sources_plex.plexsourcepropertymapping",
            Model::User => "authentik_core.user",
            Model::Role => "authentik_rbac.role",
        }
    }

    /// Fields besides `pk` that identify an object, in identifiers and in
    /// `!Find`. They are also the column names.
    pub(crate) fn identifier_fields(self) -> &'static [&'static str] {
        match self {
            Model::PlexSource | Model::Flow => &["slug", "name"],
            Model::PropertyMapping | Model::Role => &["name"],
            Model::User => &["username"],
        }
    }

    pub(crate) fn identifier_column(self, key: &str) -> Option<&'static str> {
        self.identifier_fields().iter().copied().find(|f| *f == key)
    }
}

/// Answers `!Find` from the store, inside the file's transaction so objects
/// created by earlier entries are found.
pub(crate) struct StoreFinder<'a>(pub &'a DatabaseTransaction);

impl Finder for StoreFinder<'_> {
    fn find(
        &self,
        model: Model,
        lookup: Lookup,
    ) -> impl Future<Output = Result<Vec<Uuid>, StoreError>> + Send {
        let db = self.0;
        async move {
            Ok(match model {
                Model::PlexSource => store::find_source(db, &lookup)
                    .await?
                    .into_iter()
                    .map(|s| s.pk)
                    .collect(),
                Model::Flow => store::flows::find(db, &lookup)
                    .await?
                    .into_iter()
                    .map(|f| f.pk)
                    .collect(),
                Model::PropertyMapping => store::mappings::find(db, &lookup)
                    .await?
                    .into_iter()
                    .map(|m| m.pk)
                    .collect(),
                Model::User => store::access::lookup_users(db, &lookup)
                    .await?
                    .into_iter()
                    .map(|u| u.pk)
                    .collect(),
                Model::Role => store::access::lookup_roles(db, &lookup)
                    .await?
                    .into_iter()
                    .map(|r| r.pk)
                    .collect(),
            })
        }
    }
}

/// One model's part of an import: typing, rules, and the store calls. The
/// state machine in [`super::apply`] is the same for every model.
pub(crate) trait Target {
    const MODEL: Model;
    /// Whether entries may carry `permissions` on the object; the store
    /// holds object permissions on Plex sources only. Other models warn
    /// and ignore them.
    const OBJECT_PERMISSIONS: bool = false;
    /// An object as stored.
    type Stored: Send + Sync;
    type Draft: Send;
    /// What gets written, checked.
    type Fields: Send + Sync;

    fn pk(stored: &Self::Stored) -> Uuid;

    /// Types `attrs`; refused values are violations and stay missing.
    fn draft(v: &mut Violations, attrs: Vec<(String, Value)>) -> Self::Draft;

    /// Identifiers are written to the object too, over `attrs` (spec §5).
    fn apply_identifiers(draft: &mut Self::Draft, lookup: &Lookup);

    async fn find(
        db: &DatabaseTransaction,
        lookup: &Lookup,
    ) -> Result<Vec<Self::Stored>, StoreError>;

    /// The fields to write, or `None` with the broken rules in `v`: the
    /// draft's own rules, then references and uniqueness in the store.
    async fn check(
        db: &DatabaseTransaction,
        draft: Self::Draft,
        existing: Option<&Self::Stored>,
        v: &mut Violations,
    ) -> Result<Option<Self::Fields>, StoreError>;

    /// Whether writing `fields` would change nothing.
    fn unchanged(stored: &Self::Stored, fields: &Self::Fields) -> bool;

    async fn insert(
        db: &DatabaseTransaction,
        pk: Uuid,
        fields: &Self::Fields,
    ) -> Result<(), StoreError>;

    async fn update(
        db: &DatabaseTransaction,
        pk: Uuid,
        fields: &Self::Fields,
    ) -> Result<(), StoreError>;

    async fn delete(db: &DatabaseTransaction, pk: Uuid) -> Result<(), StoreError>;
}

/// Whether some object other than `existing` already holds a unique value.
pub(super) fn taken_by_other(
    owners: impl IntoIterator<Item = Uuid>,
    existing: Option<Uuid>,
) -> bool {
    owners.into_iter().any(|owner| Some(owner) != existing)
}

/// `Ok(fields)` only when no rule at all was broken.
pub(super) fn finished<T>(v: &mut Violations, result: Result<T, Violations>) -> Option<T> {
    match result {
        Ok(fields) => Some(fields),
        Err(broken) => {
            v.extend(broken);
            None
        }
    }
}

pub(crate) struct PlexSourceTarget;

impl Target for PlexSourceTarget {
    const MODEL: Model = Model::PlexSource;
    const OBJECT_PERMISSIONS: bool = true;
    type Stored = PlexSource;
    type Draft = PlexSourceDraft;
    type Fields = PlexSourceFields;

    fn pk(stored: &PlexSource) -> Uuid {
        stored.pk
    }

    fn draft(v: &mut Violations, attrs: Vec<(String, Value)>) -> PlexSourceDraft {
        attrs::plex_source_draft(v, attrs)
    }

    fn apply_identifiers(draft: &mut PlexSourceDraft, lookup: &Lookup) {
        attrs::apply_plex_source_identifiers(draft, lookup);
    }

    async fn find(
        db: &DatabaseTransaction,
        lookup: &Lookup,
    ) -> Result<Vec<PlexSource>, StoreError> {
        store::find_source(db, lookup).await
    }

    async fn check(
        db: &DatabaseTransaction,
        draft: PlexSourceDraft,
        existing: Option<&PlexSource>,
        v: &mut Violations,
    ) -> Result<Option<PlexSourceFields>, StoreError> {
        // The API's rules, shared. Missing fields keep the stored values,
        // `client_id` included: it is generated only on create.
        let checked = store::check_source(
            db,
            draft,
            existing.map(|e| &e.fields),
            existing.map(|e| e.pk),
        )
        .await?;
        let fields = finished(v, checked);
        Ok(fields.filter(|_| v.is_empty()))
    }

    fn unchanged(stored: &PlexSource, fields: &PlexSourceFields) -> bool {
        stored.fields == *fields
    }

    async fn insert(
        db: &DatabaseTransaction,
        pk: Uuid,
        fields: &PlexSourceFields,
    ) -> Result<(), StoreError> {
        store::insert_source(db, pk, fields).await.map(drop)
    }

    async fn update(
        db: &DatabaseTransaction,
        pk: Uuid,
        fields: &PlexSourceFields,
    ) -> Result<(), StoreError> {
        store::update_source(db, pk, fields).await.map(drop)
    }

    async fn delete(db: &DatabaseTransaction, pk: Uuid) -> Result<(), StoreError> {
        store::delete_source(db, pk).await.map(drop)
    }
}

pub(super) fn ids(refs: &[Reference]) -> Vec<Uuid> {
    let mut ids: Vec<Uuid> = refs.iter().map(|r| r.id).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

pub(super) fn report_missing(v: &mut Violations, refs: &[Reference], missing: &[Uuid]) {
    for r in refs.iter().filter(|r| missing.contains(&r.id)) {
        v.invalid_pk(r.field.clone(), &r.raw);
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
        attrs::flow_draft(v, attrs)
    }

    fn apply_identifiers(draft: &mut FlowDraft, lookup: &Lookup) {
        attrs::apply_flow_identifiers(draft, lookup);
    }

    async fn find(db: &DatabaseTransaction, lookup: &Lookup) -> Result<Vec<FlowRow>, StoreError> {
        store::flows::find(db, lookup).await
    }

    async fn check(
        db: &DatabaseTransaction,
        draft: FlowDraft,
        existing: Option<&FlowRow>,
        v: &mut Violations,
    ) -> Result<Option<FlowFields>, StoreError> {
        let new_slug = draft.new_slug();
        let fields = finished(v, draft.finish(existing));
        if let Some(slug) = new_slug {
            let by_slug = Lookup {
                pk: None,
                fields: vec![("slug", slug.as_str().to_owned())],
            };
            let owners = store::flows::find(db, &by_slug).await?;
            if taken_by_other(owners.iter().map(|f| f.pk), existing.map(|e| e.pk)) {
                v.add("slug", "unique", "flow with this slug already exists.");
            }
        }
        Ok(fields.filter(|_| v.is_empty()))
    }

    fn unchanged(stored: &FlowRow, fields: &FlowFields) -> bool {
        *stored == fields.row(stored.pk)
    }

    async fn insert(
        db: &DatabaseTransaction,
        pk: Uuid,
        fields: &FlowFields,
    ) -> Result<(), StoreError> {
        store::flows::insert(db, &fields.row(pk)).await
    }

    async fn update(
        db: &DatabaseTransaction,
        pk: Uuid,
        fields: &FlowFields,
    ) -> Result<(), StoreError> {
        store::flows::update(db, &fields.row(pk)).await
    }

    async fn delete(db: &DatabaseTransaction, pk: Uuid) -> Result<(), StoreError> {
        store::flows::delete(db, pk).await.map(drop)
    }
}

pub(crate) struct MappingTarget;

impl Target for MappingTarget {
    const MODEL: Model = Model::PropertyMapping;
    type Stored = MappingRow;
    type Draft = MappingDraft;
    type Fields = MappingFields;

    fn pk(stored: &MappingRow) -> Uuid {
        stored.pk
    }

    fn draft(v: &mut Violations, attrs: Vec<(String, Value)>) -> MappingDraft {
        attrs::mapping_draft(v, attrs)
    }

    fn apply_identifiers(draft: &mut MappingDraft, lookup: &Lookup) {
        attrs::apply_mapping_identifiers(draft, lookup);
    }

    async fn find(
        db: &DatabaseTransaction,
        lookup: &Lookup,
    ) -> Result<Vec<MappingRow>, StoreError> {
        store::mappings::find(db, lookup).await
    }

    async fn check(
        db: &DatabaseTransaction,
        draft: MappingDraft,
        existing: Option<&MappingRow>,
        v: &mut Violations,
    ) -> Result<Option<MappingFields>, StoreError> {
        let new_name = draft.new_name();
        let fields = finished(v, draft.finish(existing));
        if let Some(name) = new_name {
            let by_name = Lookup {
                pk: None,
                fields: vec![("name", name)],
            };
            let owners = store::mappings::find(db, &by_name).await?;
            if taken_by_other(owners.iter().map(|m| m.pk), existing.map(|e| e.pk)) {
                v.add(
                    "name",
                    "unique",
                    "property mapping with this name already exists.",
                );
            }
        }
        Ok(fields.filter(|_| v.is_empty()))
    }

    fn unchanged(stored: &MappingRow, fields: &MappingFields) -> bool {
        *stored == fields.row(stored.pk)
    }

    async fn insert(
        db: &DatabaseTransaction,
        pk: Uuid,
        fields: &MappingFields,
    ) -> Result<(), StoreError> {
        store::mappings::insert(db, &fields.row(pk)).await
    }

    async fn update(
        db: &DatabaseTransaction,
        pk: Uuid,
        fields: &MappingFields,
    ) -> Result<(), StoreError> {
        store::mappings::update(db, &fields.row(pk)).await
    }

    async fn delete(db: &DatabaseTransaction, pk: Uuid) -> Result<(), StoreError> {
        store::mappings::delete(db, pk).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_names_match_regardless_of_case() {
        assert_eq!(
            Model::from_name("authentik_sources_plex.PlexSource"),
            Some(Model::PlexSource)
        );
        assert_eq!(Model::from_name("authentik_flows.flow"), Some(Model::Flow));
        assert_eq!(
            Model::from_name("authentik_sources_plex.plexsourcepropertymapping"),
            Some(Model::PropertyMapping)
        );
        assert_eq!(Model::from_name("authentik_core.User"), Some(Model::User));
        assert_eq!(Model::from_name("authentik_rbac.role"), Some(Model::Role));
        assert_eq!(Model::from_name("authentik_core.group"), None);
        assert_eq!(Model::User.identifier_column("username"), Some("username"));
        assert_eq!(Model::Role.identifier_column("username"), None);
        assert_eq!(Model::PropertyMapping.identifier_column("slug"), None);
        assert_eq!(Model::Flow.identifier_column("slug"), Some("slug"));
    }
}
