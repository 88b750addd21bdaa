//! Compiles the wire contract with protox (a pure-Rust protobuf compiler, so
//! the build needs no system `protoc`), generates the tonic code from it and
//! writes the descriptor set that server reflection serves.

use std::{env, fs, path::PathBuf};

use prost::Message;

const SERVICE_PROTO: &str = "plexsource/v1/plex_source.proto";
/// Error detail types clients decode from statuses; served by reflection so
/// grpcurl and buf can print them.
const ERROR_PROTOS: [&str; 2] = ["google/rpc/error_details.proto", "google/rpc/status.proto"];
const INCLUDES: [&str; 2] = ["proto", "proto/third_party"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);

    let service = protox::compile([SERVICE_PROTO], INCLUDES)?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // Small per-call buffers: watch streams are many and long-lived.
        .codec_path("crate::grpc::codec::SmallBuffers")
        .compile_fds(service)?;

    let mut files = vec![SERVICE_PROTO];
    files.extend(ERROR_PROTOS);
    let reflection = protox::compile(files, INCLUDES)?;
    fs::write(
        out_dir.join("plexsource_descriptor.bin"),
        reflection.encode_to_vec(),
    )?;
    Ok(())
}
