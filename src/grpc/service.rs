//! `plexsource.v1.PlexSourceService`. Each RPC runs the checks in
//! authentik's order: authenticate (done by the auth layer), validate,
//! authorize, look up. Failures go through [`ServiceError`].

use std::{borrow::Borrow, sync::Arc};

use sea_orm::DatabaseConnection;
use tonic::{Request, Response, Status};

use super::{
    convert::{TokenVisibility, source_to_proto},
    error::{AuthFailure, ServiceError},
    input::{self, UpdateMode},
    watch::{WatchStream, watch},
};
use crate::{
    cache::CachedPage,
    domain::{
        PlexSource, Slug, Violations,
        access::{Caller, Permission},
        listing::PageToken,
    },
    feed::ChangeFeed,
    proto::{self as pb, plex_source_service_server::PlexSourceService},
    store,
};

/// The service: the store's connection pool and the change feed.
#[derive(Clone)]
pub struct PlexSources {
    db: DatabaseConnection,
    feed: ChangeFeed,
}

impl PlexSources {
    pub fn new(db: DatabaseConnection, feed: ChangeFeed) -> Self {
        Self { db, feed }
    }

    async fn retrieve(
        &self,
        caller: &Caller,
        request: pb::RetrievePlexSourceRequest,
    ) -> Result<pb::PlexSource, ServiceError> {
        let slug = parse_slug(&request.slug)?;
        let source = self.source_by_slug(&slug).await?;
        let source = visible(caller, source)?;
        self.render(caller, &source).await
    }

    /// A source by slug, through the read cache.
    async fn source_by_slug(&self, slug: &Slug) -> Result<Option<Arc<PlexSource>>, ServiceError> {
        let cache = self.feed.cache();
        if let Some(hit) = cache.source(slug.as_str()) {
            return Ok(hit);
        }
        let ticket = cache.ticket();
        let source = store::find_source_by_slug(&self.db, slug)
            .await?
            .map(Arc::new);
        cache.put_source(ticket, slug.as_str().to_owned(), source.clone());
        Ok(source)
    }

    async fn list(
        &self,
        caller: &Caller,
        request: pb::ListPlexSourcesRequest,
    ) -> Result<pb::ListPlexSourcesResponse, ServiceError> {
        let mut args = input::list_args(&request).map_err(ServiceError::InvalidArgument)?;
        let after = match request.page_token.as_str() {
            "" => None,
            token => Some(
                PageToken::decode(token, &args.fingerprint, &args.ordering)
                    .map_err(ServiceError::InvalidArgument)?
                    .after,
            ),
        };
        if !caller.may_globally(Permission::View) {
            let objects = caller.objects_with(Permission::View);
            if objects.is_empty() {
                return Err(ServiceError::PermissionDenied);
            }
            args.filter.visible = Some(objects);
        }
        let page = self
            .page(&args, &request.page_token, after.as_deref())
            .await?;
        let next_page_token = match (page.more, page.sources.last()) {
            (true, Some(last)) => PageToken {
                fingerprint: args.fingerprint.clone(),
                after: store::cursor_of(last, &args.ordering),
            }
            .encode(),
            _ => String::new(),
        };
        Ok(pb::ListPlexSourcesResponse {
            plex_sources: self.render_all(caller, &page.sources).await?,
            next_page_token,
            total_size: i32::try_from(page.total).unwrap_or(i32::MAX),
        })
    }

    /// A list page, through the read cache (keyed by everything that
    /// decides its rows, visibility included).
    async fn page(
        &self,
        args: &input::ListArgs,
        token: &str,
        after: Option<&[crate::domain::listing::CursorValue]>,
    ) -> Result<Arc<CachedPage>, ServiceError> {
        let key = format!(
            "{}|{}|{}|{:?}",
            args.fingerprint, args.page_size, token, args.filter.visible
        );
        let cache = self.feed.cache();
        if let Some(hit) = cache.page(&key) {
            return Ok(hit);
        }
        let ticket = cache.ticket();
        let page = store::list_sources(
            &self.db,
            &args.filter,
            &args.ordering,
            after,
            args.page_size,
        )
        .await?;
        let page = Arc::new(CachedPage {
            sources: page.sources.into_iter().map(Arc::new).collect(),
            total: page.total,
            more: page.more,
        });
        cache.put_page(ticket, key, page.clone());
        Ok(page)
    }

    async fn create(
        &self,
        caller: &Caller,
        request: pb::CreatePlexSourceRequest,
    ) -> Result<pb::PlexSource, ServiceError> {
        let body = request.plex_source.unwrap_or_default();
        if !caller.may_globally(Permission::Add) {
            return Err(ServiceError::PermissionDenied);
        }
        let txn = store::begin_write(&self.db).await?;
        let fields =
            checked(store::check_source(&txn, input::draft_for_create(&body), None, None).await?)?;
        let pk = uuid::Uuid::new_v4();
        let source = store::insert_source(&txn, pk, &fields).await?;
        txn.commit().await.map_err(store::StoreError::from)?;
        self.feed.committed();
        self.render(caller, &source).await
    }

    async fn update(
        &self,
        caller: &Caller,
        request: pb::UpdatePlexSourceRequest,
    ) -> Result<pb::PlexSource, ServiceError> {
        let slug = parse_slug(&request.slug)?;
        let mode = input::update_mode(request.update_mask.as_ref())
            .map_err(ServiceError::InvalidArgument)?;
        let body = request.plex_source.unwrap_or_default();
        let txn = store::begin_write(&self.db).await?;
        let stored = visible(caller, store::find_source_by_slug(&txn, &slug).await?)?;
        if !caller.may(Permission::Change, Some(stored.pk)) {
            return Err(ServiceError::PermissionDenied);
        }
        let (draft, base) = match &mode {
            UpdateMode::Replace => (input::draft_for_replace(&body, &stored.fields), None),
            UpdateMode::Patch(paths) => {
                (input::draft_for_patch(&body, paths), Some(&stored.fields))
            }
        };
        let fields = checked(store::check_source(&txn, draft, base, Some(stored.pk)).await?)?;
        // An update that changes nothing writes nothing (and logs no event).
        let source = if fields == stored.fields {
            stored
        } else {
            store::update_source(&txn, stored.pk, &fields).await?
        };
        txn.commit().await.map_err(store::StoreError::from)?;
        self.feed.committed();
        self.render(caller, &source).await
    }

    async fn delete(
        &self,
        caller: &Caller,
        request: pb::DeletePlexSourceRequest,
    ) -> Result<(), ServiceError> {
        let slug = parse_slug(&request.slug)?;
        let txn = store::begin_write(&self.db).await?;
        let stored = visible(caller, store::find_source_by_slug(&txn, &slug).await?)?;
        if !caller.may(Permission::Delete, Some(stored.pk)) {
            return Err(ServiceError::PermissionDenied);
        }
        store::delete_source(&txn, stored.pk).await?;
        txn.commit().await.map_err(store::StoreError::from)?;
        self.feed.committed();
        Ok(())
    }

    /// The wire form for this caller; the Plex token only if allowed (and
    /// then audited).
    pub(super) async fn render(
        &self,
        caller: &Caller,
        source: &PlexSource,
    ) -> Result<pb::PlexSource, ServiceError> {
        Ok(self
            .render_all(caller, std::slice::from_ref(source))
            .await?
            .remove(0))
    }

    pub(super) async fn render_all<S: Borrow<PlexSource>>(
        &self,
        caller: &Caller,
        sources: &[S],
    ) -> Result<Vec<pb::PlexSource>, ServiceError> {
        let shown: Vec<(uuid::Uuid, &Slug)> = sources
            .iter()
            .map(Borrow::borrow)
            .filter(|s: &&PlexSource| caller.may(Permission::ViewPlexToken, Some(s.pk)))
            .map(|s| (s.pk, &s.fields.slug))
            .collect();
        if !shown.is_empty() {
            store::access::record_token_views(&self.db, caller, &shown, chrono::Utc::now()).await?;
            for (_, slug) in &shown {
                tracing::info!(
                    target: "audit",
                    action = store::access::SECRET_VIEW,
                    user = %caller.username,
                    source = %slug,
                    "plex token handed out"
                );
            }
        }
        Ok(sources
            .iter()
            .map(|s| {
                let s: &PlexSource = s.borrow();
                let token = if shown.iter().any(|(pk, _)| *pk == s.pk) {
                    TokenVisibility::Shown
                } else {
                    TokenVisibility::Hidden
                };
                source_to_proto(s, token)
            })
            .collect())
    }

    pub(super) fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    pub(super) fn feed(&self) -> &ChangeFeed {
        &self.feed
    }
}

/// The source if the caller may view it. Denied the same way whether or not
/// it exists (no probing); NOT_FOUND only for callers who may view all.
fn visible<S: Borrow<PlexSource>>(caller: &Caller, source: Option<S>) -> Result<S, ServiceError> {
    if !caller.may(Permission::View, source.as_ref().map(|s| s.borrow().pk)) {
        return Err(ServiceError::PermissionDenied);
    }
    source.ok_or(ServiceError::NotFound)
}

/// Validation result to service error: a taken slug alone is ALREADY_EXISTS.
fn checked<T>(result: Result<T, Violations>) -> Result<T, ServiceError> {
    result.map_err(|v| {
        if store::only_slug_taken(&v) {
            ServiceError::AlreadyExists(v)
        } else {
            ServiceError::InvalidArgument(v)
        }
    })
}

fn parse_slug(value: &str) -> Result<Slug, ServiceError> {
    Slug::parse(value).map_err(|err| {
        ServiceError::InvalidArgument(Violations::single("slug", err.code(), err.to_string()))
    })
}

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
    ) -> Result<Response<pb::PlexSource>, Status> {
        let caller = caller(&request)?;
        Ok(Response::new(
            self.retrieve(&caller, request.into_inner()).await?,
        ))
    }

    async fn list_plex_sources(
        &self,
        request: Request<pb::ListPlexSourcesRequest>,
    ) -> Result<Response<pb::ListPlexSourcesResponse>, Status> {
        let caller = caller(&request)?;
        Ok(Response::new(
            self.list(&caller, request.into_inner()).await?,
        ))
    }

    async fn create_plex_source(
        &self,
        request: Request<pb::CreatePlexSourceRequest>,
    ) -> Result<Response<pb::PlexSource>, Status> {
        let caller = caller(&request)?;
        Ok(Response::new(
            self.create(&caller, request.into_inner()).await?,
        ))
    }

    async fn update_plex_source(
        &self,
        request: Request<pb::UpdatePlexSourceRequest>,
    ) -> Result<Response<pb::PlexSource>, Status> {
        let caller = caller(&request)?;
        Ok(Response::new(
            self.update(&caller, request.into_inner()).await?,
        ))
    }

    async fn delete_plex_source(
        &self,
        request: Request<pb::DeletePlexSourceRequest>,
    ) -> Result<Response<()>, Status> {
        let caller = caller(&request)?;
        self.delete(&caller, request.into_inner()).await?;
        Ok(Response::new(()))
    }

    type WatchPlexSourcesStream = WatchStream;

    async fn watch_plex_sources(
        &self,
        request: Request<pb::WatchPlexSourcesRequest>,
    ) -> Result<Response<Self::WatchPlexSourcesStream>, Status> {
        let caller = caller(&request)?;
        Ok(Response::new(
            watch(self.clone(), (*caller).clone(), request.into_inner()).await?,
        ))
    }
}
