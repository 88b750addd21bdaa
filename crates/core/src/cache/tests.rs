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
    use domain::{
        GroupMatchingMode, PlexSourceFields, PlexToken, PolicyEngineMode, Slug, UserMatchingMode,
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
    renamed.fields.slug = domain::Slug::parse("s-9").unwrap();
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

#[test]
fn the_shares_of_the_budget_add_up_to_at_most_the_whole() {
    for max in [0, 15, 16, 1 << 20, 64 << 20, u64::MAX / 2] {
        let b = Budget::of(max);
        let sum = b.callers + b.sources + b.slugs + b.pages + b.encodings;
        assert!(sum <= max, "{max}: {sum}");
        assert!(
            max - sum < 16,
            "{max}: {sum} leaves the remainder of sixteenths only"
        );
    }
}
