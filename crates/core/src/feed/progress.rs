//! How far the feed got, for watch streams and metrics.

use std::{
    sync::atomic::{AtomicI64, AtomicU64, Ordering},
    time::Duration,
};

/// How far the feed got, for metrics: the newest revision handled and
/// when a poll last succeeded.
#[derive(Debug)]
pub struct FeedProgress {
    origin: std::time::Instant,
    revision: AtomicI64,
    /// Milliseconds after `origin` of the last successful poll, plus one
    /// (zero: none yet).
    polled: AtomicU64,
}

impl FeedProgress {
    pub(super) fn new() -> Self {
        Self {
            origin: std::time::Instant::now(),
            revision: AtomicI64::new(0),
            polled: AtomicU64::new(0),
        }
    }

    /// Every change up to `revision` is final and has been handed out.
    pub(super) fn advance(&self, revision: i64) {
        self.revision.store(revision, Ordering::Release);
    }

    pub(super) fn polled(&self, polled_at: std::time::Instant) {
        let millis = polled_at.saturating_duration_since(self.origin).as_millis();
        self.polled.store(
            u64::try_from(millis).unwrap_or(u64::MAX).saturating_add(1),
            Ordering::Release,
        );
    }

    /// The newest change-log revision this replica has handled: every
    /// change up to it is committed (or abandoned for good) and handed out.
    pub fn revision(&self) -> i64 {
        self.revision.load(Ordering::Acquire)
    }

    /// Time since the last successful poll, `None` before the first.
    pub fn since_last_poll(&self) -> Option<Duration> {
        let millis = self.polled.load(Ordering::Acquire).checked_sub(1)?;
        let at = self.origin + Duration::from_millis(millis);
        Some(at.elapsed())
    }
}
