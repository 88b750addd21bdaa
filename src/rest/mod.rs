//! The REST transport: authentik's own Plex source API
//! (`/api/v3/sources/plex/`), served on the gRPC port to the clients that
//! already speak it (authentik's generated Python and TypeScript clients,
//! plain HTTP). It calls the same [`crate::ops`] operations as gRPC does:
//! authentication, permissions, validation, audit, cache and the change
//! log happen there, once.
//!
//! Layout: [`dispatch`] splits the port's requests between gRPC and REST by
//! content type; [`observe`] traces, logs and counts each request;
//! [`routes`] holds the handlers; [`body`] the JSON shapes (authentik's
//! field order and names); [`query`] the list parameters;
//! [`error`] the one mapping of failures to Django REST framework's
//! answers; [`openapi`] the document at `GET /api/v3/schema/`.
//!
//! Bearer tokens only: no cookies, no sessions, no CORS headers.

pub mod body;
mod dispatch;
pub mod error;
mod observe;
pub mod openapi;
pub mod query;
mod routes;

use axum::{
    http::{HeaderValue, StatusCode, header},
    middleware,
    response::{IntoResponse, Response},
};

pub use dispatch::{BoxError, Dispatch, is_grpc};
pub use routes::{API_ROOT, DEFAULT_MAX_BODY_BYTES, RestSettings, router};

use crate::{metrics::HttpMetrics, ops::Operations};

/// The layer that serves REST beside gRPC on one port. A panicking
/// handler is answered with a 500; `panic_hook` installs the test hook
/// (see [`crate::app::PANIC_HOOK`]) around the handlers.
pub fn layer<S>(
    ops: Operations,
    settings: RestSettings,
    metrics: HttpMetrics,
    panic_hook: bool,
) -> impl tower::Layer<S, Service = Dispatch<S>> + Clone {
    let router = router(ops, settings);
    let router = if panic_hook {
        router.layer(crate::app::PANIC_HOOK)
    } else {
        router
    };
    dispatch::layer(
        router
            .layer(middleware::from_fn_with_state(metrics, observe::observed))
            .layer(crate::app::catch_panic(false)),
    )
}

/// A JSON answer, as Django REST framework's renderer sends it.
fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}
