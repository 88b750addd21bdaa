//! A blueprint file of any bytes, imported into a fresh SQLite database:
//! a report or an import error, never a panic.
//!
//! A migrated template database is made once; each input that is YAML gets
//! its own copy, so runs do not depend on one another. Input that is not
//! YAML fails before the database is touched, so it shares one database.
#![no_main]

use std::{path::PathBuf, sync::OnceLock};

use libfuzzer_sys::fuzz_target;
use plex_source_service::{blueprint, store};
use plex_source_service::store::Db;
use tokio::runtime::Runtime;

struct Fixture {
    runtime: Runtime,
    dir: tempfile::TempDir,
    template: PathBuf,
    /// For input that is not YAML, which the importer refuses first.
    shared: Db,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let dir = tempfile::tempdir().expect("temp dir");
        let template = dir.path().join("template.db");
        let shared = runtime.block_on(async {
            let db = store::connect(&sqlite_url(&template))
                .await
                .expect("connect");
            store::migrate(&db).await.expect("migrate");
            db.close().await.expect("close");
            let shared = dir.path().join("shared.db");
            std::fs::copy(&template, &shared).expect("copy template");
            store::connect(&sqlite_url(&shared)).await.expect("connect")
        });
        Fixture {
            runtime,
            dir,
            template,
            shared,
        }
    })
}

fn sqlite_url(path: &std::path::Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

/// `!Env` answers for names starting with `A`, so both outcomes are reached.
fn env(name: &str) -> Option<String> {
    name.starts_with('A').then(|| format!("{name}-value"))
}

fn import(bytes: &[u8]) {
    let f = fixture();
    let file = f.dir.path().join("blueprint.yaml");
    std::fs::write(&file, bytes).expect("write blueprint");
    let is_yaml = std::str::from_utf8(bytes)
        .is_ok_and(|text| serde_yaml_ng::from_str::<serde_yaml_ng::Value>(text).is_ok());
    if !is_yaml {
        let _ = f
            .runtime
            .block_on(blueprint::import_file_with_env(&f.shared, &file, &env));
        return;
    }
    let db_path = f.dir.path().join("fresh.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db_path.display()));
    }
    std::fs::copy(&f.template, &db_path).expect("copy template");
    f.runtime.block_on(async {
        let db = store::connect(&sqlite_url(&db_path))
            .await
            .expect("connect");
        let _ = blueprint::import_file_with_env(&db, &file, &env).await;
        db.close().await.expect("close");
    });
}

fuzz_target!(|bytes: &[u8]| import(bytes));
