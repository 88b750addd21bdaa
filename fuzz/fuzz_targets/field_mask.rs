//! The update-mask reader on any list of paths: a patch, a replacement, the
//! implied mask or an error, never a panic. Input: paths separated by NUL bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plex_source_service::grpc::input::{UpdateMask, mask_paths};

fuzz_target!(|text: &str| {
    let mask = prost_types::FieldMask {
        paths: if text.is_empty() {
            Vec::new()
        } else {
            text.split('\0').map(str::to_owned).collect()
        },
    };
    if let Ok(UpdateMask::Paths(paths)) = mask_paths(Some(&mask)) {
        // Accepted paths were each named in the mask, once.
        assert!(paths.iter().all(|p| mask.paths.contains(p)));
        assert_eq!(
            mask_paths(Some(&prost_types::FieldMask {
                paths: paths.clone()
            })),
            Ok(UpdateMask::Paths(paths))
        );
    }
});
