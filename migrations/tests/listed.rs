//! Every migration file is a migration the migrator runs: a file without
//! its `mod` line and its entry in `Migrator::migrations` would never be
//! compiled, let alone applied, and nothing else would notice.

use migrations::{Migrator, MigratorTrait};

#[test]
fn every_migration_file_is_listed_in_order() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .expect("migrations/src")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.starts_with('m') && name.ends_with(".rs"))
        .map(|name| name.trim_end_matches(".rs").to_owned())
        .collect();
    files.sort();
    let listed: Vec<String> = Migrator::migrations()
        .iter()
        .map(|m| m.name().to_owned())
        .collect();
    assert!(!files.is_empty());
    assert_eq!(
        listed, files,
        "Migrator::migrations and the files of migrations/src"
    );
}
