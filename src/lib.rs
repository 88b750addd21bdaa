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

pub mod admin;
pub mod app;
pub mod audit;
pub mod blueprint;
pub mod cache;
pub mod config;
pub mod domain;
pub mod feed;
pub mod grpc;
pub mod metrics;
pub mod ops;
pub mod probe;
pub mod rest;
pub mod store;
pub mod telemetry;

/// Code generated from `proto/plexsource/v1/plex_source.proto`.
pub mod proto {
    tonic::include_proto!("plexsource.v1");
    // The server, generated apart so that some answers go out pre-encoded
    // (see `build.rs`).
    include!(concat!(
        env!("OUT_DIR"),
        "/plexsource.v1.PlexSourceService.rs"
    ));

    /// `google.protobuf.Empty`, as prost maps it.
    pub type Empty = ();

    /// Descriptor set of the service and the error detail types, served by
    /// server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/plexsource_descriptor.bin"));
}
