//! `PageToken::decode` on any token text, against a fixed ordering that has
//! a text, a bool and a pk key, so every cursor check is reached.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plex_source_service::domain::listing::{PageToken, fingerprint, parse_ordering};

fuzz_target!(|token: &str| {
    let ordering = parse_ordering("name,-enabled").expect("valid ordering");
    let fp = fingerprint(&["fuzz"]);
    if let Ok(decoded) = PageToken::decode(token, &fp, &ordering) {
        // What decodes re-encodes to a token that decodes the same.
        assert_eq!(
            PageToken::decode(&decoded.encode(), &fp, &ordering),
            Ok(decoded)
        );
    }
});
