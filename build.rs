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
    git_commit();
    Ok(())
}

/// The commit being built, for the `plexsource_build_info` metric: from
/// `PLEX_SOURCE_GIT_COMMIT` when set (a Docker build has no `.git`),
/// otherwise from git when there is a repository; else none ("unknown").
fn git_commit() {
    println!("cargo:rerun-if-env-changed=PLEX_SOURCE_GIT_COMMIT");
    if env::var_os("PLEX_SOURCE_GIT_COMMIT").is_some() {
        return;
    }
    // Watched only where they exist: a missing path would rebuild always.
    for path in [".git/HEAD", ".git/refs/heads"] {
        if std::path::Path::new(path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8(out.stdout).ok());
    if let Some(commit) = commit
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty())
    {
        println!("cargo:rustc-env=PLEX_SOURCE_GIT_COMMIT={commit}");
    }
}
