//! The OpenAPI document of the served subset, generated from the handlers
//! and body types (`utoipa`), in authentik's shape: the server `/api/v3`,
//! paths relative to it, authentik's operation ids, schema names and its
//! `authentik` bearer security scheme, so generated clients call this
//! service as they call authentik. `GET /api/v3/schema/` serves it as YAML
//! (drf-spectacular's default) or, with `?format=json` or an `Accept`
//! naming JSON, as JSON.

use std::sync::LazyLock;

use axum::{
    extract::RawQuery,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use utoipa::{
    Modify, OpenApi, ToSchema,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};

use super::{body, routes};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "authentik",
        description = "Making authentication simple.",
        version = "2025.10.4",
    ),
    servers((url = "/api/v3")),
    paths(
        routes::list,
        routes::create,
        routes::retrieve,
        routes::update,
        routes::partial_update,
        routes::destroy,
    ),
    components(schemas(PatchedPlexSourceRequest, GenericError, ValidationError, body::Pagination)),
    modifiers(&BearerScheme),
    tags((name = "sources")),
)]
pub struct ApiDoc;

/// authentik's `authentik` security scheme: `Authorization: Bearer <key>`.
struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "authentik",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// authentik's `GenericError`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct GenericError {
    detail: String,
    code: Option<String>,
}

/// authentik's `ValidationError`: each field's messages under its name.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ValidationError {
    non_field_errors: Option<Vec<String>>,
    code: Option<String>,
    /// Any other field, with its messages.
    #[serde(flatten)]
    fields: std::collections::HashMap<String, Vec<String>>,
}

/// authentik's `PatchedPlexSourceRequest`: any writable field.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct PatchedPlexSourceRequest {
    #[schema(min_length = 1)]
    name: Option<String>,
    #[schema(min_length = 1, max_length = 50, pattern = r"^[-a-zA-Z0-9_]+$")]
    slug: Option<String>,
    enabled: Option<bool>,
    #[schema(value_type = Option<uuid::Uuid>, nullable)]
    authentication_flow: Option<String>,
    #[schema(value_type = Option<uuid::Uuid>, nullable)]
    enrollment_flow: Option<String>,
    #[schema(value_type = Option<Vec<uuid::Uuid>>)]
    user_property_mappings: Option<Vec<String>>,
    #[schema(value_type = Option<Vec<uuid::Uuid>>)]
    group_property_mappings: Option<Vec<String>>,
    #[schema(value_type = Option<body::PolicyEngineMode>)]
    policy_engine_mode: Option<String>,
    #[schema(value_type = Option<body::UserMatchingModeEnum>)]
    user_matching_mode: Option<String>,
    #[schema(min_length = 1)]
    user_path_template: Option<String>,
    #[schema(value_type = Option<body::GroupMatchingModeEnum>)]
    group_matching_mode: Option<String>,
    #[schema(min_length = 1)]
    client_id: Option<String>,
    allowed_servers: Option<Vec<String>>,
    allow_friends: Option<bool>,
    #[schema(min_length = 1)]
    plex_token: Option<String>,
}

/// The document, rendered once.
static DOCUMENT: LazyLock<(String, String)> = LazyLock::new(|| {
    let doc = ApiDoc::openapi();
    let json = doc.to_pretty_json().unwrap_or_default();
    let yaml = serde_json::from_str::<serde_json::Value>(&json)
        .ok()
        .and_then(|value| serde_yaml_ng::to_string(&value).ok())
        .unwrap_or_default();
    (json, yaml)
});

/// `GET /api/v3/schema/`: public, as authentik's is.
pub async fn serve(headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let asks_json = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .any(|(k, v)| k == "format" && v == "json")
        || headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| accept.contains("json"));
    let (body, content_type) = if asks_json {
        (DOCUMENT.0.clone(), "application/vnd.oai.openapi+json")
    } else {
        (DOCUMENT.1.clone(), "application/vnd.oai.openapi")
    };
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        body,
    )
        .into_response()
}
