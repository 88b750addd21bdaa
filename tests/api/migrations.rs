//! The migrations run up, down and up again on both databases.

use migrations::{Migrator, MigratorTrait, SchemaManager};

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

backend_tests!(migrations_run_up_down_and_up_again);
