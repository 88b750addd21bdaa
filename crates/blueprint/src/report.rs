//! What an import tells its caller: what it did, or why nothing was
//! written. Kept apart from the importer so every part below can report a
//! [`Failure`] without depending on the parts that run it.

use std::{
    fmt,
    path::{Path, PathBuf},
};

use domain::Violations;
use store::StoreError;

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

    /// The error as the caller sees it, naming the file.
    pub(super) fn at(self, path: &Path) -> ImportError {
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
