//! Generates this server's side of the wire contract: tonic's server for
//! `plexsource.v1.PlexSourceService`, over the messages of the
//! `plex-source-proto` crate, with some answers sent pre-encoded. The proto
//! is compiled with protox (pure Rust, no system `protoc`).

use std::env;

use heck::ToSnakeCase;
use prost_types::{FileDescriptorSet, MethodDescriptorProto};

const SERVICE_PROTO: &str = "plexsource/v1/plex_source.proto";
const INCLUDES: [&str; 2] = ["proto", "proto/third_party"];
/// Every call's codec: small per-call buffers, as watch streams are many
/// and long-lived.
const CODEC: &str = "crate::grpc::codec::SmallBuffers";
/// Answers the server sends already in their wire form (see
/// `src/grpc/wire.rs`): the hot read, whose encoding is kept per source.
/// The proto is unchanged, so clients and reflection see a `PlexSource`.
const PRE_ENCODED: [(&str, &str); 1] = [("RetrievePlexSource", "crate::grpc::wire::Encoded")];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let service = protox::compile([SERVICE_PROTO], INCLUDES)?;
    // The server from the descriptors, with the pre-encoded answers
    // swapped in.
    tonic_build::manual::Builder::new()
        .build_client(false)
        .compile(&servers(&service)?);
    git_commit();
    Ok(())
}

/// The services of the compiled contract, for tonic's server generator.
fn servers(fds: &FileDescriptorSet) -> Result<Vec<tonic_build::manual::Service>, String> {
    let mut services = Vec::new();
    for file in fds.file.iter().filter(|f| f.name() == SERVICE_PROTO) {
        for service in &file.service {
            let mut builder = tonic_build::manual::Service::builder()
                .name(service.name())
                .package(file.package());
            for method in &service.method {
                builder = builder.method(server_method(file.package(), method)?);
            }
            services.push(builder.build());
        }
    }
    // A renamed method must not silently lose its pre-encoded answer.
    for (name, _) in PRE_ENCODED {
        let known = fds
            .file
            .iter()
            .flat_map(|f| &f.service)
            .flat_map(|s| &s.method)
            .any(|m| m.name() == name);
        if !known {
            return Err(format!(
                "PRE_ENCODED names {name}, which the proto does not have"
            ));
        }
    }
    Ok(services)
}

fn server_method(
    package: &str,
    method: &MethodDescriptorProto,
) -> Result<tonic_build::manual::Method, String> {
    let output = PRE_ENCODED
        .iter()
        .find(|(name, _)| *name == method.name())
        .map(|(_, rust)| (*rust).to_owned());
    let mut builder = tonic_build::manual::Method::builder()
        .name(method.name().to_snake_case())
        .route_name(method.name())
        .input_type(rust_type(package, method.input_type())?)
        .output_type(match output {
            Some(rust) => rust,
            None => rust_type(package, method.output_type())?,
        })
        .codec_path(CODEC);
    if method.client_streaming() {
        builder = builder.client_streaming();
    }
    if method.server_streaming() {
        builder = builder.server_streaming();
    }
    Ok(builder.build())
}

/// The Rust path, from inside the generated server module, of a message
/// type as prost generates it.
fn rust_type(package: &str, proto: &str) -> Result<String, String> {
    if proto == ".google.protobuf.Empty" {
        // `()`, as prost maps it; the generator wants a path.
        return Ok("super::Empty".to_owned());
    }
    proto
        .strip_prefix(&format!(".{package}."))
        .filter(|name| !name.contains('.'))
        .map(|name| format!("super::{name}"))
        .ok_or_else(|| format!("no Rust type for the method type {proto}"))
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
