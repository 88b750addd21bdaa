//! Per-call metrics under the grpc-ecosystem names (`grpc_server_*`, as
//! go-grpc-middleware's Prometheus interceptors export them): calls started
//! and handled per service, method and code, handling time, and messages
//! sent. Recorded by a tower layer in front of every service, so calls
//! refused before a handler (no credentials, a server still starting) count
//! too.

use std::{
    pin::Pin,
    sync::{Arc, OnceLock},
    task::{Context, Poll, ready},
    time::Instant,
};

use bytes::Buf;
use http_body::{Body, Frame};
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, histogram::Histogram},
    registry::Registry,
};
use prost::Message;
use prost_types::FileDescriptorSet;
use tonic::codegen::http::{HeaderMap, Request, Response};
use tower::{Layer, Service};

/// Handling-time buckets, in seconds: the grpc-ecosystem defaults with
/// finer steps below 5 ms, where cached reads land.
const BUCKETS: [f64; 14] = [
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
struct MethodMetrics {
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
    /// Sorted by path: a call finds its method by binary search, without
    /// hashing its path.
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
        methods.sort_by(|a, b| a.0.cmp(&b.0));
        methods.dedup_by(|a, b| a.0 == b.0);
        Self {
            methods: methods.into(),
            unknown: Arc::new(MethodMetrics::new(&families, unknown)),
        }
    }

    fn method(&self, path: &str) -> Arc<MethodMetrics> {
        match self
            .methods
            .binary_search_by(|(known, _)| known.as_str().cmp(path))
        {
            Ok(index) => Arc::clone(&self.methods[index].1),
            Err(_) => Arc::clone(&self.unknown),
        }
    }
}

fn call_type(client_streaming: bool, server_streaming: bool) -> &'static str {
    match (client_streaming, server_streaming) {
        (false, false) => "unary",
        (false, true) => "server_stream",
        (true, false) => "client_stream",
        (true, true) => "bidi_stream",
    }
}

impl<S> Layer<S> for CallMetrics {
    type Service = MeteredService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        MeteredService {
            inner,
            metrics: self.clone(),
        }
    }
}

#[derive(Clone)]
pub struct MeteredService<S> {
    inner: S,
    metrics: CallMetrics,
}

impl<S, ReqBody> Service<Request<ReqBody>> for MeteredService<S>
where
    S: Service<Request<ReqBody>, Response = Response<tonic::body::Body>>,
    S::Future: Unpin,
{
    type Response = Response<MeteredBody>;
    type Error = S::Error;
    type Future = MeteredFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let method = self.metrics.method(request.uri().path());
        method.started.inc();
        MeteredFuture {
            inner: self.inner.call(request),
            call: Some(Call {
                method,
                started: Instant::now(),
                finished: false,
            }),
        }
    }
}

/// The inner service's future (boxed already, so `Unpin`), and the call it
/// answers; no allocation of its own.
pub struct MeteredFuture<F> {
    inner: F,
    call: Option<Call>,
}

impl<F, E> Future for MeteredFuture<F>
where
    F: Future<Output = Result<Response<tonic::body::Body>, E>> + Unpin,
{
    type Output = Result<Response<MeteredBody>, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let response = ready!(Pin::new(&mut this.inner).poll(cx))?;
        // Polled again after completion would be a caller's bug; the call
        // is then simply not counted twice.
        let call = this.call.take();
        Poll::Ready(Ok(match call {
            Some(call) => call.track(response),
            None => response.map(|inner| MeteredBody {
                inner,
                call: None,
                frames: MessageCounter::default(),
            }),
        }))
    }
}

/// One call in flight. Dropped unfinished (the client went away, or the
/// transport failed) it counts as CANCELLED.
struct Call {
    method: Arc<MethodMetrics>,
    started: Instant,
    finished: bool,
}

impl Call {
    /// A trailers-only response (every refusal) carries its status in the
    /// headers; otherwise the status comes in the trailers, at the end of
    /// the body.
    fn track(mut self, response: Response<tonic::body::Body>) -> Response<MeteredBody> {
        let call = match status_of(response.headers()) {
            Some(code) => {
                self.finish(code);
                None
            }
            None => Some(self),
        };
        response.map(|inner| MeteredBody {
            inner,
            call,
            frames: MessageCounter::default(),
        })
    }

    fn finish(&mut self, code: tonic::Code) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        self.method
            .handling
            .observe(self.started.elapsed().as_secs_f64());
        self.method.handled(code);
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        self.finish(tonic::Code::Cancelled);
    }
}

fn status_of(headers: &HeaderMap) -> Option<tonic::Code> {
    let value = headers.get(crate::grpc::headers::GRPC_STATUS)?;
    let code = std::str::from_utf8(value.as_bytes())
        .ok()?
        .parse::<i32>()
        .ok()?;
    Some(tonic::Code::from_i32(code))
}

/// The response body, read through: counts messages, and records the
/// status from the trailers (`call` is `None` once recorded).
pub struct MeteredBody {
    inner: tonic::body::Body,
    call: Option<Call>,
    frames: MessageCounter,
}

impl Body for MeteredBody {
    type Data = bytes::Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        let frame = ready!(Pin::new(&mut this.inner).poll_frame(cx));
        let Some(call) = this.call.as_mut() else {
            return Poll::Ready(frame);
        };
        match &frame {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    let messages = this.frames.count(data.chunk());
                    if messages > 0 {
                        call.method.msg_sent.inc_by(messages);
                    }
                } else if let Some(trailers) = frame.trailers_ref() {
                    call.finish(status_of(trailers).unwrap_or(tonic::Code::Unknown));
                }
            }
            Some(Err(_)) => call.finish(tonic::Code::Unknown),
            // A body that ends without trailers ended without a status.
            None => call.finish(tonic::Code::Unknown),
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Counts gRPC messages in the response's data frames: each message is a
/// 5-byte prefix (flag, big-endian length) and its bytes, and a frame may
/// hold several messages or part of one.
#[derive(Default)]
struct MessageCounter {
    /// Bytes of the current message still to come.
    skip: u64,
    /// Prefix bytes seen so far of the next message.
    prefix: [u8; 5],
    filled: usize,
}

impl MessageCounter {
    fn count(&mut self, mut data: &[u8]) -> u64 {
        let mut messages = 0;
        while !data.is_empty() {
            if self.skip > 0 {
                let n = self.skip.min(data.len() as u64);
                data = &data[n as usize..];
                self.skip -= n;
                continue;
            }
            let n = (5 - self.filled).min(data.len());
            self.prefix[self.filled..self.filled + n].copy_from_slice(&data[..n]);
            self.filled += n;
            data = &data[n..];
            if self.filled == 5 {
                self.filled = 0;
                messages += 1;
                let len = [
                    self.prefix[1],
                    self.prefix[2],
                    self.prefix[3],
                    self.prefix[4],
                ];
                self.skip = u64::from(u32::from_be_bytes(len));
            }
        }
        messages
    }
}

#[cfg(test)]
mod tests {
    use super::MessageCounter;

    fn message(len: u32) -> Vec<u8> {
        let mut bytes = vec![0];
        bytes.extend_from_slice(&len.to_be_bytes());
        bytes.extend(std::iter::repeat_n(7u8, len as usize));
        bytes
    }

    #[test]
    fn counts_messages_however_frames_cut_them() {
        let stream: Vec<u8> = [message(3), message(0), message(300), message(1)].concat();
        for cut in [1, 2, 4, 5, 6, 7, 64, stream.len()] {
            let mut counter = MessageCounter::default();
            let total: u64 = stream.chunks(cut).map(|chunk| counter.count(chunk)).sum();
            assert_eq!(total, 4, "frames of {cut} bytes");
        }
    }
}
