//! The one place where operation failures (and the transport's own refusals)
//! become HTTP statuses and bodies, as authentik's REST API writes them:
//! Django REST framework's default exception handler, `{"detail": "…"}` for
//! everything but validation, `{"field": ["message", …]}` for validation.

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::{Serialize, Serializer, ser::SerializeMap};

use crate::{
    domain::{PlexSourceDraft, Violations, violations::OMITTED_FIELD},
    ops::{AuthFailure, ServiceError, texts},
};

/// Django REST framework's `NotFound` default, for paths that name nothing.
pub const NOT_FOUND: &str = "Not found.";
/// `PageNumberPagination.invalid_page_message`.
pub const INVALID_PAGE: &str = "Invalid page.";
/// Django REST framework's `ServiceUnavailable` default.
pub const UNAVAILABLE: &str = "Service temporarily unavailable, try again later.";
/// Django REST framework's `APIException` default.
pub const INTERNAL: &str = "A server error occurred.";
/// The call ran past `REQUEST_TIMEOUT` (the gRPC transport's wording).
pub const TIMED_OUT: &str = "Deadline exceeded before the call could complete.";

/// Which kind of route answered: authentik tells callers without
/// credentials "not provided" on the list route (its view-level permission
/// check) and "no permission" on a source's route, where that check lets
/// the request through to the queryset filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Collection,
    Object,
}

/// An answer other than success.
#[derive(Debug)]
pub struct RestError {
    status: StatusCode,
    body: Body,
    /// `Allow` of a 405.
    allow: Option<&'static str>,
}

#[derive(Debug)]
enum Body {
    /// `{"detail": "…"}`
    Detail(String),
    /// `{"field": ["…"], "list_field": {"0": ["…"]}}`
    Fields(FieldErrors),
}

impl RestError {
    fn detail(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            body: Body::Detail(detail.into()),
            allow: None,
        }
    }

    /// The operation's error on `route`.
    pub fn service(err: ServiceError, route: Route) -> Self {
        err.log_cause();
        match err {
            ServiceError::Unauthenticated(AuthFailure::NotProvided) if route == Route::Object => {
                Self::detail(StatusCode::FORBIDDEN, texts::PERMISSION_DENIED)
            }
            // authentik names no `WWW-Authenticate` scheme, so DRF answers
            // failed authentication with 403, not 401.
            ServiceError::Unauthenticated(failure) => {
                Self::detail(StatusCode::FORBIDDEN, failure.message())
            }
            ServiceError::PermissionDenied => {
                Self::detail(StatusCode::FORBIDDEN, texts::PERMISSION_DENIED)
            }
            ServiceError::InvalidArgument(violations) | ServiceError::AlreadyExists(violations) => {
                Self::invalid(&violations)
            }
            ServiceError::NotFound => Self::detail(StatusCode::NOT_FOUND, texts::NOT_FOUND),
            ServiceError::Starting
            | ServiceError::ShuttingDown { .. }
            | ServiceError::ConnectionClosing { .. }
            | ServiceError::OutOfRange(_)
            | ServiceError::ResourceExhausted(_)
            | ServiceError::Busy(_)
            | ServiceError::Unavailable(_) => Self::unavailable(),
            ServiceError::Internal(_) => Self::detail(StatusCode::INTERNAL_SERVER_ERROR, INTERNAL),
        }
    }

    /// 400 with every violation under its field.
    pub fn invalid(violations: &Violations) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            body: Body::Fields(FieldErrors::of(violations)),
            allow: None,
        }
    }

    /// A path that names no source, or nothing at all.
    pub fn not_found(detail: &str) -> Self {
        Self::detail(StatusCode::NOT_FOUND, detail)
    }

    pub fn invalid_page() -> Self {
        Self::detail(StatusCode::NOT_FOUND, INVALID_PAGE)
    }

    pub fn unavailable() -> Self {
        Self::detail(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE)
    }

    pub fn timed_out() -> Self {
        Self::detail(StatusCode::SERVICE_UNAVAILABLE, TIMED_OUT)
    }

    /// DRF's `ParseError` for a body that is not JSON.
    pub fn parse(problem: impl std::fmt::Display) -> Self {
        Self::detail(
            StatusCode::BAD_REQUEST,
            format!("JSON parse error - {problem}"),
        )
    }

    /// DRF's `UnsupportedMediaType`.
    pub fn unsupported_media_type(content_type: &str) -> Self {
        Self::detail(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Unsupported media type \"{content_type}\" in request."),
        )
    }

    /// A body over the size limit.
    pub fn too_large(limit: usize) -> Self {
        Self::detail(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("Request body exceeds {limit} bytes (--max-request-bytes)."),
        )
    }

    /// DRF's `MethodNotAllowed`, with the methods the route has.
    pub fn method_not_allowed(method: &str, allow: &'static str) -> Self {
        Self {
            status: StatusCode::METHOD_NOT_ALLOWED,
            body: Body::Detail(format!("Method \"{method}\" not allowed.")),
            allow: Some(allow),
        }
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl IntoResponse for RestError {
    fn into_response(self) -> Response {
        let json = match &self.body {
            Body::Detail(detail) => serde_json::to_vec(&Detail { detail }),
            Body::Fields(fields) => serde_json::to_vec(fields),
        }
        // Strings and maps of strings always serialize.
        .unwrap_or_default();
        let mut response = super::json_response(self.status, json);
        if let Some(allow) = self.allow {
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        response
    }
}

#[derive(Serialize)]
struct Detail<'a> {
    detail: &'a str,
}

/// Validation errors keyed as Django REST framework keys them: by field, in
/// the serializer's field order (`pbm_uuid` first, as the list filters
/// declare it; `non_field_errors` last); an `allowed_servers` item's errors
/// under its index (a `ListField`); a property mapping list with its first
/// error only (a `ManyRelatedField` stops at the first bad item).
#[derive(Debug, Default)]
struct FieldErrors(Vec<(String, Entry)>);

#[derive(Debug)]
enum Entry {
    Messages(Vec<String>),
    Items(Vec<(String, Vec<String>)>),
}

/// Fields whose items DRF reports one by one, under the item's index.
const INDEXED_LISTS: [&str; 1] = ["allowed_servers"];

impl FieldErrors {
    fn of(violations: &Violations) -> Self {
        let mut out = FieldErrors::default();
        for v in violations.iter() {
            let (field, index) = match v.field.split_once('[') {
                Some((field, rest)) => (field, rest.strip_suffix(']')),
                None => (v.field.as_str(), None),
            };
            let at = match out.0.iter().position(|(name, _)| name == field) {
                Some(at) => at,
                None => {
                    let entry = match index {
                        Some(_) if INDEXED_LISTS.contains(&field) => Entry::Items(Vec::new()),
                        _ => Entry::Messages(Vec::new()),
                    };
                    out.0.push((field.to_owned(), entry));
                    out.0.len() - 1
                }
            };
            match (&mut out.0[at].1, index) {
                (Entry::Items(items), Some(index)) => {
                    match items.iter_mut().find(|(i, _)| i == index) {
                        Some((_, messages)) => messages.push(v.message.clone()),
                        None => items.push((index.to_owned(), vec![v.message.clone()])),
                    }
                }
                // A related list stops at its first bad item.
                (Entry::Messages(messages), Some(_)) if !messages.is_empty() => {}
                (Entry::Messages(messages), _) => messages.push(v.message.clone()),
                (Entry::Items(_), None) => {
                    out.0[at].1 = Entry::Messages(vec![v.message.clone()]);
                }
            }
        }
        out.0.sort_by_key(|(field, _)| rank(field));
        out
    }
}

/// Position of a field in the answer (a stable sort keeps unknown fields in
/// the order they were found).
fn rank(field: &str) -> usize {
    if field == "pbm_uuid" {
        return 0;
    }
    if field == OMITTED_FIELD {
        return usize::MAX;
    }
    PlexSourceDraft::FIELDS
        .iter()
        .position(|f| *f == field)
        .map_or(PlexSourceDraft::FIELDS.len() + 1, |at| at + 1)
}

impl Serialize for FieldErrors {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (field, entry) in &self.0 {
            match entry {
                Entry::Messages(messages) => map.serialize_entry(field, messages)?,
                Entry::Items(items) => map.serialize_entry(field, &Items(items))?,
            }
        }
        map.end()
    }
}

struct Items<'a>(&'a [(String, Vec<String>)]);

impl Serialize for Items<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (index, messages) in self.0 {
            map.serialize_entry(index, messages)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(err: RestError) -> (StatusCode, String) {
        let status = err.status;
        let json = match &err.body {
            Body::Detail(detail) => serde_json::to_string(&Detail { detail }),
            Body::Fields(fields) => serde_json::to_string(fields),
        };
        (status, json.unwrap())
    }

    #[test]
    fn every_operation_error_has_its_drf_answer() {
        let cases: Vec<(ServiceError, Route, StatusCode, &str)> = vec![
            (
                ServiceError::Unauthenticated(AuthFailure::NotProvided),
                Route::Collection,
                StatusCode::FORBIDDEN,
                r#"{"detail":"Authentication credentials were not provided."}"#,
            ),
            (
                ServiceError::Unauthenticated(AuthFailure::NotProvided),
                Route::Object,
                StatusCode::FORBIDDEN,
                r#"{"detail":"You do not have permission to perform this action."}"#,
            ),
            (
                ServiceError::Unauthenticated(AuthFailure::UnsupportedScheme),
                Route::Object,
                StatusCode::FORBIDDEN,
                r#"{"detail":"Unsupported authentication type"}"#,
            ),
            (
                ServiceError::Unauthenticated(AuthFailure::Invalid),
                Route::Collection,
                StatusCode::FORBIDDEN,
                r#"{"detail":"Token invalid/expired"}"#,
            ),
            (
                ServiceError::PermissionDenied,
                Route::Collection,
                StatusCode::FORBIDDEN,
                r#"{"detail":"You do not have permission to perform this action."}"#,
            ),
            (
                ServiceError::NotFound,
                Route::Object,
                StatusCode::NOT_FOUND,
                r#"{"detail":"No PlexSource matches the given query."}"#,
            ),
            (
                ServiceError::Starting,
                Route::Object,
                StatusCode::SERVICE_UNAVAILABLE,
                r#"{"detail":"Service temporarily unavailable, try again later."}"#,
            ),
            (
                ServiceError::Unavailable("down".into()),
                Route::Object,
                StatusCode::SERVICE_UNAVAILABLE,
                r#"{"detail":"Service temporarily unavailable, try again later."}"#,
            ),
            (
                ServiceError::Busy("locked".into()),
                Route::Collection,
                StatusCode::SERVICE_UNAVAILABLE,
                r#"{"detail":"Service temporarily unavailable, try again later."}"#,
            ),
            (
                ServiceError::Internal("secret cause".into()),
                Route::Object,
                StatusCode::INTERNAL_SERVER_ERROR,
                r#"{"detail":"A server error occurred."}"#,
            ),
            (
                ServiceError::AlreadyExists(Violations::single(
                    "slug",
                    "unique",
                    "source with this slug already exists.",
                )),
                Route::Collection,
                StatusCode::BAD_REQUEST,
                r#"{"slug":["source with this slug already exists."]}"#,
            ),
        ];
        for (err, route, status, json) in cases {
            let what = format!("{err:?} on {route:?}");
            assert_eq!(
                body(RestError::service(err, route)),
                (status, json.to_owned()),
                "{what}"
            );
        }
    }

    #[test]
    fn violations_are_keyed_as_drf_keys_them() {
        let mut v = Violations::new();
        v.add("non_field_errors", "too_many_errors", "1 more");
        v.blank("allowed_servers[1]");
        v.invalid_pk("user_property_mappings[0]", "a");
        v.invalid_pk("user_property_mappings[2]", "b");
        v.null("allowed_servers[3]");
        v.blank("name");
        v.required("slug");
        v.add("slug", "invalid", "Enter a valid slug.");
        v.add("pbm_uuid", "invalid", "Enter a valid UUID.");
        assert_eq!(
            body(RestError::invalid(&v)).1,
            concat!(
                r#"{"pbm_uuid":["Enter a valid UUID."],"name":["This field may not be blank."],"#,
                r#""slug":["This field is required.","Enter a valid slug."],"#,
                r#""user_property_mappings":["Invalid pk \"a\" - object does not exist."],"#,
                r#""allowed_servers":{"1":["This field may not be blank."],"3":["This field may not be null."]},"#,
                r#""non_field_errors":["1 more"]}"#
            )
        );
    }
}
