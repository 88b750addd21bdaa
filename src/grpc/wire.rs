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
use quick_cache::sync::Cache;
use uuid::Uuid;

use super::convert;
use crate::{
    domain::PlexSource,
    ops::{TokenVisibility, Visible},
};

/// Encodings kept; a source has at most two (with and without the token).
/// An entry is the encoded bytes (well under a kilobyte for a source) and
/// a reference to the source it encodes.
const KEPT: usize = 4096;

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
    kept: Cache<(Uuid, TokenVisibility), (Arc<PlexSource>, Bytes)>,
}

impl Default for EncodedSources {
    fn default() -> Self {
        Self {
            kept: Cache::new(KEPT),
        }
    }
}

impl EncodedSources {
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
        let encodings = EncodedSources::default();
        for token in [TokenVisibility::Shown, TokenVisibility::Hidden] {
            let v = visible(&source, token);
            assert_eq!(decoded(&encodings.encode(&v)), convert::source_to_proto(&v));
        }
    }

    #[test]
    fn each_visibility_has_its_own_encoding() {
        let source = Arc::new(crate::domain::plex_source::example());
        let encodings = EncodedSources::default();
        let shown = decoded(&encodings.encode(&visible(&source, TokenVisibility::Shown)));
        let hidden = decoded(&encodings.encode(&visible(&source, TokenVisibility::Hidden)));
        assert_eq!(shown.plex_token, source.fields.plex_token.expose());
        assert_eq!(hidden.plex_token, "");
        // Kept: asked again, the same answers.
        let again = decoded(&encodings.encode(&visible(&source, TokenVisibility::Hidden)));
        assert_eq!(again.plex_token, "");
    }

    #[test]
    fn a_changed_source_is_encoded_again() {
        let old = Arc::new(crate::domain::plex_source::example());
        let encodings = EncodedSources::default();
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
