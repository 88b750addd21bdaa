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
    mem::size_of,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use quick_cache::{Weighter, sync::Cache};
use uuid::Uuid;

use crate::domain::{
    PlexSource, PlexSourceFields,
    access::{Caller, Grant},
};

/// How long a successful poll vouches for the cache. Keeps the worst-case
/// staleness across replicas under one second.
pub const FRESH_FOR: Duration = Duration::from_millis(750);

/// Memory the caches may hold by default: a few thousand full pages.
pub const DEFAULT_MAX_BYTES: u64 = 64 * 1024 * 1024;

/// Key hashes known to authenticate nobody. Each entry is one hash of
/// fixed size, so the count bounds the memory (about 1 MiB).
const UNKNOWN_KEYS: usize = 10_000;

/// Per-entry bookkeeping on top of key and value (table slot, key and
/// value headers, reference counts): an estimate, erring high.
const ENTRY_OVERHEAD: u64 = 96;

/// A list result before per-caller rendering.
#[derive(Debug, Clone)]
pub struct CachedPage {
    pub sources: Vec<Arc<PlexSource>>,
    pub total: u64,
    pub more: bool,
}

/// Weighs an entry by an estimate of the memory it holds, so the caches
/// are bounded in bytes: list keys and pages are chosen by callers, and a
/// page may hold up to 1,000 sources.
#[derive(Debug, Clone, Copy, Default)]
struct ByHeapSize;

impl<K: HeapSize, V: HeapSize> Weighter<K, V> for ByHeapSize {
    fn weight(&self, key: &K, value: &V) -> u64 {
        ENTRY_OVERHEAD + key.heap_size() + value.heap_size()
    }
}

/// The memory a cached source holds, as the caches weigh it: for other
/// stores of sources that must stay bounded in bytes too.
pub fn source_weight(source: &Arc<PlexSource>) -> u64 {
    ENTRY_OVERHEAD + source.heap_size()
}

/// Bytes a value holds beyond its own inline size, as estimated for
/// [`ByHeapSize`].
trait HeapSize {
    fn heap_size(&self) -> u64;
}

impl HeapSize for String {
    fn heap_size(&self) -> u64 {
        self.capacity() as u64
    }
}

impl HeapSize for Uuid {
    fn heap_size(&self) -> u64 {
        0
    }
}

impl<T: HeapSize> HeapSize for Option<T> {
    fn heap_size(&self) -> u64 {
        self.as_ref().map_or(0, HeapSize::heap_size)
    }
}

impl HeapSize for Arc<Caller> {
    fn heap_size(&self) -> u64 {
        (size_of::<Caller>()
            + self.username.capacity()
            + self.grants.capacity() * size_of::<Grant>()) as u64
    }
}

impl HeapSize for Arc<PlexSource> {
    fn heap_size(&self) -> u64 {
        // Every field is named, so a new one is weighed or knowingly not.
        let PlexSource {
            pk: _,
            managed,
            fields,
        } = self.as_ref();
        let PlexSourceFields {
            name,
            slug,
            enabled: _,
            authentication_flow: _,
            enrollment_flow: _,
            user_property_mappings,
            group_property_mappings,
            policy_engine_mode: _,
            user_matching_mode: _,
            user_path_template,
            icon,
            group_matching_mode: _,
            client_id,
            allowed_servers,
            allow_friends: _,
            plex_token,
        } = fields;
        let strings = [
            name.capacity(),
            slug.as_str().len(),
            user_path_template.capacity(),
            icon.as_ref().map_or(0, String::capacity),
            client_id.capacity(),
            plex_token.expose().len(),
            managed.as_ref().map_or(0, String::capacity),
        ];
        let servers: usize = allowed_servers.iter().map(String::capacity).sum();
        let vecs = (allowed_servers.capacity() * size_of::<String>())
            + (user_property_mappings.capacity() + group_property_mappings.capacity())
                * size_of::<uuid::Uuid>();
        (size_of::<PlexSource>() + strings.iter().sum::<usize>() + servers + vecs) as u64
    }
}

impl HeapSize for Arc<CachedPage> {
    fn heap_size(&self) -> u64 {
        let rows = self.sources.capacity() * size_of::<Arc<PlexSource>>();
        (size_of::<CachedPage>() + rows) as u64
            + self.sources.iter().map(HeapSize::heap_size).sum::<u64>()
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
    /// Caches holding about `max_bytes` in all: half for list pages, a
    /// quarter each for callers and sources, a sixteenth for slugs (plus
    /// the fixed-size set of unknown keys).
    pub fn new(max_bytes: u64) -> Self {
        Self {
            origin: Instant::now(),
            fresh_until: AtomicU64::new(0),
            generation: AtomicU64::new(0),
            caller_misses: AtomicU64::new(0),
            source_misses: AtomicU64::new(0),
            hits: Default::default(),
            page_misses: AtomicU64::new(0),
            callers: Cache::with_weighter(1_000, max_bytes / 4, ByHeapSize),
            unknown_keys: Cache::new(UNKNOWN_KEYS),
            slugs: Cache::with_weighter(1_000, max_bytes / 16, ByHeapSize),
            sources: Cache::with_weighter(1_000, max_bytes / 4, ByHeapSize),
            pages: Cache::with_weighter(100, max_bytes / 2, ByHeapSize),
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
        let cache = ReadCache::default();
        cache.put_caller(cache.ticket(), "k".into(), caller());
        assert!(matches!(cache.lookup_caller("k"), CallerLookup::Miss));
        cache.mark_fresh(Instant::now());
        cache.put_caller(cache.ticket(), "k".into(), caller());
        assert!(matches!(cache.lookup_caller("k"), CallerLookup::Known(_)));
    }

    #[test]
    fn an_old_poll_does_not_vouch() {
        let cache = ReadCache::default();
        cache.mark_fresh(Instant::now());
        cache.put_caller(cache.ticket(), "k".into(), caller());
        cache.put_unknown(cache.ticket(), "u".into());
        // Pretend the last successful poll is older than FRESH_FOR.
        cache.fresh_until.store(0, Ordering::SeqCst);
        assert!(matches!(cache.lookup_caller("k"), CallerLookup::Miss));
        assert!(matches!(cache.lookup_caller("u"), CallerLookup::Miss));
    }

    #[test]
    fn invalidation_drops_entries_and_stale_tickets() {
        let cache = ReadCache::default();
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

    #[test]
    fn unknown_keys_are_remembered_until_any_change() {
        let cache = ReadCache::default();
        cache.mark_fresh(Instant::now());
        assert!(matches!(cache.lookup_caller("bogus"), CallerLookup::Miss));
        let ticket = cache.caller_miss();
        cache.put_unknown(ticket, "bogus".into());
        assert!(matches!(
            cache.lookup_caller("bogus"),
            CallerLookup::Unknown
        ));
        assert_eq!(cache.caller_misses(), 1);
        // A token may have been made for it since.
        cache.invalidate();
        assert!(matches!(cache.lookup_caller("bogus"), CallerLookup::Miss));
        cache.put_unknown(ticket, "bogus".into());
        assert!(matches!(cache.lookup_caller("bogus"), CallerLookup::Miss));
        // An expired caller's key is then unknown, not its stale caller.
        cache.put_caller(cache.ticket(), "expired".into(), caller());
        cache.put_unknown(cache.ticket(), "expired".into());
        assert!(matches!(
            cache.lookup_caller("expired"),
            CallerLookup::Unknown
        ));
    }

    fn source(n: usize, text: usize) -> Arc<PlexSource> {
        use crate::domain::{
            GroupMatchingMode, PlexSourceFields, PlexToken, PolicyEngineMode, Slug,
            UserMatchingMode,
        };
        Arc::new(PlexSource {
            pk: uuid::Uuid::new_v4(),
            managed: None,
            fields: PlexSourceFields {
                name: "n".repeat(text),
                slug: Slug::parse(&format!("s-{n}")).unwrap(),
                enabled: true,
                authentication_flow: None,
                enrollment_flow: None,
                user_property_mappings: vec![],
                group_property_mappings: vec![],
                policy_engine_mode: PolicyEngineMode::Any,
                user_matching_mode: UserMatchingMode::Identifier,
                user_path_template: String::new(),
                icon: None,
                group_matching_mode: GroupMatchingMode::Identifier,
                client_id: String::new(),
                allowed_servers: vec!["x".repeat(text)],
                allow_friends: false,
                plex_token: PlexToken::new("t"),
            },
        })
    }

    #[test]
    fn a_source_change_drops_that_source_and_the_pages_only() {
        let cache = ReadCache::default();
        cache.mark_fresh(Instant::now());
        let (a, b) = (source(1, 1), source(2, 1));
        cache.put_source(cache.ticket(), "s-1".into(), Some(a.clone()));
        cache.put_source(cache.ticket(), "s-2".into(), Some(b.clone()));
        cache.put_source(cache.ticket(), "new".into(), None);
        cache.put_caller(cache.ticket(), "k".into(), caller());
        let page = Arc::new(CachedPage {
            sources: vec![a.clone()],
            total: 1,
            more: false,
        });
        cache.put_page(cache.ticket(), "p".into(), page);

        cache.source_changed(a.pk, "s-1");
        assert_eq!(cache.source("s-1"), None);
        assert!(cache.page("p").is_none(), "pages may hold it");
        assert_eq!(cache.source("s-2").flatten().map(|s| s.pk), Some(b.pk));
        assert!(matches!(cache.lookup_caller("k"), CallerLookup::Known(_)));

        // Created under a slug known absent.
        cache.source_changed(uuid::Uuid::new_v4(), "new");
        assert_eq!(cache.source("new"), None);
    }

    #[test]
    fn a_renamed_source_is_not_found_under_its_old_slug() {
        let cache = ReadCache::default();
        cache.mark_fresh(Instant::now());
        let old = source(1, 1);
        cache.put_source(cache.ticket(), "s-1".into(), Some(old.clone()));
        let mut renamed = (*old).clone();
        renamed.fields.slug = crate::domain::Slug::parse("s-9").unwrap();
        cache.source_changed(old.pk, "s-9");
        assert_eq!(cache.source("s-1"), None, "a miss: the store decides");
        // The renamed source is cached again under its new slug.
        cache.put_source(cache.ticket(), "s-9".into(), Some(Arc::new(renamed)));
        assert_eq!(
            cache.source("s-1"),
            None,
            "still a miss, not the renamed one"
        );
        assert!(cache.source("s-9").flatten().is_some());
    }

    #[test]
    fn an_access_change_drops_callers_but_keeps_sources() {
        let cache = ReadCache::default();
        cache.mark_fresh(Instant::now());
        let a = source(1, 1);
        cache.put_source(cache.ticket(), "s-1".into(), Some(a.clone()));
        cache.put_caller(cache.ticket(), "k".into(), caller());
        cache.put_unknown(cache.ticket(), "bogus".into());
        cache.access_changed();
        assert!(matches!(cache.lookup_caller("k"), CallerLookup::Miss));
        assert!(matches!(cache.lookup_caller("bogus"), CallerLookup::Miss));
        assert_eq!(cache.source("s-1").flatten().map(|s| s.pk), Some(a.pk));
    }

    #[test]
    fn pages_are_weighed_by_size_and_bounded_in_bytes() {
        let max_bytes = 4 * 1024 * 1024;
        let cache = ReadCache::new(max_bytes);
        cache.mark_fresh(Instant::now());
        let page = |rows: usize| {
            Arc::new(CachedPage {
                sources: (0..rows).map(|n| source(n, 1_000)).collect(),
                total: rows as u64,
                more: false,
            })
        };
        let one = ByHeapSize.weight(&"k".to_owned(), &page(1));
        let hundred = ByHeapSize.weight(&"k".to_owned(), &page(100));
        assert!(one > 2_000, "{one}");
        assert!(hundred > 90 * one, "{one} {hundred}");

        // Far more pages than fit: ~200 KiB each, 40 MiB in all.
        let big = page(100);
        for n in 0..200 {
            cache.put_page(cache.ticket(), format!("page {n}"), big.clone());
            assert!(cache.pages.weight() <= max_bytes / 2, "after {n}");
        }
        assert!(cache.pages.len() > 1, "pages that fit are kept");
        assert!(cache.pages.len() < 200);
        // Long keys weigh too.
        let key = "k".repeat(1024 * 1024);
        for n in 0..10 {
            cache.put_page(cache.ticket(), format!("{key}{n}"), page(1));
        }
        assert!(cache.pages.weight() <= max_bytes / 2);
        for n in 0..2_000 {
            cache.put_source(cache.ticket(), format!("s-{n}"), Some(source(n, 1_000)));
        }
        assert!(cache.sources.weight() <= max_bytes / 4);
        assert!(!cache.sources.is_empty());
    }
}
