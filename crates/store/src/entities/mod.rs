//! sea-orm entities for the tables of the `migrations` crate. The two
//! source ↔ property mapping link tables are reached through
//! [`super::links`] instead, as one code path serves both.

pub mod audit_event;
pub mod bootstrap_key;
pub mod flow;
pub mod permission_grant;
pub mod plex_source;
pub mod property_mapping;
pub mod role;
pub mod source_event;
pub mod token;
pub mod user;
pub mod user_role;

#[cfg(test)]
mod tests {
    use sea_orm::{ConnectionTrait, EntityTrait, IdenStatic, Iterable, Statement};

    use super::*;
    use crate::{connect, migrate};

    /// The columns of `E` that the migrated table lacks.
    async fn missing_columns<E: EntityTrait>(db: &crate::Db) -> Vec<String> {
        let table = E::default().table_name().to_owned();
        let rows =
            db.0.query_all_raw(Statement::from_string(
                db.0.get_database_backend(),
                format!("SELECT name FROM pragma_table_info('{table}')"),
            ))
            .await
            .expect("table info");
        let present: Vec<String> = rows
            .iter()
            .map(|row| row.try_get_by_index(0).expect("name"))
            .collect();
        assert!(!present.is_empty(), "the migrations create {table}");
        E::Column::iter()
            .map(|c| c.as_str().to_owned())
            .filter(|c| !present.contains(c))
            .map(|c| format!("{table}.{c}"))
            .collect()
    }

    /// Every column an entity names exists once the migrations ran: a
    /// field added to an entity without its migration (or with one that
    /// `migrations::Migrator` does not list) fails here, naming the column.
    #[tokio::test]
    async fn every_entity_column_is_in_the_migrated_schema() {
        let db = connect("sqlite::memory:").await.expect("connect");
        migrate(&db).await.expect("migrate");
        let mut missing = Vec::new();
        missing.extend(missing_columns::<audit_event::Entity>(&db).await);
        missing.extend(missing_columns::<bootstrap_key::Entity>(&db).await);
        missing.extend(missing_columns::<flow::Entity>(&db).await);
        missing.extend(missing_columns::<permission_grant::Entity>(&db).await);
        missing.extend(missing_columns::<plex_source::Entity>(&db).await);
        missing.extend(missing_columns::<property_mapping::Entity>(&db).await);
        missing.extend(missing_columns::<role::Entity>(&db).await);
        missing.extend(missing_columns::<source_event::Entity>(&db).await);
        missing.extend(missing_columns::<token::Entity>(&db).await);
        missing.extend(missing_columns::<user::Entity>(&db).await);
        missing.extend(missing_columns::<user_role::Entity>(&db).await);
        assert!(
            missing.is_empty(),
            "columns without a migration: {missing:?}"
        );
    }
}
