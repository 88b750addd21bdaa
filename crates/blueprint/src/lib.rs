//! Importing authentik blueprint files (spec §5) into the store.
//!
//! A file is applied as one transaction: either every entry takes effect or
//! none does, so a typo in the last entry never leaves half a configuration
//! behind. Supported models are Plex sources, flows, Plex source property
//! mappings, users and roles; entries of other models are skipped with a
//! warning, as a blueprint written for a full authentik usually holds many
//! of them. Plex source entries may also grant object permissions to users
//! and roles through authentik's entry-level `permissions`.
//!
//! The blueprint language is authentik 2025.10's: every tag, the file's
//! `version`, `metadata` and `context`, entry `conditions` by Python
//! truthiness, and values read as DRF reads them.
//!
//! Layout, each module using only those listed before it:
//! - [`python`] holds the Python semantics the language leans on
//!   (truthiness, `str()`, `%` formatting, `always_merger`);
//! - [`values`] types plain YAML values with authentik's (DRF's) readings
//!   and messages, [`report`] holds what an import reports, and [`models`]
//!   names authentik's models, the supported ones, their fields, and the
//!   rules they share ([`models::Target`], identifiers, uniqueness);
//! - [`document`] checks the file's shape (values, report), and [`context`]
//!   assembles what `!Context` reads (models);
//! - [`tags`] resolves every tag (models, python);
//! - [`plex_source`], [`flows`], [`mappings`], [`users`] and [`roles`] each
//!   type one model's `attrs` into a draft and check and write it (models,
//!   values); [`references`] checks the attributes that name other objects
//!   by pk, as DRF does, before the draft is typed (models, values);
//!   [`permissions`] checks and grants entry-level permissions (values);
//! - [`apply`] runs each entry's state (`present`, `created`,
//!   `must_created`, `absent`) through the model's target (all of the
//!   above), and this module reads the file and runs one transaction.
//!
//! Whole imports are tested on SQLite and PostgreSQL in `tests/api/blueprint`.

mod apply;
pub mod context;
mod document;
mod flows;
mod lookup;
mod mappings;
mod models;
mod permissions;
mod plex_source;
mod python;
mod references;
mod report;
mod roles;
mod tags;
mod users;
mod values;

use std::{io::Read, path::Path};

use serde_yaml_ng::Mapping;
use store::Db;

pub use context::{ContextError, load as load_context};
use report::Failure;
pub use report::{ImportError, ImportReport};
pub use tags::{EnvReader, FileReader};

/// Largest blueprint file read; guards against pointing the importer at a
/// device or a huge file by mistake.
const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// What an import reads besides the blueprint file.
pub struct ImportOptions<'a> {
    /// Answers `!Env`.
    pub env: &'a EnvReader,
    /// Answers `!File`.
    pub files: &'a FileReader,
    /// The context given at import, merged over the file's `context`.
    pub context: Mapping,
}

fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

impl ImportOptions<'static> {
    /// The process environment, the file system, and `context`.
    pub fn process(context: Mapping) -> Self {
        Self {
            env: &process_env,
            files: &read_file,
            context,
        }
    }
}

/// Imports one blueprint file. `!Env` reads the process environment,
/// `!File` the file system; no context is given.
pub async fn import_file(db: &Db, path: &Path) -> Result<ImportReport, ImportError> {
    import_file_with(db, path, &ImportOptions::process(Mapping::new())).await
}

/// [`import_file`] with `!Env` answered by `env`, so callers (and tests) can
/// supply variables without touching the process environment.
pub async fn import_file_with_env(
    db: &Db,
    path: &Path,
    env: &EnvReader,
) -> Result<ImportReport, ImportError> {
    let options = ImportOptions {
        env,
        files: &read_file,
        context: Mapping::new(),
    };
    import_file_with(db, path, &options).await
}

/// Imports one blueprint file with everything it reads given.
pub async fn import_file_with(
    db: &Db,
    path: &Path,
    options: &ImportOptions<'_>,
) -> Result<ImportReport, ImportError> {
    let text = read_limited(path).map_err(|error| ImportError::Io {
        path: path.to_owned(),
        error,
    })?;
    import_text(db, &text, options)
        .await
        .map_err(|f| f.at(path))
}

/// What `!File` reads: a regular file of at most [`MAX_FILE_BYTES`] (never
/// a device or a pipe, which could block the import).
pub fn read_file(path: &Path) -> std::io::Result<String> {
    if !std::fs::metadata(path)?.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    read_limited(path)
}

/// Reads the file, refusing more than [`MAX_FILE_BYTES`]. Blueprint files
/// are small and read once, so a blocking read is fine here.
pub(crate) fn read_limited(path: &Path) -> std::io::Result<String> {
    let file = std::fs::File::open(path)?;
    let mut text = String::new();
    file.take(MAX_FILE_BYTES + 1).read_to_string(&mut text)?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {MAX_FILE_BYTES} bytes"),
        ));
    }
    Ok(text)
}

async fn import_text(
    db: &Db,
    text: &str,
    options: &ImportOptions<'_>,
) -> Result<ImportReport, Failure> {
    let document::Document { context, entries } = document::parse(text)?;
    let context = context::merged(context, &options.context);
    let inputs = tags::Inputs {
        env: options.env,
        files: options.files,
        context: &context,
    };
    // Alone among writers: what the import reads stays as read until it
    // commits.
    let txn = store::begin_exclusive_write(db)
        .await
        .map_err(|error| Failure::Store { index: None, error })?;
    let mut importer = apply::Importer::new(&txn, &inputs);
    for entry in entries {
        if let Err(failure) = importer.apply(entry).await {
            // Dropping the transaction would roll back too; doing it here
            // releases the connection before the error travels up.
            if txn.rollback().await.is_err() {
                tracing::warn!("rolling back a failed blueprint import failed");
            }
            return Err(failure);
        }
    }
    let report = importer.into_report();
    txn.commit()
        .await
        .map_err(|error| Failure::Store { index: None, error })?;
    Ok(report)
}
