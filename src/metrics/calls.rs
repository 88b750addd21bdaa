//! Per-call metrics under the grpc-ecosystem names (`grpc_server_*`, as
//! go-grpc-middleware's Prometheus interceptors export them): calls started
//! and handled per service, method and code, handling time, and messages
//! sent. Recorded by the call layer in front of every service
//! ([`crate::grpc::observe`]), so calls refused before a handler (no
//! credentials, a server still starting) count too.

use std::{
    sync::{Arc, OnceLock},
    time::Duration,
};

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, histogram::Histogram},
    registry::Registry,
};
use prost::Message;
use prost_types::FileDescriptorSet;

/// Handling-time buckets, in seconds: the grpc-ecosystem defaults with
/// finer steps below 5 ms, where cached reads land.
pub(super) const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabels {
    grpc_service: String,
    grpc_method: String,
    grpc_type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HandledLabels {
    grpc_service: String,
    grpc_method: String,
    grpc_type: String,
    grpc_code: String,
}

/// The families, registered once per server.
#[derive(Clone)]
struct Families {
    started: Family<MethodLabels, Counter>,
    handled: Family<HandledLabels, Counter>,
    handling: Family<MethodLabels, Histogram>,
    msg_sent: Family<MethodLabels, Counter>,
}

/// One method's series, resolved when the server starts so a call does no
/// label look-up: only the per-code counter is made on first use.
pub struct MethodMetrics {
    labels: MethodLabels,
    started: Counter,
    handling: Histogram,
    msg_sent: Counter,
    handled: [OnceLock<Counter>; 17],
    families: Families,
}

impl MethodMetrics {
    fn new(families: &Families, labels: MethodLabels) -> Self {
        Self {
            started: families.started.get_or_create_owned(&labels),
            handling: families.handling.get_or_create_owned(&labels),
            msg_sent: families.msg_sent.get_or_create_owned(&labels),
            handled: Default::default(),
            families: families.clone(),
            labels,
        }
    }

    /// A call to this method began.
    pub fn started(&self) {
        self.started.inc();
    }

    /// A call ended with `code` after `elapsed`.
    pub fn finished(&self, code: tonic::Code, elapsed: Duration) {
        self.handling.observe(elapsed.as_secs_f64());
        self.handled(code);
    }

    /// `messages` more messages went out in the call's response.
    pub fn sent(&self, messages: u64) {
        self.msg_sent.inc_by(messages);
    }

    fn handled(&self, code: tonic::Code) {
        let index = (code as usize).min(16);
        self.handled[index]
            .get_or_init(|| {
                let labels = HandledLabels {
                    grpc_service: self.labels.grpc_service.clone(),
                    grpc_method: self.labels.grpc_method.clone(),
                    grpc_type: self.labels.grpc_type.clone(),
                    grpc_code: format!("{code:?}"),
                };
                self.families.handled.get_or_create_owned(&labels)
            })
            .inc();
    }
}

/// Every method served, by request path, plus one entry for paths that
/// name no method: a caller cannot grow the label sets.
#[derive(Clone)]
pub struct CallMetrics {
    /// Sorted by path length, then path: a call finds its method by binary
    /// search, without hashing its path, and the paths (which share long
    /// prefixes) are compared byte by byte only once lengths are equal.
    methods: Arc<[(String, Arc<MethodMetrics>)]>,
    unknown: Arc<MethodMetrics>,
}

impl CallMetrics {
    /// Registers the families and resolves the series of every method in
    /// `descriptor_sets` (encoded `FileDescriptorSet`s, as tonic-build and
    /// the health and reflection crates ship them).
    pub fn register(registry: &mut Registry, descriptor_sets: &[&[u8]]) -> Self {
        let families = Families {
            started: Family::default(),
            handled: Family::default(),
            handling: Family::new_with_constructor(|| Histogram::new(BUCKETS)),
            msg_sent: Family::default(),
        };
        registry.register(
            "grpc_server_started",
            "RPCs started on the server",
            families.started.clone(),
        );
        registry.register(
            "grpc_server_handled",
            "RPCs completed on the server, whatever their status",
            families.handled.clone(),
        );
        registry.register(
            "grpc_server_handling_seconds",
            "Time from the start of an RPC to its status (for streams, the stream's life)",
            families.handling.clone(),
        );
        registry.register(
            "grpc_server_msg_sent",
            "gRPC messages sent by the server",
            families.msg_sent.clone(),
        );
        let mut methods = Vec::new();
        for set in descriptor_sets {
            let Ok(set) = FileDescriptorSet::decode(*set) else {
                continue;
            };
            for file in set.file {
                for service in &file.service {
                    let service_name = match file.package() {
                        "" => service.name().to_owned(),
                        package => format!("{package}.{}", service.name()),
                    };
                    for method in &service.method {
                        let labels = MethodLabels {
                            grpc_service: service_name.clone(),
                            grpc_method: method.name().to_owned(),
                            grpc_type: call_type(
                                method.client_streaming(),
                                method.server_streaming(),
                            )
                            .to_owned(),
                        };
                        let path = format!("/{service_name}/{}", method.name());
                        methods.push((path, Arc::new(MethodMetrics::new(&families, labels))));
                    }
                }
            }
        }
        let unknown = MethodLabels {
            grpc_service: "unknown".to_owned(),
            grpc_method: "unknown".to_owned(),
            grpc_type: "unknown".to_owned(),
        };
        methods.sort_by(|a, b| by_length(&a.0, &b.0));
        methods.dedup_by(|a, b| a.0 == b.0);
        Self {
            methods: methods.into(),
            unknown: Arc::new(MethodMetrics::new(&families, unknown)),
        }
    }

    /// The series of the method at `path`, or of "unknown".
    pub fn method(&self, path: &str) -> Arc<MethodMetrics> {
        match self
            .methods
            .binary_search_by(|(known, _)| by_length(known, path))
        {
            Ok(index) => Arc::clone(&self.methods[index].1),
            Err(_) => Arc::clone(&self.unknown),
        }
    }
}

fn by_length(a: &str, b: &str) -> std::cmp::Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

fn call_type(client_streaming: bool, server_streaming: bool) -> &'static str {
    match (client_streaming, server_streaming) {
        (false, false) => "unary",
        (false, true) => "server_stream",
        (true, false) => "client_stream",
        (true, true) => "bidi_stream",
    }
}
