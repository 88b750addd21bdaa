//! OpenTelemetry traces, as an operator turns them on: the binary with the
//! standard `OTEL_*` variables pointing at an OTLP/gRPC receiver started
//! here (the collector's trace service on a small tonic server). Calls
//! continue the caller's `traceparent`, each is one server span with the
//! rpc attributes and database child spans, and JSON log lines carry the
//! trace id; with export off nothing is sent.

use std::{
    net::SocketAddr,
    path::Path,
    process::{Child, Command, Stdio},
    sync::mpsc as std_mpsc,
    time::{Duration, Instant},
};

use opentelemetry_proto::tonic::{
    collector::trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
        trace_service_server::{TraceService, TraceServiceServer},
    },
    common::v1::{KeyValue, any_value::Value},
    resource::v1::Resource,
    trace::v1::{Span, span::SpanKind, status::StatusCode},
};
use tokio::sync::mpsc;
use tonic::{
    codegen::http::uri::PathAndQuery,
    transport::{Channel, Server, server::TcpIncoming},
};

use crate::{
    helpers::{
        example_blueprint, lines,
        pb::{self, plex_source_service_client::PlexSourceServiceClient},
        read_until, request_as,
    },
    rest::{Http, raw},
};

const BIN: &str = env!("CARGO_BIN_EXE_plex-source-service");
const KEY: &str = "bootstrap-key-for-trace-tests-0c5e7a9b31f24d68";
/// The example blueprint's Plex token when `PLEX_OWNER_TOKEN` is unset.
const PLEX_TOKEN: &str = "example-owner-token";

const RETRIEVE: &str = "plexsource.v1.PlexSourceService/RetrievePlexSource";

/// The caller's trace of the first call and its span there.
const TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const PARENT: &str = "b7ad6b7169203331";
/// Another caller trace, for the NOT_FOUND call.
const OTHER_TRACE: &str = "5b8efff798038103d269b633813fc60c";
const OTHER_PARENT: &str = "eee19b7ec3c1b174";
const TRACESTATE: &str = "congo=t61rcWkgMzE";

/// The collector's trace service: hands every export to the test.
struct Receiver(mpsc::UnboundedSender<ExportTraceServiceRequest>);

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let _ = self.0.send(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

/// A span as received, with its resource.
#[derive(Debug, Clone)]
struct Received {
    resource: Option<Resource>,
    span: Span,
}

/// An OTLP/gRPC trace receiver on 127.0.0.1.
struct Collector {
    addr: SocketAddr,
    exports: mpsc::UnboundedReceiver<ExportTraceServiceRequest>,
    spans: Vec<Received>,
}

impl Collector {
    async fn start() -> Collector {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, exports) = mpsc::unbounded_channel();
        tokio::spawn(
            Server::builder()
                .add_service(TraceServiceServer::new(Receiver(tx)))
                .serve_with_incoming(TcpIncoming::from(listener)),
        );
        Collector {
            addr,
            exports,
            spans: Vec::new(),
        }
    }

    fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Takes in exports until `done` holds of the spans received so far;
    /// fails after `patience`.
    async fn until(&mut self, patience: Duration, done: impl Fn(&[Received]) -> bool) {
        let deadline = Instant::now() + patience;
        while !done(&self.spans) {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.exports.recv()).await {
                Ok(Some(export)) => self.take(export),
                _ => panic!(
                    "expected spans not received within {patience:?}; got {:#?}",
                    self.spans
                ),
            }
        }
    }

    /// Every export arriving within `wait`.
    async fn for_a_while(&mut self, wait: Duration) {
        let deadline = tokio::time::Instant::now() + wait;
        while let Ok(Some(export)) = tokio::time::timeout_at(deadline, self.exports.recv()).await {
            self.take(export);
        }
    }

    fn take(&mut self, export: ExportTraceServiceRequest) {
        for resource_spans in export.resource_spans {
            for scope_spans in resource_spans.scope_spans {
                for span in scope_spans.spans {
                    self.spans.push(Received {
                        resource: resource_spans.resource.clone(),
                        span,
                    });
                }
            }
        }
    }
}

fn attr<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

fn str_attr<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a str> {
    match attr(attributes, key) {
        Some(Value::StringValue(s)) => Some(s),
        _ => None,
    }
}

fn int_attr(attributes: &[KeyValue], key: &str) -> Option<i64> {
    match attr(attributes, key) {
        Some(Value::IntValue(i)) => Some(*i),
        _ => None,
    }
}

fn bytes(hex_id: &str) -> Vec<u8> {
    hex::decode(hex_id).unwrap()
}

/// The binary with a clean environment: no `OTEL_*` variable unless given.
fn command(dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("OTEL_") {
            cmd.env_remove(name);
        }
    }
    for name in [
        "DATABASE_URL",
        "LISTEN_ADDR",
        "LOG_FORMAT",
        "BOOTSTRAP_TOKEN",
        "PLEX_OWNER_TOKEN",
    ] {
        cmd.env_remove(name);
    }
    cmd.env("RUST_LOG", "info")
        .env("ADMIN_LISTEN", "127.0.0.1:0");
    cmd
}

/// A server on a fresh SQLite file holding the example blueprint, with
/// JSON logs and `env` set.
struct Served {
    child: Child,
    logs: std_mpsc::Receiver<String>,
    seen: Vec<String>,
    addr: String,
    _dir: tempfile::TempDir,
}

impl Served {
    fn start(env: &[(&str, &str)]) -> Served {
        let dir = tempfile::tempdir().unwrap();
        let import = command(dir.path())
            .arg("import")
            .arg(example_blueprint())
            .output()
            .unwrap();
        assert!(
            import.status.success(),
            "{}",
            String::from_utf8_lossy(&import.stderr)
        );
        let mut cmd = command(dir.path());
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
            .env("BOOTSTRAP_TOKEN", KEY)
            .stderr(Stdio::piped())
            .stdout(Stdio::null());
        for (name, value) in env {
            cmd.env(name, value);
        }
        let mut child = cmd.spawn().unwrap();
        let logs = lines(child.stderr.take().expect("piped stderr"));
        let mut seen = Vec::new();
        let started = read_until(&logs, &mut seen, Duration::from_secs(20), |line| {
            json(line)["fields"]["message"] == "serving plexsource.v1.PlexSourceService"
        });
        let addr = json(&started)["fields"]["address"]
            .as_str()
            .expect("address logged")
            .to_owned();
        Served {
            child,
            logs,
            seen,
            addr,
            _dir: dir,
        }
    }

    async fn client(&self) -> PlexSourceServiceClient<Channel> {
        PlexSourceServiceClient::connect(format!("http://{}", self.addr))
            .await
            .unwrap()
    }

    /// The next log line (JSON) satisfying `found`, within 10 s.
    fn line(&mut self, found: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        let line = read_until(&self.logs, &mut self.seen, Duration::from_secs(10), |l| {
            found(&json(l))
        });
        json(&line)
    }

    /// SIGTERM; the exit status must be 0. Returns every log line.
    fn stop(mut self) -> Vec<String> {
        let kill = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(kill.success());
        assert_eq!(self.child.wait().unwrap().code(), Some(0), "exit status");
        // The reader thread sees the end of the output once the child is gone.
        while let Ok(line) = self.logs.recv_timeout(Duration::from_secs(5)) {
            self.seen.push(line);
        }
        std::mem::take(&mut self.seen)
    }
}

impl Drop for Served {
    /// A failed test leaves no server behind.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn json(line: &str) -> serde_json::Value {
    serde_json::from_str(line).unwrap_or(serde_json::Value::Null)
}

/// A retrieve by the bootstrap superuser, with a trace context if given.
fn retrieve(
    slug: &str,
    traceparent: Option<&str>,
) -> tonic::Request<pb::RetrievePlexSourceRequest> {
    let mut request = request_as(KEY, pb::RetrievePlexSourceRequest { slug: slug.into() });
    if let Some(traceparent) = traceparent {
        request
            .metadata_mut()
            .insert("traceparent", traceparent.parse().unwrap());
        request
            .metadata_mut()
            .insert("tracestate", TRACESTATE.parse().unwrap());
    }
    request
}

/// An `rpc finished` line of `method` with `code`. The method is the
/// span's, or the line's own where the span is below the log level.
fn is_finished(j: &serde_json::Value, method: &str, code: &str) -> bool {
    let path = format!("/{method}");
    j["fields"]["message"] == "rpc finished"
        && (j["span"]["method"] == path || j["fields"]["method"] == path)
        && j["fields"]["grpc.code"] == code
}

fn server_span<'a>(spans: &'a [Received], trace: &[u8]) -> Option<&'a Received> {
    spans
        .iter()
        .find(|r| r.span.trace_id == trace && r.span.kind == SpanKind::Server as i32)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_export_server_and_database_spans_continuing_the_callers_trace() {
    let mut collector = Collector::start().await;
    let endpoint = collector.endpoint();
    let mut served = Served::start(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_SERVICE_NAME", "plex-source-test"),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "deployment.environment.name=test",
        ),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        // The OK call's `rpc finished` line is at DEBUG.
        ("RUST_LOG", "info,plex_source_service=debug"),
    ]);
    assert!(
        served
            .seen
            .iter()
            .any(|l| json(l)["fields"]["message"] == "exporting traces over OTLP"),
        "{:#?}",
        served.seen
    );
    let mut client = served.client().await;

    let traceparent = format!("00-{TRACE}-{PARENT}-01");
    let got = client
        .retrieve_plex_source(retrieve("plex-login", Some(&traceparent)))
        .await
        .expect("the example source")
        .into_inner();
    assert_eq!(got.slug, "plex-login");
    let other = format!("00-{OTHER_TRACE}-{OTHER_PARENT}-01");
    let missing = client
        .retrieve_plex_source(retrieve("missing", Some(&other)))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);
    // A method the server does not have, with no trace context: a server
    // failure (UNIMPLEMENTED) in a trace of its own.
    let mut grpc = tonic::client::Grpc::new(
        Channel::from_shared(format!("http://{}", served.addr))
            .unwrap()
            .connect()
            .await
            .unwrap(),
    );
    grpc.ready().await.unwrap();
    let unimplemented = grpc
        .unary(
            retrieve("plex-login", None),
            PathAndQuery::from_static("/plexsource.v1.PlexSourceService/NoSuchMethod"),
            tonic_prost::ProstCodec::<pb::RetrievePlexSourceRequest, pb::PlexSource>::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(unimplemented.code(), tonic::Code::Unimplemented);

    let trace = bytes(TRACE);
    let other_trace = bytes(OTHER_TRACE);
    let is_unimplemented = |r: &Received| r.span.name.ends_with("/NoSuchMethod");
    collector
        .until(Duration::from_secs(10), |spans| {
            server_span(spans, &trace).is_some()
                && server_span(spans, &other_trace).is_some()
                && spans.iter().any(is_unimplemented)
                && spans
                    .iter()
                    .any(|r| r.span.trace_id == trace && r.span.kind == SpanKind::Client as i32)
        })
        .await;
    let spans = collector.spans.clone();

    // The first call: a server span continuing the caller's span.
    let call = server_span(&spans, &trace).unwrap();
    let s = &call.span;
    assert_eq!(s.name, RETRIEVE);
    assert_eq!(
        s.parent_span_id,
        bytes(PARENT),
        "child of the caller's span"
    );
    assert_eq!(s.trace_state, TRACESTATE, "the caller's tracestate goes on");
    assert_eq!(s.span_id.len(), 8);
    assert_eq!(str_attr(&s.attributes, "rpc.system"), Some("grpc"));
    assert_eq!(
        str_attr(&s.attributes, "rpc.service"),
        Some("plexsource.v1.PlexSourceService")
    );
    assert_eq!(
        str_attr(&s.attributes, "rpc.method"),
        Some("RetrievePlexSource")
    );
    assert_eq!(int_attr(&s.attributes, "rpc.grpc.status_code"), Some(0));
    assert_eq!(
        str_attr(&s.attributes, "network.peer.address"),
        Some("127.0.0.1")
    );
    assert!(int_attr(&s.attributes, "server.port").is_some_and(|p| p > 0));
    assert!(s.end_time_unix_nano >= s.start_time_unix_nano);
    for noise in ["code.file.path", "thread.id", "target", "busy_ns"] {
        assert!(attr(&s.attributes, noise).is_none(), "{noise} on {s:#?}");
    }
    assert_ne!(
        s.status.as_ref().map(|st| st.code),
        Some(StatusCode::Error as i32)
    );
    let resource = call.resource.as_ref().expect("a resource");
    assert_eq!(
        str_attr(&resource.attributes, "service.name"),
        Some("plex-source-test")
    );
    assert_eq!(
        str_attr(&resource.attributes, "deployment.environment.name"),
        Some("test")
    );

    // Its database work: client spans under it, on SQLite.
    let db_spans: Vec<&Span> = spans
        .iter()
        .map(|r| &r.span)
        .filter(|d| d.trace_id == trace && d.kind == SpanKind::Client as i32)
        .collect();
    assert!(!db_spans.is_empty());
    for d in &db_spans {
        assert_eq!(d.parent_span_id, s.span_id, "{d:#?}");
        assert!(d.name.starts_with("db "), "{d:#?}");
        assert_eq!(str_attr(&d.attributes, "db.system"), Some("sqlite"));
        assert!(str_attr(&d.attributes, "db.operation.name").is_some());
        assert!(d.start_time_unix_nano >= s.start_time_unix_nano);
        // Within the call. Its end may come a little after the call's:
        // SQLite's worker thread (sqlx) holds the database span entered
        // until it has tidied up the statement, which can be after the
        // answer has left.
        assert!(d.start_time_unix_nano <= s.end_time_unix_nano, "{d:#?}");
        assert!(d.end_time_unix_nano >= d.start_time_unix_nano, "{d:#?}");
    }
    let names: Vec<&str> = db_spans.iter().map(|d| d.name.as_str()).collect();
    assert!(names.contains(&"db find_source_by_slug"), "{names:?}");
    assert!(names.contains(&"db authenticate_hash"), "{names:?}");

    // NOT_FOUND: the status code on the span, which stays unset: the
    // caller asked for what is not there, the server did not fail.
    let not_found = &server_span(&spans, &other_trace).unwrap().span;
    assert_eq!(not_found.name, RETRIEVE);
    assert_eq!(not_found.parent_span_id, bytes(OTHER_PARENT));
    assert_eq!(
        int_attr(&not_found.attributes, "rpc.grpc.status_code"),
        Some(5)
    );
    assert_ne!(
        not_found.status.as_ref().map(|st| st.code),
        Some(StatusCode::Error as i32)
    );

    // UNIMPLEMENTED: a server failure, a root span of a new trace.
    let failed = &spans.iter().find(|r| is_unimplemented(r)).unwrap().span;
    assert_eq!(failed.kind, SpanKind::Server as i32);
    assert!(
        failed.parent_span_id.is_empty(),
        "no caller context: a root"
    );
    assert_eq!(failed.trace_id.len(), 16);
    assert_ne!(failed.trace_id, trace);
    assert_eq!(
        int_attr(&failed.attributes, "rpc.grpc.status_code"),
        Some(12)
    );
    assert_eq!(
        failed.status.as_ref().map(|st| st.code),
        Some(StatusCode::Error as i32)
    );

    // The log lines of each call carry its trace id.
    let ok_line = served.line(|j| is_finished(j, RETRIEVE, "Ok"));
    assert_eq!(ok_line["trace_id"], TRACE, "{ok_line}");
    let not_found_line = served.line(|j| is_finished(j, RETRIEVE, "NotFound"));
    assert_eq!(not_found_line["trace_id"], OTHER_TRACE, "{not_found_line}");
    let failed_line = served.line(|j| {
        is_finished(
            j,
            "plexsource.v1.PlexSourceService/NoSuchMethod",
            "Unimplemented",
        )
    });
    assert_eq!(
        failed_line["trace_id"],
        hex::encode(&failed.trace_id),
        "the new trace's id: {failed_line}"
    );

    let logs = served.stop();
    let lines_outside_calls = logs
        .iter()
        .filter(|l| json(l)["fields"]["message"] == "serving plexsource.v1.PlexSourceService");
    for line in lines_outside_calls {
        assert!(json(line).get("trace_id").is_none(), "{line}");
    }
    // No secret in any span or log line.
    for span in &spans {
        let text = format!("{:?}", span.span);
        assert!(!text.contains(KEY), "bearer key in a span: {text}");
        assert!(!text.contains(PLEX_TOKEN), "Plex token in a span: {text}");
    }
    for line in &logs {
        assert!(!line.contains(KEY), "bearer key in a log line: {line}");
    }
}

/// With export switched off, calls send nothing, and the JSON lines still
/// carry the trace id of the caller's `traceparent`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_export_off_nothing_is_sent_and_logs_keep_the_callers_trace_id() {
    let mut collector = Collector::start().await;
    let endpoint = collector.endpoint();
    let mut served = Served::start(&[
        // Pointed at the receiver, but switched off as the specification
        // allows.
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_SDK_DISABLED", "true"),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ]);
    let mut client = served.client().await;
    let traceparent = format!("00-{TRACE}-{PARENT}-01");
    let missing = client
        .retrieve_plex_source(retrieve("missing", Some(&traceparent)))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);
    let traced = served.line(|j| is_finished(j, RETRIEVE, "NotFound"));
    assert_eq!(traced["trace_id"], TRACE, "{traced}");
    assert!(
        traced["span"].get("rpc.system").is_none(),
        "the plain span when nothing exports: {traced}"
    );
    // No traceparent (or a malformed one): no trace id.
    for traceparent in [None, Some("00-not-a-trace-01")] {
        let _ = client
            .retrieve_plex_source(retrieve("missing", traceparent))
            .await
            .unwrap_err();
        let untraced = served.line(|j| is_finished(j, RETRIEVE, "NotFound"));
        assert!(untraced.get("trace_id").is_none(), "{untraced}");
        // Nothing to carry: the call's span stays at DEBUG, and the line
        // names the method itself.
        assert!(untraced.get("span").is_none(), "{untraced}");
        assert_eq!(
            untraced["fields"]["method"],
            format!("/{RETRIEVE}"),
            "{untraced}"
        );
    }
    let ok = client
        .retrieve_plex_source(retrieve("plex-login", Some(&traceparent)))
        .await
        .expect("the example source");
    assert_eq!(ok.into_inner().slug, "plex-login");
    // A REST request's line names its request and answer at the default
    // level, where its span is off.
    let addr = served.addr.parse().expect("socket address");
    let refused = raw(
        addr,
        Http::One,
        "GET",
        "/api/v3/sources/plex/missing/",
        &[],
        b"",
    )
    .await;
    assert_eq!(refused.status, 403);
    let line = served.line(|j| j["fields"]["message"] == "http finished");
    assert_eq!(line["fields"]["method"], "GET", "{line}");
    assert_eq!(
        line["fields"]["path"], "/api/v3/sources/plex/missing/",
        "{line}"
    );
    assert_eq!(line["fields"]["status"], 403, "{line}");
    assert!(line["fields"]["latency_ms"].as_f64().is_some(), "{line}");

    let logs = served.stop();
    collector.for_a_while(Duration::from_millis(500)).await;
    assert!(
        collector.spans.is_empty(),
        "sent with export off: {:#?}",
        collector.spans
    );
    assert!(
        !logs
            .iter()
            .any(|l| json(l)["fields"]["message"] == "exporting traces over OTLP"),
        "{logs:#?}"
    );
}

/// Spans still buffered when SIGTERM arrives are exported before the
/// process exits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_buffered_at_shutdown_are_sent_before_exit() {
    let mut collector = Collector::start().await;
    let endpoint = collector.endpoint();
    let served = Served::start(&[
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &endpoint),
        // Far longer than the test: only the exit sends the batch.
        ("OTEL_BSP_SCHEDULE_DELAY", "600000"),
    ]);
    let mut client = served.client().await;
    let traceparent = format!("00-{TRACE}-{PARENT}-01");
    client
        .retrieve_plex_source(retrieve("plex-login", Some(&traceparent)))
        .await
        .expect("the example source");
    collector.for_a_while(Duration::from_millis(300)).await;
    assert!(collector.spans.is_empty(), "sent before the exit");

    served.stop();
    let trace = bytes(TRACE);
    collector
        .until(Duration::from_secs(5), |spans| {
            server_span(spans, &trace).is_some()
        })
        .await;
    let call = server_span(&collector.spans, &trace).unwrap();
    assert_eq!(
        str_attr(&call.resource.as_ref().unwrap().attributes, "service.name"),
        Some("plex-source-service"),
        "named after the service when OTEL_SERVICE_NAME is unset"
    );
}
