//! Administrative changes (users, roles, tokens, grants) commit in one
//! transaction with the access-epoch bump that tells replicas to drop
//! cached callers, and the bootstrap superuser survives replicas starting
//! together.

use plex_source_service::{
    domain::access::{Permission, hash_key},
    store::{
        self, Backend as DatabaseBackend, Db,
        access::{self, Principal},
    },
};

use crate::{
    backend_tests,
    helpers::{Backend, TestDb},
};

async fn access_epoch(db: &Db) -> i64 {
    let rows = db
        .query("SELECT value FROM store_epochs WHERE name = 'access'")
        .await
        .unwrap();
    let row = rows.first().expect("the access epoch row");
    row.int("value").unwrap()
}

/// Makes every access-epoch bump fail, as a lost connection or a full
/// disk would between the change and the bump.
async fn refuse_epoch_bumps(db: &Db) {
    let statements: &[&str] = match db.backend() {
        DatabaseBackend::Sqlite => &["CREATE TRIGGER refuse_epoch BEFORE UPDATE ON store_epochs \
             BEGIN SELECT RAISE(ABORT, 'epoch bump refused'); END"],
        _ => &[
            "CREATE FUNCTION refuse_epoch() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'epoch bump refused'; END $$",
            "CREATE TRIGGER refuse_epoch BEFORE UPDATE ON store_epochs \
             FOR EACH ROW EXECUTE FUNCTION refuse_epoch()",
        ],
    };
    for statement in statements {
        db.execute(statement).await.unwrap();
    }
}

async fn allow_epoch_bumps(db: &Db) {
    let statement = match db.backend() {
        DatabaseBackend::Sqlite => "DROP TRIGGER refuse_epoch",
        _ => "DROP TRIGGER refuse_epoch ON store_epochs",
    };
    db.execute(statement).await.unwrap();
}

async fn role_names(db: &Db) -> Vec<String> {
    let mut names: Vec<String> = db
        .query("SELECT name FROM roles")
        .await
        .unwrap()
        .iter()
        .map(|r| r.text("name").expect("a name"))
        .collect();
    names.sort();
    names
}

async fn change_and_epoch_bump_commit_together(backend: Backend) {
    let Some(test_db) = TestDb::migrated(backend).await else {
        return;
    };
    let db = test_db.connect().await;
    let view = Permission::View;
    let bob = Principal::User("bob".into());
    access::create_user(&db, "bob", false).await.unwrap();
    access::create_role(&db, "readers").await.unwrap();
    access::create_token(&db, "bob-token", "bob", hash_key("k1"), None, "")
        .await
        .unwrap();
    access::grant(&db, view, &bob, None).await.unwrap();
    let users = access::list_users(&db).await.unwrap();
    let tokens = access::list_tokens(&db).await.unwrap();
    let grants = access::list_grants(&db).await.unwrap();
    let roles = role_names(&db).await;
    let epoch = access_epoch(&db).await;

    // Every change fails with its bump, and none of it stays.
    refuse_epoch_bumps(&db).await;
    let failed = [
        access::create_user(&db, "carol", false).await.err(),
        access::deactivate_user(&db, "bob").await.err(),
        access::create_role(&db, "writers").await.err(),
        access::assign_role(&db, "readers", "bob").await.err(),
        access::create_token(&db, "bob-2", "bob", hash_key("k2"), None, "")
            .await
            .err(),
        access::revoke_token(&db, "bob-token").await.err(),
        access::grant(&db, Permission::Add, &bob, None).await.err(),
        access::revoke(&db, view, &bob, None).await.err(),
    ];
    for (i, err) in failed.iter().enumerate() {
        assert!(err.is_some(), "change {i} succeeded without its epoch bump");
    }
    assert_eq!(access::list_users(&db).await.unwrap(), users);
    assert_eq!(access::list_tokens(&db).await.unwrap(), tokens);
    assert_eq!(access::list_grants(&db).await.unwrap(), grants);
    assert_eq!(role_names(&db).await, roles);
    assert_eq!(access_epoch(&db).await, epoch);

    // The same changes go through once the bump can be made, each with it.
    allow_epoch_bumps(&db).await;
    access::create_user(&db, "carol", false).await.unwrap();
    access::deactivate_user(&db, "bob").await.unwrap();
    access::create_role(&db, "writers").await.unwrap();
    access::assign_role(&db, "readers", "bob").await.unwrap();
    access::create_token(&db, "bob-2", "bob", hash_key("k2"), None, "")
        .await
        .unwrap();
    access::revoke_token(&db, "bob-token").await.unwrap();
    access::grant(&db, Permission::Add, &bob, None)
        .await
        .unwrap();
    access::revoke(&db, view, &bob, None).await.unwrap();
    assert_eq!(access_epoch(&db).await, epoch + 8);
    db.close().await.ok();
}

async fn replicas_bootstrapping_together_all_succeed(backend: Backend) {
    let Some(test_db) = TestDb::migrated(backend).await else {
        return;
    };
    let key_hash = hash_key("bootstrap-key-0123456789abcdef0123456789abcdef");
    // One pool per task, as replicas starting together each have their own.
    let mut replicas = Vec::new();
    for _ in 0..8 {
        replicas.push(test_db.connect().await);
    }
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(replicas.len()));
    let tasks: Vec<_> = replicas
        .into_iter()
        .map(|db| {
            let key_hash = key_hash.clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                let outcome = access::ensure_bootstrap(&db, key_hash).await;
                db.close().await.ok();
                outcome
            })
        })
        .collect();
    let mut created = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(access::Bootstrap::Created) => created += 1,
            Ok(access::Bootstrap::Unchanged) => {}
            other => panic!("a replica's bootstrap failed: {other:?}"),
        }
    }
    assert!(created >= 1, "someone created the bootstrap user");

    let db = test_db.connect().await;
    let users = access::list_users(&db).await.unwrap();
    assert_eq!(users.len(), 1, "{users:?}");
    assert_eq!(users[0].username, access::BOOTSTRAP_USERNAME);
    assert!(users[0].is_superuser && users[0].is_active);
    let tokens = access::list_tokens(&db).await.unwrap();
    assert_eq!(tokens.len(), 1, "{tokens:?}");
    assert_eq!(tokens[0].identifier, access::BOOTSTRAP_TOKEN_IDENTIFIER);
    let caller = store::access::authenticate_hash(&db, &key_hash, chrono::Utc::now())
        .await
        .unwrap()
        .expect("the bootstrap key works");
    assert!(caller.is_superuser);
    db.close().await.ok();
}

backend_tests!(
    change_and_epoch_bump_commit_together,
    replicas_bootstrapping_together_all_succeed,
);
