//! The one place where operation failures become gRPC statuses.
//!
//! Messages follow authentik's REST texts; the machine-readable code travels
//! in a `google.rpc.ErrorInfo` (its `reason` is Django REST framework's code
//! in upper case), and validation failures carry a `google.rpc.BadRequest`
//! with one violation per broken rule.

use std::collections::HashMap;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};

use crate::{
    domain::Violations,
    ops::{AuthFailure, ServiceError, texts},
};

/// `ErrorInfo.domain` of every error this service returns.
pub const ERROR_DOMAIN: &str = "plexsource.goauthentik.io";

/// Message of UNAUTHENTICATED without credentials, as authentik words it.
pub const NOT_AUTHENTICATED_MESSAGE: &str = texts::NOT_AUTHENTICATED;
/// Message of UNAUTHENTICATED for an `authorization` value of a scheme other
/// than `Bearer`, as authentik words it.
pub const UNSUPPORTED_SCHEME_MESSAGE: &str = texts::UNSUPPORTED_SCHEME;
/// Message of UNAUTHENTICATED for a key that does not work.
pub const AUTHENTICATION_FAILED_MESSAGE: &str = texts::AUTHENTICATION_FAILED;
/// Message of PERMISSION_DENIED, as authentik words it.
pub const PERMISSION_DENIED_MESSAGE: &str = texts::PERMISSION_DENIED;
/// Message of NOT_FOUND, as current Django REST framework words it.
pub const NOT_FOUND_MESSAGE: &str = texts::NOT_FOUND;
const UNAVAILABLE_MESSAGE: &str = "The service is temporarily unavailable; retry later.";
/// Message of UNAVAILABLE before the server has reached its database.
pub const STARTING_MESSAGE: &str =
    "This server is starting and has not reached its database yet; retry shortly.";
const INTERNAL_MESSAGE: &str = "Internal server error.";
/// Message of UNAVAILABLE when a write waited too long for another's lock.
pub const BUSY_MESSAGE: &str = "Another change is being written and holds the lock; retry shortly.";
/// Longest status message, in bytes: every violation is in the details; the
/// message is the readable summary, and with the details it stays inside
/// the 16 KiB that HTTP/2 clients commonly allow for trailers.
const MAX_MESSAGE_BYTES: usize = 1024;

/// The one mapping of an operation's failure to the status a gRPC caller
/// gets: code, message, and details (`ErrorInfo`, `BadRequest`).
pub fn status(err: ServiceError) -> Status {
    err.log_cause();
    match err {
        ServiceError::Unauthenticated(AuthFailure::NotProvided) => with_reason(
            Code::Unauthenticated,
            NOT_AUTHENTICATED_MESSAGE,
            "NOT_AUTHENTICATED",
        ),
        ServiceError::Unauthenticated(AuthFailure::UnsupportedScheme) => with_reason(
            Code::Unauthenticated,
            UNSUPPORTED_SCHEME_MESSAGE,
            "AUTHENTICATION_FAILED",
        ),
        ServiceError::Unauthenticated(AuthFailure::Invalid) => with_reason(
            Code::Unauthenticated,
            AUTHENTICATION_FAILED_MESSAGE,
            "AUTHENTICATION_FAILED",
        ),
        ServiceError::InvalidArgument(violations) => {
            bad_request(Code::InvalidArgument, "INVALID", &violations)
        }
        ServiceError::AlreadyExists(violations) => {
            bad_request(Code::AlreadyExists, "ALREADY_EXISTS", &violations)
        }
        ServiceError::OutOfRange(message) => {
            with_reason(Code::OutOfRange, &message, "RESYNC_REQUIRED")
        }
        ServiceError::PermissionDenied => with_reason(
            Code::PermissionDenied,
            PERMISSION_DENIED_MESSAGE,
            "PERMISSION_DENIED",
        ),
        ServiceError::NotFound => with_reason(Code::NotFound, NOT_FOUND_MESSAGE, "NOT_FOUND"),
        ServiceError::ShuttingDown { resume_after } => with_reason(
            Code::Unavailable,
            &format!(
                "This server is shutting down; reconnect (another replica answers) with since_revision = the last revision received (at least {resume_after})."
            ),
            "SHUTTING_DOWN",
        ),
        // The same reason: a client goes on the same way.
        ServiceError::ConnectionClosing { resume_after } => with_reason(
            Code::Unavailable,
            &format!(
                "This connection reached its maximum age and is closing; reconnect with since_revision = the last revision received (at least {resume_after})."
            ),
            "SHUTTING_DOWN",
        ),
        ServiceError::Starting => with_reason(Code::Unavailable, STARTING_MESSAGE, "STARTING"),
        ServiceError::ResourceExhausted(message) => {
            with_reason(Code::ResourceExhausted, &message, "RESOURCE_EXHAUSTED")
        }
        ServiceError::Busy(_) => with_reason(Code::Unavailable, BUSY_MESSAGE, "LOCK_TIMEOUT"),
        ServiceError::Unavailable(_) => {
            with_reason(Code::Unavailable, UNAVAILABLE_MESSAGE, "UNAVAILABLE")
        }
        ServiceError::Internal(_) => with_reason(Code::Internal, INTERNAL_MESSAGE, "INTERNAL"),
    }
}

/// Every violation in one `BadRequest`, and an `ErrorInfo` whose metadata
/// maps each field to its rule's code.
fn bad_request(code: Code, reason: &str, violations: &Violations) -> Status {
    let mut details = ErrorDetails::new();
    let mut metadata = HashMap::new();
    let field_violations: Vec<FieldViolation> = violations
        .iter()
        .map(|v| {
            metadata
                .entry(v.field.clone())
                .or_insert_with(|| v.code.to_owned());
            let mut fv = FieldViolation::new(v.field.clone(), v.message.clone());
            fv.reason = v.code.to_ascii_uppercase();
            fv
        })
        .collect();
    details.set_bad_request(field_violations);
    details.set_error_info(reason, ERROR_DOMAIN, metadata);
    Status::with_error_details(code, summary(violations), details)
}

/// The violations as one line, cut at a character boundary to
/// [`MAX_MESSAGE_BYTES`].
fn summary(violations: &Violations) -> String {
    let mut text = violations.to_string();
    if text.len() > MAX_MESSAGE_BYTES {
        let mut end = MAX_MESSAGE_BYTES - '…'.len_utf8();
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

fn with_reason(code: Code, message: &str, reason: &str) -> Status {
    let mut details = ErrorDetails::new();
    details.set_error_info(reason, ERROR_DOMAIN, HashMap::new());
    Status::with_error_details(code, message, details)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cause(text: &str) -> Box<dyn std::error::Error + Send + Sync> {
        Box::new(std::io::Error::other(text.to_owned()))
    }

    #[test]
    fn each_error_maps_to_its_code_and_reason() {
        let cases: Vec<(ServiceError, Code, &str)> = vec![
            (
                ServiceError::InvalidArgument(Violations::single(
                    "slug",
                    "blank",
                    "This field may not be blank.",
                )),
                Code::InvalidArgument,
                "INVALID",
            ),
            (ServiceError::NotFound, Code::NotFound, "NOT_FOUND"),
            (
                ServiceError::Unauthenticated(AuthFailure::NotProvided),
                Code::Unauthenticated,
                "NOT_AUTHENTICATED",
            ),
            (
                ServiceError::Unauthenticated(AuthFailure::Invalid),
                Code::Unauthenticated,
                "AUTHENTICATION_FAILED",
            ),
            (
                ServiceError::Unauthenticated(AuthFailure::UnsupportedScheme),
                Code::Unauthenticated,
                "AUTHENTICATION_FAILED",
            ),
            (
                ServiceError::PermissionDenied,
                Code::PermissionDenied,
                "PERMISSION_DENIED",
            ),
            (
                ServiceError::Busy(cause("locked")),
                Code::Unavailable,
                "LOCK_TIMEOUT",
            ),
            (
                ServiceError::Unavailable(cause("down")),
                Code::Unavailable,
                "UNAVAILABLE",
            ),
            (
                ServiceError::Internal(cause("x")),
                Code::Internal,
                "INTERNAL",
            ),
        ];
        for (err, code, reason) in cases {
            let status = status(err);
            assert_eq!(status.code(), code);
            assert_eq!(status.get_details_error_info().unwrap().reason, reason);
        }
    }

    #[test]
    fn internal_causes_stay_out_of_the_message() {
        let status = status(ServiceError::Internal(cause("SELECT secret FROM x")));
        assert_eq!(status.message(), "Internal server error.");
        assert!(!format!("{status:?}").contains("SELECT"));
    }

    #[test]
    fn many_violations_give_a_bounded_answer() {
        let mut v = Violations::new();
        for i in 0..5000 {
            v.invalid_pk(format!("user_property_mappings[{i}]"), &"x".repeat(1000));
        }
        let status = status(ServiceError::InvalidArgument(v));
        assert!(status.message().len() <= MAX_MESSAGE_BYTES);
        let bad = status.get_details_bad_request().unwrap();
        let kept = bad.field_violations.len() - 1;
        let note = &bad.field_violations[kept];
        assert!(
            note.description
                .starts_with(&format!("{} more", 5000 - kept)),
            "{}",
            note.description
        );
    }

    #[test]
    fn bad_request_lists_every_violation() {
        let mut v = Violations::new();
        v.blank("name");
        v.add(
            "slug",
            "max_length",
            "Ensure this field has no more than 50 characters.",
        );
        let status = status(ServiceError::InvalidArgument(v));
        let bad = status.get_details_bad_request().unwrap();
        let fields: Vec<_> = bad
            .field_violations
            .iter()
            .map(|f| (f.field.as_str(), f.reason.as_str()))
            .collect();
        assert_eq!(fields, [("name", "BLANK"), ("slug", "MAX_LENGTH")]);
        let info = status.get_details_error_info().unwrap();
        assert_eq!(
            info.metadata.get("slug").map(String::as_str),
            Some("max_length")
        );
        assert!(
            status
                .message()
                .contains("slug: Ensure this field has no more than 50 characters.")
        );
    }
}
