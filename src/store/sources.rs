//! Queries on Plex sources.

use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect,
};
use uuid::Uuid;

use super::{
    Lookup, StoreError,
    entities::plex_source::{self, Column, Entity},
    links::{self, MappingKind},
};
use crate::domain::{PlexSource, PlexSourceFields, PlexToken, Slug};

/// The source with this slug, with its property mapping links.
pub async fn find_source_by_slug<C: ConnectionTrait>(
    db: &C,
    slug: &Slug,
) -> Result<Option<PlexSource>, StoreError> {
    let row = Entity::find()
        .filter(Column::Slug.eq(slug.as_str()))
        .one(db)
        .await?;
    match row {
        Some(row) => Ok(Some(load(db, row).await?)),
        None => Ok(None),
    }
}

/// Every source matching blueprint identifiers.
pub async fn find_source<C: ConnectionTrait>(
    db: &C,
    lookup: &Lookup,
) -> Result<Vec<PlexSource>, StoreError> {
    let rows = Entity::find()
        .filter(lookup.condition("pk"))
        .all(db)
        .await?;
    let mut sources = Vec::with_capacity(rows.len());
    for row in rows {
        sources.push(load(db, row).await?);
    }
    Ok(sources)
}

/// The pk of the source holding `slug`, if any: slugs are unique.
pub async fn slug_owner<C: ConnectionTrait>(
    db: &C,
    slug: &Slug,
) -> Result<Option<Uuid>, StoreError> {
    Ok(Entity::find()
        .select_only()
        .column(Column::Pk)
        .filter(Column::Slug.eq(slug.as_str()))
        .into_tuple::<Uuid>()
        .one(db)
        .await?)
}

pub async fn insert_source<C: ConnectionTrait>(
    db: &C,
    pk: Uuid,
    fields: &PlexSourceFields,
) -> Result<(), StoreError> {
    let mut row = active_model(fields);
    row.pk = Set(pk);
    row.managed = Set(None);
    Entity::insert(row).exec_without_returning(db).await?;
    write_links(db, pk, fields).await
}

pub async fn update_source<C: ConnectionTrait>(
    db: &C,
    pk: Uuid,
    fields: &PlexSourceFields,
) -> Result<(), StoreError> {
    Entity::update_many()
        .set(active_model(fields))
        .filter(Column::Pk.eq(pk))
        .exec(db)
        .await?;
    write_links(db, pk, fields).await
}

/// Deletes a source; its mapping links go with it (ON DELETE CASCADE).
pub async fn delete_source<C: ConnectionTrait>(db: &C, pk: Uuid) -> Result<bool, StoreError> {
    let result = Entity::delete_by_id(pk).exec(db).await?;
    Ok(result.rows_affected > 0)
}

async fn write_links<C: ConnectionTrait>(
    db: &C,
    pk: Uuid,
    fields: &PlexSourceFields,
) -> Result<(), StoreError> {
    links::replace(db, MappingKind::User, pk, &fields.user_property_mappings).await?;
    links::replace(db, MappingKind::Group, pk, &fields.group_property_mappings).await
}

/// Every writable column; `pk` and `managed` are left unset.
fn active_model(f: &PlexSourceFields) -> plex_source::ActiveModel {
    plex_source::ActiveModel {
        name: Set(f.name.clone()),
        slug: Set(f.slug.as_str().to_owned()),
        enabled: Set(f.enabled),
        authentication_flow_id: Set(f.authentication_flow),
        enrollment_flow_id: Set(f.enrollment_flow),
        policy_engine_mode: Set(f.policy_engine_mode.as_str().to_owned()),
        user_matching_mode: Set(f.user_matching_mode.as_str().to_owned()),
        user_path_template: Set(f.user_path_template.clone()),
        icon: Set(f.icon.clone()),
        group_matching_mode: Set(f.group_matching_mode.as_str().to_owned()),
        client_id: Set(f.client_id.clone()),
        allowed_servers: Set(serde_json::Value::from(f.allowed_servers.clone())),
        allow_friends: Set(f.allow_friends),
        plex_token: Set(f.plex_token.expose().to_owned()),
        ..Default::default()
    }
}

async fn load<C: ConnectionTrait>(
    db: &C,
    row: plex_source::Model,
) -> Result<PlexSource, StoreError> {
    let user = links::load(db, MappingKind::User, row.pk).await?;
    let group = links::load(db, MappingKind::Group, row.pk).await?;
    to_domain(row, user, group)
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
