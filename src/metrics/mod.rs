//! Prometheus metrics, served by the admin listener: per-call metrics under
//! the grpc-ecosystem `grpc_server_*` names ([`CallMetrics`]), REST
//! requests under OpenTelemetry's `http_server_*` ([`HttpMetrics`]) and the
//! server's state under `plexsource_*` ([`ServerState`], read at each
//! scrape, so nothing on the request path keeps it up to date).

mod calls;
mod http;
mod state;

use prometheus_client::{encoding::prometheus_text, registry::Registry};

pub use calls::{CallMetrics, MethodMetrics};
pub use http::HttpMetrics;
pub use state::ServerState;

/// `Content-Type` of [`Metrics::encode`]: the Prometheus text format.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// One server's registry.
pub struct Metrics {
    registry: Registry,
}

impl Metrics {
    /// A registry holding the call metrics of every method in
    /// `descriptor_sets` (see [`CallMetrics::register`]), the REST
    /// request metrics and the state behind `state`.
    pub fn new(descriptor_sets: &[&[u8]], state: ServerState) -> (Self, CallMetrics, HttpMetrics) {
        let mut registry = Registry::default();
        let calls = CallMetrics::register(&mut registry, descriptor_sets);
        let http = HttpMetrics::register(&mut registry);
        registry.register_collector(Box::new(state));
        (Self { registry }, calls, http)
    }

    /// Every metric, in the Prometheus text format (version 0.0.4).
    pub fn encode(&self) -> String {
        let mut text = String::with_capacity(16 * 1024);
        // Writing to a String cannot fail; an encoder error would be a bug
        // in a collector, and a partial scrape is better than none.
        if let Err(err) = prometheus_text::encode(&mut text, &self.registry) {
            tracing::error!(%err, "metrics encoding failed");
        }
        text
    }
}
