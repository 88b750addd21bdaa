//! Metadata names read on every call. As `HeaderName`s they are looked up
//! by hash; a `&str` name would be parsed and checked on each look-up.

use tonic::codegen::http::HeaderName;

pub const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");
pub const GRPC_TIMEOUT: HeaderName = HeaderName::from_static("grpc-timeout");
pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
