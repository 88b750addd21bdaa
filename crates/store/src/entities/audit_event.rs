use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub action: String,
    pub username: String,
    pub user_id: Option<Uuid>,
    pub object_pk: Option<Uuid>,
    pub object_slug: String,
    /// First hand-out of the row.
    pub created: DateTimeUtc,
    /// Hand-outs the row stands for.
    pub occurrences: i64,
    /// Last hand-out of the row; `None` for a row of one.
    pub last_seen: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
