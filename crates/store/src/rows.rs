//! Writes of one whole row that the caller builds, keyed by its primary
//! key, as blueprints and account administration write theirs. Nothing is
//! read back.

use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, EntityTrait, IntoActiveModel, PrimaryKeyTrait,
};
use uuid::Uuid;

use crate::{Raw, StoreError};

pub(crate) async fn insert<A>(db: &Raw<'_>, row: A) -> Result<(), StoreError>
where
    A: ActiveModelTrait,
{
    A::Entity::insert(row).exec_without_returning(db).await?;
    Ok(())
}

/// Writes `row` over the row with its primary key.
pub(crate) async fn update<A>(db: &Raw<'_>, row: A) -> Result<(), StoreError>
where
    A: ActiveModelTrait + ActiveModelBehavior + Send,
    <A::Entity as EntityTrait>::Model: IntoActiveModel<A>,
{
    A::Entity::update(row).exec(db).await?;
    Ok(())
}

/// Deletes the row of `E` whose primary key is `pk`; whether there was one.
pub(crate) async fn delete<E>(db: &Raw<'_>, pk: Uuid) -> Result<bool, StoreError>
where
    E: EntityTrait<PrimaryKey: PrimaryKeyTrait<ValueType = Uuid>>,
{
    Ok(E::delete_by_id(pk).exec(db).await?.rows_affected > 0)
}
