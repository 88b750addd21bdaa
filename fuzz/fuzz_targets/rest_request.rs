//! The REST list route's query string and a write's JSON body: read as
//! authentik reads them, into list arguments or a draft and its problems,
//! never a panic. Input: the query, a NUL byte, then the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plex_source_service::rest::{body, query::ListQuery};

fuzz_target!(|data: &[u8]| {
    let (query, rest) = match data.iter().position(|b| *b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let query = ListQuery::parse(&String::from_utf8_lossy(query));
    let size = query.page_size();
    assert!((1..=1_000).contains(&size));
    let page = match query.page() {
        plex_source_service::rest::query::PageNumber::Number(n) => n,
        _ => 1,
    };
    let params = query.params(page);
    assert!(params.page_size >= 1);
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(rest) {
        let _ = body::draft(value);
    }
});
