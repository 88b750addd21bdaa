//! The rules of a source write that need the database: referenced flows and
//! property mappings must exist, and the slug must be free. Shared by the
//! API and blueprint import, so both report the same violations.

use tracing::Instrument;
use uuid::Uuid;

use super::{StoreError, catalog, slug_owner};
use domain::{Field, PlexSourceDraft, PlexSourceFields, Reference, Slug, Violations};

/// Authentik's message for a taken slug (checked across all sources).
pub const SLUG_TAKEN: &str = "source with this slug already exists.";

/// Every violation of `draft` over `base` (the stored fields, for an
/// update), or the finished fields. `own_pk` is the source being updated,
/// which may keep its own slug.
pub async fn check_source<C: crate::Conn>(
    db: &C,
    draft: PlexSourceDraft,
    base: Option<&PlexSourceFields>,
    own_pk: Option<Uuid>,
) -> Result<Result<PlexSourceFields, Violations>, StoreError> {
    let span = crate::db_span(db, "db check_source", "SELECT", None);
    async move {
        let db = &crate::raw(db);
        // An oversized list is refused before anything is looked up.
        if draft.exceeds_limits() {
            return Ok(draft.finish(base));
        }
        let flows = draft.flow_references();
        let mappings = draft.mapping_references();
        let new_slug = match &draft.slug {
            Field::Set(text) => Slug::parse(text.trim()).ok(),
            _ => None,
        };
        let finished = draft.finish(base);
        let mut v = match &finished {
            Ok(_) => Violations::new(),
            Err(errors) => errors.clone(),
        };
        let missing = catalog::flows::missing(db, &ids(&flows)).await?;
        for r in flows.iter().filter(|r| missing.contains(&r.id)) {
            v.invalid_pk(r.field.clone(), &r.raw);
        }
        let missing = catalog::mappings::missing(db, &ids(&mappings)).await?;
        for r in mappings.iter().filter(|r| missing.contains(&r.id)) {
            v.invalid_pk(r.field.clone(), &r.raw);
        }
        if let Some(slug) = new_slug
            && let Some(owner) = slug_owner(db, &slug).await?
            && Some(owner) != own_pk
        {
            v.add("slug", "unique", SLUG_TAKEN);
        }
        Ok(match finished {
            Ok(fields) if v.is_empty() => Ok(fields),
            _ => Err(v),
        })
    }
    .instrument(span)
    .await
}

fn ids(references: &[Reference]) -> Vec<Uuid> {
    references.iter().map(|r| r.id).collect()
}

/// Whether the only problem is a taken slug: the API answers that with
/// ALREADY_EXISTS rather than INVALID_ARGUMENT.
pub fn only_slug_taken(v: &Violations) -> bool {
    let mut iter = v.iter();
    matches!((iter.next(), iter.next()), (Some(first), None) if first.code == "unique" && first.field == "slug")
}
