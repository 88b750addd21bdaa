//! Who is calling: a bearer key to the [`Caller`] it belongs to.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

use tokio::sync::OnceCell;
use uuid::Uuid;

use super::{AuthFailure, Operations, ServiceError};
use crate::cache::CallerLookup;
use domain::access::{Caller, hash_key};
use store;

/// Tokens remembered by [`Rechecks`] before the ones of older epochs go.
const RECHECKS_KEPT: usize = 1_024;

/// A caller being re-read, or its answer: `None` when the token no longer
/// works.
type Reread = Arc<OnceCell<Option<Caller>>>;

/// Callers re-read at an access epoch, shared by every stream of a token:
/// when the epoch changes, ten thousand streams of one caller cost one
/// query, not ten thousand.
#[derive(Default)]
pub(super) struct Rechecks {
    /// Token id to the newest epoch asked for and its answer.
    by_token: Mutex<HashMap<Uuid, (i64, Reread)>>,
}

impl Rechecks {
    fn slot(&self, token: Uuid, epoch: i64) -> Reread {
        let mut by_token = self.by_token.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((known, slot)) = by_token.get(&token) {
            // An answer read at a newer epoch is as good.
            if *known >= epoch {
                return slot.clone();
            }
        }
        if by_token.len() >= RECHECKS_KEPT {
            by_token.retain(|_, (known, _)| *known >= epoch);
        }
        let slot = Arc::new(OnceCell::new());
        by_token.insert(token, (epoch, slot.clone()));
        slot
    }
}

impl Operations {
    /// The caller behind an `authorization` header value (`Bearer <key>`),
    /// through the read cache, which also remembers keys that work for
    /// nobody. No value, or one without a scheme and credentials, is "no
    /// credentials"; another scheme is "unsupported"; a key that does not
    /// work is "invalid" (authentik's `validate_auth`).
    pub async fn authenticate(
        &self,
        authorization: Option<&str>,
    ) -> Result<Arc<Caller>, ServiceError> {
        if !self.is_started() {
            return Err(ServiceError::Starting);
        }
        let key = match authorization.map(credentials) {
            None | Some(Credentials::None) => {
                return Err(ServiceError::Unauthenticated(AuthFailure::NotProvided));
            }
            Some(Credentials::OtherScheme) => {
                return Err(ServiceError::Unauthenticated(
                    AuthFailure::UnsupportedScheme,
                ));
            }
            Some(Credentials::Bearer(key)) => key,
        };
        let key_hash = hash_key(key);
        let cache = &self.cache;
        match cache.lookup_caller(&key_hash) {
            CallerLookup::Known(caller)
                if caller
                    .expires
                    .is_none_or(|expires| chrono::Utc::now() < expires) =>
            {
                return Ok(caller);
            }
            CallerLookup::Unknown => {
                return Err(ServiceError::Unauthenticated(AuthFailure::Invalid));
            }
            // An expired token: the store says whether it still exists.
            CallerLookup::Known(_) | CallerLookup::Miss => {}
        }
        let epoch = self.feed.access_epoch();
        if !self
            .known_keys
            .may_look_up(&key_hash, epoch, cache.is_fresh())
        {
            return Err(ServiceError::Unauthenticated(AuthFailure::Invalid));
        }
        let ticket = cache.caller_miss();
        let now = chrono::Utc::now();
        match store::access::authenticate_hash(&self.db, &key_hash, now).await? {
            Some(caller) => {
                let caller = Arc::new(caller);
                cache.put_caller(ticket, key_hash, caller.clone());
                Ok(caller)
            }
            None => {
                // Until tokens change (which drops this), the same key
                // costs no query.
                cache.put_unknown(ticket, key_hash);
                Err(ServiceError::Unauthenticated(AuthFailure::Invalid))
            }
        }
    }

    /// The caller as the store has it now: revoked or expired tokens and
    /// inactive users are "invalid".
    pub(super) async fn reauthenticate(&self, caller: &Caller) -> Result<Caller, ServiceError> {
        self.watch_work.caller_read();
        store::access::reauthenticate(&self.db, caller.token_id, chrono::Utc::now())
            .await?
            .ok_or(ServiceError::Unauthenticated(AuthFailure::Invalid))
    }

    /// The caller as the store had it at access epoch `epoch` or later,
    /// read once per token and epoch for all streams (a watcher re-checks
    /// whenever the epoch moves). A failed read is not remembered.
    pub(super) async fn recheck(
        &self,
        caller: &Caller,
        epoch: i64,
    ) -> Result<Caller, ServiceError> {
        let slot = self.rechecks.slot(caller.token_id, epoch);
        let found = slot
            .get_or_try_init(|| async {
                self.watch_work.caller_read();
                store::access::reauthenticate(&self.db, caller.token_id, chrono::Utc::now()).await
            })
            .await?;
        match found {
            Some(found) if found.expires.is_none_or(|at| chrono::Utc::now() < at) => {
                Ok(found.clone())
            }
            _ => Err(ServiceError::Unauthenticated(AuthFailure::Invalid)),
        }
    }
}

/// What an `authorization` value holds, read as authentik's
/// `validate_auth` does (authentik/api/authentication.py): surrounding
/// whitespace dropped, then split at the first space into scheme and
/// credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credentials<'a> {
    /// Empty, or no space: no credentials at all.
    None,
    /// A scheme other than `Bearer` (compared without regard to case).
    OtherScheme,
    /// The key of `Bearer <key>`, its surrounding whitespace dropped.
    Bearer(&'a str),
}

/// Reads an `authorization` value; see [`Credentials`].
pub fn credentials(value: &str) -> Credentials<'_> {
    let Some((scheme, key)) = value.trim().split_once(' ') else {
        return Credentials::None;
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Credentials::OtherScheme;
    }
    // The value was trimmed, so something follows the space; a key of
    // only whitespace is no key.
    match key.trim() {
        "" => Credentials::None,
        key => Credentials::Bearer(key),
    }
}

/// The key of `Bearer <key>` (scheme case-insensitive, surrounding space
/// ignored); `None` for no credentials or another scheme.
pub fn bearer_key(value: &str) -> Option<&str> {
    match credentials(value) {
        Credentials::Bearer(key) => Some(key),
        Credentials::None | Credentials::OtherScheme => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_bearer_with_a_key_counts_as_credentials() {
        assert_eq!(bearer_key("Bearer abc"), Some("abc"));
        assert_eq!(bearer_key("bearer abc"), Some("abc"));
        assert_eq!(bearer_key("  Bearer   abc "), Some("abc"));
        for none in ["", "Bearer", "Bearer ", "Basic abc", "abc"] {
            assert_eq!(bearer_key(none), None, "{none:?}");
        }
    }

    #[test]
    fn another_scheme_is_told_apart_from_no_credentials() {
        for none in ["", "   ", "Bearer", " Bearer  ", "abc", "Bearer\tabc"] {
            assert_eq!(credentials(none), Credentials::None, "{none:?}");
        }
        for other in [
            "Basic YWxhZGRpbjpvcGVuc2VzYW1l",
            "Token abc",
            "bearerx abc",
            " Digest a b",
        ] {
            assert_eq!(credentials(other), Credentials::OtherScheme, "{other:?}");
        }
        assert_eq!(credentials("BEARER  k  "), Credentials::Bearer("k"));
    }
}
