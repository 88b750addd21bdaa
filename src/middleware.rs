//! How this server's own middleware is layered. A middleware is a small,
//! cloneable state (its settings and shared handles) that says what it does
//! with a request given the service below ([`Middleware`]); [`Wrap`] is the
//! one tower layer and [`Wrapped`] the one service for all of them, so the
//! plumbing (readiness, handing each service its state) is written once.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use tonic::codegen::http::Request;
use tower::{Layer, Service};

/// A boxed future a middleware answers with.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// What a middleware does with one request, given the service below it,
/// which has been polled ready. The answer's type is the inner service's:
/// a middleware answers, refuses or passes on, and never changes the
/// transport's types.
pub trait Middleware<S, B>: Clone
where
    S: Service<Request<B>>,
{
    type Future: Future<Output = Result<S::Response, S::Error>>;

    fn call(&self, inner: &mut S, request: Request<B>) -> Self::Future;
}

/// The layer of a middleware `M`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Wrap<M>(pub M);

impl<S, M: Clone> Layer<S> for Wrap<M> {
    type Service = Wrapped<S, M>;

    fn layer(&self, inner: S) -> Self::Service {
        Wrapped {
            inner,
            middleware: self.0.clone(),
        }
    }
}

/// A service with a middleware in front of it.
#[derive(Clone, Debug)]
pub struct Wrapped<S, M> {
    inner: S,
    middleware: M,
}

impl<S, B, M> Service<Request<B>> for Wrapped<S, M>
where
    S: Service<Request<B>>,
    M: Middleware<S, B>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = M::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        self.middleware.call(&mut self.inner, request)
    }
}
