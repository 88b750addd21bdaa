//! The one layer that watches every gRPC call, health and reflection
//! included, for both its span ([`super::trace`]) and its `grpc_server_*`
//! series ([`crate::metrics::CallMetrics`]). Observing a call costs one
//! span, one clock reading at each end and one parse of its status: from
//! the headers of a trailers-only response (every refusal), otherwise from
//! the trailers at the end of the body.

use std::{
    fmt::Display,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
    time::Instant,
};

use bytes::Buf;
use http_body::{Body, Frame};
use tonic::codegen::http::{HeaderMap, Request, Response, uri::PathAndQuery};
use tower::{Layer, Service, layer::layer_fn};
use tracing::Span;

use super::{headers::GRPC_STATUS, trace};
use crate::metrics::{CallMetrics, MethodMetrics};

/// Traces and counts every call of the services below it.
pub fn layer<S>(metrics: CallMetrics) -> impl Layer<S, Service = Observed<S>> + Clone {
    layer_fn(move |inner| Observed {
        inner,
        metrics: metrics.clone(),
    })
}

#[derive(Clone)]
pub struct Observed<S> {
    inner: S,
    metrics: CallMetrics,
}

impl<S, ReqBody> Service<Request<ReqBody>> for Observed<S>
where
    S: Service<Request<ReqBody>, Response = Response<tonic::body::Body>>,
    S::Error: Display,
    S::Future: Unpin,
{
    type Response = Response<ObservedBody>;
    type Error = S::Error;
    type Future = ObservedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let started = Instant::now();
        let method = self.metrics.method(request.uri().path());
        method.started();
        let span = trace::span(&request);
        // A disabled span cannot name the method on the call's last line.
        let path = span
            .is_disabled()
            .then(|| request.uri().path_and_query().cloned())
            .flatten();
        let inner = {
            let _entered = span.enter();
            self.inner.call(request)
        };
        ObservedFuture {
            inner,
            call: Some(Call {
                span,
                path,
                method,
                started,
                finished: false,
            }),
        }
    }
}

/// The inner service's future (boxed already, so `Unpin`), polled inside
/// the call's span; no allocation of its own.
pub struct ObservedFuture<F> {
    inner: F,
    call: Option<Call>,
}

impl<F, E> Future for ObservedFuture<F>
where
    F: Future<Output = Result<Response<tonic::body::Body>, E>> + Unpin,
    E: Display,
{
    type Output = Result<Response<ObservedBody>, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let result = {
            let _entered = this.call.as_ref().map(|call| call.span.enter());
            ready!(Pin::new(&mut this.inner).poll(cx))
        };
        // Polled again after completion would be a caller's bug; the call
        // is then simply not observed twice.
        let call = this.call.take();
        Poll::Ready(match result {
            Ok(response) => Ok(Call::track(call, response)),
            Err(error) => {
                if let Some(mut call) = call {
                    call.fail(&error);
                }
                Err(error)
            }
        })
    }
}

/// One call in flight. Dropped unfinished (the client went away, or the
/// connection failed) it ends as CANCELLED.
struct Call {
    span: Span,
    /// The request path while `span` is disabled (a shared buffer's
    /// reference count, not a copy).
    path: Option<PathAndQuery>,
    method: Arc<MethodMetrics>,
    started: Instant,
    finished: bool,
}

impl Call {
    /// A trailers-only response carries its status in the headers; any
    /// other carries it in the trailers, read by [`ObservedBody`].
    fn track(call: Option<Self>, response: Response<tonic::body::Body>) -> Response<ObservedBody> {
        // The call stays with the body even once ended: its span closes
        // when the body is dropped, after the response's last poll.
        let call = call.map(|mut call| {
            if let Some(code) = status_of(response.headers()) {
                call.finish(code);
            }
            call
        });
        response.map(|inner| ObservedBody {
            inner,
            call,
            frames: MessageCounter::default(),
        })
    }

    fn finish(&mut self, code: tonic::Code) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        let elapsed = self.started.elapsed();
        self.method.finished(code, elapsed);
        trace::finished(&self.span, self.path(), code, elapsed);
    }

    /// The call failed below gRPC (the response or its body broke): no
    /// status reached the client, counted as UNKNOWN.
    fn fail(&mut self, error: &dyn Display) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        let elapsed = self.started.elapsed();
        self.method.finished(tonic::Code::Unknown, elapsed);
        trace::failed(&self.span, self.path(), error, elapsed);
    }

    fn path(&self) -> Option<&str> {
        self.path.as_ref().map(PathAndQuery::path)
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        self.finish(tonic::Code::Cancelled);
    }
}

fn status_of(headers: &HeaderMap) -> Option<tonic::Code> {
    let value = headers.get(GRPC_STATUS)?;
    let code = std::str::from_utf8(value.as_bytes())
        .ok()?
        .parse::<i32>()
        .ok()?;
    Some(tonic::Code::from_i32(code))
}

/// The response body, read through inside the call's span (a stream's
/// work happens while its body is polled): counts messages, and ends the
/// call at its trailers.
pub struct ObservedBody {
    inner: tonic::body::Body,
    call: Option<Call>,
    frames: MessageCounter,
}

impl Body for ObservedBody {
    type Data = bytes::Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        let frame = {
            let _entered = this.call.as_ref().map(|call| call.span.enter());
            ready!(Pin::new(&mut this.inner).poll_frame(cx))
        };
        let Some(call) = this.call.as_mut().filter(|call| !call.finished) else {
            return Poll::Ready(frame);
        };
        match &frame {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    let messages = this.frames.count(data.chunk());
                    if messages > 0 {
                        call.method.sent(messages);
                    }
                } else if let Some(trailers) = frame.trailers_ref() {
                    call.finish(status_of(trailers).unwrap_or(tonic::Code::Unknown));
                }
            }
            Some(Err(error)) => call.fail(error),
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
