//! DeletePlexSource: the source and its links go, what it linked to stays.

use tonic::Code;

use super::CATALOG;
use crate::{
    backend_tests,
    helpers::{TestApp, new_source, pb},
};

async fn delete_removes_the_source_and_its_links_only(app: TestApp) {
    app.import(CATALOG).await.unwrap();
    let source = pb::PlexSource {
        authentication_flow: Some(app.flow_pk("w-auth").await),
        user_property_mappings: vec![app.mapping_pk("w-user").await],
        group_property_mappings: vec![app.mapping_pk("w-group").await],
        ..new_source("doomed")
    };
    app.create(app.admin(), source).await.unwrap();
    app.delete(app.admin(), "doomed").await.expect("delete");
    assert_eq!(
        app.retrieve(app.admin(), "doomed")
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );
    assert_eq!(
        app.delete(app.admin(), "doomed").await.unwrap_err().code(),
        Code::NotFound
    );
    // Flows and mappings stay; links are gone.
    assert!(!app.flow_pk("w-auth").await.is_empty());
    assert!(!app.mapping_pk("w-group").await.is_empty());
    for table in [
        "plex_source_user_property_mappings",
        "plex_source_group_property_mappings",
    ] {
        let rows = app
            .db
            .query(&format!("SELECT source_id FROM {table}"))
            .await
            .unwrap();
        assert!(rows.is_empty(), "{table} still has links");
    }
}

backend_tests!(
    apps: [
        delete_removes_the_source_and_its_links_only,
    ],
);
