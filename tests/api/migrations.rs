//! The migrations run up, down and up again on both databases.

use migrations::{Migrator, MigratorTrait, SchemaManager};
use plex_source_service::store::entities::source_event;
use sea_orm::{ActiveValue::Set, EntityTrait};

use crate::{
    backend_tests,
    helpers::{Backend, TestDb},
};

const TABLES: [&str; 14] = [
    "flows",
    "property_mappings",
    "plex_sources",
    "plex_source_user_property_mappings",
    "plex_source_group_property_mappings",
    "users",
    "roles",
    "user_roles",
    "tokens",
    "permission_grants",
    "audit_events",
    "plex_source_events",
    "store_epochs",
    "service_secrets",
];

async fn tables_present(db: &sea_orm::DatabaseConnection) -> Vec<bool> {
    let manager = SchemaManager::new(db);
    let mut present = Vec::new();
    for table in TABLES {
        present.push(manager.has_table(table).await.expect("has_table"));
    }
    present
}

async fn migrations_run_up_down_and_up_again(backend: Backend) {
    let Some(test_db) = TestDb::empty(backend).await else {
        return;
    };
    let db = test_db.connect().await;
    assert_eq!(tables_present(&db).await, [false; TABLES.len()]);

    Migrator::up(&db, None).await.expect("up");
    assert_eq!(tables_present(&db).await, [true; TABLES.len()]);
    assert!(
        Migrator::get_pending_migrations(&db)
            .await
            .unwrap()
            .is_empty()
    );
    // Up again is a no-op.
    Migrator::up(&db, None).await.expect("up twice");

    Migrator::down(&db, None).await.expect("down");
    assert_eq!(tables_present(&db).await, [false; TABLES.len()]);
    assert_eq!(
        Migrator::get_pending_migrations(&db).await.unwrap().len(),
        Migrator::migrations().len()
    );

    Migrator::up(&db, None).await.expect("up after down");
    assert_eq!(tables_present(&db).await, [true; TABLES.len()]);
}

/// Upgrading removes the Plex token from change-log rows written in the
/// first format, and leaves the rest of each row readable.
async fn upgrades_remove_tokens_from_the_change_log(backend: Backend) {
    let Some(test_db) = TestDb::empty(backend).await else {
        return;
    };
    let db = test_db.connect().await;
    // The schema as the first release left it.
    Migrator::up(&db, Some(4)).await.expect("first release");
    let pk = uuid::Uuid::new_v4();
    let row = format!(
        r#"{{"row":{{"pk":"{pk}","name":"Old","slug":"old","plex_token":"legacy-secret-7f3a"}},"user":[],"group":[],"viewers":[]}}"#
    );
    source_event::Entity::insert(source_event::ActiveModel {
        kind: Set("updated".into()),
        source_pk: Set(pk),
        slug: Set("old".into()),
        snapshot: Set(Some(row)),
        created: Set(chrono::Utc::now()),
        ..Default::default()
    })
    .exec_without_returning(&db)
    .await
    .expect("first-format row");

    Migrator::up(&db, None).await.expect("upgrade");
    let rows = source_event::Entity::find().all(&db).await.expect("rows");
    assert_eq!(rows.len(), 1);
    let text = rows[0].snapshot.as_deref().expect("snapshot");
    assert!(!text.contains("legacy-secret-7f3a"), "{text}");
    let value: serde_json::Value = serde_json::from_str(text).expect("still JSON");
    assert_eq!(value["row"]["name"], "Old");
}

backend_tests!(
    migrations_run_up_down_and_up_again,
    upgrades_remove_tokens_from_the_change_log,
);
