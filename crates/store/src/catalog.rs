//! Flows and property mappings: the objects a Plex source references. They
//! exist here so references are real foreign keys; blueprints fill them.

use sea_orm::{ActiveValue::Set, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::{
    Match, StoreError,
    entities::{flow, property_mapping},
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

pub mod flows {
    use super::*;
    use flow::{Column, Entity};

    pub async fn find<C: crate::Conn>(db: &C, lookup: &Match) -> Result<Vec<FlowRow>, StoreError> {
        let db = &crate::raw(db);
        let rows = Entity::find()
            .filter(lookup.condition(Column::FlowUuid, Some(Column::Slug), Column::Name))
            .all(db)
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| FlowRow {
                pk: r.flow_uuid,
                name: r.name,
                slug: r.slug,
                title: r.title,
                designation: r.designation,
            })
            .collect())
    }

    pub async fn insert<C: crate::Conn>(db: &C, row: &FlowRow) -> Result<(), StoreError> {
        let db = &crate::raw(db);
        Entity::insert(active(row))
            .exec_without_returning(db)
            .await?;
        Ok(())
    }

    pub async fn update<C: crate::Conn>(db: &C, row: &FlowRow) -> Result<(), StoreError> {
        let db = &crate::raw(db);
        Entity::update(active(row)).exec(db).await?;
        Ok(())
    }

    /// Deletes a flow; sources pointing at it get NULL (ON DELETE SET NULL)
    /// and an update in the change log.
    pub async fn delete<C: crate::Conn>(db: &C, pk: Uuid) -> Result<bool, StoreError> {
        let db = &crate::raw(db);
        let affected = super::super::sources::using_flow(db, pk).await?;
        let deleted = Entity::delete_by_id(pk).exec(db).await?.rows_affected > 0;
        super::super::sources::touch_sources(db, &affected).await?;
        Ok(deleted)
    }

    /// The ids among `ids` that name no flow.
    pub async fn missing<C: crate::Conn>(db: &C, ids: &[Uuid]) -> Result<Vec<Uuid>, StoreError> {
        let db = &crate::raw(db);
        super::super::lookup::missing_ids::<Entity, _>(db, Column::FlowUuid, ids).await
    }

    fn active(row: &FlowRow) -> flow::ActiveModel {
        flow::ActiveModel {
            flow_uuid: Set(row.pk),
            name: Set(row.name.clone()),
            slug: Set(row.slug.clone()),
            title: Set(row.title.clone()),
            designation: Set(row.designation.clone()),
        }
    }
}

pub mod mappings {
    use super::*;
    use property_mapping::{Column, Entity};

    pub async fn find<C: crate::Conn>(
        db: &C,
        lookup: &Match,
    ) -> Result<Vec<MappingRow>, StoreError> {
        let db = &crate::raw(db);
        let rows = Entity::find()
            .filter(lookup.condition(Column::PmUuid, None::<Column>, Column::Name))
            .all(db)
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| MappingRow {
                pk: r.pm_uuid,
                name: r.name,
                expression: r.expression,
            })
            .collect())
    }

    pub async fn insert<C: crate::Conn>(db: &C, row: &MappingRow) -> Result<(), StoreError> {
        let db = &crate::raw(db);
        Entity::insert(active(row))
            .exec_without_returning(db)
            .await?;
        Ok(())
    }

    pub async fn update<C: crate::Conn>(db: &C, row: &MappingRow) -> Result<(), StoreError> {
        let db = &crate::raw(db);
        Entity::update(active(row)).exec(db).await?;
        Ok(())
    }

    /// Deletes a mapping and its links to sources (ON DELETE CASCADE); the
    /// sources it leaves get an update in the change log.
    pub async fn delete<C: crate::Conn>(db: &C, pk: Uuid) -> Result<bool, StoreError> {
        let db = &crate::raw(db);
        let affected = super::super::links::sources_using(db, pk).await?;
        let deleted = Entity::delete_by_id(pk).exec(db).await?.rows_affected > 0;
        super::super::sources::touch_sources(db, &affected).await?;
        Ok(deleted)
    }

    /// The ids among `ids` that name no property mapping.
    pub async fn missing<C: crate::Conn>(db: &C, ids: &[Uuid]) -> Result<Vec<Uuid>, StoreError> {
        let db = &crate::raw(db);
        super::super::lookup::missing_ids::<Entity, _>(db, Column::PmUuid, ids).await
    }

    fn active(row: &MappingRow) -> property_mapping::ActiveModel {
        property_mapping::ActiveModel {
            pm_uuid: Set(row.pk),
            name: Set(row.name.clone()),
            expression: Set(row.expression.clone()),
        }
    }
}
