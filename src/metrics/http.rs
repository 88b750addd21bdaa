//! REST requests under OpenTelemetry's HTTP server names, as its
//! Prometheus exporter spells them: `http_server_request_duration_seconds`
//! by `http_request_method`, `http_route` and `http_response_status_code`
//! (its `_count` is the number of requests). The route is the template the
//! request matched (`/api/v3/sources/plex/{slug}/`), or `other`, and an
//! unknown method is `_OTHER`: a caller cannot grow the label sets.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{family::Family, histogram::Histogram},
    registry::Registry,
};

use super::calls::BUCKETS;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    http_request_method: &'static str,
    http_route: &'static str,
    http_response_status_code: u16,
}

/// The REST transport's series, registered once per server.
#[derive(Clone)]
pub struct HttpMetrics {
    duration: Family<RequestLabels, Histogram>,
}

impl HttpMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let duration: Family<RequestLabels, Histogram> =
            Family::new_with_constructor(|| Histogram::new(BUCKETS));
        registry.register(
            "http_server_request_duration_seconds",
            "REST requests: time from the request to its response's headers",
            duration.clone(),
        );
        Self { duration }
    }

    /// A request to `route` (a template, or `other`) was answered with
    /// `status` after `elapsed`.
    pub fn observe(
        &self,
        method: &Method,
        route: &'static str,
        status: StatusCode,
        elapsed: Duration,
    ) {
        self.duration
            .get_or_create(&RequestLabels {
                http_request_method: method_label(method),
                http_route: route,
                http_response_status_code: status.as_u16(),
            })
            .observe(elapsed.as_secs_f64());
    }
}

/// The method as OpenTelemetry's conventions label it: the known ones by
/// name, any other as `_OTHER`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "_OTHER",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_outside_the_standard_set_share_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::PATCH), "PATCH");
        let made_up = Method::from_bytes(b"BREW").unwrap();
        assert_eq!(method_label(&made_up), "_OTHER");
    }
}
