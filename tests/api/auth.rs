//! Who may read what: every row of the authentication and authorization
//! table, on both databases, over real gRPC.

use std::time::Duration;

use chrono::{Duration as ChronoDuration, Utc};
use plex_source_service::{
    domain::access::{Permission, TokenKey},
    store::access,
};
use tonic::{Code, Status};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
use tonic_types::StatusExt;

use crate::{
    backend_tests,
    helpers::{Backend, Caller, REPLICA_BOUND as BOUND, TestApp, spawn_app, within},
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

fn assert_status(status: &Status, code: Code, reason: &str, message: &str) {
    assert_eq!(status.code(), code, "{status:?}");
    assert_eq!(status.message(), message);
    let info = status.get_details_error_info().expect("ErrorInfo");
    assert_eq!(info.reason, reason);
}

/// Waits (at most [`BOUND`]) until a call with `key` fails with `code`,
/// then checks the next calls fail too.
async fn rejected_within_bound(app: &TestApp, key: &str, slug: &str, code: Code) {
    within(BOUND, "access change", || async {
        app.retrieve(key, slug)
            .await
            .is_err_and(|s| s.code() == code)
    })
    .await;
    for _ in 0..3 {
        assert_eq!(app.retrieve(key, slug).await.unwrap_err().code(), code);
    }
}

async fn missing_or_malformed_credentials_are_not_authenticated(backend: Backend) {
    let Some(app) = app_with_sources(backend).await else {
        return;
    };
    for header in [
        Caller::Anonymous,
        Caller::Header(""),
        Caller::Header("Bearer"),
        Caller::Header("Bearer   "),
        Caller::Header("abc"),
        Caller::Header("Bearer\tabc"),
    ] {
        let status = app
            .retrieve(header, "source-a")
            .await
            .expect_err("no credentials");
        assert_status(
            &status,
            Code::Unauthenticated,
            "NOT_AUTHENTICATED",
            "Authentication credentials were not provided.",
        );
    }
    // Another scheme is a failed authentication, in authentik's words,
    // even with a working key behind it.
    let key = app.caller("schemer", &[(Permission::View, None)]).await;
    let basic = format!("Basic {key}");
    let token = format!("token {key}");
    for header in [
        "Basic dXNlcjpwdw==",
        "Token abc",
        "Digest a b",
        basic.as_str(),
        token.as_str(),
    ] {
        for status in [
            app.retrieve(Caller::Header(header), "source-a")
                .await
                .expect_err("another scheme"),
            app.list(Caller::Header(header), Default::default())
                .await
                .expect_err("another scheme"),
        ] {
            assert_status(
                &status,
                Code::Unauthenticated,
                "AUTHENTICATION_FAILED",
                "Unsupported authentication type",
            );
        }
    }
    // The scheme is matched without regard to case.
    let bearer = format!("bEaReR {key}");
    app.retrieve(Caller::Header(&bearer), "source-a")
        .await
        .expect("any case of Bearer");
    // Authentication comes before validation.
    let status = app
        .retrieve(Caller::Anonymous, "not a slug")
        .await
        .unwrap_err();
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
    failed(app.retrieve("no-such-key", "source-a").await.unwrap_err());

    // Expired.
    access::create_user(&app.db, "expired-user", true)
        .await
        .unwrap();
    let key = TokenKey::generate();
    let past = Utc::now() - ChronoDuration::seconds(1);
    access::create_token(&app.db, "old", "expired-user", key.hash(), Some(past), "")
        .await
        .unwrap();
    failed(app.retrieve(key.expose(), "source-a").await.unwrap_err());
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
    app.retrieve(key.expose(), "source-a")
        .await
        .expect("valid until later");

    // Revoked: works, then fails on the very next call.
    let revoked = app.superuser("revoked-user").await;
    app.retrieve(&revoked, "source-a")
        .await
        .expect("before revocation");
    access::revoke_token(&app.db, "revoked-user-token")
        .await
        .unwrap();
    rejected_within_bound(&app, &revoked, "source-a", Code::Unauthenticated).await;
    failed(app.retrieve(&revoked, "source-a").await.unwrap_err());

    // Deactivated user.
    let inactive = app.superuser("leaving-user").await;
    app.retrieve(&inactive, "source-a")
        .await
        .expect("before deactivation");
    access::deactivate_user(&app.db, "leaving-user")
        .await
        .unwrap();
    rejected_within_bound(&app, &inactive, "source-a", Code::Unauthenticated).await;
    failed(app.retrieve(&inactive, "source-a").await.unwrap_err());

    // A cached caller still stops working the moment its token expires.
    let key = TokenKey::generate();
    let soon = Utc::now() + ChronoDuration::milliseconds(1500);
    access::create_token(&app.db, "short", "expired-user", key.hash(), Some(soon), "")
        .await
        .unwrap();
    let short = key.expose();
    app.retrieve(short, "source-a")
        .await
        .expect("before expiry");
    app.retrieve(short, "source-a")
        .await
        .expect("cached, before expiry");
    tokio::time::sleep_until(tokio::time::Instant::now() + Duration::from_millis(1600)).await;
    failed(app.retrieve(short, "source-a").await.unwrap_err());
}

/// A flood of one bogus key costs one token lookup, not one per call; a
/// token made for that key afterwards works within the usual bound.
async fn failed_authentication_is_answered_without_the_database(backend: Backend) {
    let Some(app) = app_with_sources(backend).await else {
        return;
    };
    let key = TokenKey::generate();
    let lookups = || app.cache.caller_misses();
    let before = lookups();
    for _ in 0..1000 {
        let status = app
            .retrieve(key.expose(), "source-a")
            .await
            .expect_err("unknown key");
        assert_status(
            &status,
            Code::Unauthenticated,
            "AUTHENTICATION_FAILED",
            "Token invalid/expired",
        );
    }
    let spent = lookups() - before;
    // One, plus one more whenever the cache was bypassed (a late poll).
    assert!(
        (1..=5).contains(&spent),
        "1000 calls cost {spent} token lookups"
    );

    // The key becomes a token: the change drops what was remembered.
    access::create_user(&app.db, "late-user", true)
        .await
        .unwrap();
    access::create_token(&app.db, "late", "late-user", key.hash(), None, "")
        .await
        .unwrap();
    within(BOUND, "a token made for a failed key", || async {
        app.retrieve(key.expose(), "source-a").await.is_ok()
    })
    .await;
}

async fn object_permission_allows_only_its_source_and_hides_which_exist(backend: Backend) {
    let Some(app) = app_with_sources(backend).await else {
        return;
    };
    let key = app.caller("viewer-a", &[]).await;

    // No permission at all: denied, valid slug or not.
    let denied = app.retrieve(&key, "source-a").await.unwrap_err();
    assert_status(
        &denied,
        Code::PermissionDenied,
        "PERMISSION_DENIED",
        "You do not have permission to perform this action.",
    );
    // Validation comes before authorization.
    let invalid = app.retrieve(&key, "not a slug").await.unwrap_err();
    assert_eq!(invalid.code(), Code::InvalidArgument);

    app.grant(Permission::View, "viewer-a", Some("source-a"))
        .await;
    let got = app.retrieve(&key, "source-a").await.expect("allowed on a");
    assert_eq!(got.slug, "source-a");
    assert_eq!(
        got.plex_token, "",
        "no token permission: the field is empty"
    );

    let on_b = app.retrieve(&key, "source-b").await.unwrap_err();
    let on_missing = app.retrieve(&key, "no-such-source").await.unwrap_err();
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
    app.revoke(Permission::View, "viewer-a", Some("source-a"))
        .await;
    rejected_within_bound(&app, &key, "source-a", Code::PermissionDenied).await;
}

async fn global_and_role_permissions_see_every_source(backend: Backend) {
    let Some(app) = app_with_sources(backend).await else {
        return;
    };
    let global = app
        .caller("global-viewer", &[(Permission::View, None)])
        .await;
    for slug in ["source-a", "source-b"] {
        assert_eq!(app.retrieve(&global, slug).await.unwrap().slug, slug);
    }
    let missing = app.retrieve(&global, "no-such-source").await.unwrap_err();
    assert_eq!(
        missing.code(),
        Code::NotFound,
        "global viewers may learn a slug is absent"
    );

    // Through a role: global grant, then an object grant on another role.
    let member = app.caller("member", &[]).await;
    app.role(
        "b-readers",
        &[(Permission::View, Some("source-b"))],
        &["member"],
    )
    .await;
    assert!(app.retrieve(&member, "source-b").await.is_ok());
    assert_eq!(
        app.retrieve(&member, "source-a").await.unwrap_err().code(),
        Code::PermissionDenied
    );
    app.role("plex-readers", &[(Permission::View, None)], &["member"])
        .await;
    assert!(app.retrieve(&member, "source-a").await.is_ok());

    // Other permissions do not imply view.
    let changer = app.caller("changer", &[(Permission::Change, None)]).await;
    assert_eq!(
        app.retrieve(&changer, "source-a").await.unwrap_err().code(),
        Code::PermissionDenied
    );
}

async fn the_plex_token_goes_only_to_those_allowed_and_is_audited(backend: Backend) {
    let Some(app) = app_with_sources(backend).await else {
        return;
    };
    // Superuser: gets it.
    let got = app.retrieve(app.admin(), "source-a").await.unwrap();
    assert_eq!(got.plex_token, "token-of-a");

    // Global view only: empty.
    let viewer = app.caller("viewer", &[(Permission::View, None)]).await;
    assert_eq!(
        app.retrieve(&viewer, "source-a").await.unwrap().plex_token,
        ""
    );

    // Token permission on a only: a's token, b's hidden.
    app.grant(Permission::ViewPlexToken, "viewer", Some("source-a"))
        .await;
    assert_eq!(
        app.retrieve(&viewer, "source-a").await.unwrap().plex_token,
        "token-of-a"
    );
    assert_eq!(
        app.retrieve(&viewer, "source-b").await.unwrap().plex_token,
        ""
    );

    // Hand-outs are written off the request path.
    app.audit.flush().await;
    let events = access::list_audit_events(&app.db).await.unwrap();
    let seen: Vec<(&str, &str, &str, i64)> = events
        .iter()
        .map(|e| {
            (
                e.action.as_str(),
                e.username.as_str(),
                e.object_slug.as_str(),
                e.occurrences,
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("secret_view", "test-admin", "source-a", 1),
            ("secret_view", "viewer", "source-a", 1)
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

async fn health_and_reflection_need_no_credentials(app: TestApp) {
    let mut health = HealthClient::new(app.channel.clone());
    let response = health
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("health without credentials");
    assert_eq!(response.into_inner().status, 1);
}

async fn stored_tokens_reveal_no_key(app: TestApp) {
    let key = app.caller("dumped", &[]).await;
    let dump = dump_tables(&app, &["tokens", "users"]).await;
    assert!(
        dump.contains("dumped-token"),
        "the dump has the token row: {dump}"
    );
    assert!(!dump.contains(&key), "a table dump reveals the key");
    assert!(!dump.contains(&app.admin_key));
}

async fn bootstrap_is_idempotent_across_restarts(app: TestApp) {
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
        .retrieve(key, "source-a")
        .await
        .expect("bootstrap key works");
    assert_eq!(got.plex_token, "token-of-a", "akadmin is a superuser");
}

/// Every row of `tables` as text, the way a database dump would show it.
async fn dump_tables(app: &TestApp, tables: &[&str]) -> String {
    let mut out = String::new();
    for table in tables {
        let sql = match app.db.backend() {
            plex_source_service::store::Backend::Postgres => {
                format!("SELECT row_to_json(t)::text AS row FROM {table} t")
            }
            plex_source_service::store::Backend::Sqlite => {
                let columns = app
                    .db
                    .query(&format!("SELECT name FROM pragma_table_info('{table}')"))
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| format!("quote({})", r.text("name").unwrap()))
                    .collect::<Vec<_>>()
                    .join(" || ',' || ");
                format!("SELECT {columns} AS row FROM {table}")
            }
        };
        for row in app.db.query(&sql).await.unwrap() {
            out.push_str(&row.text("row").unwrap());
            out.push('\n');
        }
    }
    out
}

backend_tests!(
    apps: [
        health_and_reflection_need_no_credentials,
        stored_tokens_reveal_no_key,
        bootstrap_is_idempotent_across_restarts,
    ],
    backends: [
        missing_or_malformed_credentials_are_not_authenticated,
        unknown_expired_revoked_and_inactive_are_rejected_on_the_next_call,
        failed_authentication_is_answered_without_the_database,
        object_permission_allows_only_its_source_and_hides_which_exist,
        global_and_role_permissions_see_every_source,
        the_plex_token_goes_only_to_those_allowed_and_is_audited,
    ],
);
