//! Numbers past any page, and panics: each answered on its own call, the
//! connection and the server going on.

use plex_source_service::app::{PANIC_HEADER, ServerSettings};
use tonic::Code;

use crate::{
    backend_tests,
    helpers::{Backend, TestApp, new_source, pb, request_as, spawn_app_with, test_settings},
    rest::{Http, raw},
};

const COLLECTION: &str = "/api/v3/sources/plex/";

async fn with_sources(backend: Backend, settings: ServerSettings) -> Option<TestApp> {
    let app = spawn_app_with(backend, settings).await?;
    for slug in ["a", "b", "c"] {
        app.create(app.admin(), new_source(slug))
            .await
            .expect("create");
    }
    Some(app)
}

/// `?page=` past any page, up to `u64::MAX` and beyond, is DRF's "Invalid
/// page." (404) on both HTTP versions, and the server keeps serving.
async fn a_huge_page_number_is_an_invalid_page(backend: Backend) {
    let Some(app) = with_sources(backend, test_settings()).await else {
        return;
    };
    let viewer = app
        .caller(
            "viewer",
            &[(plex_source_service::domain::access::Permission::View, None)],
        )
        .await;
    let auth = format!("Bearer {viewer}");
    for page in [
        "4",
        "9223372036854775807",
        "9223372036854775808",
        "18446744073709551615",
        "18446744073709551616",
        "99999999999999999999999999999999999999999999",
    ] {
        for http in [Http::One, Http::Two] {
            for size in ["", "&page_size=1000", "&page_size=1"] {
                let path = format!("{COLLECTION}?page={page}{size}");
                let reply = raw(
                    app.addr,
                    http,
                    "GET",
                    &path,
                    &[("authorization", &auth)],
                    b"",
                )
                .await;
                assert_eq!(
                    (reply.status, reply.text()),
                    (404, r#"{"detail":"Invalid page."}"#),
                    "{path} over {http:?}"
                );
            }
        }
    }
    let reply = raw(
        app.addr,
        Http::One,
        "GET",
        &format!("{COLLECTION}?page=3&page_size=1"),
        &[("authorization", &auth)],
        b"",
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let body: serde_json::Value = serde_json::from_slice(&reply.body).expect("json");
    assert_eq!(body["results"][0]["slug"], "c");
}

/// gRPC's numbers at their extremes: page sizes and resume revisions.
async fn grpc_numbers_at_their_extremes_are_answered(backend: Backend) {
    let Some(app) = with_sources(backend, test_settings()).await else {
        return;
    };
    for page_size in [i32::MAX, i32::MIN, -1] {
        let answer = app
            .list(
                app.admin(),
                pb::ListPlexSourcesRequest {
                    page_size,
                    ..Default::default()
                },
            )
            .await;
        match answer {
            Ok(page) => assert_eq!(page.total_size, 3, "{page_size}"),
            Err(status) => assert_eq!(status.code(), Code::InvalidArgument, "{page_size}"),
        }
    }
    for since in [i64::MIN, -1, i64::MAX] {
        let request = pb::WatchPlexSourcesRequest {
            since_revision: Some(since),
            initial_snapshot: false,
        };
        let status = app
            .watch(app.admin(), request)
            .await
            .expect_err("out of range");
        assert_eq!(status.code(), Code::OutOfRange, "{since}: {status:?}");
    }
    app.retrieve(app.admin(), "a").await.expect("still serving");
}

/// A handler that panics: its call is answered (500 / INTERNAL), logged,
/// and the same connection serves the next call.
async fn a_panic_is_an_internal_error_on_that_call(backend: Backend) {
    let settings = ServerSettings {
        panic_hook: true,
        ..test_settings()
    };
    let Some(app) = with_sources(backend, settings).await else {
        return;
    };
    let auth = format!("Bearer {}", app.admin_key);

    // gRPC: INTERNAL on this call, then the same channel goes on.
    let mut request = request_as(
        app.admin(),
        pb::RetrievePlexSourceRequest { slug: "a".into() },
    );
    request
        .metadata_mut()
        .insert(PANIC_HEADER, "1".parse().unwrap());
    let status = app
        .client
        .clone()
        .retrieve_plex_source(request)
        .await
        .expect_err("the handler panicked");
    assert_eq!(status.code(), Code::Internal, "{status:?}");
    assert!(!status.message().contains("panic"), "{status:?}");
    app.retrieve(app.admin(), "a")
        .await
        .expect("the channel still works");

    // REST over HTTP/1.1 and HTTP/2: one connection, a panic, then a call.
    for http in [Http::One, Http::Two] {
        let reply = raw(
            app.addr,
            http,
            "GET",
            &format!("{COLLECTION}a/"),
            &[("authorization", &auth), (PANIC_HEADER, "1")],
            b"",
        )
        .await;
        assert_eq!(
            (reply.status, reply.text()),
            (500, r#"{"detail":"A server error occurred."}"#),
            "{http:?}"
        );
    }
    let ok = crate::rest::raw_many(
        app.addr,
        &[
            (
                vec![("authorization", auth.as_str())],
                format!("{COLLECTION}a/"),
            ),
            (
                vec![("authorization", auth.as_str())],
                format!("{COLLECTION}a/"),
            ),
        ],
    )
    .await;
    assert_eq!(ok, [200, 200], "keep-alive");
    let replies = crate::rest::raw_many(
        app.addr,
        &[
            (
                vec![("authorization", auth.as_str()), (PANIC_HEADER, "1")],
                format!("{COLLECTION}a/"),
            ),
            (
                vec![("authorization", auth.as_str())],
                format!("{COLLECTION}a/"),
            ),
        ],
    )
    .await;
    assert_eq!(
        replies,
        [500, 200],
        "the HTTP/1.1 connection outlives the panic"
    );
}

async fn without_the_hook_the_header_does_nothing(app: TestApp) {
    app.create(app.admin(), new_source("a"))
        .await
        .expect("create");
    let mut request = request_as(
        app.admin(),
        pb::RetrievePlexSourceRequest { slug: "a".into() },
    );
    request
        .metadata_mut()
        .insert(PANIC_HEADER, "1".parse().unwrap());
    app.client
        .clone()
        .retrieve_plex_source(request)
        .await
        .expect("no hook in a server that serve builds");
}

backend_tests!(
    apps: [
        without_the_hook_the_header_does_nothing,
    ],
    backends: [
        a_huge_page_number_is_an_invalid_page,
        grpc_numbers_at_their_extremes_are_answered,
        a_panic_is_an_internal_error_on_that_call,
    ],
);
