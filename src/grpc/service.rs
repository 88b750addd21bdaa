//! `plexsource.v1.PlexSourceService`. Each RPC runs the checks in
//! authentik's order: authenticate (done by the auth layer), validate,
//! authorize, look up. Failures go through [`ServiceError`].

use sea_orm::DatabaseConnection;
use tonic::{Request, Response, Status};

use super::{
    convert::{TokenVisibility, source_to_proto},
    error::{AuthFailure, ServiceError},
};
use crate::{
    domain::{
        PlexSource, Slug, Violations,
        access::{Caller, Permission},
    },
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
        caller: &Caller,
        request: pb::RetrievePlexSourceRequest,
    ) -> Result<pb::PlexSource, ServiceError> {
        let slug = parse_slug(&request.slug)?;
        let source = store::find_source_by_slug(&self.db, &slug).await?;
        // Denied the same way whether or not the slug exists: no probing.
        if !caller.may(Permission::View, source.as_ref().map(|s| s.pk)) {
            return Err(ServiceError::PermissionDenied);
        }
        let source = source.ok_or(ServiceError::NotFound)?;
        let token = self.token_visibility(caller, &source).await?;
        Ok(source_to_proto(&source, token))
    }

    /// The Plex owner's token goes only to superusers and holders of
    /// `view_plexsource_plex_token`; each hand-out is audited first.
    async fn token_visibility(
        &self,
        caller: &Caller,
        source: &PlexSource,
    ) -> Result<TokenVisibility, ServiceError> {
        if !caller.may(Permission::ViewPlexToken, Some(source.pk)) {
            return Ok(TokenVisibility::Hidden);
        }
        store::access::record_token_view(
            &self.db,
            caller,
            source.pk,
            &source.fields.slug,
            chrono::Utc::now(),
        )
        .await?;
        tracing::info!(
            target: "audit",
            action = store::access::SECRET_VIEW,
            user = %caller.username,
            source = %source.fields.slug,
            "plex token handed out"
        );
        Ok(TokenVisibility::Shown)
    }
}

fn parse_slug(value: &str) -> Result<Slug, ServiceError> {
    Slug::parse(value).map_err(|err| {
        ServiceError::InvalidArgument(Violations::single("slug", err.code(), err.to_string()))
    })
}

/// The caller the auth layer attached; absent means the layer did not run,
/// which is denied.
fn caller<T>(request: &Request<T>) -> Result<Caller, ServiceError> {
    request
        .extensions()
        .get::<Caller>()
        .cloned()
        .ok_or(ServiceError::Unauthenticated(AuthFailure::NotProvided))
}

#[tonic::async_trait]
impl PlexSourceService for PlexSources {
    async fn retrieve_plex_source(
        &self,
        request: Request<pb::RetrievePlexSourceRequest>,
    ) -> Result<Response<pb::PlexSource>, Status> {
        let caller = caller(&request)?;
        Ok(Response::new(
            self.retrieve(&caller, request.into_inner()).await?,
        ))
    }
}
