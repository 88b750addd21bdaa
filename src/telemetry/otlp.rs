//! The OTLP/gRPC trace exporter, configured by the standard environment
//! variables through the OpenTelemetry SDK's own handling of them:
//! `OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`,
//! `..._TIMEOUT`, `..._HEADERS`, `..._COMPRESSION`, `OTEL_SERVICE_NAME`,
//! `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER(_ARG)`, `OTEL_BSP_*`
//! and `OTEL_SPAN_*_COUNT_LIMIT`. Spans are batched and sent by the batch
//! processor's own thread, never on a call's path.

use std::time::Duration;

use opentelemetry::{Key, Value};
use opentelemetry_otlp::{ExporterBuildError, SpanExporter};
use opentelemetry_sdk::{Resource, propagation::TraceContextPropagator, trace::SdkTracerProvider};

/// Longest the exit waits for the last spans to be exported.
pub(super) const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// `service.name` when neither `OTEL_SERVICE_NAME` nor
/// `OTEL_RESOURCE_ATTRIBUTES` names the service.
const DEFAULT_SERVICE_NAME: &str = env!("CARGO_PKG_NAME");

const ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
const TRACES_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";

/// A configured exporter.
pub(super) struct Exporter {
    pub provider: SdkTracerProvider,
    pub service_name: String,
    /// Where spans go, as `host:port` (no credentials, no path).
    pub endpoint: String,
}

/// The exporter the environment asks for, if any: an OTLP endpoint is set
/// (generic or traces-only), `OTEL_TRACES_EXPORTER` is unset or `otlp`,
/// and `OTEL_SDK_DISABLED` is not `true`.
pub(super) fn from_env() -> Result<Option<Exporter>, ExporterBuildError> {
    let Some(endpoint) = endpoint_from_env(|name| std::env::var(name).ok()) else {
        return Ok(None);
    };
    if let Ok(protocol) = std::env::var("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        .or_else(|_| std::env::var("OTEL_EXPORTER_OTLP_PROTOCOL"))
        && !protocol.trim().eq_ignore_ascii_case("grpc")
    {
        return Err(ExporterBuildError::InvalidConfiguration(format!(
            "OTEL_EXPORTER_OTLP_PROTOCOL {protocol:?}: this server exports over grpc only"
        )));
    }
    // Endpoint, timeout, headers and compression: from the environment.
    let exporter = SpanExporter::builder().with_tonic().build()?;
    let resource = resource();
    let service_name = resource
        .get(&Key::from_static_str("service.name"))
        .map(|name| name.to_string())
        .unwrap_or_default();
    // Sampler, span limits and batching (OTEL_BSP_*): from the environment.
    let provider = SdkTracerProvider::builder()
        .with_resource(resource)
        .with_batch_exporter(exporter)
        .build();
    Ok(Some(Exporter {
        provider,
        service_name,
        endpoint: loggable(&endpoint),
    }))
}

/// The endpoint variable that turns export on, per the specification's
/// switches; `var` reads the environment.
fn endpoint_from_env(var: impl Fn(&str) -> Option<String>) -> Option<String> {
    let set = |name: &str| var(name).filter(|value| !value.trim().is_empty());
    if set("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
        return None;
    }
    if set("OTEL_TRACES_EXPORTER").is_some_and(|v| !v.trim().eq_ignore_ascii_case("otlp")) {
        return None;
    }
    set(TRACES_ENDPOINT).or_else(|| set(ENDPOINT))
}

/// The SDK's resource (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`,
/// the SDK's own attributes), named after this service unless the
/// environment names it.
fn resource() -> Resource {
    let detected = Resource::builder().build();
    let unnamed = detected
        .get(&Key::from_static_str("service.name"))
        .is_none_or(
            |name| matches!(&name, Value::String(s) if s.as_str().starts_with("unknown_service")),
        );
    if unnamed {
        Resource::builder()
            .with_service_name(DEFAULT_SERVICE_NAME)
            .build()
    } else {
        detected
    }
}

/// `host:port` of an endpoint URL, without any credentials or path.
fn loggable(endpoint: &str) -> String {
    match endpoint.trim().parse::<tonic::codegen::http::Uri>() {
        Ok(uri) => match (uri.host(), uri.port_u16()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_owned(),
            _ => "(unparsed)".to_owned(),
        },
        Err(_) => "(unparsed)".to_owned(),
    }
}

/// W3C trace context (`traceparent`, `tracestate`): how the per-call span
/// reads the caller's context from call metadata.
pub(super) fn install_propagator() {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn endpoint(vars: &[(&str, &str)]) -> Option<String> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        endpoint_from_env(|name| vars.get(name).cloned())
    }

    #[test]
    fn export_is_on_only_with_an_endpoint() {
        assert_eq!(endpoint(&[]), None);
        assert_eq!(endpoint(&[(ENDPOINT, "  ")]), None);
        assert_eq!(
            endpoint(&[(ENDPOINT, "http://collector:4317")]).as_deref(),
            Some("http://collector:4317")
        );
        assert_eq!(
            endpoint(&[
                (ENDPOINT, "http://collector:4317"),
                (TRACES_ENDPOINT, "http://traces:4317")
            ])
            .as_deref(),
            Some("http://traces:4317")
        );
    }

    #[test]
    fn the_specification_switches_turn_export_off() {
        let on = (ENDPOINT, "http://collector:4317");
        assert_eq!(endpoint(&[on, ("OTEL_SDK_DISABLED", "true")]), None);
        assert_eq!(endpoint(&[on, ("OTEL_TRACES_EXPORTER", "none")]), None);
        assert!(endpoint(&[on, ("OTEL_TRACES_EXPORTER", "otlp")]).is_some());
        assert!(endpoint(&[on, ("OTEL_SDK_DISABLED", "false")]).is_some());
    }

    #[test]
    fn logged_endpoints_carry_no_credentials() {
        assert_eq!(
            loggable("https://user:secret@collector.example:4317/v1"),
            "collector.example:4317"
        );
        assert_eq!(loggable("http://127.0.0.1:4317"), "127.0.0.1:4317");
        assert_eq!(loggable("not a url"), "(unparsed)");
    }
}
