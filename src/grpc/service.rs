//! `plexsource.v1.PlexSourceService`: each RPC converts its request, calls
//! one operation of [`Operations`] and converts the answer; every check
//! happens in the operation.

use std::{pin::Pin, sync::Arc};

use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status};

use super::{
    convert,
    error::status,
    input,
    wire::{Encoded, EncodedSources},
};
use crate::{
    app::Connection,
    domain::access::Caller,
    ops::{AuthFailure, Operations, ServiceError, WatchParams},
    proto::{self as pb, plex_source_service_server::PlexSourceService},
};

/// The gRPC face of the operations.
#[derive(Clone)]
pub struct PlexSources {
    ops: Operations,
    /// Retrieve's answers, kept encoded.
    encoded: Arc<EncodedSources>,
}

impl PlexSources {
    /// `cache_max_bytes`: the read cache's budget, of which the kept
    /// encodings take a share.
    pub fn new(ops: Operations, cache_max_bytes: u64) -> Self {
        Self {
            ops,
            encoded: Arc::new(EncodedSources::new(cache_max_bytes)),
        }
    }
}

pub type WatchStream =
    Pin<Box<dyn Stream<Item = Result<pb::WatchPlexSourcesResponse, Status>> + Send>>;

/// The caller the auth layer attached; absent means the layer did not run,
/// which is denied.
fn caller<T>(request: &Request<T>) -> Result<Arc<Caller>, ServiceError> {
    request
        .extensions()
        .get::<Arc<Caller>>()
        .cloned()
        .ok_or(ServiceError::Unauthenticated(AuthFailure::NotProvided))
}

#[tonic::async_trait]
impl PlexSourceService for PlexSources {
    async fn retrieve_plex_source(
        &self,
        request: Request<pb::RetrievePlexSourceRequest>,
    ) -> Result<Response<Encoded>, Status> {
        let caller = caller(&request).map_err(status)?;
        let shown = self
            .ops
            .retrieve(&caller, &request.get_ref().slug)
            .await
            .map_err(status)?;
        Ok(Response::new(self.encoded.encode(&shown)))
    }

    async fn list_plex_sources(
        &self,
        request: Request<pb::ListPlexSourcesRequest>,
    ) -> Result<Response<pb::ListPlexSourcesResponse>, Status> {
        let caller = caller(&request).map_err(status)?;
        let params = input::list_params(request.into_inner());
        let page = self.ops.list(&caller, &params).await.map_err(status)?;
        Ok(Response::new(convert::page_to_proto(&page)))
    }

    async fn create_plex_source(
        &self,
        request: Request<pb::CreatePlexSourceRequest>,
    ) -> Result<Response<pb::PlexSource>, Status> {
        let caller = caller(&request).map_err(status)?;
        let body = request.into_inner().plex_source.unwrap_or_default();
        let shown = self
            .ops
            .create(&caller, input::draft(body))
            .await
            .map_err(status)?;
        Ok(Response::new(convert::source_to_proto(&shown)))
    }

    async fn update_plex_source(
        &self,
        request: Request<pb::UpdatePlexSourceRequest>,
    ) -> Result<Response<pb::PlexSource>, Status> {
        let caller = caller(&request).map_err(status)?;
        let request = request.into_inner();
        let update = input::source_update(
            request.plex_source.unwrap_or_default(),
            request.update_mask.as_ref(),
        )
        .map_err(|v| status(ServiceError::InvalidArgument(v)))?;
        let shown = self
            .ops
            .update(&caller, &request.slug, update)
            .await
            .map_err(status)?;
        Ok(Response::new(convert::source_to_proto(&shown)))
    }

    async fn delete_plex_source(
        &self,
        request: Request<pb::DeletePlexSourceRequest>,
    ) -> Result<Response<()>, Status> {
        let caller = caller(&request).map_err(status)?;
        self.ops
            .delete(&caller, &request.get_ref().slug)
            .await
            .map_err(status)?;
        Ok(Response::new(()))
    }

    type WatchPlexSourcesStream = WatchStream;

    async fn watch_plex_sources(
        &self,
        request: Request<pb::WatchPlexSourcesRequest>,
    ) -> Result<Response<Self::WatchPlexSourcesStream>, Status> {
        let caller = caller(&request).map_err(status)?;
        let connection_closing = request
            .extensions()
            .get::<Connection>()
            .map(|connection| connection.closing.clone());
        let pb::WatchPlexSourcesRequest {
            since_revision,
            initial_snapshot,
        } = request.into_inner();
        let params = WatchParams {
            since_revision,
            initial_snapshot,
            connection_closing,
        };
        let events = self
            .ops
            .watch((*caller).clone(), params)
            .await
            .map_err(status)?;
        Ok(Response::new(Box::pin(events.map(|event| {
            event.map(|e| convert::event_to_proto(&e)).map_err(status)
        }))))
    }
}
