use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "permission_grants")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub codename: String,
    pub user_id: Option<Uuid>,
    pub role_id: Option<Uuid>,
    /// NULL: a global grant; else the Plex source it applies to.
    pub object_pk: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
