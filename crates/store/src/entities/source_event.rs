use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "plex_source_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub revision: i64,
    pub kind: String,
    pub source_pk: Uuid,
    pub slug: String,
    /// JSON: the source after the change (see `store::events`).
    #[sea_orm(column_type = "Text", nullable)]
    pub snapshot: Option<String>,
    pub created: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
