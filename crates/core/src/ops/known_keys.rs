//! Which keys can work at all: the hashes of every token, as the store had
//! them at an access epoch, reloaded (one query) whenever the epoch moves.
//!
//! A key the read cache does not know costs a query. The cache remembers
//! keys that failed, but a flood of *distinct* bogus keys would still cost
//! one query each. So a key whose hash is not among the tokens' is looked
//! up only within a budget ([`LOOKUPS_PER_SECOND`] per server); past it, it
//! is refused as invalid without a query. A real key created since the last
//! reload (on another replica, or by the CLI) is looked up within the same
//! budget, and is known once this replica's change feed has seen its epoch.
//! While the set is not known to be current (before the first load, after an
//! access change until the reload, when the feed cannot poll), every key is
//! looked up as before.

use std::{
    collections::HashSet,
    sync::{
        Arc, Mutex, PoisonError, RwLock,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use store::Db;

use crate::feed::ChangeFeed;
use store;

/// Lookups per second of keys no token has, per server.
pub const LOOKUPS_PER_SECOND: f64 = 100.0;
/// Lookups of such keys allowed at once after a quiet time.
const BURST: f64 = 100.0;
/// Wait before a failed load is tried again.
const RETRY: Duration = Duration::from_secs(1);

/// The tokens' hashes (first 8 bytes) and the access epoch they were read at.
#[derive(Debug)]
struct KeySet {
    epoch: i64,
    hashes: HashSet<u64>,
}

#[derive(Debug)]
pub(super) struct KnownKeys {
    set: RwLock<Option<Arc<KeySet>>>,
    budget: Mutex<Budget>,
    /// Lookups refused because the budget was spent.
    refused: AtomicU64,
}

#[derive(Debug)]
struct Budget {
    left: f64,
    at: Instant,
}

impl Default for KnownKeys {
    fn default() -> Self {
        Self {
            set: RwLock::default(),
            budget: Mutex::new(Budget {
                left: BURST,
                at: Instant::now(),
            }),
            refused: AtomicU64::new(0),
        }
    }
}

/// The first 8 bytes of a hex key hash; `None` for anything else.
fn prefix(key_hash: &str) -> Option<u64> {
    u64::from_str_radix(key_hash.get(..16)?, 16).ok()
}

impl KnownKeys {
    /// Whether a key with this hash may be looked up now: it belongs to a
    /// token as of `epoch`, or the set cannot tell, or the budget allows.
    pub(super) fn may_look_up(&self, key_hash: &str, epoch: i64, feed_fresh: bool) -> bool {
        let known = {
            let set = self.set.read().unwrap_or_else(PoisonError::into_inner);
            match (set.as_deref(), prefix(key_hash)) {
                (Some(set), Some(prefix)) if set.epoch == epoch && feed_fresh => {
                    set.hashes.contains(&prefix)
                }
                _ => true,
            }
        };
        if known || self.spend() {
            return true;
        }
        self.refused.fetch_add(1, Ordering::Relaxed);
        false
    }

    fn spend(&self) -> bool {
        let mut budget = self.budget.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        let earned = now.duration_since(budget.at).as_secs_f64() * LOOKUPS_PER_SECOND;
        budget.left = (budget.left + earned).min(BURST);
        budget.at = now;
        if budget.left >= 1.0 {
            budget.left -= 1.0;
            true
        } else {
            false
        }
    }

    /// Lookups refused so far because the budget was spent.
    pub(super) fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    fn replace(&self, epoch: i64, hashes: &[String]) {
        let hashes = hashes.iter().filter_map(|hash| prefix(hash)).collect();
        *self.set.write().unwrap_or_else(PoisonError::into_inner) =
            Some(Arc::new(KeySet { epoch, hashes }));
    }

    /// Loads the set at every access epoch the feed reports, until the
    /// feed is gone.
    pub(super) async fn follow(self: Arc<Self>, db: Db, feed: ChangeFeed) {
        let mut access = feed.subscribe_access();
        loop {
            let epoch = *access.borrow_and_update();
            match store::access::token_key_hashes(&db).await {
                Ok(hashes) => self.replace(epoch, &hashes),
                Err(err) => {
                    tracing::debug!(error = %err, "cannot load the tokens' key hashes");
                    tokio::time::sleep(RETRY).await;
                    continue;
                }
            }
            if access.changed().await.is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KNOWN: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    const OTHER: &str = "0000d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn unknown_keys_are_looked_up_within_the_budget_only() {
        let keys = KnownKeys::default();
        keys.replace(7, &[KNOWN.to_owned()]);
        assert!(keys.may_look_up(KNOWN, 7, true));
        let allowed = (0..1_000)
            .filter(|_| keys.may_look_up(OTHER, 7, true))
            .count();
        assert!((100..=102).contains(&allowed), "{allowed}");
        assert_eq!(keys.refused(), 1_000 - allowed as u64);
        // A known key is never refused, whatever the budget.
        assert!(keys.may_look_up(KNOWN, 7, true));
    }

    #[test]
    fn a_set_that_may_be_stale_refuses_nothing() {
        let keys = KnownKeys::default();
        assert!((0..500).all(|_| keys.may_look_up(OTHER, 0, true)));
        keys.replace(7, &[KNOWN.to_owned()]);
        assert!((0..500).all(|_| keys.may_look_up(OTHER, 8, true)));
        assert!((0..500).all(|_| keys.may_look_up(OTHER, 7, false)));
        assert_eq!(keys.refused(), 0);
    }
}
