//! The services of the main port, layered: what every request passes.

use tonic::service::Routes;
use tower::ServiceBuilder;

use super::{PANIC_HOOK, ServerSettings, catch_panic, health::EndingHealth, in_flight};
use crate::{
    grpc::{PlexSources, auth, deadline, observe},
    metrics::{CallMetrics, HttpMetrics},
    ops::Operations,
    proto::{FILE_DESCRIPTOR_SET, plex_source_service_server::PlexSourceServiceServer},
    rest,
};

/// Everything the main port serves, outermost first: the bound on
/// requests in flight, then REST (by content type) or the gRPC stack:
/// panics caught, each call observed (trace, log, metrics), its deadline
/// set, its caller authenticated, then tonic's routes.
pub(super) fn service(
    ops: Operations,
    health: tonic_health::pb::health_server::HealthServer<EndingHealth>,
    call_metrics: CallMetrics,
    http_metrics: HttpMetrics,
    settings: &ServerSettings,
) -> anyhow::Result<
    impl tower::Service<
        tonic::codegen::http::Request<tonic::body::Body>,
        Response = tonic::codegen::http::Response<tonic::body::Body>,
        Error = rest::BoxError,
        Future = impl Send + use<>,
    >
    + Clone
    + Send
    + 'static
    + use<>,
> {
    let limits = &settings.streams;
    let routes = Routes::new(health)
        .add_service(reflection().build_v1()?)
        .add_service(reflection().build_v1alpha()?)
        .add_service(
            PlexSourceServiceServer::new(PlexSources::new(ops.clone(), settings.cache_max_bytes))
                .max_decoding_message_size(limits.max_request_bytes),
        )
        .prepare();
    let grpc = ServiceBuilder::new()
        .map_response(|response: tonic::codegen::http::Response<_>| {
            response.map(tonic::body::Body::new)
        })
        .layer(catch_panic(true))
        .layer(observe::layer(call_metrics))
        .layer(deadline::layer(settings.request_timeout))
        .layer(auth::layer(ops.clone()))
        .option_layer(settings.panic_hook.then_some(PANIC_HOOK))
        .service(routes);
    Ok(ServiceBuilder::new()
        .layer(in_flight(limits.max_requests_in_flight))
        .layer(rest::layer(
            ops.clone(),
            rest::RestSettings {
                timeout: settings.request_timeout,
                max_body_bytes: limits.max_request_bytes,
            },
            http_metrics,
            settings.panic_hook,
        ))
        .service(grpc))
}

/// Every service the gRPC port serves, for reflection and metrics.
pub(super) const DESCRIPTOR_SETS: &[&[u8]] = &[
    FILE_DESCRIPTOR_SET,
    tonic_health::pb::FILE_DESCRIPTOR_SET,
    tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
    tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
];

/// Reflection over every service on the listener (both reflection
/// versions list each other) and the `google.rpc` error details.
fn reflection() -> tonic_reflection::server::Builder<'static> {
    DESCRIPTOR_SETS.iter().fold(
        tonic_reflection::server::Builder::configure(),
        |builder, set| builder.register_encoded_file_descriptor_set(set),
    )
}
