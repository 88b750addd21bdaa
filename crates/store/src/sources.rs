//! Queries on Plex sources.

use sea_orm::{
    ActiveModelTrait, ActiveValue::NotSet, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QuerySelect, Select, sea_query::ExprTrait,
};
use tracing::Instrument;
use uuid::Uuid;

use super::{
    Match, StoreError,
    entities::plex_source::{self, Column, Entity},
    events::{self, ChangeKind},
    links::{self, MappingKind},
};
use domain::{PlexSource, PlexSourceFields, PlexToken, Slug};

/// The source with this slug, with its property mapping links.
pub async fn find_source_by_slug<C: crate::Conn>(
    db: &C,
    slug: &Slug,
) -> Result<Option<PlexSource>, StoreError> {
    find_one(db, "db find_source_by_slug", by_slug(slug)).await
}

/// The source a write is about to change or delete, locked until the
/// write's transaction ends: a concurrent write of the same source waits,
/// so neither overwrites what the other read, and their log entries are in
/// the order they committed. (SQLite's write lock already covers the file.)
pub async fn lock_source_by_slug<C: crate::Conn>(
    db: &C,
    slug: &Slug,
) -> Result<Option<PlexSource>, StoreError> {
    find_one(db, "db lock_source_by_slug", by_slug(slug).lock_exclusive()).await
}

/// The source holding `slug`: slugs are unique.
fn by_slug(slug: &Slug) -> Select<Entity> {
    Entity::find().filter(Column::Slug.eq(slug.as_str()))
}

/// The source with this primary key.
pub async fn find_source_by_pk<C: crate::Conn>(
    db: &C,
    pk: Uuid,
) -> Result<Option<PlexSource>, StoreError> {
    find_one(db, "db find_source_by_pk", Entity::find_by_id(pk)).await
}

/// The one source `find` selects, if any, with its links; read in a span
/// named `name`.
async fn find_one<C: crate::Conn>(
    db: &C,
    name: &'static str,
    find: Select<Entity>,
) -> Result<Option<PlexSource>, StoreError> {
    let span = crate::db_span(db, name, "SELECT", Some("plex_sources"));
    async move {
        let db = &crate::raw(db);
        let Some(row) = find.one(db).await? else {
            return Ok(None);
        };
        let (user, group) = links::load_both(db, row.pk).await?;
        to_domain(row, user, group).map(Some)
    }
    .instrument(span)
    .await
}

/// Every source matching blueprint identifiers.
pub async fn find_source<C: crate::Conn>(
    db: &C,
    lookup: &Match,
) -> Result<Vec<PlexSource>, StoreError> {
    let db = &crate::raw(db);
    let rows = Entity::find()
        .filter(lookup.condition(
            plex_source::Column::Pk,
            Some(plex_source::Column::Slug),
            plex_source::Column::Name,
        ))
        .all(db)
        .await?;
    load_all(db, rows).await
}

/// The pk of the source holding `slug`, if any.
pub async fn slug_owner<C: crate::Conn>(db: &C, slug: &Slug) -> Result<Option<Uuid>, StoreError> {
    let db = &crate::raw(db);
    Ok(by_slug(slug)
        .select_only()
        .column(Column::Pk)
        .into_tuple::<Uuid>()
        .one(db)
        .await?)
}

/// Stores a new source and logs its creation; returns it as stored.
pub async fn insert_source<C: crate::Conn>(
    db: &C,
    pk: Uuid,
    fields: &PlexSourceFields,
) -> Result<PlexSource, StoreError> {
    let span = crate::db_span(db, "db insert_source", "INSERT", Some("plex_sources"));
    async move {
        let db = &crate::raw(db);
        let row = row_of(pk, None, fields).into_active_model().reset_all();
        Entity::insert(row).exec_without_returning(db).await?;
        // A new source has no links to replace.
        links::insert(db, MappingKind::User, pk, &fields.user_property_mappings).await?;
        links::insert(db, MappingKind::Group, pk, &fields.group_property_mappings).await?;
        let created = PlexSource {
            pk,
            managed: None,
            fields: fields.clone(),
        };
        events::append(db, ChangeKind::Created, &created, &[]).await?;
        Ok(created)
    }
    .instrument(span)
    .await
}

/// Writes a source's fields and logs the update; returns it as stored.
pub async fn update_source_by_pk<C: crate::Conn>(
    db: &C,
    pk: Uuid,
    fields: &PlexSourceFields,
) -> Result<PlexSource, StoreError> {
    let db = &crate::raw(db);
    let stored = find_source_by_pk(db, pk).await?.ok_or_else(|| {
        StoreError::Corrupt(format!("plex_sources row {pk} vanished in its update"))
    })?;
    update_locked_source(db, &stored, fields).await
}

/// Writes `fields` over `stored` (as read in this transaction) and logs the
/// update; returns the source as stored. Links are rewritten only where
/// they changed: an update of the name costs one statement and the log.
pub async fn update_locked_source<C: crate::Conn>(
    db: &C,
    stored: &PlexSource,
    fields: &PlexSourceFields,
) -> Result<PlexSource, StoreError> {
    let span = crate::db_span(
        db,
        "db update_locked_source",
        "UPDATE",
        Some("plex_sources"),
    );
    async move {
        let db = &crate::raw(db);
        let pk = stored.pk;
        let mut row = row_of(pk, None, fields).into_active_model().reset_all();
        // Neither the key nor authentik's `managed` marker is written here.
        row.pk = NotSet;
        row.managed = NotSet;
        Entity::update_many()
            .set(row)
            .filter(Column::Pk.eq(pk))
            .exec(db)
            .await?;
        for (kind, old, new) in [
            (
                MappingKind::User,
                &stored.fields.user_property_mappings,
                &fields.user_property_mappings,
            ),
            (
                MappingKind::Group,
                &stored.fields.group_property_mappings,
                &fields.group_property_mappings,
            ),
        ] {
            if old != new {
                links::replace(db, kind, pk, new).await?;
            }
        }
        // Links keep the order they are given in, so this is what a read
        // finds from now on.
        let source = PlexSource {
            pk,
            managed: stored.managed.clone(),
            fields: fields.clone(),
        };
        events::append(db, ChangeKind::Updated, &source, &[]).await?;
        Ok(source)
    }
    .instrument(span)
    .await
}

/// Deletes a source; its mapping links and object permissions go with it
/// (ON DELETE CASCADE).
pub async fn delete_source_by_pk<C: crate::Conn>(db: &C, pk: Uuid) -> Result<bool, StoreError> {
    let db = &crate::raw(db);
    let Some(source) = find_source_by_pk(db, pk).await? else {
        return Ok(false);
    };
    delete_locked_source(db, &source).await?;
    Ok(true)
}

/// [`delete_source_by_pk`] of a source this transaction has read, locked: no
/// second read of it.
pub async fn delete_locked_source<C: crate::Conn>(
    db: &C,
    source: &PlexSource,
) -> Result<(), StoreError> {
    let span = crate::db_span(
        db,
        "db delete_locked_source",
        "DELETE",
        Some("plex_sources"),
    );
    async move {
        let db = &crate::raw(db);
        let viewers = super::access::object_viewers(db, source.pk).await?;
        Entity::delete_by_id(source.pk).exec(db).await?;
        events::append(db, ChangeKind::Deleted, source, &viewers).await?;
        Ok(())
    }
    .instrument(span)
    .await
}

/// Logs an update of every source pointing at a flow or mapping that is
/// about to change under them (deletion nulls or drops the reference).
pub(super) async fn touch_sources<C: crate::Conn>(db: &C, pks: &[Uuid]) -> Result<(), StoreError> {
    let db = &crate::raw(db);
    if pks.is_empty() {
        return Ok(());
    }
    let rows = Entity::find()
        .filter(Column::Pk.is_in(pks.iter().copied()))
        .all(db)
        .await?;
    for source in load_all(db, rows).await? {
        events::append(db, ChangeKind::Updated, &source, &[]).await?;
    }
    Ok(())
}

/// Sources whose authentication or enrollment flow is `flow`.
pub(super) async fn using_flow<C: crate::Conn>(
    db: &C,
    flow: Uuid,
) -> Result<Vec<Uuid>, StoreError> {
    let db = &crate::raw(db);
    Ok(Entity::find()
        .select_only()
        .column(Column::Pk)
        .filter(
            Column::AuthenticationFlowId
                .eq(flow)
                .or(Column::EnrollmentFlowId.eq(flow)),
        )
        .into_tuple()
        .all(db)
        .await?)
}

/// Rows to domain values, loading all their links in two queries.
pub(super) async fn load_all<C: crate::Conn>(
    db: &C,
    rows: Vec<plex_source::Model>,
) -> Result<Vec<PlexSource>, StoreError> {
    let db = &crate::raw(db);
    let pks: Vec<Uuid> = rows.iter().map(|r| r.pk).collect();
    let mut user = links::load_many(db, MappingKind::User, &pks).await?;
    let mut group = links::load_many(db, MappingKind::Group, &pks).await?;
    rows.into_iter()
        .map(|row| {
            let u = user.remove(&row.pk).unwrap_or_default();
            let g = group.remove(&row.pk).unwrap_or_default();
            to_domain(row, u, g)
        })
        .collect()
}

/// The row of a source. A field the domain gains is named by `to_domain`
/// (it must build it), then by the row's type, then here.
fn row_of(pk: Uuid, managed: Option<String>, f: &PlexSourceFields) -> plex_source::Model {
    plex_source::Model {
        pk,
        name: f.name.clone(),
        slug: f.slug.as_str().to_owned(),
        enabled: f.enabled,
        authentication_flow_id: f.authentication_flow,
        enrollment_flow_id: f.enrollment_flow,
        policy_engine_mode: f.policy_engine_mode.as_str().to_owned(),
        user_matching_mode: f.user_matching_mode.as_str().to_owned(),
        managed,
        user_path_template: f.user_path_template.clone(),
        icon: f.icon.clone(),
        group_matching_mode: f.group_matching_mode.as_str().to_owned(),
        client_id: f.client_id.clone(),
        allowed_servers: serde_json::Value::from(f.allowed_servers.clone()),
        allow_friends: f.allow_friends,
        plex_token: f.plex_token.expose().to_owned(),
        // The property mappings live in their link tables (see `links`).
        search_text: f.search_text(),
    }
}

/// Rebuilds the domain value from a row. Every column is named, so a new
/// column fails to compile until it is handled.
fn to_domain(
    row: plex_source::Model,
    user_property_mappings: Vec<Uuid>,
    group_property_mappings: Vec<Uuid>,
) -> Result<PlexSource, StoreError> {
    let plex_source::Model {
        pk,
        name,
        slug,
        enabled,
        authentication_flow_id,
        enrollment_flow_id,
        policy_engine_mode,
        user_matching_mode,
        managed,
        user_path_template,
        icon,
        group_matching_mode,
        client_id,
        allowed_servers,
        allow_friends,
        plex_token,
        search_text: _,
    } = row;
    let corrupt = |column: &str| StoreError::Corrupt(format!("plex_sources.{column} of {pk}"));
    Ok(PlexSource {
        pk,
        managed,
        fields: PlexSourceFields {
            name,
            slug: Slug::parse(&slug).map_err(|_| corrupt("slug"))?,
            enabled,
            authentication_flow: authentication_flow_id,
            enrollment_flow: enrollment_flow_id,
            user_property_mappings,
            group_property_mappings,
            policy_engine_mode: policy_engine_mode
                .parse()
                .map_err(|_| corrupt("policy_engine_mode"))?,
            user_matching_mode: user_matching_mode
                .parse()
                .map_err(|_| corrupt("user_matching_mode"))?,
            user_path_template,
            icon,
            group_matching_mode: group_matching_mode
                .parse()
                .map_err(|_| corrupt("group_matching_mode"))?,
            client_id,
            allowed_servers: serde_json::from_value(allowed_servers)
                .map_err(|_| corrupt("allowed_servers"))?,
            allow_friends,
            plex_token: PlexToken::new(plex_token),
        },
    })
}
