//! Flows, property mappings, Plex sources and the source ↔ mapping links.
//!
//! The layout follows authentik's relational shape: flow references are
//! nullable foreign keys set to NULL when the flow goes, the user and group
//! property mappings are many-to-many link tables, and the slug is unique.
//! `allowed_servers` is a JSON array (authentik's `text[]` has no SQLite
//! equivalent; JSON keeps one schema for both databases). `search_text`
//! holds name and slug lower-cased by the service, so case-insensitive
//! search behaves the same on both databases (SQLite's `lower()` folds
//! ASCII only).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Flows {
    Table,
    FlowUuid,
    Name,
    Slug,
    Designation,
}

#[derive(DeriveIden)]
enum PropertyMappings {
    Table,
    PmUuid,
    Name,
    Expression,
}

#[derive(DeriveIden)]
enum PlexSources {
    Table,
    Pk,
    Name,
    Slug,
    Enabled,
    AuthenticationFlowId,
    EnrollmentFlowId,
    PolicyEngineMode,
    UserMatchingMode,
    Managed,
    UserPathTemplate,
    Icon,
    GroupMatchingMode,
    ClientId,
    AllowedServers,
    AllowFriends,
    PlexToken,
    SearchText,
}

#[derive(DeriveIden)]
enum PlexSourceUserPropertyMappings {
    Table,
}

#[derive(DeriveIden)]
enum PlexSourceGroupPropertyMappings {
    Table,
}

#[derive(DeriveIden)]
enum Link {
    Id,
    SourceId,
    PropertymappingId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Flows::Table)
                    .col(pk_uuid(Flows::FlowUuid))
                    .col(text(Flows::Name))
                    .col(string_len_uniq(Flows::Slug, 50))
                    .col(text(Flows::Designation))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PropertyMappings::Table)
                    .col(pk_uuid(PropertyMappings::PmUuid))
                    .col(text_uniq(PropertyMappings::Name))
                    .col(text(PropertyMappings::Expression))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PlexSources::Table)
                    .col(pk_uuid(PlexSources::Pk))
                    .col(text(PlexSources::Name))
                    .col(string_len_uniq(PlexSources::Slug, 50))
                    .col(boolean(PlexSources::Enabled))
                    .col(uuid_null(PlexSources::AuthenticationFlowId))
                    .col(uuid_null(PlexSources::EnrollmentFlowId))
                    .col(text(PlexSources::PolicyEngineMode))
                    .col(text(PlexSources::UserMatchingMode))
                    .col(text_null(PlexSources::Managed).unique_key())
                    .col(text(PlexSources::UserPathTemplate))
                    .col(string_len_null(PlexSources::Icon, 500))
                    .col(text(PlexSources::GroupMatchingMode))
                    .col(text(PlexSources::ClientId))
                    .col(json_binary(PlexSources::AllowedServers))
                    .col(boolean(PlexSources::AllowFriends))
                    .col(text(PlexSources::PlexToken))
                    .col(text(PlexSources::SearchText))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_plex_sources_authentication_flow")
                            .from(PlexSources::Table, PlexSources::AuthenticationFlowId)
                            .to(Flows::Table, Flows::FlowUuid)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_plex_sources_enrollment_flow")
                            .from(PlexSources::Table, PlexSources::EnrollmentFlowId)
                            .to(Flows::Table, Flows::FlowUuid)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        // Listing orders by name; flow deletion looks sources up by flow.
        for (name, column) in [
            ("idx_plex_sources_name", PlexSources::Name),
            ("idx_plex_sources_enabled", PlexSources::Enabled),
            (
                "idx_plex_sources_authentication_flow",
                PlexSources::AuthenticationFlowId,
            ),
            (
                "idx_plex_sources_enrollment_flow",
                PlexSources::EnrollmentFlowId,
            ),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(PlexSources::Table)
                        .col(column)
                        .to_owned(),
                )
                .await?;
        }
        for (table, prefix) in [
            (
                PlexSourceUserPropertyMappings::Table.into_iden(),
                "plex_source_user_property_mappings",
            ),
            (
                PlexSourceGroupPropertyMappings::Table.into_iden(),
                "plex_source_group_property_mappings",
            ),
        ] {
            create_link_table(manager, table, prefix).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            PlexSourceGroupPropertyMappings::Table.into_iden(),
            PlexSourceUserPropertyMappings::Table.into_iden(),
            PlexSources::Table.into_iden(),
            PropertyMappings::Table.into_iden(),
            Flows::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

/// A many-to-many link between Plex sources and property mappings. Rows go
/// with either side; the unique pair also serves lookups by source.
async fn create_link_table(
    manager: &SchemaManager<'_>,
    table: DynIden,
    prefix: &str,
) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(table.clone())
                .col(pk_auto(Link::Id))
                .col(uuid(Link::SourceId))
                .col(uuid(Link::PropertymappingId))
                .foreign_key(
                    ForeignKey::create()
                        .name(format!("fk_{prefix}_source"))
                        .from(table.clone(), Link::SourceId)
                        .to(PlexSources::Table, PlexSources::Pk)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name(format!("fk_{prefix}_mapping"))
                        .from(table.clone(), Link::PropertymappingId)
                        .to(PropertyMappings::Table, PropertyMappings::PmUuid)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
    manager
        .create_index(
            Index::create()
                .name(format!("uq_{prefix}_pair"))
                .table(table.clone())
                .col(Link::SourceId)
                .col(Link::PropertymappingId)
                .unique()
                .to_owned(),
        )
        .await?;
    manager
        .create_index(
            Index::create()
                .name(format!("idx_{prefix}_mapping"))
                .table(table)
                .col(Link::PropertymappingId)
                .to_owned(),
        )
        .await
}
