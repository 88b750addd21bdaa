//! `GET /api/v3/sources/plex/{slug}/` (authentik's REST retrieve) on the
//! service's port, driven like RetrievePlexSource: the same closed loop,
//! concurrency and hot set, over the same number of HTTP/2 keep-alive
//! connections (prior knowledge, many requests in flight on each, as the
//! gRPC channels carry them). Each answer's body is read whole and checked
//! to be JSON, as a client that uses it would.

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};

use crate::driver::{self, Run};

/// `n` HTTP/2 connections to `addr`.
pub async fn connections(addr: &str, n: usize) -> anyhow::Result<Vec<SendRequest<Empty<Bytes>>>> {
    let mut out = Vec::new();
    for _ in 0..n.max(1) {
        let tcp = tokio::net::TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let (sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp)).await?;
        tokio::spawn(connection);
        out.push(sender);
    }
    Ok(out)
}

/// `concurrency` loops of the REST retrieve over the hot slugs: a warm-up,
/// then `duration` of recorded calls.
pub async fn drive(
    connections: &[SendRequest<Empty<Bytes>>],
    addr: &str,
    key: &str,
    slugs: &Arc<Vec<String>>,
    concurrency: usize,
    warmup: Duration,
    duration: Duration,
) -> Run {
    let connections = connections.to_vec();
    let slugs = slugs.clone();
    let bearer: Arc<str> = format!("Bearer {key}").into();
    let authority: Arc<str> = addr.into();
    driver::closed_loop(concurrency, warmup, duration, move |worker, i| {
        let mut sender = connections[worker % connections.len()].clone();
        let slug = &slugs[(worker * 7919 + i) % slugs.len()];
        let request =
            hyper::Request::get(format!("http://{authority}/api/v3/sources/plex/{slug}/"))
                .header("authorization", &*bearer)
                .body(Empty::<Bytes>::new())
                .expect("request");
        async move {
            let response = sender
                .send_request(request)
                .await
                .map_err(|err| tonic::Status::unavailable(err.to_string()))?;
            let status = response.status();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|err| tonic::Status::unavailable(err.to_string()))?
                .to_bytes();
            if !status.is_success() {
                return Err(tonic::Status::unknown(format!("HTTP {status}")));
            }
            serde_json::from_slice::<serde::de::IgnoredAny>(&body)
                .map_err(|err| tonic::Status::data_loss(err.to_string()))?;
            Ok(())
        }
    })
    .await
}
