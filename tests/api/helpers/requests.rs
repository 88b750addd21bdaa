//! Request bodies as tests write them: a new source, a PATCH of one field,
//! an update without a mask, a full replacement.

use super::pb;

/// A source with only the required fields set: name `Source <slug>` and
/// Plex token `token-<slug>`.
pub fn new_source(slug: &str) -> pb::PlexSource {
    new_source_named(slug, &format!("Source {slug}"))
}

/// [`new_source`] with another name.
pub fn new_source_named(slug: &str, name: &str) -> pb::PlexSource {
    pb::PlexSource {
        name: name.to_owned(),
        slug: slug.to_owned(),
        plex_token: format!("token-{slug}"),
        ..Default::default()
    }
}

/// A body carrying only a name, for PATCHes of `name`.
pub fn named(name: &str) -> pb::PlexSource {
    pb::PlexSource {
        name: name.to_owned(),
        ..Default::default()
    }
}

/// A PATCH: only the fields named in `paths` are written.
pub fn patch(slug: &str, paths: &[&str], source: pb::PlexSource) -> pb::UpdatePlexSourceRequest {
    pb::UpdatePlexSourceRequest {
        slug: slug.to_owned(),
        plex_source: Some(source),
        update_mask: Some(prost_types::FieldMask {
            paths: paths.iter().map(|p| (*p).to_owned()).collect(),
        }),
    }
}

/// A PATCH of the name alone.
pub fn rename(slug: &str, name: &str) -> pb::UpdatePlexSourceRequest {
    patch(slug, &["name"], named(name))
}

/// A PATCH of the slug alone.
pub fn reslug(slug: &str, new_slug: &str) -> pb::UpdatePlexSourceRequest {
    let body = pb::PlexSource {
        slug: new_slug.to_owned(),
        ..Default::default()
    };
    patch(slug, &["slug"], body)
}

/// A full replacement (`update_mask: "*"`): every writable field is
/// written, those not populated take the defaults.
pub fn put(slug: &str, source: pb::PlexSource) -> pb::UpdatePlexSourceRequest {
    patch(slug, &["*"], source)
}

/// An update without a mask: the populated fields are written, the others
/// keep their stored values (AIP-134's implied mask).
pub fn populated(slug: &str, source: pb::PlexSource) -> pb::UpdatePlexSourceRequest {
    pb::UpdatePlexSourceRequest {
        slug: slug.to_owned(),
        plex_source: Some(source),
        update_mask: None,
    }
}
