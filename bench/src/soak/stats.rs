//! What a soak run counts: the calls of each kind that succeeded, every
//! error by what failed and its gRPC code (or the check it failed), the
//! watch events received, and what each watcher saw.

use std::{
    collections::BTreeMap,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

/// Kinds of unary call in the mix.
pub(super) const KINDS: [&str; 4] = [
    "RetrievePlexSource (viewer)",
    "RetrievePlexSource (token reader)",
    "ListPlexSources (page)",
    "UpdatePlexSource",
];
pub(super) const RETRIEVE_VIEWER: usize = 0;
pub(super) const RETRIEVE_SECRET: usize = 1;
pub(super) const LIST: usize = 2;
pub(super) const UPDATE: usize = 3;

/// Counters shared by every task of the run.
#[derive(Default)]
pub(super) struct Stats {
    pub(super) ok: [AtomicU64; 4],
    /// (what, gRPC code or check) → count.
    pub(super) errors: Mutex<BTreeMap<(String, String), u64>>,
    /// First message of each (what, code), for the report.
    pub(super) first_message: Mutex<BTreeMap<(String, String), String>>,
    pub(super) events: AtomicU64,
}

impl Stats {
    pub(super) fn error(&self, what: &str, code: &str, message: String) {
        let key = (what.to_owned(), code.to_owned());
        *self
            .errors
            .lock()
            .expect("stats")
            .entry(key.clone())
            .or_default() += 1;
        self.first_message
            .lock()
            .expect("stats")
            .entry(key)
            .or_insert(message);
    }

    pub(super) fn status(&self, kind: usize, status: &tonic::Status) {
        self.error(
            KINDS[kind],
            &format!("{:?}", status.code()),
            status.message().to_owned(),
        );
    }

    pub(super) fn error_count(&self) -> u64 {
        self.errors.lock().expect("stats").values().sum()
    }

    pub(super) fn calls(&self) -> u64 {
        self.ok
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum::<u64>()
            + self.error_count()
    }
}

/// What one watcher saw.
#[derive(Default)]
pub(super) struct Watched {
    pub(super) updated: u64,
    pub(super) other_kinds: u64,
    pub(super) out_of_order: u64,
    /// The stream failed or ended before the run did.
    pub(super) broken: bool,
}
