//! Entry-level object permissions on Plex sources, granted to users and
//! roles.

use plex_source_service::{domain::access::Permission, store::access::Principal};
use uuid::Uuid;

use super::{ACCESS, fixture, grant, report, violated_fields};
use crate::{backend_tests, helpers::Backend};

backend_tests!(
    users_roles_and_object_permissions,
    grants_are_added_not_replaced_and_a_new_one_is_an_update,
    broken_permissions_are_all_reported_and_nothing_is_written,
);

async fn users_roles_and_object_permissions(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
    assert_eq!(fx.import(ACCESS).await.unwrap(), report(5, 0, 0, 0, 0));

    let users = fx.users().await;
    let summary: Vec<_> = users
        .iter()
        .map(|u| {
            (
                u.username.as_str(),
                u.is_active,
                u.is_superuser,
                u.roles.clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("alice", true, false, vec!["readers".to_owned()]),
            ("bob", false, false, vec!["readers".to_owned()]),
        ]
    );
    // The repeated item added no second row.
    let grants = fx.grants().await;
    assert_eq!(
        grants,
        [
            grant(Permission::View, Principal::User("alice".into()), "guarded"),
            grant(
                Permission::ViewPlexToken,
                Principal::Role("readers".into()),
                "guarded"
            ),
        ]
    );

    // The grants work as object permissions, directly and through the role.
    let guarded = fx.source("guarded").await.unwrap().pk;
    let other = fx.source("other").await.unwrap().pk;
    fx.token("alice", "alice-key").await;
    let alice = fx.caller("alice-key").await.unwrap();
    assert!(alice.may(Permission::View, Some(guarded)));
    assert!(alice.may(Permission::ViewPlexToken, Some(guarded)));
    assert!(!alice.may(Permission::View, Some(other)));
    assert!(!alice.may(Permission::ViewPlexToken, Some(other)));
    assert!(!alice.may_globally(Permission::View));
    // bob is inactive: his key opens nothing.
    fx.token("bob", "bob-key").await;
    assert_eq!(fx.caller("bob-key").await, None);

    for _ in 0..2 {
        assert_eq!(fx.import(ACCESS).await.unwrap(), report(0, 0, 5, 0, 0));
    }
    assert_eq!(fx.grants().await, grants);
    assert_eq!(fx.users().await, users);
}

async fn grants_are_added_not_replaced_and_a_new_one_is_an_update(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
    fx.import(ACCESS).await.unwrap();
    let text = "
version: 1
entries:
  - model: authentik_sources_plex.plexsource
    identifiers: {slug: guarded}
    permissions:
      - permission: change_plexsource
        role: !Find [authentik_rbac.role, [name, readers]]
  - model: authentik_sources_plex.plexsource
    state: created
    identifiers: {slug: other}
    attrs: {name: Ignored}
    permissions:
      - permission: delete_plexsource
        user: !Find [authentik_core.user, [username, bob]]
";
    assert_eq!(fx.import(text).await.unwrap(), report(0, 2, 0, 0, 0));
    assert_eq!(fx.import(text).await.unwrap(), report(0, 0, 2, 0, 0));
    assert_eq!(fx.source("other").await.unwrap().fields.name, "Other");
    let grants = fx.grants().await;
    assert_eq!(grants.len(), 4, "{grants:?}");
    assert!(grants.contains(&grant(
        Permission::View,
        Principal::User("alice".into()),
        "guarded"
    )));
    assert!(grants.contains(&grant(
        Permission::Change,
        Principal::Role("readers".into()),
        "guarded"
    )));
    assert!(grants.contains(&grant(
        Permission::Delete,
        Principal::User("bob".into()),
        "other"
    )));
}

async fn broken_permissions_are_all_reported_and_nothing_is_written(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
    let text = format!(
        "
version: 1
entries:
  - model: authentik_rbac.role
    id: r
    identifiers: {{name: readers}}
  - model: authentik_core.user
    id: u
    identifiers: {{username: alice}}
  - model: authentik_sources_plex.plexsource
    identifiers: {{slug: guarded}}
    attrs: {{name: '  ', plex_token: t}}
    permissions:
      - {{permission: view_everything, user: !KeyOf u}}
      - {{permission: view_plexsource, user: !KeyOf u, role: !KeyOf r}}
      - {{permission: view_plexsource, user: '{user}'}}
      - {{permission: view_plexsource, role: '{role}'}}
      - {{permission: view_plexsource}}
      - {{permission: view_plexsource, user: !Env PSS_TEST_SECRET_MODE}}
      - {{permission: view_plexsource, role: !KeyOf nowhere}}
      - {{permission: view_plexsource, user: !KeyOf u}}
",
        user = Uuid::new_v4(),
        role = Uuid::new_v4(),
    );
    let err = fx.import(&text).await.unwrap_err();
    assert_eq!(err.entry_index(), Some(2));
    assert_eq!(
        violated_fields(&err),
        [
            "name",
            "permissions[6].role",
            "permissions[0].permission",
            "permissions[1]",
            "permissions[4]",
            "permissions[5].user",
            "permissions[2].user",
            "permissions[3].role",
        ]
    );
    let message = err.to_string();
    for part in [
        "(authentik_sources_plex.plexsource)",
        "permissions[0].permission: Unknown permission \"view_everything\".",
        "permissions[1]: Give exactly one of user or role.",
        "permissions[3].role: Invalid pk \"",
        "permissions[5].user: Invalid pk \"[REDACTED]\" - object does not exist.",
    ] {
        assert!(message.contains(part), "{part}: {message}");
    }
    assert!(!message.contains("super-secret-mode"), "{message}");

    assert!(fx.users().await.is_empty());
    assert!(fx.grants().await.is_empty());
    assert!(fx.source("guarded").await.is_none());

    let err = fx
        .import("version: 1\nentries:\n  - model: authentik_sources_plex.plexsource\n    identifiers: {slug: s}\n    attrs: {name: S, plex_token: t}\n    permissions: {permission: view_plexsource}\n")
        .await
        .unwrap_err();
    assert_eq!(
        err.violations().unwrap().to_string(),
        "permissions: Expected a list of items but got type \"dict\"."
    );
}
