//! `plexsource.v1`, generated from `proto/plexsource/v1/plex_source.proto`:
//! the messages and the tonic client, shared by the server, its clients and
//! its tests so that none of them generates its own.

/// The messages and the client of `plexsource.v1`.
pub mod v1 {
    tonic::include_proto!("plexsource.v1");
}

/// Descriptor set of the service and the `google.rpc` error detail types,
/// for server reflection (and clients that read descriptors).
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/plexsource_descriptor.bin"));
