//! Authentication as a tower layer: every call except health and
//! reflection must carry `authorization: Bearer <key>` naming an active
//! user's valid token. The layer puts the [`Caller`] into the request's
//! extensions; handlers read it and never parse headers. A write whose
//! caller may not write at all is refused here, before its message is read.

use std::sync::Arc;

use tonic::codegen::http::{Request, Response, header::AUTHORIZATION};
use tower::Service;

use crate::{
    middleware::{BoxFuture, Middleware, Wrap},
    ops::{Operations, Write},
};

/// Services reachable without credentials: Kubernetes probes and
/// debugging clients send none.
const OPEN_PREFIXES: [&str; 3] = [
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1.ServerReflection/",
    "/grpc.reflection.v1alpha.ServerReflection/",
];

/// The writes among the service's methods, by path: what each needs of the
/// caller is checked here, before tonic reads and decodes the request.
const WRITES: [(&str, Write); 3] = [
    (
        "/plexsource.v1.PlexSourceService/CreatePlexSource",
        Write::Create,
    ),
    (
        "/plexsource.v1.PlexSourceService/UpdatePlexSource",
        Write::Update,
    ),
    (
        "/plexsource.v1.PlexSourceService/DeletePlexSource",
        Write::Delete,
    ),
];

/// The layer to put in front of the services.
pub fn layer(ops: Operations) -> Wrap<Authenticate> {
    Wrap(Authenticate { ops: Arc::new(ops) })
}

/// The authentication middleware's state.
#[derive(Clone)]
pub struct Authenticate {
    /// Shared: a call clones one pointer, not every handle inside.
    ops: Arc<Operations>,
}

impl<S, ReqBody> Middleware<S, ReqBody> for Authenticate
where
    S: Service<Request<ReqBody>, Response = Response<tonic::body::Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: http_body::Body + Send + Unpin + 'static,
    ReqBody::Data: Send,
{
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn call(&self, inner: &mut S, mut request: Request<ReqBody>) -> Self::Future {
        // The clone that was polled ready serves this call.
        let clone = inner.clone();
        let mut inner = std::mem::replace(inner, clone);
        let ops = self.ops.clone();
        Box::pin(async move {
            let path = request.uri().path();
            if OPEN_PREFIXES.iter().any(|prefix| path.starts_with(prefix)) {
                return inner.call(request).await;
            }
            // A value that is not text is no credentials, as a missing one.
            let authorization = request
                .headers()
                .get(AUTHORIZATION)
                .and_then(|v| v.to_str().ok());
            let admitted = ops.authenticate(authorization).await.and_then(|caller| {
                match WRITES.iter().find(|(method, _)| *method == path) {
                    Some((_, write)) => ops.admit(&caller, *write).map(|()| caller),
                    None => Ok(caller),
                }
            });
            match admitted {
                Ok(caller) => {
                    request.extensions_mut().insert(caller);
                    inner.call(request).await
                }
                Err(err) => {
                    crate::early::drain_later(request.into_body());
                    Ok(crate::grpc::error::status(err).into_http())
                }
            }
        })
    }
}
