//! `plexsource.v1.PlexSourceService`: each RPC validates its request, asks
//! the store and converts the answer. Failures go through [`ServiceError`].

use sea_orm::DatabaseConnection;
use tonic::{Request, Response, Status};

use super::{
    convert::{TokenVisibility, source_to_proto},
    error::ServiceError,
};
use crate::{
    domain::{Slug, Violations},
    proto::{self as pb, plex_source_service_server::PlexSourceService},
    store,
};

/// The service, holding the store's connection pool.
#[derive(Clone)]
pub struct PlexSources {
    db: DatabaseConnection,
}

impl PlexSources {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    async fn retrieve(
        &self,
        request: pb::RetrievePlexSourceRequest,
    ) -> Result<pb::PlexSource, ServiceError> {
        let slug = Slug::parse(&request.slug).map_err(|err| {
            ServiceError::InvalidArgument(Violations::single("slug", err.code(), err.to_string()))
        })?;
        let source = store::find_source_by_slug(&self.db, &slug)
            .await?
            .ok_or(ServiceError::NotFound)?;
        Ok(source_to_proto(&source, TokenVisibility::Shown))
    }
}

#[tonic::async_trait]
impl PlexSourceService for PlexSources {
    async fn retrieve_plex_source(
        &self,
        request: Request<pb::RetrievePlexSourceRequest>,
    ) -> Result<Response<pb::PlexSource>, Status> {
        Ok(Response::new(self.retrieve(request.into_inner()).await?))
    }
}
