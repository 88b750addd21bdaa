//! The `health` subcommand: one gRPC health check against a running
//! server, for probes that run a command (Docker's `--health-cmd`, an exec
//! probe) in an image that has no shell and no grpcurl.

use anyhow::Context;
use tonic::transport::Endpoint;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::config::HealthArgs;

/// The status the server reports for `args.service`; an error when it
/// cannot be asked (nothing listening, no answer in time, unknown name).
pub async fn check(args: &HealthArgs) -> anyhow::Result<ServingStatus> {
    let url = if args.addr.contains("://") {
        args.addr.clone()
    } else {
        format!("http://{}", args.addr)
    };
    let endpoint =
        Endpoint::from_shared(url).with_context(|| format!("invalid address {:?}", args.addr))?;
    let ask = async {
        let channel = endpoint.connect().await?;
        let response = HealthClient::new(channel)
            .check(HealthCheckRequest {
                service: args.service.clone(),
            })
            .await?;
        anyhow::Ok(response.into_inner().status)
    };
    let status = tokio::time::timeout(args.timeout, ask)
        .await
        .map_err(|_| anyhow::anyhow!("no answer within {:?}", args.timeout))?
        .with_context(|| format!("health check of {:?} at {}", args.service, args.addr))?;
    Ok(ServingStatus::try_from(status).unwrap_or(ServingStatus::Unknown))
}
