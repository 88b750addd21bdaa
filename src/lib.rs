//! plex-source-service: authentik's Plex source configuration over gRPC.
//!
//! Layout:
//! - [`domain`]: the Plex source, its validated parts and its rules.
//! - [`store`]: sea-orm entities and the queries the service runs.
//! - [`ops`]: the operations (retrieve, list, create, update, delete,
//!   watch, authenticate), apart from any transport: permissions,
//!   validation, transactions, audit, cache.
//! - [`grpc`]: the gRPC transport: proto conversion, the error → status
//!   mapping, the auth layer and the tonic service.
//! - [`rest`]: authentik's REST contract for Plex sources, on the gRPC
//!   port: the same operations behind another transport.
//! - [`blueprint`]: importing authentik blueprint files.
//! - [`audit`]: the audit trail of Plex token hand-outs, written in
//!   batches off the request path.
//! - [`cache`]: cached hot reads, dropped on any change.
//! - [`feed`]: polls for changes of any replica: wakes watchers, drops caches.
//! - [`app`]: assembling and running the server (health, reflection,
//!   tracing, shutdown).
//! - [`admin`]: the users, roles, tokens and permissions subcommands.
//! - [`config`] and [`telemetry`]: command line settings, logging and
//!   OpenTelemetry traces.

pub use blueprint;
pub use domain;
pub use plex_source_core::{audit, cache, feed, ops};
pub use store;

pub mod admin;
pub mod app;
pub mod config;
pub mod early;
pub mod grpc;
pub mod metrics;
pub mod middleware;
pub mod probe;
pub mod rest;
pub mod telemetry;

/// `plexsource.v1`: the messages and client (from `plex-source-proto`) and
/// this server's side of it.
pub mod proto {
    pub use plex_source_proto::{FILE_DESCRIPTOR_SET, v1::*};
    // The server, generated here so that some answers go out pre-encoded
    // (see `build.rs`).
    include!(concat!(
        env!("OUT_DIR"),
        "/plexsource.v1.PlexSourceService.rs"
    ));

    /// `google.protobuf.Empty`, as prost maps it.
    pub type Empty = ();
}
