//! One span per call, carrying the method, the gRPC status code and the
//! latency, closed by one `rpc finished` event (DEBUG for OK, INFO for any
//! other status).
//!
//! While traces are exported (see [`crate::telemetry`]) the span is an
//! OpenTelemetry server span named `package.Service/Method` with the rpc
//! semantic attributes, continuing the caller's W3C `traceparent` (and
//! `tracestate`); its trace id goes on the call's JSON log lines. While
//! they are not, the span is the plain one, and only JSON logs read the
//! caller's `traceparent`, for its trace id.

use std::time::Duration;

use opentelemetry::{propagation::Extractor, trace::TraceContextExt};
use tonic::{
    codegen::http::{HeaderMap, Request},
    transport::server::TcpConnectInfo,
};
use tower_http::{
    classify::{GrpcErrorsAsFailures, GrpcFailureClass, SharedClassifier},
    trace::{DefaultOnBodyChunk, TraceLayer},
};
use tracing::{Span, field::Empty};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::telemetry::{self, TraceId, trace_id};

/// The tower layer that traces every call, health and reflection included.
#[allow(clippy::type_complexity)]
pub fn trace_layer() -> TraceLayer<
    SharedClassifier<GrpcErrorsAsFailures>,
    fn(&Request<tonic::body::Body>) -> Span,
    (),
    (),
    DefaultOnBodyChunk,
    fn(Option<&HeaderMap>, Duration, &Span),
    fn(GrpcFailureClass, Duration, &Span),
> {
    TraceLayer::new_for_grpc()
        .make_span_with(make_span as fn(&Request<tonic::body::Body>) -> Span)
        .on_request(())
        .on_response(())
        .on_eos(on_eos as fn(Option<&HeaderMap>, Duration, &Span))
        .on_failure(on_failure as fn(GrpcFailureClass, Duration, &Span))
}

fn make_span(request: &Request<tonic::body::Body>) -> Span {
    if telemetry::exporting() {
        return server_span(request);
    }
    let span = tracing::info_span!(
        "rpc",
        method = %request.uri().path(),
        grpc.code = Empty,
        latency_ms = Empty,
    );
    // No exporter: the caller's trace id only for the log lines, read
    // without allocating.
    if telemetry::logs_show_trace_ids()
        && !span.is_disabled()
        && let Some(id) = request
            .headers()
            .get(super::headers::TRACEPARENT)
            .and_then(|value| TraceId::from_traceparent(value.as_bytes()))
    {
        trace_id::attach(&span, id);
    }
    span
}

/// The OpenTelemetry server span of a call, child of the caller's span
/// when the metadata carries a valid `traceparent`.
fn server_span(request: &Request<tonic::body::Body>) -> Span {
    let path = request.uri().path();
    let name = path.strip_prefix('/').unwrap_or(path);
    let (service, method) = name.split_once('/').unwrap_or((name, ""));
    let connection = request.extensions().get::<TcpConnectInfo>();
    let local = connection.and_then(TcpConnectInfo::local_addr);
    let peer = connection.and_then(TcpConnectInfo::remote_addr);
    let span = tracing::info_span!(
        "rpc",
        otel.name = name,
        otel.kind = "server",
        otel.status_code = Empty,
        rpc.system = "grpc",
        rpc.service = service,
        rpc.method = method,
        rpc.grpc.status_code = Empty,
        server.address = request.uri().host(),
        server.port = local.map(|addr| i64::from(addr.port())),
        network.peer.address = peer.map(|addr| tracing::field::display(addr.ip())),
        network.peer.port = peer.map(|addr| i64::from(addr.port())),
        method = %path,
        grpc.code = Empty,
        latency_ms = Empty,
    );
    if span.is_disabled() {
        return span;
    }
    let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract(&Metadata(request.headers()))
    });
    // Fails only without the OpenTelemetry layer (a second subscriber in
    // tests): the span then starts its own trace, or none.
    let _ = span.set_parent(parent);
    if let Some(id) = TraceId::new(u128::from_be_bytes(
        span.context().span().span_context().trace_id().to_bytes(),
    )) {
        trace_id::attach(&span, id);
    }
    span
}

/// Call metadata as an OpenTelemetry propagation carrier.
struct Metadata<'a>(&'a HeaderMap);

impl Extractor for Metadata<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|name| name.as_str()).collect()
    }
}

fn on_eos(trailers: Option<&HeaderMap>, latency: Duration, span: &Span) {
    let code = trailers
        .and_then(|t| t.get(super::headers::GRPC_STATUS))
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok())
        .unwrap_or(0);
    finish(span, code, latency);
}

fn on_failure(class: GrpcFailureClass, latency: Duration, span: &Span) {
    match class {
        GrpcFailureClass::Code(code) => finish(span, code.get(), latency),
        GrpcFailureClass::Error(error) => {
            span.record("latency_ms", latency.as_secs_f64() * 1000.0);
            if telemetry::exporting() {
                span.record("otel.status_code", "ERROR");
            }
            tracing::warn!(parent: span, %error, "rpc failed in transport");
        }
    }
}

fn finish(span: &Span, code: i32, latency: Duration) {
    let code = tonic::Code::from_i32(code);
    let latency_ms = latency.as_secs_f64() * 1000.0;
    // Recorded lazily: formatted only if a subscriber wants it.
    span.record("grpc.code", tracing::field::debug(code));
    span.record("latency_ms", latency_ms);
    if telemetry::exporting() {
        span.record("rpc.grpc.status_code", i64::from(code as i32));
        if is_server_error(code) {
            span.record("otel.status_code", "ERROR");
        }
    }
    // Successes are the bulk of the traffic: an access log at DEBUG, so the
    // default INFO level does not pay for a line per call. Every other
    // status is logged at INFO.
    if code == tonic::Code::Ok {
        tracing::debug!(parent: span, grpc.code = ?code, latency_ms, "rpc finished");
    } else {
        tracing::info!(parent: span, grpc.code = ?code, latency_ms, "rpc finished");
    }
}

/// Whether a status marks the server span as failed. Per the OpenTelemetry
/// rpc conventions, a server span's status stays unset for the statuses
/// that describe the caller's request (NOT_FOUND, INVALID_ARGUMENT,
/// PERMISSION_DENIED, ...): only these report the server's own failure.
fn is_server_error(code: tonic::Code) -> bool {
    matches!(
        code,
        tonic::Code::Unknown
            | tonic::Code::DeadlineExceeded
            | tonic::Code::Unimplemented
            | tonic::Code::Internal
            | tonic::Code::Unavailable
            | tonic::Code::DataLoss
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_server_failures_mark_the_span_failed() {
        for code in [
            tonic::Code::Ok,
            tonic::Code::NotFound,
            tonic::Code::InvalidArgument,
            tonic::Code::PermissionDenied,
            tonic::Code::Unauthenticated,
            tonic::Code::AlreadyExists,
            tonic::Code::FailedPrecondition,
            tonic::Code::ResourceExhausted,
            tonic::Code::Cancelled,
        ] {
            assert!(!is_server_error(code), "{code:?}");
        }
        for code in [
            tonic::Code::Internal,
            tonic::Code::Unavailable,
            tonic::Code::DeadlineExceeded,
            tonic::Code::Unknown,
            tonic::Code::Unimplemented,
            tonic::Code::DataLoss,
        ] {
            assert!(is_server_error(code), "{code:?}");
        }
    }
}
