//! Authentication as a tower layer: every call except health and
//! reflection must carry `authorization: Bearer <key>` naming an active
//! user's valid token. The layer puts the [`Caller`] into the request's
//! extensions; handlers read it and never parse headers.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use sea_orm::DatabaseConnection;
use tonic::{
    Status,
    codegen::http::{HeaderMap, Request, Response, header::AUTHORIZATION},
};
use tower::{Layer, Service};

use super::error::{AuthFailure, ServiceError};
use crate::{
    cache::ReadCache,
    domain::access::{Caller, hash_key},
    store,
};

/// Services reachable without credentials: Kubernetes probes and
/// debugging clients send none.
const OPEN_PREFIXES: [&str; 3] = [
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1.ServerReflection/",
    "/grpc.reflection.v1alpha.ServerReflection/",
];

/// Looks callers up by their token key, through the read cache.
#[derive(Clone)]
pub struct Authenticator {
    db: DatabaseConnection,
    cache: Arc<ReadCache>,
}

impl Authenticator {
    pub fn new(db: DatabaseConnection, cache: Arc<ReadCache>) -> Self {
        Self { db, cache }
    }

    /// The caller behind the request's bearer token.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Arc<Caller>, ServiceError> {
        let key =
            bearer_key(headers).ok_or(ServiceError::Unauthenticated(AuthFailure::NotProvided))?;
        let key_hash = hash_key(key);
        let now = chrono::Utc::now();
        if let Some(caller) = self.cache.caller(&key_hash)
            && caller.expires.is_none_or(|expires| now < expires)
        {
            return Ok(caller);
        }
        let ticket = self.cache.ticket();
        let caller = store::access::authenticate_hash(&self.db, &key_hash, now)
            .await?
            .map(Arc::new)
            .ok_or(ServiceError::Unauthenticated(AuthFailure::Invalid))?;
        self.cache.put_caller(ticket, key_hash, caller.clone());
        Ok(caller)
    }
}

/// The key of `authorization: Bearer <key>`; `None` for a missing header,
/// another scheme or an empty key (all "no credentials", as in authentik).
fn bearer_key(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, key) = value.trim().split_once(' ')?;
    let key = key.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !key.is_empty()).then_some(key)
}

/// The layer to put in front of the services.
#[derive(Clone)]
pub struct AuthLayer {
    authenticator: Authenticator,
}

impl AuthLayer {
    pub fn new(authenticator: Authenticator) -> Self {
        Self { authenticator }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            authenticator: self.authenticator.clone(),
        }
    }
}

#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    authenticator: Authenticator,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S, ReqBody> Service<Request<ReqBody>> for AuthService<S>
where
    S: Service<Request<ReqBody>, Response = Response<tonic::body::Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        // The clone that was polled ready serves this call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let authenticator = self.authenticator.clone();
        Box::pin(async move {
            let path = request.uri().path();
            if OPEN_PREFIXES.iter().any(|prefix| path.starts_with(prefix)) {
                return inner.call(request).await;
            }
            match authenticator.authenticate(request.headers()).await {
                Ok(caller) => {
                    request.extensions_mut().insert(caller);
                    inner.call(request).await
                }
                Err(err) => Ok(Status::from(err).into_http()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::codegen::http::HeaderValue;

    fn headers(value: Option<&str>) -> HeaderMap {
        let mut map = HeaderMap::new();
        if let Some(v) = value {
            map.insert(AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    #[test]
    fn only_a_bearer_with_a_key_counts_as_credentials() {
        assert_eq!(bearer_key(&headers(Some("Bearer abc"))), Some("abc"));
        assert_eq!(bearer_key(&headers(Some("bearer abc"))), Some("abc"));
        for none in [
            None,
            Some(""),
            Some("Bearer"),
            Some("Bearer "),
            Some("Basic abc"),
            Some("abc"),
        ] {
            assert_eq!(bearer_key(&headers(none)), None, "{none:?}");
        }
    }
}
