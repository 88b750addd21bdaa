//! The baseline: the same proto served by tonic from memory, no auth, no
//! database. What the transport alone costs.

use std::{net::SocketAddr, pin::Pin};

use plex_source_service::proto as pb;
use tokio_stream::Stream;
use tonic::{Request, Response, Status, transport::Server};

/// The plain generated server (see `build.rs`).
mod plain {
    tonic::include_proto!("plexsource.v1");
}
use plain::plex_source_service_server::{PlexSourceService, PlexSourceServiceServer};

struct Baseline {
    source: pb::PlexSource,
}

/// A source shaped like the service's answers.
fn fixed_source() -> pb::PlexSource {
    pb::PlexSource {
        pk: "6c1d6e4e-2d0f-4a53-9a49-3f0a3a9b0c11".into(),
        name: "Sign in with Plex".into(),
        slug: "plex-login".into(),
        enabled: Some(true),
        authentication_flow: Some("0b7a5c1e-8b8a-4a9e-9d1f-1f0e6a2b3c4d".into()),
        enrollment_flow: Some("1c8b6d2f-9c9b-4b0f-8e2a-2a1f7b3c4d5e".into()),
        user_property_mappings: vec![],
        group_property_mappings: vec![],
        component: "ak-source-plex-form".into(),
        verbose_name: "Plex Source".into(),
        verbose_name_plural: "Plex Sources".into(),
        meta_model_name: "authentik_sources_plex.plexsource".into(),
        policy_engine_mode: pb::PolicyEngineMode::Any as i32,
        user_matching_mode: pb::UserMatchingMode::Identifier as i32,
        managed: None,
        user_path_template: "goauthentik.io/sources/%(slug)s".into(),
        icon: Some("/static/authentik/sources/plex.svg".into()),
        group_matching_mode: pb::GroupMatchingMode::Identifier as i32,
        client_id: "exampleclientid0123456789abcdefABCDEF0123".into(),
        allowed_servers: vec!["0123456789abcdef0123456789abcdef01234567".into()],
        allow_friends: Some(true),
        plex_token: String::new(),
    }
}

type Empty = Pin<Box<dyn Stream<Item = Result<pb::WatchPlexSourcesResponse, Status>> + Send>>;

#[tonic::async_trait]
impl PlexSourceService for Baseline {
    async fn retrieve_plex_source(
        &self,
        _: Request<pb::RetrievePlexSourceRequest>,
    ) -> Result<Response<pb::PlexSource>, Status> {
        Ok(Response::new(self.source.clone()))
    }

    async fn list_plex_sources(
        &self,
        _: Request<pb::ListPlexSourcesRequest>,
    ) -> Result<Response<pb::ListPlexSourcesResponse>, Status> {
        Err(Status::unimplemented("baseline"))
    }

    async fn create_plex_source(
        &self,
        _: Request<pb::CreatePlexSourceRequest>,
    ) -> Result<Response<pb::PlexSource>, Status> {
        Err(Status::unimplemented("baseline"))
    }

    async fn update_plex_source(
        &self,
        _: Request<pb::UpdatePlexSourceRequest>,
    ) -> Result<Response<pb::PlexSource>, Status> {
        Err(Status::unimplemented("baseline"))
    }

    async fn delete_plex_source(
        &self,
        _: Request<pb::DeletePlexSourceRequest>,
    ) -> Result<Response<()>, Status> {
        Err(Status::unimplemented("baseline"))
    }

    type WatchPlexSourcesStream = Empty;

    async fn watch_plex_sources(
        &self,
        _: Request<pb::WatchPlexSourcesRequest>,
    ) -> Result<Response<Self::WatchPlexSourcesStream>, Status> {
        Err(Status::unimplemented("baseline"))
    }
}

pub async fn serve(listen: SocketAddr) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!("{}", listener.local_addr()?);
    Server::builder()
        .add_service(PlexSourceServiceServer::new(Baseline {
            source: fixed_source(),
        }))
        .serve_with_incoming(
            tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
        )
        .await?;
    Ok(())
}
