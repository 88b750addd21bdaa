//! Finding rows by blueprint identifiers.

use sea_orm::{
    Condition,
    sea_query::{Alias, Expr, ExprTrait},
};
use uuid::Uuid;

/// Identifiers of a row, as blueprints give them: a primary key ORed with
/// the AND of every other `column = value` pair. An empty lookup (no pk, no
/// pair) selects every row: blueprints then compare fields that are no
/// column themselves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lookup {
    pub pk: Option<Uuid>,
    pub fields: Vec<(&'static str, String)>,
}

impl Lookup {
    /// The WHERE condition; `pk_column` names the primary key column.
    pub(super) fn condition(&self, pk_column: &'static str) -> Condition {
        if self.pk.is_none() && self.fields.is_empty() {
            return Condition::all();
        }
        let mut any = Condition::any();
        if let Some(pk) = self.pk {
            any = any.add(Expr::col(Alias::new(pk_column)).eq(pk));
        }
        if !self.fields.is_empty() {
            let all = self
                .fields
                .iter()
                .fold(Condition::all(), |c, (column, value)| {
                    c.add(Expr::col(Alias::new(*column)).eq(value.clone()))
                });
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
