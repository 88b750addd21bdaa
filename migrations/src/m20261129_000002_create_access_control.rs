//! Users, roles, API tokens, permission grants and the audit log.
//!
//! Token keys are stored only as SHA-256 hashes: keys are long random
//! strings, so a table dump reveals nothing usable. A permission grant is
//! global when `object_pk` is NULL, else it applies to that one Plex
//! source and goes with it.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Username,
    IsActive,
    IsSuperuser,
}

#[derive(DeriveIden)]
enum Roles {
    Table,
    Id,
    Name,
}

#[derive(DeriveIden)]
enum UserRoles {
    Table,
    Id,
    UserId,
    RoleId,
}

#[derive(DeriveIden)]
enum Tokens {
    Table,
    Id,
    Identifier,
    UserId,
    KeyHash,
    Expires,
    Description,
}

#[derive(DeriveIden)]
enum PermissionGrants {
    Table,
    Id,
    Codename,
    UserId,
    RoleId,
    ObjectPk,
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Id,
    Action,
    Username,
    UserId,
    ObjectPk,
    ObjectSlug,
    Created,
}

#[derive(DeriveIden)]
enum PlexSources {
    Table,
    Pk,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(pk_uuid(Users::Id))
                    .col(string_len_uniq(Users::Username, 150))
                    .col(boolean(Users::IsActive))
                    .col(boolean(Users::IsSuperuser))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Roles::Table)
                    .col(pk_uuid(Roles::Id))
                    .col(string_len_uniq(Roles::Name, 150))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(UserRoles::Table)
                    .col(pk_auto(UserRoles::Id))
                    .col(uuid(UserRoles::UserId))
                    .col(uuid(UserRoles::RoleId))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_user_roles_user")
                            .from(UserRoles::Table, UserRoles::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_user_roles_role")
                            .from(UserRoles::Table, UserRoles::RoleId)
                            .to(Roles::Table, Roles::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_user_roles_pair")
                    .table(UserRoles::Table)
                    .col(UserRoles::UserId)
                    .col(UserRoles::RoleId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Tokens::Table)
                    .col(pk_uuid(Tokens::Id))
                    .col(string_len_uniq(Tokens::Identifier, 255))
                    .col(uuid(Tokens::UserId))
                    .col(string_len_uniq(Tokens::KeyHash, 64))
                    .col(timestamp_with_time_zone_null(Tokens::Expires))
                    .col(text(Tokens::Description))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_tokens_user")
                            .from(Tokens::Table, Tokens::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PermissionGrants::Table)
                    .col(pk_auto(PermissionGrants::Id))
                    .col(string_len(PermissionGrants::Codename, 255))
                    .col(uuid_null(PermissionGrants::UserId))
                    .col(uuid_null(PermissionGrants::RoleId))
                    .col(uuid_null(PermissionGrants::ObjectPk))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_permission_grants_user")
                            .from(PermissionGrants::Table, PermissionGrants::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_permission_grants_role")
                            .from(PermissionGrants::Table, PermissionGrants::RoleId)
                            .to(Roles::Table, Roles::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_permission_grants_source")
                            .from(PermissionGrants::Table, PermissionGrants::ObjectPk)
                            .to(PlexSources::Table, PlexSources::Pk)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .check(
                        Expr::col(PermissionGrants::UserId)
                            .is_null()
                            .ne(Expr::col(PermissionGrants::RoleId).is_null()),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, column) in [
            ("idx_permission_grants_user", PermissionGrants::UserId),
            ("idx_permission_grants_role", PermissionGrants::RoleId),
            ("idx_permission_grants_object", PermissionGrants::ObjectPk),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(PermissionGrants::Table)
                        .col(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(AuditEvents::Table)
                    .col(pk_auto(AuditEvents::Id))
                    .col(string_len(AuditEvents::Action, 64))
                    .col(string_len(AuditEvents::Username, 150))
                    .col(uuid_null(AuditEvents::UserId))
                    .col(uuid_null(AuditEvents::ObjectPk))
                    .col(string_len(AuditEvents::ObjectSlug, 50))
                    .col(timestamp_with_time_zone(AuditEvents::Created))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            AuditEvents::Table.into_iden(),
            PermissionGrants::Table.into_iden(),
            Tokens::Table.into_iden(),
            UserRoles::Table.into_iden(),
            Roles::Table.into_iden(),
            Users::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
