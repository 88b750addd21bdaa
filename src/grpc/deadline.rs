//! Deadlines as a tower layer: every call ends by the caller's deadline
//! (`grpc-timeout`) or the server's request timeout, whichever comes first,
//! with `DEADLINE_EXCEEDED`. Ending the call drops its future, which stops
//! its database work (a pending statement, a wait for a connection or a
//! lock); an open transaction is rolled back when its connection returns
//! to the pool.
//!
//! tonic's own `Server::timeout` answers `CANCELLED` instead, which tells a
//! caller that someone gave up rather than that time ran out.

use std::time::Duration;

use tonic::{
    Status,
    codegen::http::{HeaderMap, Request, Response},
};
use tower::Service;

use crate::middleware::{BoxFuture, Middleware, Wrap};

/// Message of DEADLINE_EXCEEDED.
pub const DEADLINE_MESSAGE: &str = "Deadline exceeded before the call could complete.";

/// The layer to put in front of the services (inside tracing, so the
/// status is logged). `max` applies to calls without a deadline and caps
/// longer ones.
pub fn layer(max: Duration) -> Wrap<Deadline> {
    Wrap(Deadline { max })
}

/// The deadline middleware's state.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    max: Duration,
}

impl<S, ReqBody> Middleware<S, ReqBody> for Deadline
where
    S: Service<Request<ReqBody>, Response = Response<tonic::body::Body>>,
    S::Future: Send + 'static,
{
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn call(&self, inner: &mut S, request: Request<ReqBody>) -> Self::Future {
        let limit = grpc_timeout(request.headers()).map_or(self.max, |t| t.min(self.max));
        let call = inner.call(request);
        Box::pin(async move {
            match tokio::time::timeout(limit, call).await {
                Ok(result) => result,
                Err(_) => Ok(Status::deadline_exceeded(DEADLINE_MESSAGE).into_http()),
            }
        })
    }
}

/// The caller's `grpc-timeout` (1 to 8 digits and a unit: `H`, `M`, `S`,
/// `m`, `u`, `n`); `None` when absent or malformed, as the gRPC spec says
/// to treat it.
fn grpc_timeout(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(super::headers::GRPC_TIMEOUT)?.to_str().ok()?;
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use tonic::codegen::http::HeaderValue;
    use tower::Layer;

    use super::*;

    fn parse(value: &str) -> Option<Duration> {
        let mut headers = HeaderMap::new();
        headers.insert("grpc-timeout", HeaderValue::from_str(value).unwrap());
        grpc_timeout(&headers)
    }

    #[test]
    fn timeouts_parse_in_every_unit() {
        assert_eq!(parse("2H"), Some(Duration::from_secs(7200)));
        assert_eq!(parse("3M"), Some(Duration::from_secs(180)));
        assert_eq!(parse("1S"), Some(Duration::from_secs(1)));
        assert_eq!(parse("1500m"), Some(Duration::from_millis(1500)));
        assert_eq!(parse("99999999u"), Some(Duration::from_micros(99_999_999)));
        assert_eq!(parse("7n"), Some(Duration::from_nanos(7)));
        assert_eq!(grpc_timeout(&HeaderMap::new()), None);
    }

    #[test]
    fn malformed_timeouts_are_ignored() {
        for bad in ["", "S", "123456789S", "1s", "-1S", "1.5S", "10"] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[tokio::test]
    async fn the_shorter_deadline_ends_the_call() {
        let never = tower::service_fn(|_: Request<()>| async {
            std::future::pending::<Result<Response<tonic::body::Body>, std::convert::Infallible>>()
                .await
        });
        let mut service = layer(Duration::from_millis(300)).layer(never);
        for (header, limit) in [(Some("50m"), 50), (Some("10S"), 300), (None, 300)] {
            let mut request = Request::new(());
            if let Some(value) = header {
                request
                    .headers_mut()
                    .insert("grpc-timeout", HeaderValue::from_static(value));
            }
            let start = std::time::Instant::now();
            let response = service.call(request).await.unwrap();
            let took = start.elapsed();
            assert!(took >= Duration::from_millis(limit), "{header:?}: {took:?}");
            assert!(
                took < Duration::from_millis(limit + 200),
                "{header:?}: {took:?}"
            );
            let status = Status::from_header_map(response.headers()).unwrap();
            assert_eq!(status.code(), tonic::Code::DeadlineExceeded);
        }
    }
}
