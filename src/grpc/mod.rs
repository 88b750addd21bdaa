//! The gRPC transport: request conversion ([`input`]), response conversion
//! ([`convert`]), the one mapping of operation errors to statuses
//! ([`error`]), the layers every call passes ([`observe`], [`deadline`],
//! [`auth`]) and the tonic service. Every check and every query lives in
//! [`crate::ops`]; nothing here touches the database.

pub mod auth;
/// Public: the generated code names it.
pub mod codec;
pub mod convert;
pub mod deadline;
pub mod error;
pub(crate) mod headers;
/// Public so the update-mask reader can be fuzzed and property-tested.
pub mod input;
pub mod observe;
mod service;
mod trace;
/// Public: the generated code names it.
pub mod wire;

pub use service::PlexSources;
