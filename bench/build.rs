//! The baseline's own tonic server for the service's proto. The service
//! sends some answers pre-encoded (its `build.rs`); the baseline must stay
//! a bare tonic server that builds and encodes each message, so it gets the
//! plain server, over the service's message types and codec.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=../proto");
    let service = protox::compile(
        ["plexsource/v1/plex_source.proto"],
        ["../proto", "../proto/third_party"],
    )?;
    tonic_prost_build::configure()
        .build_client(false)
        .build_server(true)
        .extern_path(".plexsource.v1", "::plex_source_service::proto")
        .codec_path("::plex_source_service::grpc::codec::SmallBuffers")
        .compile_fds(service)?;
    Ok(())
}
