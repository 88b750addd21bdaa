//! The caches' weights: an estimate, erring high, of the memory an entry
//! holds, so that the caches are bounded in bytes (list keys and pages are
//! chosen by callers, and a page may hold up to 1,000 sources).

use std::{mem::size_of, sync::Arc};

use domain::{
    PlexSource, PlexSourceFields,
    access::{Caller, Grant},
};
use quick_cache::Weighter;
use uuid::Uuid;

use super::CachedPage;

/// Per-entry bookkeeping on top of key and value (table slot, key and
/// value headers, reference counts): an estimate, erring high.
const ENTRY_OVERHEAD: u64 = 96;

/// Weighs an entry by an estimate of the memory it holds, so the caches
/// are bounded in bytes: list keys and pages are chosen by callers, and a
/// page may hold up to 1,000 sources.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct ByHeapSize;

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
