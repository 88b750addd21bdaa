//! Every REST request is observed once, here: one `http` span (method,
//! path), one clock reading at each end, one `http finished` line (status,
//! latency; DEBUG below 400, INFO otherwise) and its `http_server_*`
//! series (see [`HttpMetrics`]). Laid over the whole router, fallback
//! included, so every request counts, under the route template it matched
//! or `other`.
//!
//! The span is at DEBUG, as the gRPC call span (see `grpc::trace`): an
//! enabled span's fields are formatted for every request. While it is off,
//! the `http finished` line names the request itself.

use std::time::Instant;

use axum::{
    extract::{MatchedPath, Request, State},
    middleware::Next,
    response::Response,
};
use tracing::Instrument;

use super::routes::{COLLECTION, OBJECT, SCHEMA};
use crate::metrics::HttpMetrics;

pub(super) async fn observed(
    State(metrics): State<HttpMetrics>,
    request: Request,
    next: Next,
) -> Response {
    let route = match request
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str)
    {
        Some(COLLECTION) => COLLECTION,
        Some(OBJECT) => OBJECT,
        Some(SCHEMA) => SCHEMA,
        _ => "other",
    };
    let method = request.method().clone();
    let span = tracing::debug_span!("http", %method, path = %request.uri().path());
    let path = span
        .is_disabled()
        .then(|| request.uri().path_and_query().cloned())
        .flatten();
    let started = Instant::now();
    let response = next.run(request).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    metrics.observe(&method, route, response.status(), elapsed);

    let status = response.status().as_u16();
    let latency_ms = elapsed.as_secs_f64() * 1000.0;
    let method = span.is_disabled().then_some(method.as_str());
    let path = path.as_ref().map(|path| path.path());
    if status < 400 {
        tracing::debug!(parent: &span, method, path, status, latency_ms, "http finished");
    } else {
        tracing::info!(parent: &span, method, path, status, latency_ms, "http finished");
    }
    response
}
