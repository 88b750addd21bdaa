//! One span per call, carrying the method, the gRPC status code and the
//! latency, closed by one `rpc finished` event (DEBUG for OK, INFO for any
//! other status). [`super::observe`] opens and closes it.
//!
//! While traces are exported (see [`crate::telemetry`]) the span is an
//! OpenTelemetry server span named `package.Service/Method` with the rpc
//! semantic attributes, continuing the caller's W3C `traceparent` (and
//! `tracestate`); its trace id goes on the call's JSON log lines. While
//! they are not, the span is the plain one, and only JSON logs read the
//! caller's `traceparent`, for its trace id.

use std::time::Duration;

use opentelemetry::{propagation::Extractor, trace::TraceContextExt};
use tonic::codegen::http::{HeaderMap, Request};
use tracing::{Span, field::Empty};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::{
    app::Connection,
    telemetry::{self, TraceId, trace_id},
};

/// The span of a call about to be served.
///
/// Exported traces need it at INFO, and so do JSON logs of a call whose
/// caller sent a `traceparent` (the span carries its trace id to every
/// line). Otherwise it is at DEBUG, as tower-http's request spans are: a
/// span costs 4–10% of a cached read (the log layer formats its fields,
/// the registry tracks each enter and exit), and at the default level the
/// `rpc finished` event names the method itself.
pub(super) fn span<B>(request: &Request<B>) -> Span {
    if telemetry::exporting() {
        return server_span(request);
    }
    // Read without allocating.
    let trace_id = telemetry::logs_show_trace_ids()
        .then(|| {
            request
                .headers()
                .get(super::headers::TRACEPARENT)
                .and_then(|value| TraceId::from_traceparent(value.as_bytes()))
        })
        .flatten();
    // The status and latency go on the `rpc finished` event, not on the
    // span: a field recorded on a span is formatted at once by the log
    // layer, wanted or not.
    let Some(id) = trace_id else {
        return tracing::debug_span!("rpc", method = %request.uri().path());
    };
    let span = tracing::info_span!("rpc", method = %request.uri().path());
    if !span.is_disabled() {
        trace_id::attach(&span, id);
    }
    span
}

/// The OpenTelemetry server span of a call, child of the caller's span
/// when the metadata carries a valid `traceparent`.
fn server_span<B>(request: &Request<B>) -> Span {
    let path = request.uri().path();
    let name = path.strip_prefix('/').unwrap_or(path);
    let (service, method) = name.split_once('/').unwrap_or((name, ""));
    let connection = request.extensions().get::<Connection>();
    let local = connection.and_then(|c| c.local);
    let peer = connection.and_then(|c| c.remote);
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

/// The call failed in the transport, without a status. `method` is the
/// request path when `span` is disabled, so the line still names it.
pub(super) fn failed(
    span: &Span,
    method: Option<&str>,
    error: &dyn std::fmt::Display,
    latency: Duration,
) {
    let latency_ms = latency.as_secs_f64() * 1000.0;
    if telemetry::exporting() {
        span.record("latency_ms", latency_ms);
        span.record("otel.status_code", "ERROR");
    }
    tracing::warn!(parent: span, method, %error, latency_ms, "rpc failed in transport");
}

/// The call ended with `code`, `latency` after it began; `method` as in
/// [`failed`].
pub(super) fn finished(span: &Span, method: Option<&str>, code: tonic::Code, latency: Duration) {
    let latency_ms = latency.as_secs_f64() * 1000.0;
    if telemetry::exporting() {
        span.record("grpc.code", tracing::field::debug(code));
        span.record("latency_ms", latency_ms);
        span.record("rpc.grpc.status_code", i64::from(code as i32));
        if is_server_error(code) {
            span.record("otel.status_code", "ERROR");
        }
    }
    // Successes are the bulk of the traffic: an access log at DEBUG, so the
    // default INFO level does not pay for a line per call. Every other
    // status is logged at INFO.
    if code == tonic::Code::Ok {
        tracing::debug!(parent: span, method, grpc.code = ?code, latency_ms, "rpc finished");
    } else {
        tracing::info!(parent: span, method, grpc.code = ?code, latency_ms, "rpc finished");
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
        use tonic::Code;
        // (code, whether the server failed)
        for (code, server) in [
            (Code::Ok, false),
            (Code::NotFound, false),
            (Code::InvalidArgument, false),
            (Code::PermissionDenied, false),
            (Code::Unauthenticated, false),
            (Code::AlreadyExists, false),
            (Code::FailedPrecondition, false),
            (Code::ResourceExhausted, false),
            (Code::Cancelled, false),
            (Code::Internal, true),
            (Code::Unavailable, true),
            (Code::DeadlineExceeded, true),
            (Code::Unknown, true),
            (Code::Unimplemented, true),
            (Code::DataLoss, true),
        ] {
            assert_eq!(is_server_error(code), server, "{code:?}");
        }
    }
}
