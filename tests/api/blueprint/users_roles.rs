//! Users and roles: replacing a user's roles, their rules, and deleting
//! them with what hangs off them.

use plex_source_service::store::{self, Match};
use uuid::Uuid;

use super::{ACCESS, fixture, report, violated_fields};
use crate::{backend_tests, helpers::Backend};

backend_tests!(
    user_roles_are_replaced_and_superuser_is_settable,
    user_and_role_rules,
    absent_removes_users_and_roles_with_their_grants_and_tokens,
);

async fn user_roles_are_replaced_and_superuser_is_settable(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
    fx.import(ACCESS).await.unwrap();
    let text = "
version: 1
entries:
  - model: authentik_rbac.role
    id: w
    identifiers: {name: writers}
  - model: authentik_core.user
    identifiers: {username: alice}
    attrs: {roles: [!KeyOf w, !KeyOf w], is_superuser: true}
  - model: authentik_core.user
    identifiers: {username: bob}
    attrs: {roles: []}
";
    assert_eq!(fx.import(text).await.unwrap(), report(1, 2, 0, 0, 0));
    let users = fx.users().await;
    assert_eq!(users[0].roles, ["writers"]);
    assert!(users[0].is_superuser && users[0].is_active);
    assert!(users[1].roles.is_empty());
    assert!(!users[1].is_active);
    assert_eq!(fx.import(text).await.unwrap(), report(0, 0, 3, 0, 0));
}

async fn user_and_role_rules(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
    fx.import(ACCESS).await.unwrap();
    let missing = Uuid::new_v4();
    let text = format!(
        "
version: 1
entries:
  - model: authentik_core.user
    identifiers: {{username: carol}}
    attrs: {{is_active: 'maybe', roles: ['{missing}', not-a-pk], favourite_colour: blue}}
"
    );
    // The first item that fails is the list's one error (DRF's
    // `ManyRelatedField`): here the missing role, before the malformed one.
    let err = fx.import(&text).await.unwrap_err();
    assert_eq!(
        err.violations().unwrap().to_string(),
        format!(
            "is_active: Must be a valid boolean.; \
             roles[0]: Invalid pk \"{missing}\" - object does not exist."
        )
    );
    let swapped = text.replace(
        &format!("['{missing}', not-a-pk]"),
        &format!("[not-a-pk, '{missing}']"),
    );
    let err = fx.import(&swapped).await.unwrap_err();
    assert_eq!(
        err.violations().unwrap().to_string(),
        "is_active: Must be a valid boolean.; \
         roles[0]: \u{201c}not-a-pk\u{201d} is not a valid UUID."
    );
    let text = text.replace(", not-a-pk", "");
    let err = fx.import(&text).await.unwrap_err();
    assert_eq!(
        err.violations().unwrap().to_string(),
        format!(
            "is_active: Must be a valid boolean.; \
             roles[0]: Invalid pk \"{missing}\" - object does not exist."
        )
    );

    let alice_pk = store::access::lookup_users(
        &fx.db,
        &Match {
            name: Some("alice".into()),
            ..Match::default()
        },
    )
    .await
    .unwrap()[0]
        .pk;
    let text = format!(
        "
version: 1
entries:
  - model: authentik_core.user
    identifiers: {{pk: '{alice_pk}'}}
    attrs: {{username: bob}}
  - model: authentik_rbac.role
    identifiers: {{name: '{long}'}}
  - model: authentik_core.user
    identifiers: {{nickname: x}}
",
        long = "r".repeat(151),
    );
    let err = fx.import(&text).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: entry 0 (authentik_core.user): username: A user with that username already exists.",
            fx.dir.path().join("blueprint.yaml").display()
        )
    );
    let err = fx
        .import(&text.replace("username: bob", "username: alicia"))
        .await
        .unwrap_err();
    assert_eq!(err.entry_index(), Some(1));
    assert_eq!(
        err.violations().unwrap().to_string(),
        "name: Ensure this field has no more than 150 characters."
    );
    assert!(fx.users().await.iter().any(|u| u.username == "alice"));

    let must = "
version: 1
entries:
  - model: authentik_rbac.role
    state: must_created
    identifiers: {name: readers}
";
    let err = fx.import(must).await.unwrap_err();
    assert_eq!(violated_fields(&err), ["identifiers"]);
    let err = fx
        .import("version: 1\nentries:\n  - model: authentik_core.user\n    identifiers: {nickname: x}\n")
        .await
        .unwrap_err();
    assert_eq!(
        err.violations().unwrap().to_string(),
        "identifiers.nickname: Invalid identifier field: Cannot resolve keyword 'nickname' \
         into field. Choices are: pk, username, is_active, is_superuser, roles."
    );
}

async fn absent_removes_users_and_roles_with_their_grants_and_tokens(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
    fx.import(ACCESS).await.unwrap();
    fx.token("alice", "alice-key").await;
    let text = "
version: 1
entries:
  - model: authentik_core.user
    state: absent
    identifiers: {username: alice}
  - model: authentik_rbac.role
    state: absent
    identifiers: {name: readers}
";
    assert_eq!(fx.import(text).await.unwrap(), report(0, 0, 0, 2, 0));
    let users = fx.users().await;
    assert_eq!(users.len(), 1);
    assert_eq!(
        (users[0].username.as_str(), users[0].roles.len()),
        ("bob", 0)
    );
    assert!(fx.grants().await.is_empty());
    assert_eq!(fx.caller("alice-key").await, None);
    assert!(store::access::list_tokens(&fx.db).await.unwrap().is_empty());
    assert_eq!(fx.import(text).await.unwrap(), report(0, 0, 2, 0, 0));
}
