//! One span per call, carrying the method, the gRPC status code and the
//! latency, closed by one `rpc finished` event (DEBUG for OK, INFO for any
//! other status).

use std::time::Duration;

use tonic::codegen::http::{HeaderMap, Request};
use tower_http::{
    classify::{GrpcErrorsAsFailures, GrpcFailureClass, SharedClassifier},
    trace::{DefaultOnBodyChunk, TraceLayer},
};
use tracing::{Span, field::Empty};

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
    tracing::info_span!(
        "rpc",
        method = %request.uri().path(),
        grpc.code = Empty,
        latency_ms = Empty,
    )
}

fn on_eos(trailers: Option<&HeaderMap>, latency: Duration, span: &Span) {
    let code = trailers
        .and_then(|t| t.get("grpc-status"))
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
    // Successes are the bulk of the traffic: an access log at DEBUG, so the
    // default INFO level does not pay for a line per call. Every other
    // status is logged at INFO.
    if code == tonic::Code::Ok {
        tracing::debug!(parent: span, grpc.code = ?code, latency_ms, "rpc finished");
    } else {
        tracing::info!(parent: span, grpc.code = ?code, latency_ms, "rpc finished");
    }
}
