//! `PageToken::decode` on any token text, as sent and sealed with the key
//! (so the checks behind the seal are reached too), against a fixed
//! ordering that has a text, a bool and a pk key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plex_source_service::domain::listing::{PageToken, PageTokenKey, fingerprint, parse_ordering};

fuzz_target!(|token: &str| {
    let key = PageTokenKey::new(b"fuzz-key");
    let ordering = parse_ordering("name,-enabled").expect("valid ordering");
    let fp = fingerprint(&["fuzz"]);
    let sealed = key.sealed(token);
    for candidate in [token, sealed.as_str()] {
        if let Ok(decoded) = PageToken::decode(candidate, &key, &fp, &ordering) {
            // What decodes re-encodes to a token that decodes the same.
            assert_eq!(
                PageToken::decode(&decoded.encode(&key), &key, &fp, &ordering),
                Ok(decoded)
            );
        }
    }
});
