//! Cached reads for the hot path: callers by token key (and keys that
//! authenticate nobody), sources by slug, and list pages. Bounded by an
//! estimate of the memory held (`--cache-max-bytes`), not by entries.
//!
//! Correctness first: the cache is used only while the change feed has
//! polled the database successfully within [`FRESH_FOR`], and a change
//! drops what it can affect, no more: a source written (on any replica or
//! by the CLI, as the change log tells) drops that source and the list
//! pages; users, roles, tokens or grants changed (the access epoch) drop
//! the callers. This replica's own writes do the same at commit. So a
//! change is visible on the next call of the replica that made it and
//! within [`FRESH_FOR`] plus one poll on every other replica, while reads
//! of other sources keep their entries; when polls fail (database or
//! connection lost) the cache is bypassed after [`FRESH_FOR`] rather than
//! served stale.
//!
//! Sources are kept by pk, with a second map from slug to pk: a change
//! names the source's pk and its new slug, and a renamed source's old slug
//! then points at a pk whose entry is gone (or holds another slug), which
//! reads as a miss.

use std::{
    hash::Hash,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use quick_cache::{Weighter, sync::Cache};
use store::events::ChangeKind;
use uuid::Uuid;
use weight::ByHeapSize;
pub use weight::source_weight;

use domain::{PlexSource, access::Caller};

/// How long a successful poll vouches for the cache. Keeps the worst-case
/// staleness across replicas under one second.
mod weight;

pub const FRESH_FOR: Duration = Duration::from_millis(750);

/// Memory the caches may hold by default: a few thousand full pages.
pub const DEFAULT_MAX_BYTES: u64 = 64 * 1024 * 1024;

/// Key hashes known to authenticate nobody. Each entry is one hash of
/// fixed size, so the count bounds the memory (about 1 MiB).
const UNKNOWN_KEYS: usize = 10_000;

/// A list result before per-caller rendering.
#[derive(Debug, Clone)]
pub struct CachedPage {
    pub sources: Vec<Arc<PlexSource>>,
    pub total: u64,
    pub more: bool,
}

/// How `--cache-max-bytes` is shared out, in sixteenths; the shares add up
/// to the whole, so every cache together stays within it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Callers by token key: a quarter.
    pub callers: u64,
    /// Sources by pk: a quarter.
    pub sources: u64,
    /// The slug index: a sixteenth.
    pub slugs: u64,
    /// List pages: five sixteenths.
    pub pages: u64,
    /// The transports' kept encodings of sources (gRPC's RetrievePlexSource
    /// answers): an eighth.
    pub encodings: u64,
}

impl Budget {
    pub fn of(max_bytes: u64) -> Self {
        let sixteenth = max_bytes / 16;
        Self {
            callers: 4 * sixteenth,
            sources: 4 * sixteenth,
            slugs: sixteenth,
            pages: 5 * sixteenth,
            encodings: 2 * sixteenth,
        }
    }
}

/// What the change feed may do to the cache: drop what changed, and vouch
/// for the rest. The operations own the cache; the feed holds this.
#[derive(Clone)]
pub struct Invalidation(Arc<ReadCache>);

impl Invalidation {
    /// A source was created, updated or deleted (by any replica).
    pub fn change(&self, kind: ChangeKind, pk: Uuid, slug: &str) {
        self.0.changed(kind, pk, slug);
    }

    /// Users, roles, tokens or grants changed.
    pub fn access_changed(&self) {
        self.0.access_changed();
    }

    /// Nothing is known about what changed: everything goes.
    pub fn everything(&self) {
        self.0.invalidate();
    }

    /// A poll that started at `polled_at` saw every change up to then.
    pub fn fresh_as_of(&self, polled_at: Instant) {
        self.0.mark_fresh(polled_at);
    }
}

/// What the cache knows about a key hash.
pub enum CallerLookup {
    Known(Arc<Caller>),
    /// The key authenticated nobody, and nothing changed since.
    Unknown,
    /// Not cached: ask the store.
    Miss,
}

pub struct ReadCache {
    origin: Instant,
    /// Nanoseconds after `origin` until which the cache may be used.
    fresh_until: AtomicU64,
    /// Bumped by every invalidation, so a read that raced one is not stored.
    generation: AtomicU64,
    /// Key lookups the cache could not answer (each one a store query).
    caller_misses: AtomicU64,
    /// Source lookups the cache could not answer (each one a store query).
    /// Lookups answered here: callers, sources, pages.
    hits: [AtomicU64; 3],
    page_misses: AtomicU64,
    source_misses: AtomicU64,
    callers: Cache<String, Arc<Caller>, ByHeapSize>,
    /// Key hashes that authenticated nobody: a flood of bogus keys costs
    /// one query per distinct key, not one per call.
    unknown_keys: Cache<String, ()>,
    /// Slug to the pk holding it, or `None`: known absent.
    slugs: Cache<String, Option<Uuid>, ByHeapSize>,
    sources: Cache<Uuid, Arc<PlexSource>, ByHeapSize>,
    pages: Cache<String, Arc<CachedPage>, ByHeapSize>,
}

impl Default for ReadCache {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_BYTES)
    }
}

impl ReadCache {
    /// The handle the change feed drops entries through.
    pub fn invalidation(self: &Arc<Self>) -> Invalidation {
        Invalidation(self.clone())
    }

    /// Caches holding at most their shares of `max_bytes` (see
    /// [`Budget`]), plus the fixed-size set of unknown keys.
    pub fn new(max_bytes: u64) -> Self {
        let budget = Budget::of(max_bytes);
        Self {
            origin: Instant::now(),
            fresh_until: AtomicU64::new(0),
            generation: AtomicU64::new(0),
            caller_misses: AtomicU64::new(0),
            source_misses: AtomicU64::new(0),
            hits: Default::default(),
            page_misses: AtomicU64::new(0),
            callers: Cache::with_weighter(1_000, budget.callers, ByHeapSize),
            unknown_keys: Cache::new(UNKNOWN_KEYS),
            slugs: Cache::with_weighter(1_000, budget.slugs, ByHeapSize),
            sources: Cache::with_weighter(1_000, budget.sources, ByHeapSize),
            pages: Cache::with_weighter(100, budget.pages, ByHeapSize),
        }
    }

    /// Drops every entry: nothing is known about what changed.
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.callers.clear();
        self.unknown_keys.clear();
        self.slugs.clear();
        self.sources.clear();
        self.pages.clear();
    }

    /// A source was created, updated or deleted: what it affects goes. A
    /// deletion also took the object grants on the source with it: callers
    /// go too.
    pub fn changed(&self, kind: ChangeKind, pk: Uuid, slug: &str) {
        self.source_changed(pk, slug);
        if kind == ChangeKind::Deleted {
            self.access_changed();
        }
    }

    /// A source was created, updated or deleted: drops it (by pk, and its
    /// new slug, which may have been known absent) and the list pages,
    /// whose members, order and counts it may change.
    pub fn source_changed(&self, pk: Uuid, slug: &str) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.sources.remove(&pk);
        self.slugs.remove(slug);
        self.pages.clear();
    }

    /// Users, roles, tokens or grants changed: drops every caller (and
    /// every key known to authenticate nobody), but no source.
    pub fn access_changed(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.callers.clear();
        self.unknown_keys.clear();
    }

    /// A poll that started at `polled_at` saw the database unchanged (or
    /// invalidated what changed).
    pub fn mark_fresh(&self, polled_at: Instant) {
        let until = polled_at.saturating_duration_since(self.origin) + FRESH_FOR;
        self.fresh_until.fetch_max(nanos(until), Ordering::SeqCst);
    }

    /// Whether the feed has vouched for the cache within [`FRESH_FOR`].
    pub fn is_fresh(&self) -> bool {
        self.usable()
    }

    fn usable(&self) -> bool {
        nanos(self.origin.elapsed()) < self.fresh_until.load(Ordering::SeqCst)
    }

    /// A read's ticket: store the result only if no invalidation came
    /// between the ticket and the store.
    pub fn ticket(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// The caller behind a key hash, or that there is none.
    pub fn lookup_caller(&self, key_hash: &str) -> CallerLookup {
        if let Some(caller) = self.get(&self.callers, key_hash) {
            self.hit(CALLERS);
            return CallerLookup::Known(caller);
        }
        if self.get(&self.unknown_keys, key_hash).is_some() {
            self.hit(CALLERS);
            return CallerLookup::Unknown;
        }
        CallerLookup::Miss
    }

    /// The ticket of a key lookup that goes to the store; counted.
    pub fn caller_miss(&self) -> u64 {
        self.caller_misses.fetch_add(1, Ordering::Relaxed);
        self.ticket()
    }

    /// Key lookups so far that the cache could not answer, i.e. store
    /// queries for a caller.
    pub fn caller_misses(&self) -> u64 {
        self.caller_misses.load(Ordering::Relaxed)
    }

    pub fn put_caller(&self, ticket: u64, key_hash: String, caller: Arc<Caller>) {
        self.put(&self.callers, ticket, key_hash, caller);
    }

    /// Remembers that a key authenticated nobody, until the next change.
    /// Its caller, if cached (a token that has since expired), goes.
    pub fn put_unknown(&self, ticket: u64, key_hash: String) {
        self.callers.remove(&key_hash);
        self.put(&self.unknown_keys, ticket, key_hash, ());
    }

    /// `Some(None)`: known absent.
    pub fn source(&self, slug: &str) -> Option<Option<Arc<PlexSource>>> {
        // One freshness check for both look-ups: it reads the clock.
        if !self.usable() {
            return None;
        }
        let Some(pk) = self.slugs.get(slug)? else {
            self.hit(SOURCES);
            return Some(None);
        };
        // A renamed source's old slug still points at its pk.
        let source = self.sources.get(&pk)?;
        let found = (source.fields.slug.as_str() == slug).then_some(Some(source));
        if found.is_some() {
            self.hit(SOURCES);
        }
        found
    }

    /// The ticket of a source lookup that goes to the store; counted.
    pub fn source_miss(&self) -> u64 {
        self.source_misses.fetch_add(1, Ordering::Relaxed);
        self.ticket()
    }

    /// Source lookups so far that the cache could not answer.
    pub fn source_misses(&self) -> u64 {
        self.source_misses.load(Ordering::Relaxed)
    }

    pub fn put_source(&self, ticket: u64, slug: String, source: Option<Arc<PlexSource>>) {
        if let Some(source) = &source {
            self.put(&self.sources, ticket, source.pk, source.clone());
        }
        self.put(&self.slugs, ticket, slug, source.map(|s| s.pk));
    }

    pub fn page(&self, key: &str) -> Option<Arc<CachedPage>> {
        let page = self.get(&self.pages, key);
        match page {
            Some(_) => self.hit(PAGES),
            None => {
                self.page_misses.fetch_add(1, Ordering::Relaxed);
            }
        }
        page
    }

    fn hit(&self, cache: usize) {
        self.hits[cache].fetch_add(1, Ordering::Relaxed);
    }

    /// Lookups so far, per cache: answered here, and gone to the store.
    pub fn stats(&self) -> [CacheStats; 3] {
        let misses = [&self.caller_misses, &self.source_misses, &self.page_misses];
        [CALLERS, SOURCES, PAGES].map(|cache| CacheStats {
            cache: CACHE_NAMES[cache],
            hits: self.hits[cache].load(Ordering::Relaxed),
            misses: misses[cache].load(Ordering::Relaxed),
        })
    }

    pub fn put_page(&self, ticket: u64, key: String, page: Arc<CachedPage>) {
        self.put(&self.pages, ticket, key, page);
    }

    fn get<K, Q, V, W>(&self, cache: &Cache<K, V, W>, key: &Q) -> Option<V>
    where
        K: Eq + Hash,
        Q: Hash + quick_cache::Equivalent<K> + ?Sized,
        V: Clone,
        W: Weighter<K, V> + Clone,
    {
        if !self.usable() {
            return None;
        }
        cache.get(key)
    }

    fn put<K, V, W>(&self, cache: &Cache<K, V, W>, ticket: u64, key: K, value: V)
    where
        K: Eq + Hash + Clone,
        V: Clone,
        W: Weighter<K, V> + Clone,
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

const CALLERS: usize = 0;
const SOURCES: usize = 1;
const PAGES: usize = 2;
const CACHE_NAMES: [&str; 3] = ["callers", "sources", "pages"];

/// One cache's lookups, for metrics.
#[derive(Debug, Clone, Copy)]
pub struct CacheStats {
    pub cache: &'static str,
    pub hits: u64,
    pub misses: u64,
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests;
