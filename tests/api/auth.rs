//! Who may read what: every row of the authentication and authorization
//! table, on both databases, over real gRPC.

use std::time::Duration;

use chrono::{Duration as ChronoDuration, Utc};
use plex_source_service::{
    domain::access::{Permission, TokenKey},
    store::access::{self, Principal},
};
use sea_orm::{ConnectionTrait, Statement};
use tonic::{Code, Status};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
use tonic_types::StatusExt;

use crate::{
    backend_tests,
    helpers::{Backend, TestApp, create_caller, spawn_app, within},
};

const TWO_SOURCES: &str = r#"
version: 1
entries:
  - model: authentik_sources_plex.plexsource
    identifiers: {slug: source-a}
    attrs: {name: A, plex_token: token-of-a}
  - model: authentik_sources_plex.plexsource
    identifiers: {slug: source-b}
    attrs: {name: B, plex_token: token-of-b}
"#;

async fn app_with_sources(backend: Backend) -> Option<TestApp> {
    let app = spawn_app(backend).await?;
    app.import(TWO_SOURCES).await.expect("import");
    Some(app)
}

fn bearer(key: &str) -> String {
    format!("Bearer {key}")
}

fn assert_status(status: &Status, code: Code, reason: &str, message: &str) {
    assert_eq!(status.code(), code, "{status:?}");
    assert_eq!(status.message(), message);
    let info = status.get_details_error_info().expect("ErrorInfo");
    assert_eq!(info.reason, reason);
}

/// Grants through the store, as the CLI does, and waits for the server
/// to notice (its cache is dropped on its next poll).
async fn grant(app: &TestApp, permission: Permission, user: &str, slug: Option<&str>) {
    access::grant(&app.db, permission, &Principal::User(user.into()), slug)
        .await
        .expect("grant");
    app.settle().await;
}

/// Access changes reach every replica within one second (README).
const BOUND: Duration = Duration::from_secs(1);

/// Waits (at most [`BOUND`]) until a call with `auth` fails with `code`,
/// then checks the next calls fail too.
async fn rejected_within_bound(app: &TestApp, auth: &str, slug: &str, code: Code) {
    within(BOUND, "access change", || async {
        app.retrieve_as(Some(auth), slug)
            .await
            .is_err_and(|s| s.code() == code)
    })
    .await;
    for _ in 0..3 {
        assert_eq!(
            app.retrieve_as(Some(auth), slug).await.unwrap_err().code(),
            code
        );
    }
}

async fn missing_or_malformed_credentials_are_not_authenticated(backend: Backend) {
    let Some(app) = app_with_sources(backend).await else {
        return;
    };
    for header in [
        None,
        Some(""),
        Some("Bearer"),
        Some("Bearer   "),
        Some("Basic dXNlcjpwdw=="),
        Some("Token abc"),
    ] {
        let status = app
            .retrieve_as(header, "source-a")
            .await
            .expect_err("no credentials");
        assert_status(
            &status,
            Code::Unauthenticated,
            "NOT_AUTHENTICATED",
            "Authentication credentials were not provided.",
        );
    }
    // Authentication comes before validation.
    let status = app.retrieve_as(None, "not a slug").await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
}

async fn unknown_expired_revoked_and_inactive_are_rejected_on_the_next_call(backend: Backend) {
    let Some(app) = app_with_sources(backend).await else {
        return;
    };
    let failed = |status: Status| {
        assert_status(
            &status,
            Code::Unauthenticated,
            "AUTHENTICATION_FAILED",
            "Token invalid/expired",
        )
    };
    failed(
        app.retrieve_as(Some("Bearer no-such-key"), "source-a")
            .await
            .unwrap_err(),
    );

    // Expired.
    access::create_user(&app.db, "expired-user", true)
        .await
        .unwrap();
    let key = TokenKey::generate();
    let past = Utc::now() - ChronoDuration::seconds(1);
    access::create_token(&app.db, "old", "expired-user", key.hash(), Some(past), "")
        .await
        .unwrap();
    failed(
        app.retrieve_as(Some(&bearer(key.expose())), "source-a")
            .await
            .unwrap_err(),
    );
    // Not yet expired works.
    let key = TokenKey::generate();
    let future = Utc::now() + ChronoDuration::hours(1);
    access::create_token(
        &app.db,
        "fresh",
        "expired-user",
        key.hash(),
        Some(future),
        "",
    )
    .await
    .unwrap();
    app.retrieve_as(Some(&bearer(key.expose())), "source-a")
        .await
        .expect("valid until later");

    // Revoked: works, then fails on the very next call.
    let revoked = create_caller(&app.db, "revoked-user", true).await;
    app.retrieve_as(Some(&bearer(&revoked)), "source-a")
        .await
        .expect("before revocation");
    access::revoke_token(&app.db, "revoked-user-token")
        .await
        .unwrap();
    rejected_within_bound(&app, &bearer(&revoked), "source-a", Code::Unauthenticated).await;
    failed(
        app.retrieve_as(Some(&bearer(&revoked)), "source-a")
            .await
            .unwrap_err(),
    );

    // Deactivated user.
    let inactive = create_caller(&app.db, "leaving-user", true).await;
    app.retrieve_as(Some(&bearer(&inactive)), "source-a")
        .await
        .expect("before deactivation");
    access::deactivate_user(&app.db, "leaving-user")
        .await
        .unwrap();
    rejected_within_bound(&app, &bearer(&inactive), "source-a", Code::Unauthenticated).await;
    failed(
        app.retrieve_as(Some(&bearer(&inactive)), "source-a")
            .await
            .unwrap_err(),
    );

    // A cached caller still stops working the moment its token expires.
    let key = TokenKey::generate();
    let soon = Utc::now() + ChronoDuration::milliseconds(1500);
    access::create_token(&app.db, "short", "expired-user", key.hash(), Some(soon), "")
        .await
        .unwrap();
    let short = bearer(key.expose());
    app.retrieve_as(Some(&short), "source-a")
        .await
        .expect("before expiry");
    app.retrieve_as(Some(&short), "source-a")
        .await
        .expect("cached, before expiry");
    tokio::time::sleep_until(tokio::time::Instant::now() + Duration::from_millis(1600)).await;
    failed(app.retrieve_as(Some(&short), "source-a").await.unwrap_err());
}

async fn object_permission_allows_only_its_source_and_hides_which_exist(backend: Backend) {
    let Some(app) = app_with_sources(backend).await else {
        return;
    };
    let key = create_caller(&app.db, "viewer-a", false).await;
    let auth = bearer(&key);

    // No permission at all: denied, valid slug or not.
    let denied = app.retrieve_as(Some(&auth), "source-a").await.unwrap_err();
    assert_status(
        &denied,
        Code::PermissionDenied,
        "PERMISSION_DENIED",
        "You do not have permission to perform this action.",
    );
    // Validation comes before authorization.
    let invalid = app
        .retrieve_as(Some(&auth), "not a slug")
        .await
        .unwrap_err();
    assert_eq!(invalid.code(), Code::InvalidArgument);

    grant(&app, Permission::View, "viewer-a", Some("source-a")).await;
    let got = app
        .retrieve_as(Some(&auth), "source-a")
        .await
        .expect("allowed on a");
    assert_eq!(got.slug, "source-a");
    assert_eq!(
        got.plex_token, "",
        "no token permission: the field is empty"
    );

    let on_b = app.retrieve_as(Some(&auth), "source-b").await.unwrap_err();
    let on_missing = app
        .retrieve_as(Some(&auth), "no-such-source")
        .await
        .unwrap_err();
    for status in [&on_b, &on_missing] {
        assert_status(
            status,
            Code::PermissionDenied,
            "PERMISSION_DENIED",
            "You do not have permission to perform this action.",
        );
    }
    assert_eq!(
        on_b.details(),
        on_missing.details(),
        "same answer: no probing"
    );

    // Removing the permission takes effect within the bound.
    access::revoke(
        &app.db,
        Permission::View,
        &Principal::User("viewer-a".into()),
        Some("source-a"),
    )
    .await
    .unwrap();
    rejected_within_bound(&app, &auth, "source-a", Code::PermissionDenied).await;
}

async fn global_and_role_permissions_see_every_source(backend: Backend) {
    let Some(app) = app_with_sources(backend).await else {
        return;
    };
    let global = bearer(&create_caller(&app.db, "global-viewer", false).await);
    grant(&app, Permission::View, "global-viewer", None).await;
    for slug in ["source-a", "source-b"] {
        assert_eq!(
            app.retrieve_as(Some(&global), slug).await.unwrap().slug,
            slug
        );
    }
    let missing = app
        .retrieve_as(Some(&global), "no-such-source")
        .await
        .unwrap_err();
    assert_eq!(
        missing.code(),
        Code::NotFound,
        "global viewers may learn a slug is absent"
    );

    // Through a role: global grant, then an object grant on another role.
    let member = bearer(&create_caller(&app.db, "member", false).await);
    access::create_role(&app.db, "plex-readers").await.unwrap();
    access::create_role(&app.db, "b-readers").await.unwrap();
    access::grant(
        &app.db,
        Permission::View,
        &Principal::Role("b-readers".into()),
        Some("source-b"),
    )
    .await
    .unwrap();
    access::assign_role(&app.db, "b-readers", "member")
        .await
        .unwrap();
    app.settle().await;
    assert!(app.retrieve_as(Some(&member), "source-b").await.is_ok());
    assert_eq!(
        app.retrieve_as(Some(&member), "source-a")
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
    access::grant(
        &app.db,
        Permission::View,
        &Principal::Role("plex-readers".into()),
        None,
    )
    .await
    .unwrap();
    access::assign_role(&app.db, "plex-readers", "member")
        .await
        .unwrap();
    app.settle().await;
    assert!(app.retrieve_as(Some(&member), "source-a").await.is_ok());

    // Other permissions do not imply view.
    let changer = bearer(&create_caller(&app.db, "changer", false).await);
    grant(&app, Permission::Change, "changer", None).await;
    assert_eq!(
        app.retrieve_as(Some(&changer), "source-a")
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
}

async fn the_plex_token_goes_only_to_those_allowed_and_is_audited(backend: Backend) {
    let Some(app) = app_with_sources(backend).await else {
        return;
    };
    // Superuser: gets it.
    let got = app.retrieve("source-a").await.unwrap();
    assert_eq!(got.plex_token, "token-of-a");

    // Global view only: empty.
    let viewer = bearer(&create_caller(&app.db, "viewer", false).await);
    grant(&app, Permission::View, "viewer", None).await;
    assert_eq!(
        app.retrieve_as(Some(&viewer), "source-a")
            .await
            .unwrap()
            .plex_token,
        ""
    );

    // Token permission on a only: a's token, b's hidden.
    grant(&app, Permission::ViewPlexToken, "viewer", Some("source-a")).await;
    assert_eq!(
        app.retrieve_as(Some(&viewer), "source-a")
            .await
            .unwrap()
            .plex_token,
        "token-of-a"
    );
    assert_eq!(
        app.retrieve_as(Some(&viewer), "source-b")
            .await
            .unwrap()
            .plex_token,
        ""
    );

    let events = access::list_audit_events(&app.db).await.unwrap();
    let seen: Vec<(&str, &str, &str)> = events
        .iter()
        .map(|e| {
            (
                e.action.as_str(),
                e.username.as_str(),
                e.object_slug.as_str(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("secret_view", "test-admin", "source-a"),
            ("secret_view", "viewer", "source-a")
        ],
        "one event per hand-out, none when hidden"
    );
    assert!(
        events
            .iter()
            .all(|e| e.object_pk.is_some() && e.created <= Utc::now())
    );
    let dump = dump_tables(&app, &["audit_events"]).await;
    assert!(
        !dump.contains("token-of-a"),
        "the audit log never holds the value"
    );
}

async fn health_and_reflection_need_no_credentials(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let mut health = HealthClient::new(app.channel.clone());
    let response = health
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("health without credentials");
    assert_eq!(response.into_inner().status, 1);
}

async fn stored_tokens_reveal_no_key(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let key = create_caller(&app.db, "dumped", false).await;
    let dump = dump_tables(&app, &["tokens", "users"]).await;
    assert!(
        dump.contains("dumped-token"),
        "the dump has the token row: {dump}"
    );
    assert!(!dump.contains(&key), "a table dump reveals the key");
    assert!(!dump.contains(&app.admin_key));
}

async fn bootstrap_is_idempotent_across_restarts(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let key = "bootstrap-key-0123456789abcdef0123456789abcdef";
    let first = plex_source_service::admin::bootstrap(&app.db, key)
        .await
        .unwrap();
    let second = plex_source_service::admin::bootstrap(&app.db, key)
        .await
        .unwrap();
    assert_eq!(first, access::Bootstrap::Created);
    assert_eq!(second, access::Bootstrap::Unchanged);
    let users = access::list_users(&app.db).await.unwrap();
    let admins: Vec<_> = users.iter().filter(|u| u.username == "akadmin").collect();
    assert_eq!(admins.len(), 1);
    assert!(admins[0].is_superuser && admins[0].is_active);
    let tokens = access::list_tokens(&app.db).await.unwrap();
    assert_eq!(
        tokens
            .iter()
            .filter(|t| t.identifier == "authentik-bootstrap-token")
            .count(),
        1
    );
    app.import(TWO_SOURCES).await.unwrap();
    let got = app
        .retrieve_as(Some(&bearer(key)), "source-a")
        .await
        .expect("bootstrap key works");
    assert_eq!(got.plex_token, "token-of-a", "akadmin is a superuser");
}

/// Every row of `tables` as text, the way a database dump would show it.
async fn dump_tables(app: &TestApp, tables: &[&str]) -> String {
    let backend = app.db.get_database_backend();
    let mut out = String::new();
    for table in tables {
        let sql = match backend {
            sea_orm::DatabaseBackend::Postgres => {
                format!("SELECT row_to_json(t)::text AS row FROM {table} t")
            }
            _ => {
                let columns = app
                    .db
                    .query_all_raw(Statement::from_string(
                        backend,
                        format!("SELECT name FROM pragma_table_info('{table}')"),
                    ))
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| format!("quote({})", r.try_get::<String>("", "name").unwrap()))
                    .collect::<Vec<_>>()
                    .join(" || ',' || ");
                format!("SELECT {columns} AS row FROM {table}")
            }
        };
        for row in app
            .db
            .query_all_raw(Statement::from_string(backend, sql))
            .await
            .unwrap()
        {
            out.push_str(&row.try_get::<String>("", "row").unwrap());
            out.push('\n');
        }
    }
    out
}

backend_tests!(
    missing_or_malformed_credentials_are_not_authenticated,
    unknown_expired_revoked_and_inactive_are_rejected_on_the_next_call,
    object_permission_allows_only_its_source_and_hides_which_exist,
    global_and_role_permissions_see_every_source,
    the_plex_token_goes_only_to_those_allowed_and_is_audited,
    health_and_reflection_need_no_credentials,
    stored_tokens_reveal_no_key,
    bootstrap_is_idempotent_across_restarts,
);
