//! The admin listener: plaintext, for the cluster rather than for callers.
//! `GET /metrics` (Prometheus text format) over HTTP/1.1 or HTTP/2, and the
//! gRPC health service, because the kubelet's gRPC probes cannot speak TLS
//! and must not need the callers' port.

use std::sync::Arc;

use axum::{
    http::{StatusCode, header::CONTENT_TYPE},
    routing::get,
};
use tonic::service::Routes;
use tonic_health::pb::health_server::HealthServer;

use super::health::EndingHealth;
use crate::metrics::{self, Metrics};

/// What the admin port serves: health and `GET /metrics`. A scrape reads
/// what the server already knows; it never touches the database.
pub(super) fn service(health: HealthServer<EndingHealth>, metrics: Arc<Metrics>) -> Routes {
    let router = Routes::new(health)
        .prepare()
        .into_axum_router()
        .route(
            "/metrics",
            get(move || {
                let metrics = metrics.clone();
                async move { ([(CONTENT_TYPE, metrics::CONTENT_TYPE)], metrics.encode()) }
            }),
        )
        // Anything else: 404, which gRPC clients read as UNIMPLEMENTED.
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found: try GET /metrics\n") });
    Routes::from(router)
}
