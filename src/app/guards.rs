//! What stands between a request and the transports, whatever it asks:
//! a bound on the requests in flight, and a panic turned into an answer.
//!
//! - [`in_flight`]: at most `--max-requests-in-flight` unary calls and
//!   REST requests are served at once; one more is answered at once with
//!   `RESOURCE_EXHAUSTED` (REST: 503 with `Retry-After`), before its body
//!   is read. Watch streams, health and reflection have bounds of their own
//!   and pass.
//! - [`catch_panic`]: a panic while serving a request becomes a logged
//!   `INTERNAL` answer (REST: 500) on that request; the connection and the
//!   other calls on it go on.

use std::{any::Any, sync::Arc};

use axum::{
    http::{HeaderValue, header::RETRY_AFTER},
    response::IntoResponse,
};
use tokio::sync::Semaphore;
use tonic::codegen::http::{Request, Response};
use tower::Service;
use tower_http::catch_panic::CatchPanicLayer;

use crate::{
    middleware::{BoxFuture, Middleware, Wrap},
    ops::ServiceError,
    rest::{
        error::{RestError, Route},
        is_grpc,
    },
};

/// Paths that pass the in-flight bound: each is bounded on its own
/// (watch slots; health and reflection answer without the database).
const OWN_BOUNDS: [&str; 4] = [
    "/plexsource.v1.PlexSourceService/WatchPlexSources",
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1.ServerReflection/",
    "/grpc.reflection.v1alpha.ServerReflection/",
];

/// The layer bounding the requests in flight on one server.
pub fn in_flight(max: usize) -> Wrap<InFlight> {
    Wrap(InFlight {
        permits: Arc::new(Semaphore::new(max)),
        max,
    })
}

/// The in-flight bound's state: one semaphore per server.
#[derive(Clone)]
pub struct InFlight {
    permits: Arc<Semaphore>,
    max: usize,
}

impl<S, ReqBody> Middleware<S, ReqBody> for InFlight
where
    S: Service<Request<ReqBody>, Response = Response<tonic::body::Body>>,
    S::Future: Send + 'static,
    ReqBody: http_body::Body + Send + Unpin + 'static,
    ReqBody::Data: Send,
{
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn call(&self, inner: &mut S, request: Request<ReqBody>) -> Self::Future {
        let path = request.uri().path();
        if OWN_BOUNDS.iter().any(|prefix| path.starts_with(prefix)) {
            return Box::pin(inner.call(request));
        }
        let Ok(permit) = self.permits.clone().try_acquire_owned() else {
            let refused = refusal(is_grpc(&request), self.max);
            crate::early::drain_later(request.into_body());
            return Box::pin(async move { Ok(refused) });
        };
        let answer = inner.call(request);
        Box::pin(async move {
            let answered = answer.await;
            drop(permit);
            answered
        })
    }
}

/// The answer to a request over the in-flight bound, in its transport's
/// words.
fn refusal(grpc: bool, max: usize) -> Response<tonic::body::Body> {
    let err = || {
        ServiceError::ResourceExhausted(format!(
            "This server is serving {max} requests (--max-requests-in-flight); retry shortly or on another replica."
        ))
    };
    if grpc {
        return crate::grpc::error::status(err()).into_http();
    }
    let mut response = RestError::service(err(), Route::Collection).into_response();
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from_static("1"));
    response.map(tonic::body::Body::new)
}

/// What answers a panic.
type PanicAnswer = fn(Box<dyn Any + Send>) -> Response<tonic::body::Body>;

/// A layer that answers a panic of the service below as gRPC does
/// (`INTERNAL`) or as REST does (500), after logging it.
pub fn catch_panic(grpc: bool) -> CatchPanicLayer<PanicAnswer> {
    if grpc {
        CatchPanicLayer::custom(grpc_panic as PanicAnswer)
    } else {
        CatchPanicLayer::custom(rest_panic as PanicAnswer)
    }
}

fn grpc_panic(panic: Box<dyn Any + Send>) -> Response<tonic::body::Body> {
    log_panic(panic.as_ref());
    crate::grpc::error::status(internal()).into_http()
}

fn rest_panic(panic: Box<dyn Any + Send>) -> Response<tonic::body::Body> {
    log_panic(panic.as_ref());
    RestError::service(internal(), Route::Collection)
        .into_response()
        .map(tonic::body::Body::new)
}

fn internal() -> ServiceError {
    ServiceError::Internal("a request handler panicked".into())
}

fn log_panic(panic: &(dyn Any + Send)) {
    let message = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)");
    tracing::error!(
        panic = message,
        "a request handler panicked; answered as an internal error"
    );
}

/// The header the panic hook answers to.
pub const PANIC_HEADER: &str = "x-plexsource-test-panic";

/// A test hook: with it, a request carrying [`PANIC_HEADER`] panics where
/// the layer sits, as a bug would. Never installed by `serve`.
pub const PANIC_HOOK: Wrap<PanicHook> = Wrap(PanicHook);

/// The panic hook's (empty) state.
#[derive(Clone, Copy, Debug, Default)]
pub struct PanicHook;

impl<S, ReqBody> Middleware<S, ReqBody> for PanicHook
where
    S: Service<Request<ReqBody>>,
{
    type Future = S::Future;

    fn call(&self, inner: &mut S, request: Request<ReqBody>) -> Self::Future {
        assert!(
            !request.headers().contains_key(PANIC_HEADER),
            "the test panic hook was asked to panic"
        );
        inner.call(request)
    }
}
