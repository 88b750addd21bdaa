//! Compiles the service's contract (`proto/` at the workspace root) with
//! protox, a pure-Rust protobuf compiler, so the build needs no `protoc`:
//! the messages and the client, and the descriptor set of the service and
//! of the error details it sends, for server reflection.

use std::{env, fs, path::PathBuf};

use prost::Message;

const SERVICE_PROTO: &str = "plexsource/v1/plex_source.proto";
/// Error detail types clients decode from statuses.
const ERROR_PROTOS: [&str; 2] = ["google/rpc/error_details.proto", "google/rpc/status.proto"];
const INCLUDES: [&str; 2] = ["../../proto", "../../proto/third_party"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=../../proto");
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    let service = protox::compile([SERVICE_PROTO], INCLUDES)?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(false)
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
