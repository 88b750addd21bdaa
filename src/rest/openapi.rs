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
    Modify, OpenApi, PartialSchema, ToSchema,
    openapi::{
        ArrayBuilder, KnownFormat, ObjectBuilder, Ref, RefOr, Schema, SchemaFormat, Type,
        schema::SchemaType,
        security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme},
    },
};

use super::{body, routes};
use crate::domain::{
    Slug,
    attributes::{self, Access, Attribute, Choices, Value as AttributeValue},
};

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
    components(schemas(
        PlexSourceRequest,
        PatchedPlexSourceRequest,
        GenericError,
        ValidationError,
        body::Pagination,
        body::PlexSourceJson,
        body::PaginatedJson
    )),
    modifiers(&BearerScheme, &ViewsetOperations),
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

/// What every operation of authentik's Plex source viewset shares: its
/// tag, its description and the `authentik` scheme.
struct ViewsetOperations;

impl Modify for ViewsetOperations {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let operations = openapi
            .paths
            .paths
            .values_mut()
            .flat_map(|item| {
                [
                    &mut item.get,
                    &mut item.post,
                    &mut item.put,
                    &mut item.patch,
                    &mut item.delete,
                ]
            })
            .filter_map(Option::as_mut);
        for operation in operations {
            operation.tags = Some(vec!["sources".to_owned()]);
            operation.description = Some("Plex source Viewset".to_owned());
            operation.security = Some(vec![SecurityRequirement::new(
                "authentik",
                Vec::<String>::new(),
            )]);
        }
    }
}

/// A source's path parameter.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct SlugParam {
    /// Internal source name, used in URLs.
    slug: String,
}

// A refused request's answer: 400 and the fields' messages (authentik's
// answers carry no description).
#[derive(utoipa::IntoResponses)]
#[response(status = 400, description = "")]
pub struct Invalid(#[allow(dead_code)] ValidationError);

// A refused caller's answer: 403.
#[derive(utoipa::IntoResponses)]
#[response(status = 403, description = "")]
pub struct Denied(#[allow(dead_code)] GenericError);

// A source the caller cannot see: 404.
#[derive(utoipa::IntoResponses)]
#[response(status = 404, description = "")]
pub struct Missing(#[allow(dead_code)] GenericError);

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

/// authentik's `PlexSourceRequest`: the body of a create or full update.
pub struct PlexSourceRequest;

/// authentik's `PatchedPlexSourceRequest`: the body of a partial update.
pub struct PatchedPlexSourceRequest;

impl PartialSchema for PlexSourceRequest {
    fn schema() -> RefOr<Schema> {
        request_schema("Plex Source Serializer", true)
    }
}

impl ToSchema for PlexSourceRequest {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        choice_schemas(schemas);
    }
}

impl PartialSchema for PatchedPlexSourceRequest {
    fn schema() -> RefOr<Schema> {
        request_schema("Plex Source Serializer", false)
    }
}

impl ToSchema for PatchedPlexSourceRequest {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        choice_schemas(schemas);
    }
}

/// A request body's schema: the attributes the API writes (from their one
/// declaration), with the ones a create requires required when `whole`.
fn request_schema(description: &str, whole: bool) -> RefOr<Schema> {
    let mut object = ObjectBuilder::new().description(Some(description));
    for attribute in attributes::writable() {
        object = object.property(attribute.name, attribute_schema(attribute));
        if whole && attribute.access == (Access::Writable { required: true }) {
            object = object.required(attribute.name);
        }
    }
    RefOr::T(Schema::Object(object.build()))
}

/// How one attribute is written in a request.
fn attribute_schema(attribute: &Attribute) -> RefOr<Schema> {
    let kind = |kind: Type| {
        if attribute.nullable {
            SchemaType::from_iter([kind, Type::Null])
        } else {
            SchemaType::Type(kind)
        }
    };
    let uuid = || SchemaFormat::KnownFormat(KnownFormat::Uuid);
    let text = ObjectBuilder::new()
        .schema_type(kind(Type::String))
        .min_length(attribute.non_blank.then_some(1));
    let schema = match attribute.value {
        AttributeValue::Text => text.build(),
        AttributeValue::Slug => text
            .max_length(Some(Slug::MAX_LEN))
            .pattern(Some(Slug::PATTERN))
            .build(),
        AttributeValue::Bool => ObjectBuilder::new()
            .schema_type(kind(Type::Boolean))
            .build(),
        AttributeValue::Pk | AttributeValue::Ref => ObjectBuilder::new()
            .schema_type(kind(Type::String))
            .format(Some(uuid()))
            .build(),
        AttributeValue::RefList => {
            let item = ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(uuid()));
            return ArrayBuilder::new().items(item).into();
        }
        AttributeValue::TextList => {
            return ArrayBuilder::new()
                .items(ObjectBuilder::new().schema_type(Type::String))
                .into();
        }
        AttributeValue::Choice(choices) => {
            return RefOr::Ref(Ref::from_schema_name(choice_name(choices)));
        }
    };
    RefOr::T(Schema::Object(schema))
}

/// authentik's schema names of the choice attributes' sets.
fn choice_name(choices: Choices) -> &'static str {
    match choices {
        Choices::PolicyEngineMode => "PolicyEngineMode",
        Choices::UserMatchingMode => "UserMatchingModeEnum",
        Choices::GroupMatchingMode => "GroupMatchingModeEnum",
    }
}

/// Every choice set, as a named schema of its words (from the domain's
/// own list of them).
fn choice_schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
    for choices in [
        Choices::PolicyEngineMode,
        Choices::UserMatchingMode,
        Choices::GroupMatchingMode,
    ] {
        let schema = ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(choices.words()))
            .build();
        schemas.push((
            choice_name(choices).to_owned(),
            RefOr::T(Schema::Object(schema)),
        ));
    }
}

/// The choice sets as value types of the answer's and the query's fields.
macro_rules! choice_schema {
    ($name:ident, $choices:expr) => {
        #[doc = concat!("authentik's `", stringify!($name), "` (its words: the domain's).")]
        pub struct $name;

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                RefOr::Ref(Ref::from_schema_name(choice_name($choices)))
            }
        }

        impl ToSchema for $name {
            fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
                choice_schemas(schemas);
            }
        }
    };
}

choice_schema!(PolicyEngineMode, Choices::PolicyEngineMode);
choice_schema!(UserMatchingModeEnum, Choices::UserMatchingMode);
choice_schema!(GroupMatchingModeEnum, Choices::GroupMatchingMode);

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

#[cfg(test)]
mod tests {
    use super::*;

    /// The request bodies' schemas hold exactly the attributes the API
    /// writes, and the whole one requires what a create requires.
    #[test]
    fn request_schemas_come_from_the_attributes() {
        let doc: serde_json::Value =
            serde_json::from_str(&ApiDoc::openapi().to_json().expect("JSON")).expect("JSON");
        let schemas = &doc["components"]["schemas"];
        let mut writable: Vec<&str> = attributes::writable().map(|a| a.name).collect();
        writable.sort_unstable();
        for name in ["PlexSourceRequest", "PatchedPlexSourceRequest"] {
            let properties: Vec<&str> = schemas[name]["properties"]
                .as_object()
                .expect("properties")
                .keys()
                .map(String::as_str)
                .collect();
            assert_eq!(properties, writable, "{name}");
        }
        assert_eq!(
            schemas["PlexSourceRequest"]["required"],
            serde_json::json!(["name", "slug", "plex_token"])
        );
        assert!(schemas["PatchedPlexSourceRequest"]["required"].is_null());
        assert_eq!(
            schemas["UserMatchingModeEnum"]["enum"],
            serde_json::json!(Choices::UserMatchingMode.words())
        );
    }
}
