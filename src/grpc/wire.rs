//! Answers kept in their wire form. A `RetrievePlexSource` answer depends
//! only on the source and on whether the Plex token goes out with it, so
//! its encoding is made once per (source, visibility) and a read copies
//! those bytes instead of building and encoding a message. The server sends
//! it as an [`Encoded`] (see `build.rs`); on the wire it is a `PlexSource`.

use std::sync::Arc;

use bytes::{BufMut, Bytes};
use prost::{
    DecodeError, Message,
    encoding::{DecodeContext, WireType, skip_field},
};
use quick_cache::{Weighter, sync::Cache};
use uuid::Uuid;

use super::convert;
use crate::{
    cache::{Budget, source_weight},
    domain::PlexSource,
    ops::{TokenVisibility, Visible},
};

/// Encodings expected, for the table's initial size; a source has at most
/// two (with and without the token).
const EXPECTED: usize = 2_000;

/// A message already encoded. Only ever sent: decoding one skips every
/// field, so it is not a way to read a message.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Encoded(Bytes);

impl std::fmt::Debug for Encoded {
    // The bytes may hold a Plex token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Encoded({} bytes)", self.0.len())
    }
}

impl Message for Encoded {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        buf.put_slice(&self.0);
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl bytes::Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        skip_field(wire_type, tag, buf, ctx)
    }

    fn encoded_len(&self) -> usize {
        self.0.len()
    }

    fn clear(&mut self) {
        self.0.clear();
    }
}

/// The wire form of sources, kept per (source, visibility). An entry
/// answers only for the very version it encoded (the same `Arc`): a
/// changed source is a new value, so its stale encoding is never served
/// and is replaced on the next read.
pub struct EncodedSources {
    kept: Cache<Key, Kept, ByBytes>,
}

type Key = (Uuid, TokenVisibility);
type Kept = (Arc<PlexSource>, Bytes);

/// An entry weighs its bytes and the source it holds on to (which may be
/// an older version than the read cache's).
#[derive(Clone)]
struct ByBytes;

impl Weighter<Key, Kept> for ByBytes {
    fn weight(&self, _: &Key, (source, bytes): &Kept) -> u64 {
        source_weight(source) + bytes.len() as u64
    }
}

impl EncodedSources {
    /// Encodings holding at most their share of `cache_max_bytes`
    /// ([`Budget::encodings`]): bounded in bytes, as the read cache is, as
    /// a source may carry 1,000 long `allowed_servers`.
    pub fn new(cache_max_bytes: u64) -> Self {
        Self {
            kept: Cache::with_weighter(EXPECTED, Budget::of(cache_max_bytes).encodings, ByBytes),
        }
    }

    pub fn encode(&self, visible: &Visible) -> Encoded {
        let key = (visible.source.pk, visible.token);
        if let Some((source, bytes)) = self.kept.get(&key)
            && Arc::ptr_eq(&source, &visible.source)
        {
            return Encoded(bytes);
        }
        let bytes = Bytes::from(convert::source_to_proto(visible).encode_to_vec());
        self.kept
            .insert(key, (visible.source.clone(), bytes.clone()));
        Encoded(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto as pb;

    fn visible(source: &Arc<PlexSource>, token: TokenVisibility) -> Visible {
        Visible {
            source: source.clone(),
            token,
        }
    }

    fn decoded(encoded: &Encoded) -> pb::PlexSource {
        pb::PlexSource::decode(encoded.encode_to_vec().as_slice()).expect("a PlexSource")
    }

    #[test]
    fn an_encoding_is_the_message_it_stands_for() {
        let source = Arc::new(crate::domain::plex_source::example());
        let encodings = EncodedSources::new(crate::cache::DEFAULT_MAX_BYTES);
        for token in [TokenVisibility::Shown, TokenVisibility::Hidden] {
            let v = visible(&source, token);
            assert_eq!(decoded(&encodings.encode(&v)), convert::source_to_proto(&v));
        }
    }

    #[test]
    fn each_visibility_has_its_own_encoding() {
        let source = Arc::new(crate::domain::plex_source::example());
        let encodings = EncodedSources::new(crate::cache::DEFAULT_MAX_BYTES);
        let shown = decoded(&encodings.encode(&visible(&source, TokenVisibility::Shown)));
        let hidden = decoded(&encodings.encode(&visible(&source, TokenVisibility::Hidden)));
        assert_eq!(shown.plex_token, source.fields.plex_token.expose());
        assert_eq!(hidden.plex_token, "");
        // Kept: asked again, the same answers.
        let again = decoded(&encodings.encode(&visible(&source, TokenVisibility::Hidden)));
        assert_eq!(again.plex_token, "");
    }

    #[test]
    fn the_encodings_stay_within_their_share_of_the_cache_budget() {
        let budget = 256 * 1024;
        let encodings = EncodedSources::new(budget);
        for _ in 0..2_000 {
            let mut source = crate::domain::plex_source::example();
            source.fields.allowed_servers = vec!["s".repeat(1_000)];
            let source = Arc::new(source);
            encodings.encode(&visible(&source, TokenVisibility::Shown));
        }
        // Each entry holds over 2,000 bytes (the long server twice).
        let kept = encodings.kept.len() as u64;
        assert!(kept * 2_000 <= Budget::of(budget).encodings, "{kept} kept");
        assert!(kept > 1, "keeps what fits");
    }

    #[test]
    fn a_changed_source_is_encoded_again() {
        let old = Arc::new(crate::domain::plex_source::example());
        let encodings = EncodedSources::new(crate::cache::DEFAULT_MAX_BYTES);
        let first = decoded(&encodings.encode(&visible(&old, TokenVisibility::Hidden)));
        let mut changed = (*old).clone();
        changed.fields.name = "renamed".to_owned();
        let changed = Arc::new(changed);
        let second = decoded(&encodings.encode(&visible(&changed, TokenVisibility::Hidden)));
        assert_eq!(first.name, old.fields.name);
        assert_eq!(second.name, "renamed");
        assert_eq!(second.pk, first.pk);
    }
}
