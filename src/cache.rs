//! Cached reads for the hot path: callers by token key, sources by slug,
//! and list pages.
//!
//! Correctness first: the cache is used only while the change feed has
//! polled the database successfully within [`FRESH_FOR`]; any change seen
//! by a poll (a source written, or users, roles, tokens or grants changed
//! on any replica or by the CLI) drops everything, and this replica's own
//! writes drop everything at commit. So a change is visible on the next
//! call of the replica that made it and within [`FRESH_FOR`] plus one poll
//! on every other replica; when polls fail (database or connection lost)
//! the cache is bypassed after [`FRESH_FOR`] rather than served stale.

use std::{
    hash::Hash,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use quick_cache::sync::Cache;

use crate::domain::{PlexSource, access::Caller};

/// How long a successful poll vouches for the cache. Keeps the worst-case
/// staleness across replicas under one second.
pub const FRESH_FOR: Duration = Duration::from_millis(750);

/// Entries per kind: bounds memory whatever the table size.
const CAPACITY: usize = 20_000;
const PAGE_CAPACITY: usize = 1_000;

/// A list result before per-caller rendering.
#[derive(Debug, Clone)]
pub struct CachedPage {
    pub sources: Vec<Arc<PlexSource>>,
    pub total: u64,
    pub more: bool,
}

pub struct ReadCache {
    origin: Instant,
    /// Nanoseconds after `origin` until which the cache may be used.
    fresh_until: AtomicU64,
    /// Bumped by every invalidation, so a read that raced one is not stored.
    generation: AtomicU64,
    callers: Cache<String, Arc<Caller>>,
    sources: Cache<String, Option<Arc<PlexSource>>>,
    pages: Cache<String, Arc<CachedPage>>,
}

impl Default for ReadCache {
    fn default() -> Self {
        Self::new()
    }
}

impl ReadCache {
    pub fn new() -> Self {
        Self {
            origin: Instant::now(),
            fresh_until: AtomicU64::new(0),
            generation: AtomicU64::new(0),
            callers: Cache::new(CAPACITY),
            sources: Cache::new(CAPACITY),
            pages: Cache::new(PAGE_CAPACITY),
        }
    }

    /// Drops every entry.
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.callers.clear();
        self.sources.clear();
        self.pages.clear();
    }

    /// A poll that started at `polled_at` saw the database unchanged (or
    /// invalidated what changed).
    pub fn mark_fresh(&self, polled_at: Instant) {
        let until = polled_at.saturating_duration_since(self.origin) + FRESH_FOR;
        self.fresh_until.fetch_max(nanos(until), Ordering::SeqCst);
    }

    fn usable(&self) -> bool {
        nanos(self.origin.elapsed()) < self.fresh_until.load(Ordering::SeqCst)
    }

    /// A read's ticket: store the result only if no invalidation came
    /// between the ticket and the store.
    pub fn ticket(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    pub fn caller(&self, key_hash: &str) -> Option<Arc<Caller>> {
        self.get(&self.callers, key_hash)
    }

    pub fn put_caller(&self, ticket: u64, key_hash: String, caller: Arc<Caller>) {
        self.put(&self.callers, ticket, key_hash, caller);
    }

    /// `Some(None)`: known absent.
    pub fn source(&self, slug: &str) -> Option<Option<Arc<PlexSource>>> {
        self.get(&self.sources, slug)
    }

    pub fn put_source(&self, ticket: u64, slug: String, source: Option<Arc<PlexSource>>) {
        self.put(&self.sources, ticket, slug, source);
    }

    pub fn page(&self, key: &str) -> Option<Arc<CachedPage>> {
        self.get(&self.pages, key)
    }

    pub fn put_page(&self, ticket: u64, key: String, page: Arc<CachedPage>) {
        self.put(&self.pages, ticket, key, page);
    }

    fn get<V: Clone>(&self, cache: &Cache<String, V>, key: &str) -> Option<V> {
        if !self.usable() {
            return None;
        }
        cache.get(key)
    }

    fn put<K, V>(&self, cache: &Cache<K, V>, ticket: u64, key: K, value: V)
    where
        K: Eq + Hash + Clone,
        V: Clone,
    {
        if !self.usable() || self.ticket() != ticket {
            return;
        }
        cache.insert(key.clone(), value);
        // An invalidation between the check and the insert: undo.
        if self.ticket() != ticket {
            cache.remove(&key);
        }
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller() -> Arc<Caller> {
        Arc::new(Caller {
            token_id: uuid::Uuid::new_v4(),
            user_id: uuid::Uuid::new_v4(),
            username: "u".into(),
            is_superuser: false,
            expires: None,
            grants: vec![],
        })
    }

    #[test]
    fn nothing_is_served_before_a_successful_poll() {
        let cache = ReadCache::new();
        cache.put_caller(cache.ticket(), "k".into(), caller());
        assert!(cache.caller("k").is_none());
        cache.mark_fresh(Instant::now());
        cache.put_caller(cache.ticket(), "k".into(), caller());
        assert!(cache.caller("k").is_some());
    }

    #[test]
    fn an_old_poll_does_not_vouch() {
        let cache = ReadCache::new();
        cache.mark_fresh(Instant::now());
        cache.put_caller(cache.ticket(), "k".into(), caller());
        // Pretend the last successful poll is older than FRESH_FOR.
        cache.fresh_until.store(0, Ordering::SeqCst);
        assert!(cache.caller("k").is_none());
    }

    #[test]
    fn invalidation_drops_entries_and_stale_tickets() {
        let cache = ReadCache::new();
        cache.mark_fresh(Instant::now());
        let ticket = cache.ticket();
        cache.put_source(ticket, "a".into(), None);
        assert_eq!(cache.source("a"), Some(None));
        cache.invalidate();
        assert_eq!(cache.source("a"), None);
        // A read that started before the invalidation is not stored.
        cache.put_source(ticket, "a".into(), None);
        assert_eq!(cache.source("a"), None);
    }
}
