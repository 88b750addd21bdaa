//! Serving HTTP/1.1 and HTTP/2 on accepted connections (hyper), with the
//! bounds a long-running service needs on each connection: the header read
//! timeout, HTTP/2 keepalive pings, streams per connection, and a maximum
//! age after which the connection is drained (HTTP/2 GOAWAY; open watch
//! streams end with where to resume) and, after a grace period, closed.
//! Clients then reconnect, which spreads them over the replicas behind a
//! Kubernetes Service and makes them handshake again (a reloaded client CA
//! or a revoked client certificate takes effect).

use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::conn::auto,
    service::TowerToHyperService,
};
use tokio::sync::mpsc;
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tonic::codegen::http::{Request, Response};
use tower::{Service, ServiceExt};

use super::conn::{Conn, Connection};

/// How connections are served.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// HTTP/2 streams (concurrent calls) per connection.
    pub max_concurrent_streams: u32,
    /// Idle time before an HTTP/2 ping.
    pub keepalive_interval: Duration,
    /// Time a ping may go unanswered before the connection is closed.
    pub keepalive_timeout: Duration,
    /// Longest wait for each later HTTP/1.1 request head (the first one
    /// is bounded from accept, see `conn`).
    pub header_read_timeout: Duration,
    /// Age at which a connection is drained; `None`: never.
    pub max_connection_age: Option<Duration>,
    /// How long a drained connection may finish its calls.
    pub max_connection_age_grace: Duration,
}

/// What serves the requests of a connection.
pub(crate) trait HttpService:
    Service<
        Request<tonic::body::Body>,
        Response = Response<tonic::body::Body>,
        Error: Into<crate::rest::BoxError>,
        Future: Send + 'static,
    > + Clone
    + Send
    + 'static
{
}

impl<S> HttpService for S where
    S: Service<
            Request<tonic::body::Body>,
            Response = Response<tonic::body::Body>,
            Error: Into<crate::rest::BoxError>,
            Future: Send + 'static,
        > + Clone
        + Send
        + 'static
{
}

/// Serves every connection of `connections` with `service` until `stop`;
/// then drains every connection and returns once all are closed.
pub(crate) async fn serve<S>(
    mut connections: mpsc::Receiver<Conn>,
    service: S,
    settings: HttpSettings,
    stop: CancellationToken,
) where
    S: HttpService,
{
    let builder = builder(&settings);
    let tracker = TaskTracker::new();
    loop {
        let conn = tokio::select! {
            () = stop.cancelled() => break,
            conn = connections.recv() => match conn {
                Some(conn) => conn,
                None => break,
            },
        };
        tracker.spawn(connection(
            conn,
            service.clone(),
            builder.clone(),
            settings.clone(),
            stop.clone(),
        ));
    }
    // No more connections: the listener closes with the receiver.
    drop(connections);
    tracker.close();
    tracker.wait().await;
}

fn builder(settings: &HttpSettings) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(settings.max_concurrent_streams)
        .keep_alive_interval(settings.keepalive_interval)
        .keep_alive_timeout(settings.keepalive_timeout);
    builder
}

/// Serves one connection until it closes: drained at `stop` or at its
/// maximum age, closed when the age's grace period ends.
async fn connection<S>(
    conn: Conn,
    service: S,
    builder: auto::Builder<TokioExecutor>,
    settings: HttpSettings,
    stop: CancellationToken,
) where
    S: HttpService,
{
    let (local, remote) = conn.addresses();
    let info = Connection {
        local,
        remote,
        closing: CancellationToken::new(),
    };
    let closing = info.closing.clone();
    let service = service.map_request(move |request: Request<Incoming>| {
        let mut request = request.map(tonic::body::Body::new);
        request.extensions_mut().insert(info.clone());
        request
    });
    let served = builder.serve_connection(TokioIo::new(conn), TowerToHyperService::new(service));
    tokio::pin!(served);
    let aged = sleep_or_never(settings.max_connection_age);
    tokio::pin!(aged);
    let mut grace = None;
    let mut draining = false;
    loop {
        tokio::select! {
            result = &mut served => {
                if let Err(err) = result {
                    tracing::debug!(%err, "connection ended with an error");
                }
                return;
            }
            () = stop.cancelled(), if !draining => {
                draining = true;
                served.as_mut().graceful_shutdown();
            }
            () = &mut aged, if grace.is_none() => {
                tracing::debug!(?remote, "connection reached its maximum age; draining");
                closing.cancel();
                grace = Some(Box::pin(tokio::time::sleep(settings.max_connection_age_grace)));
                if !draining {
                    draining = true;
                    served.as_mut().graceful_shutdown();
                }
            }
            () = async { grace.as_mut().expect("set").await }, if grace.is_some() => {
                tracing::debug!(?remote, "connection's grace period over; closing it");
                return;
            }
        }
    }
}

async fn sleep_or_never(duration: Option<Duration>) {
    match duration {
        Some(duration) => tokio::time::sleep(duration).await,
        None => std::future::pending().await,
    }
}
