//! The two many-to-many tables between Plex sources and property mappings.
//! Both have the same shape, so one set of queries serves both.

use std::collections::HashMap;

use sea_orm::{
    ConnectionTrait,
    sea_query::{Alias, Expr, ExprTrait, Order, Query, UnionType},
};
use uuid::Uuid;

use super::StoreError;

#[derive(Debug, Clone, Copy)]
pub enum MappingKind {
    User,
    Group,
}

impl MappingKind {
    fn table(self) -> Alias {
        Alias::new(match self {
            MappingKind::User => "plex_source_user_property_mappings",
            MappingKind::Group => "plex_source_group_property_mappings",
        })
    }
}

const SOURCE_ID: &str = "source_id";
const MAPPING_ID: &str = "propertymapping_id";

/// The user and the group mappings linked to a source, each in link
/// order, in one round trip (a write reads both under its lock).
pub async fn load_both<C: crate::Conn>(
    db: &C,
    source: Uuid,
) -> Result<(Vec<Uuid>, Vec<Uuid>), StoreError> {
    let db = &crate::raw(db);
    let of = |kind: MappingKind, tag: &str| {
        Query::select()
            .expr_as(Expr::cust(format!("'{tag}'")), Alias::new("kind"))
            .column(Alias::new("id"))
            .column(Alias::new(MAPPING_ID))
            .from(kind.table())
            .and_where(Expr::col(Alias::new(SOURCE_ID)).eq(source))
            .to_owned()
    };
    let stmt = of(MappingKind::User, "u")
        .union(UnionType::All, of(MappingKind::Group, "g"))
        .order_by(Alias::new("kind"), Order::Asc)
        .order_by(Alias::new("id"), Order::Asc)
        .to_owned();
    let (mut user, mut group) = (Vec::new(), Vec::new());
    for row in db.query_all(&stmt).await? {
        let kind: String = row.try_get_by_index(0)?;
        let mapping = row.try_get_by_index::<Uuid>(2)?;
        if kind == "u" {
            user.push(mapping)
        } else {
            group.push(mapping)
        }
    }
    Ok((user, group))
}

/// The mappings of several sources at once, each in link order.
pub async fn load_many<C: crate::Conn>(
    db: &C,
    kind: MappingKind,
    sources: &[Uuid],
) -> Result<HashMap<Uuid, Vec<Uuid>>, StoreError> {
    let db = &crate::raw(db);
    let mut out: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    if sources.is_empty() {
        return Ok(out);
    }
    let stmt = Query::select()
        .column(Alias::new(SOURCE_ID))
        .column(Alias::new(MAPPING_ID))
        .from(kind.table())
        .and_where(Expr::col(Alias::new(SOURCE_ID)).is_in(sources.iter().copied()))
        .order_by(Alias::new("id"), Order::Asc)
        .to_owned();
    for row in db.query_all(&stmt).await? {
        let source = row.try_get_by_index::<Uuid>(0)?;
        let mapping = row.try_get_by_index::<Uuid>(1)?;
        out.entry(source).or_default().push(mapping);
    }
    Ok(out)
}

/// Sources linked to a mapping, through either table.
pub async fn sources_using<C: crate::Conn>(db: &C, mapping: Uuid) -> Result<Vec<Uuid>, StoreError> {
    let db = &crate::raw(db);
    let mut out = Vec::new();
    for kind in [MappingKind::User, MappingKind::Group] {
        let stmt = Query::select()
            .column(Alias::new(SOURCE_ID))
            .from(kind.table())
            .and_where(Expr::col(Alias::new(MAPPING_ID)).eq(mapping))
            .to_owned();
        for row in db.query_all(&stmt).await? {
            let source = row.try_get_by_index::<Uuid>(0)?;
            if !out.contains(&source) {
                out.push(source);
            }
        }
    }
    Ok(out)
}

/// Replaces a source's links wholesale, as authentik does on write.
pub async fn replace<C: crate::Conn>(
    db: &C,
    kind: MappingKind,
    source: Uuid,
    mappings: &[Uuid],
) -> Result<(), StoreError> {
    let db = &crate::raw(db);
    let delete = Query::delete()
        .from_table(kind.table())
        .and_where(Expr::col(Alias::new(SOURCE_ID)).eq(source))
        .to_owned();
    db.execute(&delete).await?;
    insert(db, kind, source, mappings).await
}

/// Links a source to mappings (the source has none of these links yet).
pub async fn insert<C: crate::Conn>(
    db: &C,
    kind: MappingKind,
    source: Uuid,
    mappings: &[Uuid],
) -> Result<(), StoreError> {
    let db = &crate::raw(db);
    if mappings.is_empty() {
        return Ok(());
    }
    let mut insert = Query::insert()
        .into_table(kind.table())
        .columns([Alias::new(SOURCE_ID), Alias::new(MAPPING_ID)])
        .to_owned();
    for id in mappings {
        // Two values for the two columns above: the arity always matches.
        insert.values_panic([source.into(), (*id).into()]);
    }
    db.execute(&insert).await?;
    Ok(())
}
