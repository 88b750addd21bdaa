//! The gRPC transport: the service implementation, proto conversion and
//! the mapping of failures to statuses.

mod auth;
pub mod convert;
pub mod error;
mod input;
mod service;
mod trace;
mod watch;

pub use auth::{AuthLayer, Authenticator};
pub use error::ServiceError;
pub use service::PlexSources;
pub use trace::trace_layer;
