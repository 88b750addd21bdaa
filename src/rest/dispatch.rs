//! One port, two transports: a request whose content type is
//! `application/grpc…` goes on to the gRPC stack (its tracing, metrics,
//! deadline and authentication layers, then tonic's router); any other
//! request is REST and goes to the REST router (observed there, see
//! `rest::observe`).
//! gRPC over HTTP/1.1 (which cannot carry its trailers) is refused with
//! 505 and the connection closed.
//! The layer sits outermost, so neither transport pays for the other's
//! layers.

use std::{
    convert::Infallible,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use axum::{
    Router,
    http::{
        HeaderValue, StatusCode, Version,
        header::{CONNECTION, CONTENT_TYPE},
    },
};
use futures::{TryFutureExt, future::Either};
use tonic::codegen::http::{Request, Response};
use tower::{Layer, Service, ServiceExt, layer::layer_fn};

/// The error a transport's service may fail with.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The layer to put outermost on the gRPC server: REST requests go to
/// `router`, gRPC calls to the service below.
pub fn layer<S>(router: Router) -> impl Layer<S, Service = Dispatch<S>> + Clone {
    layer_fn(move |grpc| Dispatch {
        grpc,
        rest: router.clone(),
    })
}

#[derive(Clone)]
pub struct Dispatch<S> {
    grpc: S,
    rest: Router,
}

/// Whether a request is a gRPC call (`application/grpc`, `+proto`, ...).
pub fn is_grpc<B>(request: &Request<B>) -> bool {
    request
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
}

type RestFuture =
    Pin<Box<dyn Future<Output = Result<Response<tonic::body::Body>, Infallible>> + Send>>;

impl<S, ResBody> Service<Request<tonic::body::Body>> for Dispatch<S>
where
    S: Service<Request<tonic::body::Body>, Response = Response<ResBody>>,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    ResBody: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response<tonic::body::Body>;
    type Error = BoxError;
    type Future = Either<
        futures::future::MapErr<
            futures::future::MapOk<S::Future, fn(Response<ResBody>) -> Response<tonic::body::Body>>,
            fn(S::Error) -> BoxError,
        >,
        futures::future::MapErr<RestFuture, fn(Infallible) -> BoxError>,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // The REST router is always ready.
        self.grpc.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<tonic::body::Body>) -> Self::Future {
        if is_grpc(&request) && request.version() < Version::HTTP_2 {
            // gRPC needs HTTP/2 (trailers): refuse and close.
            let refused: RestFuture = Box::pin(async {
                let mut response = Response::new(tonic::body::Body::empty());
                *response.status_mut() = StatusCode::HTTP_VERSION_NOT_SUPPORTED;
                response
                    .headers_mut()
                    .insert(CONNECTION, HeaderValue::from_static("close"));
                Ok(response)
            });
            return Either::Right(refused.map_err(never as fn(Infallible) -> BoxError));
        }
        if is_grpc(&request) {
            return Either::Left(
                self.grpc
                    .call(request)
                    .map_ok(grpc_body as fn(Response<ResBody>) -> Response<tonic::body::Body>)
                    .map_err(Into::into as fn(S::Error) -> BoxError),
            );
        }
        let router = self.rest.clone();
        let rest: RestFuture = Box::pin(async move {
            let response = router
                .oneshot(request.map(axum::body::Body::new))
                .await
                .unwrap_or_else(|never| match never {});
            Ok(response.map(tonic::body::Body::new))
        });
        Either::Right(rest.map_err(never as fn(Infallible) -> BoxError))
    }
}

fn grpc_body<B>(response: Response<B>) -> Response<tonic::body::Body>
where
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    response.map(tonic::body::Body::new)
}

fn never(never: Infallible) -> BoxError {
    match never {}
}
