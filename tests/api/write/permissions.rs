//! Which permission each write needs.

use plex_source_service::domain::access::Permission;
use tonic::{Code, Status};

use crate::{
    backend_tests,
    helpers::{Caller, TestApp, new_source, pb, rename},
};

async fn each_write_needs_its_permission(app: TestApp) {
    app.create(app.admin(), new_source("a")).await.unwrap();
    app.create(app.admin(), new_source("b")).await.unwrap();
    let user = app.caller("writer", &[]).await;
    let grant =
        |permission: Permission, slug: Option<&'static str>| app.grant(permission, "writer", slug);
    let denied = |result: Result<pb::PlexSource, Status>| {
        let status = result.expect_err("denied");
        assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
        assert_eq!(
            status.message(),
            "You do not have permission to perform this action."
        );
    };
    let create_as = |slug: &str| app.create(&user, new_source(slug));
    let patch_as = |slug: &str| app.update(&user, rename(slug, "changed"));

    // Create needs the global add permission; an object grant does not count.
    denied(create_as("c").await);
    grant(Permission::Add, Some("a")).await;
    denied(create_as("c").await);
    grant(Permission::Add, None).await;
    create_as("c").await.expect("global add");

    // Update: change without view is denied, as is view without change; the
    // answer for an absent slug is the same denial.
    grant(Permission::Change, Some("a")).await;
    denied(patch_as("a").await);
    denied(patch_as("missing").await);
    grant(Permission::View, Some("a")).await;
    patch_as("a").await.expect("view + change on a");
    grant(Permission::View, Some("b")).await;
    denied(patch_as("b").await);
    denied(patch_as("missing").await);

    // Delete: view plus delete, global or on the object.
    assert_eq!(
        app.delete(&user, "a").await.unwrap_err().code(),
        Code::PermissionDenied
    );
    grant(Permission::Delete, Some("a")).await;
    app.delete(&user, "a").await.expect("delete a");
    assert_eq!(
        app.delete(&user, "b").await.unwrap_err().code(),
        Code::PermissionDenied
    );

    // No credentials: UNAUTHENTICATED for every write.
    let status = app
        .create(Caller::Anonymous, new_source("x"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    let status = app.delete(Caller::Anonymous, "b").await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
}

backend_tests!(
    apps: [
        each_write_needs_its_permission,
    ],
);
