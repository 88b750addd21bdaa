//! Requests the benchmarks send, built in one place so that every mode
//! authenticates and writes the same way.

use plex_source_service::proto as pb;
use tonic::metadata::{Ascii, MetadataValue};

/// The `authorization` value of a token key.
pub fn bearer(key: &str) -> MetadataValue<Ascii> {
    format!("Bearer {key}")
        .parse()
        .expect("token keys are ASCII")
}

/// `message` as a request of the caller whose `bearer` value this is.
pub fn authorized<T>(message: T, auth: &MetadataValue<Ascii>) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert("authorization", auth.clone());
    request
}

/// A PATCH of the name alone: the cheapest update that is still a change
/// (a `name` equal to the stored one writes nothing and logs no event, so
/// callers give a new one each time).
pub fn rename(slug: String, name: String) -> pb::UpdatePlexSourceRequest {
    let mut request = pb::UpdatePlexSourceRequest {
        slug,
        plex_source: Some(pb::PlexSource {
            name,
            ..Default::default()
        }),
        // The mask's type comes from the service's own prost dependency.
        update_mask: Some(Default::default()),
    };
    if let Some(mask) = request.update_mask.as_mut() {
        mask.paths.push("name".into());
    }
    request
}

/// A new source with the fields a create requires, shaped like the
/// imported ones.
pub fn new_source(slug: String) -> pb::CreatePlexSourceRequest {
    pb::CreatePlexSourceRequest {
        plex_source: Some(pb::PlexSource {
            name: format!("Created {slug}"),
            plex_token: format!("owner-token-{slug}"),
            allowed_servers: vec![format!("server-{slug}")],
            slug,
            ..Default::default()
        }),
    }
}

/// How a call ended, for the tallies: `Ok` or the gRPC code's name.
pub fn outcome<T>(result: &Result<T, tonic::Status>) -> String {
    match result {
        Ok(_) => "Ok".to_owned(),
        Err(status) => format!("{:?}", status.code()),
    }
}
