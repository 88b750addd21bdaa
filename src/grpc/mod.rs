//! The gRPC transport: the service implementation, proto conversion and
//! the mapping of failures to statuses.

pub mod convert;
pub mod error;
mod service;

pub use error::ServiceError;
pub use service::PlexSources;
