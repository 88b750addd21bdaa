//! Flows and property mappings: the objects a Plex source references. They
//! exist here so references are real foreign keys; blueprints fill them.
//! Both are written whole and found by blueprint identifiers, so one set of
//! queries serves both ([`Referenced`]).

use sea_orm::{
    ActiveModelBehavior, ActiveValue::Set, EntityTrait, IntoActiveModel, PrimaryKeyTrait,
    QueryFilter,
};
use uuid::Uuid;

use super::{
    Match, Raw, StoreError,
    entities::{flow, property_mapping},
    links,
    lookup::missing_ids,
    rows, sources,
};

/// A stored flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowRow {
    pub pk: Uuid,
    pub name: String,
    pub slug: String,
    /// The heading authentik shows on the flow's page.
    pub title: String,
    pub designation: String,
}

/// A stored property mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingRow {
    pub pk: Uuid,
    pub name: String,
    pub expression: String,
}

/// A column of the table of `R`.
type Column<R> = <<R as Referenced>::Entity as EntityTrait>::Column;

/// What one kind of object sources reference brings to the queries flows
/// and property mappings share: its table and identifier columns, its row
/// both ways, and the sources that point at one.
trait Referenced: Sized {
    type Entity: EntityTrait<
            PrimaryKey: PrimaryKeyTrait<ValueType = Uuid>,
            Model: IntoActiveModel<Self::Active>,
        >;
    type Active: ActiveModelBehavior<Entity = Self::Entity> + Send;
    const PK: Column<Self>;
    /// `None`: the table has no slug.
    const SLUG: Option<Column<Self>>;
    const NAME: Column<Self>;

    fn of_model(model: <Self::Entity as EntityTrait>::Model) -> Self;

    fn active(&self) -> Self::Active;

    /// The sources pointing at the object `pk`.
    fn referencing(
        db: &Raw<'_>,
        pk: Uuid,
    ) -> impl Future<Output = Result<Vec<Uuid>, StoreError>> + Send;
}

async fn find<R: Referenced>(db: &Raw<'_>, lookup: &Match) -> Result<Vec<R>, StoreError> {
    let models = R::Entity::find()
        .filter(lookup.condition(R::PK, R::SLUG, R::NAME))
        .all(db)
        .await?;
    Ok(models.into_iter().map(R::of_model).collect())
}

/// Deletes an object; the sources pointing at it lose the reference (the
/// database nulls or drops it) and get an update in the change log.
async fn delete<R: Referenced>(db: &Raw<'_>, pk: Uuid) -> Result<bool, StoreError> {
    let affected = R::referencing(db, pk).await?;
    let deleted = rows::delete::<R::Entity>(db, pk).await?;
    sources::touch_sources(db, &affected).await?;
    Ok(deleted)
}

async fn missing<R: Referenced>(db: &Raw<'_>, ids: &[Uuid]) -> Result<Vec<Uuid>, StoreError> {
    missing_ids::<R::Entity, _>(db, R::PK, ids).await
}

/// The public queries of one kind of referenced object, named as callers
/// name them (`store::flows::find`): free functions of a module, which a
/// generic cannot be, over the generic queries above.
macro_rules! queries {
    ($row:ty, $noun:literal) => {
        pub async fn find<C: crate::Conn>(db: &C, lookup: &Match) -> Result<Vec<$row>, StoreError> {
            super::find(&crate::raw(db), lookup).await
        }

        pub async fn insert<C: crate::Conn>(db: &C, row: &$row) -> Result<(), StoreError> {
            rows::insert(&crate::raw(db), row.active()).await
        }

        pub async fn update<C: crate::Conn>(db: &C, row: &$row) -> Result<(), StoreError> {
            rows::update(&crate::raw(db), row.active()).await
        }

        #[doc = concat!("Deletes a ", $noun, "; whether there was one. The sources")]
        #[doc = "pointing at it get an update in the change log."]
        pub async fn delete<C: crate::Conn>(db: &C, pk: Uuid) -> Result<bool, StoreError> {
            super::delete::<$row>(&crate::raw(db), pk).await
        }

        #[doc = concat!("The ids among `ids` that name no ", $noun, ".")]
        pub async fn missing<C: crate::Conn>(
            db: &C,
            ids: &[Uuid],
        ) -> Result<Vec<Uuid>, StoreError> {
            super::missing::<$row>(&crate::raw(db), ids).await
        }
    };
}

/// Flows. Deleting one sets the sources' references to it to NULL (ON
/// DELETE SET NULL).
pub mod flows {
    use super::*;
    use flow::{Column, Entity};

    queries!(FlowRow, "flow");

    impl Referenced for FlowRow {
        type Entity = Entity;
        type Active = flow::ActiveModel;
        const PK: Column = Column::FlowUuid;
        const SLUG: Option<Column> = Some(Column::Slug);
        const NAME: Column = Column::Name;

        fn of_model(r: flow::Model) -> Self {
            FlowRow {
                pk: r.flow_uuid,
                name: r.name,
                slug: r.slug,
                title: r.title,
                designation: r.designation,
            }
        }

        fn active(&self) -> flow::ActiveModel {
            flow::ActiveModel {
                flow_uuid: Set(self.pk),
                name: Set(self.name.clone()),
                slug: Set(self.slug.clone()),
                title: Set(self.title.clone()),
                designation: Set(self.designation.clone()),
            }
        }

        /// Sources whose authentication or enrollment flow is `pk`.
        async fn referencing(db: &Raw<'_>, pk: Uuid) -> Result<Vec<Uuid>, StoreError> {
            sources::using_flow(db, pk).await
        }
    }
}

/// Property mappings. Deleting one drops its links to sources (ON DELETE
/// CASCADE).
pub mod mappings {
    use super::*;
    use property_mapping::{Column, Entity};

    queries!(MappingRow, "property mapping");

    impl Referenced for MappingRow {
        type Entity = Entity;
        type Active = property_mapping::ActiveModel;
        const PK: Column = Column::PmUuid;
        const SLUG: Option<Column> = None;
        const NAME: Column = Column::Name;

        fn of_model(r: property_mapping::Model) -> Self {
            MappingRow {
                pk: r.pm_uuid,
                name: r.name,
                expression: r.expression,
            }
        }

        fn active(&self) -> property_mapping::ActiveModel {
            property_mapping::ActiveModel {
                pm_uuid: Set(self.pk),
                name: Set(self.name.clone()),
                expression: Set(self.expression.clone()),
            }
        }

        /// Sources linked to the mapping `pk`, as users' or groups' mapping.
        async fn referencing(db: &Raw<'_>, pk: Uuid) -> Result<Vec<Uuid>, StoreError> {
            links::sources_using(db, pk).await
        }
    }
}
