//! The admin listener: plaintext, for the cluster rather than for callers.
//! `GET /metrics` (Prometheus text format) over HTTP/1.1 or HTTP/2, and the
//! gRPC health service, because the kubelet's gRPC probes cannot speak TLS
//! and must not need the callers' port.

use std::sync::Arc;

use axum::{
    http::{StatusCode, header::CONTENT_TYPE},
    routing::get,
};
use tokio::{net::TcpListener, sync::watch};
use tonic::{
    service::Routes,
    transport::{Server, server::TcpIncoming},
};
use tonic_health::pb::health_server::HealthServer;

use super::health::EndingHealth;
use crate::metrics::{self, Metrics, ServerState};

/// Serves until `stop` turns `true`.
pub(super) async fn serve(
    listener: TcpListener,
    health: HealthServer<EndingHealth>,
    metrics: Arc<Metrics>,
    state: ServerState,
    mut stop: watch::Receiver<bool>,
) {
    let router = Routes::new(health)
        .prepare()
        .into_axum_router()
        .route(
            "/metrics",
            get(move || {
                let metrics = metrics.clone();
                let state = state.clone();
                async move {
                    state.probe_pool().await;
                    ([(CONTENT_TYPE, metrics::CONTENT_TYPE)], metrics.encode())
                }
            }),
        )
        // Anything else: 404, which gRPC clients read as UNIMPLEMENTED.
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found: try GET /metrics\n") });
    let served = Server::builder()
        .accept_http1(true)
        .add_routes(Routes::from(router))
        .serve_with_incoming_shutdown(
            TcpIncoming::from(listener).with_nodelay(Some(true)),
            async move {
                let _ = stop.wait_for(|stop| *stop).await;
            },
        )
        .await;
    if let Err(err) = served {
        tracing::error!(%err, "admin listener failed");
    }
}
