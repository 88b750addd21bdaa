//! The wire codec of the service: tonic's prost codec with small starting
//! buffers.
//!
//! tonic gives each call an encode buffer of 8 KiB that lives as long as
//! the call. A `WatchPlexSources` stream lives for hours, and a replica
//! holds thousands of them, each mostly idle: 8 KiB each is 80 MB for ten
//! thousand watchers. A source encodes to well under a kilobyte, and a
//! buffer grows when a larger message needs it, so starting small costs a
//! unary call at most one reallocation.

use std::marker::PhantomData;

use prost::Message;
use tonic::codec::{BufferSettings, Codec};
use tonic_prost::{ProstDecoder, ProstEncoder};

/// Bytes each call's encode and decode buffers start with.
const BUFFER: usize = 1024;
/// Encoded bytes gathered before they are handed to the connection: as
/// tonic's default.
const YIELD_AT: usize = 32 * 1024;

/// The generated services' codec (see `build.rs`).
#[derive(Debug, Clone)]
pub struct SmallBuffers<T, U>(PhantomData<(T, U)>);

impl<T, U> Default for SmallBuffers<T, U> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<T, U> Codec for SmallBuffers<T, U>
where
    T: Message + Send + 'static,
    U: Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = ProstDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder::new(BufferSettings::new(BUFFER, YIELD_AT))
    }

    fn decoder(&mut self) -> Self::Decoder {
        ProstDecoder::new(BufferSettings::new(BUFFER, YIELD_AT))
    }
}
