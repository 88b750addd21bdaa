//! The one error type of every operation. Transports map it (gRPC in
//! `grpc::error`); the variants say what went wrong for the caller, not how
//! a transport shows it.

use domain::Violations;
use store::StoreError;

/// authentik's texts for the failures every transport reports alike.
pub mod texts {
    /// No credentials (Django REST framework's `NotAuthenticated`).
    pub const NOT_AUTHENTICATED: &str = "Authentication credentials were not provided.";
    /// An `authorization` value of a scheme other than `Bearer`.
    pub const UNSUPPORTED_SCHEME: &str = "Unsupported authentication type";
    /// A key that does not work.
    pub const AUTHENTICATION_FAILED: &str = "Token invalid/expired";
    /// Django REST framework's `PermissionDenied`.
    pub const PERMISSION_DENIED: &str = "You do not have permission to perform this action.";
    /// A missing source, as current Django REST framework words it.
    pub const NOT_FOUND: &str = "No PlexSource matches the given query.";
}

/// Why a call is not authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// No `authorization: Bearer <key>` metadata.
    NotProvided,
    /// An `authorization` value of another scheme than `Bearer`.
    UnsupportedScheme,
    /// Unknown, expired or revoked key, or an inactive user.
    Invalid,
}

impl AuthFailure {
    /// authentik's text for it.
    pub fn message(self) -> &'static str {
        match self {
            AuthFailure::NotProvided => texts::NOT_AUTHENTICATED,
            AuthFailure::UnsupportedScheme => texts::UNSUPPORTED_SCHEME,
            AuthFailure::Invalid => texts::AUTHENTICATION_FAILED,
        }
    }
}

/// Everything an operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("not authenticated: {0:?}")]
    Unauthenticated(AuthFailure),
    #[error("invalid request: {0}")]
    InvalidArgument(Violations),
    #[error("permission denied")]
    PermissionDenied,
    /// A unique value (the slug) is taken.
    #[error("already exists: {0}")]
    AlreadyExists(Violations),
    /// A watcher must start over from a snapshot.
    #[error("resync needed: {0}")]
    OutOfRange(String),
    #[error("not found")]
    NotFound,
    /// The server is stopping; a watcher resumes elsewhere after the last
    /// revision it handled.
    #[error("shutting down")]
    ShuttingDown { resume_after: i64 },
    /// The call's connection reached its maximum age and is being closed;
    /// a watcher reconnects and resumes after the last revision it handled.
    #[error("connection closing")]
    ConnectionClosing { resume_after: i64 },
    /// The server has not reached its database yet (or not migrated it);
    /// worth a retry, here or on another replica.
    #[error("starting")]
    Starting,
    /// A server-wide bound (open watch streams) is reached.
    #[error("resource exhausted: {0}")]
    ResourceExhausted(String),
    /// Another write held the lock past the lock timeout; worth a retry.
    #[error("store busy")]
    Busy(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The database cannot be reached; worth a retry.
    #[error("store unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ServiceError {
    /// Logs what no caller is told: the cause of a busy, unavailable or
    /// internal failure, with its chain. Each transport calls it once, as
    /// it answers.
    pub fn log_cause(&self) {
        match self {
            ServiceError::Busy(cause) => {
                tracing::warn!(error = %chain(cause.as_ref()), "lock wait timed out");
            }
            ServiceError::Unavailable(cause) => {
                tracing::error!(error = %chain(cause.as_ref()), "store unavailable");
            }
            ServiceError::Internal(cause) => {
                tracing::error!(error = %chain(cause.as_ref()), "internal error");
            }
            _ => {}
        }
    }
}

/// An error and its causes, on one line.
fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

impl From<StoreError> for ServiceError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(_) => ServiceError::Unavailable(Box::new(err)),
            StoreError::Busy(_) => ServiceError::Busy(Box::new(err)),
            // The slug is the only unique column a client writes; a race
            // past the explicit check ends here.
            StoreError::Duplicate(_) => {
                ServiceError::AlreadyExists(Violations::single("slug", "unique", store::SLUG_TAKEN))
            }
            other => ServiceError::Internal(Box::new(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use store::DbError;

    #[test]
    fn store_failures_map_by_kind() {
        let down = StoreError::Unavailable(DbError::custom("down"));
        assert!(matches!(
            ServiceError::from(down),
            ServiceError::Unavailable(_)
        ));
        assert!(matches!(
            ServiceError::from(StoreError::Corrupt("x".into())),
            ServiceError::Internal(_)
        ));
        let ServiceError::AlreadyExists(v) =
            ServiceError::from(StoreError::Duplicate(DbError::custom("unique")))
        else {
            panic!("a duplicate is ALREADY_EXISTS");
        };
        assert_eq!(v.iter().next().unwrap().field, "slug");
    }
}
