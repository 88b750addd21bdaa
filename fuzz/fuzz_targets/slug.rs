//! `Slug::parse` on any text: a value or an error, and a parsed slug's
//! text parses to the same slug.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plex_source_service::domain::Slug;

fuzz_target!(|text: &str| {
    if let Ok(slug) = Slug::parse(text) {
        assert_eq!(slug.as_str(), text);
        assert_eq!(Slug::parse(slug.as_str()), Ok(slug));
    }
});
