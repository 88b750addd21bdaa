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
//! Layout: [`document`] checks the file's shape, [`tags`] resolves `!KeyOf`,
//! `!Find` and `!Env`, [`attrs`] types plain values into drafts, [`models`]
//! holds the per-model rules and store calls ([`users`] and [`roles`] those
//! of their models), [`permissions`] the entry-level grants, and [`apply`]
//! runs each entry's state (`present`, `created`, `must_created`, `absent`).

mod apply;
mod attrs;
mod document;
mod models;
mod permissions;
mod roles;
mod tags;
#[cfg(test)]
mod tests;
mod users;

use std::{
    fmt,
    io::Read,
    path::{Path, PathBuf},
};

use sea_orm::DatabaseConnection;

use crate::{domain::Violations, store::StoreError};

pub use tags::EnvReader;

/// Largest blueprint file read; guards against pointing the importer at a
/// device or a huge file by mistake.
const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// What an import did, counted per entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub created: usize,
    pub updated: usize,
    /// Entries whose object already matched the file (or was already absent).
    pub unchanged: usize,
    pub deleted: usize,
    /// Entries of unsupported models or whose conditions were false.
    pub skipped: usize,
}

/// Why a file was not imported. Nothing of the file was written.
///
/// The message always starts with the file path. Values that came from
/// `!Env` never appear in it, and database failures show only the store's
/// summary (no SQL, no connection string): the database error is kept out of
/// the `source` chain on purpose.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{}: cannot read the file: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    /// The file is not YAML, or not shaped like a blueprint.
    #[error("{}: {}{message}", path.display(), EntryPrefix(*entry))]
    Parse {
        path: PathBuf,
        entry: Option<usize>,
        message: String,
    },
    /// An entry breaks the model's rules, or one of its tags cannot be
    /// resolved; every violation of the entry is listed.
    #[error("{}: entry {index} ({model}): {violations}", path.display())]
    Entry {
        path: PathBuf,
        index: usize,
        model: String,
        violations: Violations,
    },
    #[error("{}: {}{error}", path.display(), EntryPrefix(*index))]
    Store {
        path: PathBuf,
        index: Option<usize>,
        error: StoreError,
    },
}

impl ImportError {
    /// The violations of the failing entry, for an [`ImportError::Entry`].
    pub fn violations(&self) -> Option<&Violations> {
        match self {
            ImportError::Entry { violations, .. } => Some(violations),
            _ => None,
        }
    }

    /// The 0-based index of the entry that failed, when one did.
    pub fn entry_index(&self) -> Option<usize> {
        match self {
            ImportError::Entry { index, .. } => Some(*index),
            ImportError::Parse { entry, .. } => *entry,
            ImportError::Store { index, .. } => *index,
            ImportError::Io { .. } => None,
        }
    }

    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            ImportError::Io { path, .. }
            | ImportError::Parse { path, .. }
            | ImportError::Entry { path, .. }
            | ImportError::Store { path, .. } => path,
        }
    }
}

/// `entry 3: ` when an entry is known, nothing otherwise.
struct EntryPrefix(Option<usize>);

impl fmt::Display for EntryPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(index) => write!(f, "entry {index}: "),
            None => Ok(()),
        }
    }
}

/// An [`ImportError`] before the file path is attached, so the parts below
/// need not carry the path around.
#[derive(Debug)]
pub(crate) enum Failure {
    Parse {
        entry: Option<usize>,
        message: String,
    },
    Entry {
        index: usize,
        model: String,
        violations: Violations,
    },
    Store {
        index: Option<usize>,
        error: StoreError,
    },
}

impl Failure {
    pub(crate) fn parse(entry: Option<usize>, message: impl Into<String>) -> Self {
        Failure::Parse {
            entry,
            message: message.into(),
        }
    }

    pub(crate) fn store(index: Option<usize>) -> impl FnOnce(StoreError) -> Self {
        move |error| Failure::Store { index, error }
    }

    fn at(self, path: &Path) -> ImportError {
        let path = path.to_owned();
        match self {
            Failure::Parse { entry, message } => ImportError::Parse {
                path,
                entry,
                message,
            },
            Failure::Entry {
                index,
                model,
                violations,
            } => ImportError::Entry {
                path,
                index,
                model,
                violations,
            },
            Failure::Store { index, error } => ImportError::Store { path, index, error },
        }
    }
}

/// Imports one blueprint file. `!Env` reads the process environment.
pub async fn import_file(
    db: &DatabaseConnection,
    path: &Path,
) -> Result<ImportReport, ImportError> {
    import_file_with_env(db, path, &|name: &str| std::env::var(name).ok()).await
}

/// [`import_file`] with `!Env` answered by `env`, so callers (and tests) can
/// supply variables without touching the process environment.
pub async fn import_file_with_env(
    db: &DatabaseConnection,
    path: &Path,
    env: &EnvReader,
) -> Result<ImportReport, ImportError> {
    let text = read_limited(path).map_err(|error| ImportError::Io {
        path: path.to_owned(),
        error,
    })?;
    import_text(db, &text, env).await.map_err(|f| f.at(path))
}

/// Reads the file, refusing more than [`MAX_FILE_BYTES`]. Blueprint files
/// are small and read once, so a blocking read is fine here.
fn read_limited(path: &Path) -> std::io::Result<String> {
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
    db: &DatabaseConnection,
    text: &str,
    env: &EnvReader,
) -> Result<ImportReport, Failure> {
    let entries = document::parse(text)?;
    // A source writer: ordered with the API's writes for the change log.
    let txn = crate::store::begin_write(db)
        .await
        .map_err(|error| Failure::Store { index: None, error })?;
    let mut importer = apply::Importer::new(&txn, env);
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
    txn.commit().await.map_err(|e| Failure::Store {
        index: None,
        error: e.into(),
    })?;
    Ok(report)
}
