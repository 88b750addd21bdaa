//! The gRPC transport: the service implementation, proto conversion and
//! the mapping of failures to statuses.

mod auth;
pub mod convert;
pub mod error;
mod service;
mod trace;

pub use auth::{AuthLayer, Authenticator};
pub use error::ServiceError;
pub use service::PlexSources;
pub use trace::trace_layer;
