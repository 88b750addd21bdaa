//! Logging and traces: text or JSON lines on stderr, levels from
//! `RUST_LOG`; OpenTelemetry traces over OTLP/gRPC when the standard
//! `OTEL_EXPORTER_OTLP_*` variables name an endpoint (`otlp`); the trace
//! id of a call on its JSON log lines ([`trace_id`]).

mod otlp;
pub mod trace_id;

use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Subscriber;
use tracing_subscriber::{
    EnvFilter, Layer, filter::Targets, fmt, layer::SubscriberExt, registry::LookupSpan,
    util::SubscriberInitExt,
};

use crate::config::LogFormat;

pub use trace_id::TraceId;

/// Whether spans go to an OpenTelemetry exporter (see [`exporting`]).
static EXPORTING: AtomicBool = AtomicBool::new(false);
/// Whether log lines show trace ids (JSON lines do).
static LOGS_SHOW_TRACE_IDS: AtomicBool = AtomicBool::new(false);

/// Whether traces are exported: the per-call span then continues the
/// caller's trace context. Off, a call pays for none of it.
pub fn exporting() -> bool {
    EXPORTING.load(Ordering::Relaxed)
}

/// Whether a caller's `traceparent` is worth reading for the log lines
/// alone (JSON logs, no exporter).
pub fn logs_show_trace_ids() -> bool {
    LOGS_SHOW_TRACE_IDS.load(Ordering::Relaxed)
}

/// Whether this process exports traces when the environment asks for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Traces {
    /// Export if `OTEL_EXPORTER_OTLP_ENDPOINT` (or the traces-only
    /// variable) is set: the server.
    FromEnvironment,
    /// Never: the management commands.
    Off,
}

/// What must outlive the program's work: the trace exporter, flushed by
/// [`Telemetry::shutdown`].
#[must_use = "call shutdown() before exiting, or buffered spans are lost"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Exports the spans still buffered, waiting at most
    /// five seconds. Call before the process exits.
    pub async fn shutdown(self) {
        let Some(provider) = self.provider else {
            return;
        };
        // Blocking: the batch processor's thread hands the last batch to the
        // exporter, whose connection runs on this runtime.
        let result = tokio::task::spawn_blocking(move || {
            provider.shutdown_with_timeout(otlp::SHUTDOWN_TIMEOUT)
        })
        .await;
        match result {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::warn!(error = %err, "exporting the last spans failed"),
            Err(err) => tracing::warn!(error = %err, "exporting the last spans failed"),
        }
    }
}

/// Installs the global subscriber. `RUST_LOG` picks levels (default
/// `info`); statement logging of the database driver stays off, so SQL
/// never reaches the log. With `traces` and an OTLP endpoint in the
/// environment, spans are also exported (see `otlp`), whatever
/// `RUST_LOG` says: the `rpc` span of each call and the database spans
/// (DEBUG, so they cost nothing while nothing exports them).
///
/// Call inside the Tokio runtime: the exporter's connection runs on it.
pub fn init(format: LogFormat, traces: Traces) -> Telemetry {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let exporter = match traces {
        Traces::FromEnvironment => otlp::from_env(),
        Traces::Off => Ok(None),
    };
    let (exporter, exporter_error) = match exporter {
        Ok(exporter) => (exporter, None),
        Err(err) => (None, Some(err)),
    };
    // A second init (as in tests) keeps the first subscriber.
    let installed = match &exporter {
        // As without OpenTelemetry at all: one filter for everything.
        None => tracing_subscriber::registry()
            .with(filter)
            .with(log_layer(format))
            .try_init(),
        // `RUST_LOG` filters the logs only; the exporter has its own filter.
        Some(exporter) => {
            use opentelemetry::trace::TracerProvider as _;
            let traces = tracing_opentelemetry::layer()
                .with_tracer(exporter.provider.tracer(env!("CARGO_PKG_NAME")))
                // The semantic attributes only: no source location, thread,
                // target or busy/idle timings on every span.
                .with_location(false)
                .with_threads(false)
                .with_target(false)
                .with_tracked_inactivity(false)
                // Spans of the service's crates only (not of the exporter's
                // own transport): the calls at INFO, the database work (the
                // store crate's) at DEBUG.
                .with_filter(
                    Targets::new()
                        .with_target(env!("CARGO_CRATE_NAME"), tracing::Level::INFO)
                        .with_target("plex_source_core", tracing::Level::INFO)
                        .with_target("blueprint", tracing::Level::INFO)
                        .with_target("store", tracing::Level::DEBUG),
                );
            tracing_subscriber::registry()
                .with(log_layer(format).with_filter(filter))
                .with(traces)
                .try_init()
        }
    }
    .is_ok();
    if !installed {
        return Telemetry { provider: None };
    }
    LOGS_SHOW_TRACE_IDS.store(format == LogFormat::Json, Ordering::Relaxed);
    if let Some(exporter) = &exporter {
        otlp::install_propagator();
        EXPORTING.store(true, Ordering::Relaxed);
        tracing::info!(
            endpoint = %exporter.endpoint,
            service = %exporter.service_name,
            "exporting traces over OTLP"
        );
    }
    if let Some(err) = exporter_error {
        tracing::error!(error = %err, "cannot export traces; serving without");
    }
    Telemetry {
        provider: exporter.map(|exporter| exporter.provider),
    }
}

/// Lines on stderr: text, or JSON objects with the call's `trace_id`.
fn log_layer<S>(format: LogFormat) -> Box<dyn Layer<S> + Send + Sync>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    match format {
        // Colours only for a terminal: escape codes in files and pipes are
        // noise (and cost time on every line).
        LogFormat::Text => fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .boxed(),
        LogFormat::Json => fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .event_format(trace_id::JsonWithTraceId::new(
                fmt::format()
                    .json()
                    .with_current_span(true)
                    .with_span_list(false),
            ))
            .boxed(),
    }
}
