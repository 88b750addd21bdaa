//! The routes of authentik's Plex source API and their handlers. A handler
//! authenticates, decodes, calls one operation and renders its answer; every
//! check lives in [`crate::ops`].

use std::{future::Future, sync::Arc, time::Duration};

use axum::{
    Router,
    body::{Body, Bytes},
    extract::{Path, RawQuery, State, rejection::PathRejection},
    http::{HeaderMap, Method, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use serde_json::Value;

use super::{
    body::{self, Pagination},
    error::{self, RestError, Route},
    openapi,
    query::{ListQuery, PageNumber},
};
use crate::{
    domain::{PlexSourceDraft, Slug, Violations},
    ops::{Operations, ServiceError, SourceUpdate, texts},
};

/// Where authentik mounts its API.
pub const API_ROOT: &str = "/api/v3";
/// Largest request body read by default, in bytes (`--max-request-bytes`):
/// above any valid source (1,000 servers of 40 characters and 2,000
/// mappings take about 125 KiB as JSON).
pub const DEFAULT_MAX_BODY_BYTES: usize = 256 * 1024;

pub(super) const COLLECTION: &str = "/api/v3/sources/plex/";
pub(super) const OBJECT: &str = "/api/v3/sources/plex/{slug}/";
pub(super) const SCHEMA: &str = "/api/v3/schema/";

/// How the REST API serves.
#[derive(Debug, Clone, Copy)]
pub struct RestSettings {
    /// `REQUEST_TIMEOUT`: the longest a call may take.
    pub timeout: Duration,
    /// `MAX_REQUEST_BYTES`: the largest body read.
    pub max_body_bytes: usize,
}

/// What every handler shares.
#[derive(Clone)]
struct Rest {
    ops: Arc<Operations>,
    settings: RestSettings,
}

/// The REST API's router.
pub fn router(ops: Operations, settings: RestSettings) -> Router {
    let rest = Rest {
        ops: Arc::new(ops),
        settings,
    };
    Router::new()
        .route(
            COLLECTION,
            get(list)
                .post(create)
                .fallback(|method: Method| async move {
                    RestError::method_not_allowed(method.as_str(), "GET, POST, HEAD")
                }),
        )
        .route(
            OBJECT,
            get(retrieve)
                .put(update)
                .patch(partial_update)
                .delete(destroy)
                .fallback(|method: Method| async move {
                    RestError::method_not_allowed(method.as_str(), "GET, PUT, PATCH, DELETE, HEAD")
                }),
        )
        .route(SCHEMA, get(openapi::serve))
        .fallback(|| async { RestError::not_found(error::NOT_FOUND) })
        .with_state(rest)
}

/// Why a handler did not succeed.
enum Failure {
    Service(ServiceError),
    Rest(RestError),
}

impl From<ServiceError> for Failure {
    fn from(err: ServiceError) -> Self {
        Failure::Service(err)
    }
}

impl From<RestError> for Failure {
    fn from(err: RestError) -> Self {
        Failure::Rest(err)
    }
}

impl Rest {
    /// Runs a handler within the request timeout and renders its failure
    /// as authentik would on `route`.
    async fn run(
        &self,
        route: Route,
        handler: impl Future<Output = Result<Response, Failure>>,
    ) -> Response {
        let result = match tokio::time::timeout(self.settings.timeout, handler).await {
            Ok(result) => result,
            Err(_) => Err(Failure::Rest(RestError::timed_out())),
        };
        match result {
            Ok(response) => response,
            Err(Failure::Service(err)) => RestError::service(err, route).into_response(),
            Err(Failure::Rest(err)) => err.into_response(),
        }
    }

    async fn caller(
        &self,
        headers: &HeaderMap,
    ) -> Result<Arc<crate::domain::access::Caller>, ServiceError> {
        // A value that is not text is no credentials, as a missing one.
        let authorization = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        self.ops.authenticate(authorization).await
    }
}

/// A source's path, or why it did not parse.
type SlugPath = Result<Path<String>, PathRejection>;

/// The slug of a source's path. One that no source can have names
/// nothing: 404, as authentik's lookup finds nothing.
fn path_slug(path: SlugPath) -> Result<String, RestError> {
    match path {
        Ok(Path(slug)) if Slug::parse(&slug).is_ok() => Ok(slug),
        _ => Err(RestError::not_found(texts::NOT_FOUND)),
    }
}

fn json<T: serde::Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(bytes) => super::json_response(status, bytes),
        Err(err) => {
            tracing::error!(%err, "cannot render a response");
            RestError::service(ServiceError::Internal(Box::new(err)), Route::Object).into_response()
        }
    }
}

#[utoipa::path(
    get,
    path = "/sources/plex/",
    operation_id = "sources_plex_list",
    params(ListQuery),
    responses((status = 200, body = body::PaginatedJson), openapi::Invalid, openapi::Denied)
)]
async fn list(State(rest): State<Rest>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let run = rest.clone();
    run.run(Route::Collection, async move {
        let caller = rest.caller(&headers).await?;
        let query = ListQuery::parse(raw.as_deref().unwrap_or_default());
        let page_size = query.page_size();
        // DRF paginates after filtering: filter errors and permissions
        // come before a bad page number, and `last` needs the count.
        let first_try = match query.page() {
            PageNumber::Number(n) => n,
            PageNumber::Last | PageNumber::Invalid => 1,
        };
        let mut page = rest.ops.list(&caller, &query.params(first_try)).await?;
        let current = match query.page() {
            PageNumber::Number(n) => n,
            PageNumber::Invalid => return Err(RestError::invalid_page().into()),
            PageNumber::Last => {
                let last = page.total.div_ceil(page_size).max(1);
                if last != first_try {
                    page = rest.ops.list(&caller, &query.params(last)).await?;
                }
                last
            }
        };
        let pagination =
            Pagination::of(current, page_size, page.total).ok_or_else(RestError::invalid_page)?;
        Ok(json(StatusCode::OK, &body::page_json(&page, pagination)))
    })
    .await
}

#[utoipa::path(
    post,
    path = "/sources/plex/",
    operation_id = "sources_plex_create",
    request_body = openapi::PlexSourceRequest,
    responses((status = 201, body = body::PlexSourceJson), openapi::Invalid, openapi::Denied),
)]
async fn create(State(rest): State<Rest>, headers: HeaderMap, request: Body) -> Response {
    let run = rest.clone();
    run.run(Route::Collection, async move {
        // authentik reads the body after its permission checks; so does
        // this server, so a caller who may not create costs no body.
        let admitted = async {
            let caller = rest.caller(&headers).await?;
            rest.ops.authorize_create(&caller)?;
            Ok::<_, Failure>(caller)
        };
        let (caller, request) = before_body(admitted.await, request)?;
        let (draft, decoding) = rest.read_draft(&headers, request).await?;
        let created = rest.ops.create_decoded(&caller, draft, decoding).await?;
        Ok(json(StatusCode::CREATED, &body::source_json(&created)))
    })
    .await
}

#[utoipa::path(
    get,
    path = "/sources/plex/{slug}/",
    operation_id = "sources_plex_retrieve",
    params(openapi::SlugParam),
    responses((status = 200, body = body::PlexSourceJson), openapi::Invalid, openapi::Denied, openapi::Missing)
)]
async fn retrieve(State(rest): State<Rest>, headers: HeaderMap, path: SlugPath) -> Response {
    let run = rest.clone();
    run.run(Route::Object, async move {
        let caller = rest.caller(&headers).await?;
        let slug = path_slug(path)?;
        let visible = rest.ops.retrieve(&caller, &slug).await?;
        Ok(json(StatusCode::OK, &body::source_json(&visible)))
    })
    .await
}

#[utoipa::path(
    put,
    path = "/sources/plex/{slug}/",
    operation_id = "sources_plex_update",
    params(openapi::SlugParam),
    request_body = openapi::PlexSourceRequest,
    responses((status = 200, body = body::PlexSourceJson), openapi::Invalid, openapi::Denied, openapi::Missing),
)]
async fn update(rest: State<Rest>, headers: HeaderMap, path: SlugPath, request: Body) -> Response {
    write(rest, headers, path, request, SourceUpdate::Put).await
}

#[utoipa::path(
    patch,
    path = "/sources/plex/{slug}/",
    operation_id = "sources_plex_partial_update",
    params(openapi::SlugParam),
    request_body = openapi::PatchedPlexSourceRequest,
    responses((status = 200, body = body::PlexSourceJson), openapi::Invalid, openapi::Denied, openapi::Missing),
)]
async fn partial_update(
    rest: State<Rest>,
    headers: HeaderMap,
    path: SlugPath,
    request: Body,
) -> Response {
    write(rest, headers, path, request, SourceUpdate::Patch).await
}

/// PUT and PATCH: the same operation, a full or a partial update.
async fn write(
    State(rest): State<Rest>,
    headers: HeaderMap,
    path: SlugPath,
    request: Body,
    update: fn(PlexSourceDraft) -> SourceUpdate,
) -> Response {
    let run = rest.clone();
    run.run(Route::Object, async move {
        // Before the body is read (see `create`).
        let admitted = async {
            let caller = rest.caller(&headers).await?;
            let slug = path_slug(path)?;
            rest.ops.authorize_update(&caller, &slug).await?;
            Ok::<_, Failure>((caller, slug))
        };
        let ((caller, slug), request) = before_body(admitted.await, request)?;
        let (draft, decoding) = rest.read_draft(&headers, request).await?;
        let updated = rest
            .ops
            .update_decoded(&caller, &slug, update(draft), decoding)
            .await?;
        Ok(json(StatusCode::OK, &body::source_json(&updated)))
    })
    .await
}

#[utoipa::path(
    delete,
    path = "/sources/plex/{slug}/",
    operation_id = "sources_plex_destroy",
    params(openapi::SlugParam),
    responses((status = 204, description = "No response body"), openapi::Invalid, openapi::Denied, openapi::Missing)
)]
async fn destroy(State(rest): State<Rest>, headers: HeaderMap, path: SlugPath) -> Response {
    let run = rest.clone();
    run.run(Route::Object, async move {
        let caller = rest.caller(&headers).await?;
        let slug = path_slug(path)?;
        rest.ops.delete(&caller, &slug).await?;
        Ok(StatusCode::NO_CONTENT.into_response())
    })
    .await
}

/// The checks made before a body is read, and the body; when they refuse,
/// the body is read off apart (see [`crate::early`]).
fn before_body<T>(checked: Result<T, Failure>, request: Body) -> Result<(T, Body), Failure> {
    match checked {
        Ok(admitted) => Ok((admitted, request)),
        Err(refused) => {
            crate::early::drain_later(request);
            Err(refused)
        }
    }
}

impl Rest {
    /// A write's body as a draft and the values it could not type: read
    /// within the body limit, parsed as JSON (no body is `{}`, as DRF
    /// reads it), typed field by field.
    async fn read_draft(
        &self,
        headers: &HeaderMap,
        request: Body,
    ) -> Result<(PlexSourceDraft, Violations), RestError> {
        let limit = self.settings.max_body_bytes;
        let bytes = axum::body::to_bytes(request, limit)
            .await
            .map_err(|_| RestError::too_large(limit))?;
        let value = json_body(headers, &bytes)?;
        body::draft(value).map_err(|v| RestError::invalid(&v))
    }
}

fn json_body(headers: &HeaderMap, bytes: &Bytes) -> Result<Value, RestError> {
    if bytes.is_empty() {
        return Ok(Value::Object(serde_json::Map::new()));
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        return Err(RestError::unsupported_media_type(&content_type));
    }
    serde_json::from_slice(bytes).map_err(RestError::parse)
}
