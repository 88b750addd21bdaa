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

use std::time::Duration;

use axum::{
    http::{HeaderValue, StatusCode, header},
    middleware,
    response::{IntoResponse, Response},
};

pub use dispatch::{Dispatch, RestLayer};
pub use routes::{API_ROOT, MAX_BODY_BYTES, router};

use crate::{metrics::HttpMetrics, ops::Operations};

/// The layer that serves REST beside gRPC on one port.
pub fn layer(ops: Operations, request_timeout: Duration, metrics: HttpMetrics) -> RestLayer {
    RestLayer::new(
        router(ops, request_timeout)
            .layer(middleware::from_fn_with_state(metrics, observe::observed)),
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
