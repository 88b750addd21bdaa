//! Finding rows by their identifiers: the primary key, a slug, a name.

use sea_orm::{ColumnTrait, Condition};
use uuid::Uuid;

/// Which rows a finder returns: the row whose primary key is `pk`, OR those
/// whose slug and name (a user's: username) equal the given ones. Nothing
/// given: every row. A slug asked of rows that have none matches nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Match {
    pub pk: Option<Uuid>,
    pub slug: Option<String>,
    pub name: Option<String>,
}

impl Match {
    /// The WHERE condition over a table's primary key, slug (if it has one)
    /// and name columns.
    pub(crate) fn condition<P, S, N>(&self, pk: P, slug: Option<S>, name: N) -> Condition
    where
        P: ColumnTrait,
        S: ColumnTrait,
        N: ColumnTrait,
    {
        if self.pk.is_none() && self.slug.is_none() && self.name.is_none() {
            return Condition::all();
        }
        let mut any = Condition::any();
        if let Some(id) = self.pk {
            any = any.add(pk.eq(id));
        }
        if self.slug.is_some() || self.name.is_some() {
            let mut all = Condition::all();
            match (&self.slug, slug) {
                (Some(value), Some(column)) => all = all.add(column.eq(value.clone())),
                // No such column: nothing matches.
                (Some(_), None) => all = all.add(Condition::any()),
                (None, _) => {}
            }
            if let Some(value) = &self.name {
                all = all.add(name.eq(value.clone()));
            }
            any = any.add(all);
        }
        any
    }
}

/// The ids among `ids` that no row of `E` holds in `column` (its primary
/// key): the existence check behind "Invalid pk" errors.
pub async fn missing_ids<E, C>(
    db: &C,
    column: E::Column,
    ids: &[Uuid],
) -> Result<Vec<Uuid>, super::StoreError>
where
    E: sea_orm::EntityTrait,
    C: sea_orm::ConnectionTrait,
{
    use sea_orm::{ColumnTrait, QueryFilter, QuerySelect};
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let found: Vec<Uuid> = E::find()
        .select_only()
        .column(column)
        .filter(column.is_in(ids.iter().copied()))
        .into_tuple()
        .all(db)
        .await?;
    Ok(ids
        .iter()
        .filter(|id| !found.contains(id))
        .copied()
        .collect())
}
