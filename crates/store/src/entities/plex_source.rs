use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
#[sea_orm(table_name = "plex_sources")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub pk: Uuid,
    #[sea_orm(column_type = "Text")]
    pub name: String,
    #[sea_orm(unique)]
    pub slug: String,
    pub enabled: bool,
    pub authentication_flow_id: Option<Uuid>,
    pub enrollment_flow_id: Option<Uuid>,
    #[sea_orm(column_type = "Text")]
    pub policy_engine_mode: String,
    #[sea_orm(column_type = "Text")]
    pub user_matching_mode: String,
    #[sea_orm(column_type = "Text", nullable, unique)]
    pub managed: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub user_path_template: String,
    pub icon: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub group_matching_mode: String,
    #[sea_orm(column_type = "Text")]
    pub client_id: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub allowed_servers: Json,
    pub allow_friends: bool,
    #[sea_orm(column_type = "Text")]
    pub plex_token: String,
    /// Lower-cased name and slug, for search.
    #[sea_orm(column_type = "Text")]
    pub search_text: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
