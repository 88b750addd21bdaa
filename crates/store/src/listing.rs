//! Listing sources: exact filters, search, visibility and keyset pages.

use sea_orm::{
    ColumnTrait, Condition, EntityTrait, Order, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Select,
    sea_query::{Expr, ExprTrait, LikeExpr, SimpleExpr},
};
use tracing::Instrument;
use uuid::Uuid;

use super::{
    StoreError,
    entities::plex_source::{Column, Entity},
    sources::load_all,
};
use domain::{
    GroupMatchingMode, PlexSource, PolicyEngineMode, UserMatchingMode,
    listing::{CursorValue, SortField, SortKey},
};

/// What a list is narrowed to. Every set field must match exactly.
#[derive(Debug, Clone, Default)]
pub struct SourceFilter {
    pub name: Option<String>,
    pub slug: Option<String>,
    pub enabled: Option<bool>,
    pub authentication_flow: Option<Uuid>,
    pub enrollment_flow: Option<Uuid>,
    pub policy_engine_mode: Option<PolicyEngineMode>,
    pub user_matching_mode: Option<UserMatchingMode>,
    pub client_id: Option<String>,
    pub allow_friends: Option<bool>,
    pub group_matching_mode: Option<GroupMatchingMode>,
    /// Lower-case terms; each must occur in the name or the slug.
    pub search: Vec<String>,
    /// `None`: every source; `Some(pks)`: only these (object permissions).
    pub visible: Option<Vec<Uuid>>,
}

/// One page and the size of the whole result.
#[derive(Debug, Clone)]
pub struct Page {
    pub sources: Vec<PlexSource>,
    pub total: u64,
    /// Whether rows follow this page.
    pub more: bool,
}

/// A page of sources in `ordering`, after the row whose sort values are
/// `after` (keyset pagination: stable under concurrent inserts).
pub async fn list_sources<C: crate::Conn>(
    db: &C,
    filter: &SourceFilter,
    ordering: &[SortKey],
    after: Option<&[CursorValue]>,
    limit: u64,
) -> Result<Page, StoreError> {
    let span = crate::db_span(db, "db list_sources", "SELECT", Some("plex_sources"));
    async move {
        let db = &crate::raw(db);
        let (matching, total) = count_matching(db, filter).await?;
        let mut query = Entity::find().filter(matching);
        if let Some(after) = after {
            query = query.filter(keyset(ordering, after)?);
        }
        let mut rows = in_order(query, ordering).limit(limit + 1).all(db).await?;
        let more = rows.len() as u64 > limit;
        rows.truncate(limit as usize);
        Ok(Page {
            sources: load_all(db, rows).await?,
            total,
            more,
        })
    }
    .instrument(span)
    .await
}

/// The page of sources in `ordering` that starts `offset` rows in (page
/// numbers, as authentik's REST pagination counts them).
pub async fn list_sources_at<C: crate::Conn>(
    db: &C,
    filter: &SourceFilter,
    ordering: &[SortKey],
    offset: u64,
    limit: u64,
) -> Result<Page, StoreError> {
    let span = crate::db_span(db, "db list_sources", "SELECT", Some("plex_sources"));
    async move {
        let db = &crate::raw(db);
        let (matching, total) = count_matching(db, filter).await?;
        // A page past the end holds nothing; it is not asked for (an offset
        // beyond i64 could not even be bound as SQL).
        if offset >= total {
            return Ok(Page {
                sources: Vec::new(),
                total,
                more: false,
            });
        }
        let query = in_order(Entity::find().filter(matching), ordering);
        let rows = query.offset(offset).limit(limit).all(db).await?;
        Ok(Page {
            more: offset.saturating_add(rows.len() as u64) < total,
            sources: load_all(db, rows).await?,
            total,
        })
    }
    .instrument(span)
    .await
}

/// The condition of `filter`, and how many sources meet it.
async fn count_matching(
    db: &crate::Raw<'_>,
    filter: &SourceFilter,
) -> Result<(Condition, u64), StoreError> {
    let matching = condition(filter);
    let total = Entity::find().filter(matching.clone()).count(db).await?;
    Ok((matching, total))
}

/// `query` sorted by `ordering`.
fn in_order(mut query: Select<Entity>, ordering: &[SortKey]) -> Select<Entity> {
    for key in ordering {
        let order = if key.descending {
            Order::Desc
        } else {
            Order::Asc
        };
        query = query.order_by(column(key.field), order);
    }
    query
}

/// The sort values of a source, as a page token stores them.
pub fn cursor_of(source: &PlexSource, ordering: &[SortKey]) -> Vec<CursorValue> {
    let f = &source.fields;
    ordering
        .iter()
        .map(|key| match key.field {
            SortField::Pk => CursorValue::Text(source.pk.to_string()),
            SortField::Name => CursorValue::Text(f.name.clone()),
            SortField::Slug => CursorValue::Text(f.slug.as_str().to_owned()),
            SortField::Enabled => CursorValue::Bool(f.enabled),
            SortField::PolicyEngineMode => CursorValue::Text(f.policy_engine_mode.as_str().into()),
            SortField::UserMatchingMode => CursorValue::Text(f.user_matching_mode.as_str().into()),
            SortField::UserPathTemplate => CursorValue::Text(f.user_path_template.clone()),
            SortField::GroupMatchingMode => {
                CursorValue::Text(f.group_matching_mode.as_str().into())
            }
            SortField::ClientId => CursorValue::Text(f.client_id.clone()),
            SortField::AllowFriends => CursorValue::Bool(f.allow_friends),
        })
        .collect()
}

fn column(field: SortField) -> Column {
    match field {
        SortField::Pk => Column::Pk,
        SortField::Name => Column::Name,
        SortField::Slug => Column::Slug,
        SortField::Enabled => Column::Enabled,
        SortField::PolicyEngineMode => Column::PolicyEngineMode,
        SortField::UserMatchingMode => Column::UserMatchingMode,
        SortField::UserPathTemplate => Column::UserPathTemplate,
        SortField::GroupMatchingMode => Column::GroupMatchingMode,
        SortField::ClientId => Column::ClientId,
        SortField::AllowFriends => Column::AllowFriends,
    }
}

fn condition(f: &SourceFilter) -> Condition {
    let mut c = Condition::all();
    let exact: [(Column, Option<sea_orm::Value>); 10] = [
        (Column::Name, f.name.clone().map(Into::into)),
        (Column::Slug, f.slug.clone().map(Into::into)),
        (Column::Enabled, f.enabled.map(Into::into)),
        (
            Column::AuthenticationFlowId,
            f.authentication_flow.map(Into::into),
        ),
        (Column::EnrollmentFlowId, f.enrollment_flow.map(Into::into)),
        (
            Column::PolicyEngineMode,
            f.policy_engine_mode.map(|m| m.as_str().into()),
        ),
        (
            Column::UserMatchingMode,
            f.user_matching_mode.map(|m| m.as_str().into()),
        ),
        (Column::ClientId, f.client_id.clone().map(Into::into)),
        (Column::AllowFriends, f.allow_friends.map(Into::into)),
        (
            Column::GroupMatchingMode,
            f.group_matching_mode.map(|m| m.as_str().into()),
        ),
    ];
    for (col, value) in exact {
        if let Some(value) = value {
            c = c.add(col.eq(value));
        }
    }
    for term in &f.search {
        c = c.add(Expr::col(Column::SearchText).like(search_pattern(term)));
    }
    if let Some(visible) = &f.visible {
        c = c.add(Column::Pk.is_in(visible.iter().copied()));
    }
    c
}

/// The LIKE pattern of one search term over the search text (`name`, a
/// line feed, `slug`): the term anywhere in it. A term with a line feed
/// (a quoted phrase may hold one) can only be in the name, as slugs hold
/// none; it must be followed by a line feed, so that it never matches
/// across the end of the name into the slug.
fn search_pattern(term: &str) -> LikeExpr {
    let term = escape_like(&term.to_lowercase());
    let tail = if term.contains('\n') { "%\n%" } else { "%" };
    LikeExpr::new(format!("%{term}{tail}")).escape('\\')
}

fn escape_like(term: &str) -> String {
    term.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// Rows strictly after `after` in `ordering`: the lexicographic expansion
/// (k1 > v1) OR (k1 = v1 AND k2 > v2) OR ..., with `<` for descending keys.
fn keyset(ordering: &[SortKey], after: &[CursorValue]) -> Result<Condition, StoreError> {
    let mut values = Vec::with_capacity(after.len());
    for (key, value) in ordering.iter().zip(after) {
        values.push(sql_value(key.field, value)?);
    }
    let mut any = Condition::any();
    for i in 0..ordering.len() {
        let mut all = Condition::all();
        for j in 0..i {
            all = all.add(Expr::col(column(ordering[j].field)).eq(values[j].clone()));
        }
        let col = Expr::col(column(ordering[i].field));
        let step: SimpleExpr = if ordering[i].descending {
            col.lt(values[i].clone())
        } else {
            col.gt(values[i].clone())
        };
        any = any.add(all.add(step));
    }
    Ok(any)
}

fn sql_value(field: SortField, value: &CursorValue) -> Result<sea_orm::Value, StoreError> {
    let bad = || StoreError::Corrupt("page cursor does not fit its ordering".into());
    Ok(match (field, value) {
        (SortField::Pk, CursorValue::Text(text)) => {
            Uuid::parse_str(text).map_err(|_| bad())?.into()
        }
        (SortField::Enabled | SortField::AllowFriends, CursorValue::Bool(b)) => (*b).into(),
        (SortField::Enabled | SortField::AllowFriends, _) | (_, CursorValue::Bool(_)) => {
            return Err(bad());
        }
        (_, CursorValue::Text(text)) => text.clone().into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_wildcards_in_terms_are_literal() {
        assert_eq!(escape_like("50%_a\\b"), "50\\%\\_a\\\\b");
    }

    #[test]
    fn cursors_must_fit_their_fields() {
        assert!(sql_value(SortField::Enabled, &CursorValue::Text("x".into())).is_err());
        assert!(sql_value(SortField::Pk, &CursorValue::Text("not-a-uuid".into())).is_err());
        assert!(sql_value(SortField::Name, &CursorValue::Bool(true)).is_err());
        assert!(sql_value(SortField::Name, &CursorValue::Text("x".into())).is_ok());
    }
}
