//! Retrieve, create, update and delete one Plex source.
//!
//! The caller is authenticated before an operation is called. Then, as
//! authentik orders its checks: retrieve and delete validate the slug, look
//! the source up and authorize; create authorizes (`add_plexsource`) and
//! then validates the body; update validates the slug (its transport has
//! already read the mask), looks up and authorizes, then validates the
//! body. A caller who may not view a source is denied the same way whether
//! or not it exists (no probing). Writes authorize before they open their
//! transaction, so a caller without permissions never waits for, or holds
//! up, anyone's write; inside it the source is read again, locked, and
//! checked again.

use std::sync::Arc;

use store::Txn;

use super::{Operations, ServiceError, Visible};
use domain::{
    PlexSource, PlexSourceDraft, Slug, Violations,
    access::{Caller, Permission},
};
use store::{self, events::ChangeKind};

/// A write, by what it needs of the caller before its request is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    Create,
    Update,
    Delete,
}

/// How an update applies its draft.
#[derive(Debug, Clone)]
pub enum SourceUpdate {
    /// Full replacement: every writable field as given, the rest at their
    /// defaults (except the stored `client_id` and icon, see
    /// [`PlexSourceDraft::replacing`]).
    Replace(PlexSourceDraft),
    /// Only the fields the draft sets; the rest stay as stored.
    Patch(PlexSourceDraft),
    /// Django REST framework's full update (PUT): the fields a create
    /// requires (`name`, `slug`, `plex_token`) must be given; the others,
    /// when left out, stay as stored (DRF skips fields with a model default
    /// that a body leaves out).
    Put(PlexSourceDraft),
}

impl Operations {
    pub async fn retrieve(&self, caller: &Caller, slug: &str) -> Result<Visible, ServiceError> {
        let slug = parse_slug(slug)?;
        let source = self.source_by_slug(&slug).await?;
        let source = visible(caller, source)?;
        Ok(self.reveal(caller, source).await)
    }

    pub async fn create(
        &self,
        caller: &Caller,
        draft: PlexSourceDraft,
    ) -> Result<Visible, ServiceError> {
        self.create_decoded(caller, draft, Violations::new()).await
    }

    /// [`Operations::create`] of a draft whose transport already found
    /// `decoding` problems (values of the wrong type, left out of the
    /// draft): nothing is written, and they are reported with whatever else
    /// the draft breaks, once the caller is known to be allowed to create.
    pub async fn create_decoded(
        &self,
        caller: &Caller,
        draft: PlexSourceDraft,
        decoding: Violations,
    ) -> Result<Visible, ServiceError> {
        self.authorize_create(caller)?;
        let txn = self.writes.begin(&self.db).await?;
        let result = store::check_source(&*txn, draft, None, None).await?;
        let fields = checked(together(decoding, result))?;
        let source = store::insert_source(&*txn, uuid::Uuid::new_v4(), &fields).await?;
        txn.commit().await?;
        self.committed(ChangeKind::Created, source.pk, source.fields.slug.as_str());
        Ok(self.reveal(caller, Arc::new(source)).await)
    }

    pub async fn update(
        &self,
        caller: &Caller,
        slug: &str,
        update: SourceUpdate,
    ) -> Result<Visible, ServiceError> {
        self.update_decoded(caller, slug, update, Violations::new())
            .await
    }

    /// [`Operations::update`] with the transport's `decoding` problems (see
    /// [`Operations::create_decoded`]).
    pub async fn update_decoded(
        &self,
        caller: &Caller,
        slug: &str,
        update: SourceUpdate,
        decoding: Violations,
    ) -> Result<Visible, ServiceError> {
        let slug = parse_slug(slug)?;
        self.authorize_write(caller, &slug, Permission::Change)
            .await?;
        let txn = self.writes.begin(&self.db).await?;
        // Read again, locked: the source may have changed meanwhile.
        let stored = authorized(&txn, caller, &slug, Permission::Change).await?;
        let mut problems = decoding;
        let (draft, base) = match update {
            SourceUpdate::Replace(draft) => (draft.replacing(&stored.fields), None),
            SourceUpdate::Patch(draft) => (draft, Some(&stored.fields)),
            SourceUpdate::Put(draft) => {
                problems = merged(problems, draft.missing_required());
                (draft, Some(&stored.fields))
            }
        };
        let result = store::check_source(&*txn, draft, base, Some(stored.pk)).await?;
        let fields = checked(together(problems, result))?;
        // An update that changes nothing writes nothing (and logs no event).
        let source = if fields == stored.fields {
            stored
        } else {
            store::update_locked_source(&*txn, &stored, &fields).await?
        };
        txn.commit().await?;
        self.committed(ChangeKind::Updated, source.pk, source.fields.slug.as_str());
        Ok(self.reveal(caller, Arc::new(source)).await)
    }

    pub async fn delete(&self, caller: &Caller, slug: &str) -> Result<(), ServiceError> {
        let slug = parse_slug(slug)?;
        self.authorize_write(caller, &slug, Permission::Delete)
            .await?;
        let txn = self.writes.begin(&self.db).await?;
        let stored = authorized(&txn, caller, &slug, Permission::Delete).await?;
        store::delete_locked_source(&*txn, &stored).await?;
        txn.commit().await?;
        self.committed(ChangeKind::Deleted, stored.pk, stored.fields.slug.as_str());
        Ok(())
    }

    /// What a write needs of the caller whatever its request holds: create
    /// needs the add permission; update and delete need the change or
    /// delete permission on some source (or globally). A transport asks
    /// this before it reads or decodes the request, so a caller who may do
    /// none of it costs no more than its headers. The operation checks the
    /// rest once it knows the source.
    pub fn admit(&self, caller: &Caller, write: Write) -> Result<(), ServiceError> {
        let admitted = match write {
            Write::Create => caller.may_globally(Permission::Add),
            Write::Update => caller.may_anywhere(Permission::Change),
            Write::Delete => caller.may_anywhere(Permission::Delete),
        };
        if admitted {
            Ok(())
        } else {
            Err(ServiceError::PermissionDenied)
        }
    }

    /// The permission `create` checks before it reads the body. A transport
    /// that cannot read a body (malformed JSON, wrong types) asks this first,
    /// so such a body is reported only to a caller who may create, as
    /// authentik parses a body only after its permission checks.
    pub fn authorize_create(&self, caller: &Caller) -> Result<(), ServiceError> {
        self.admit(caller, Write::Create)
    }

    /// The checks `update` makes before it reads the body (see
    /// [`Operations::authorize_create`]): the slug, the caller may view the
    /// source and change it, the source exists.
    pub async fn authorize_update(&self, caller: &Caller, slug: &str) -> Result<(), ServiceError> {
        let slug = parse_slug(slug)?;
        self.authorize_write(caller, &slug, Permission::Change)
            .await
    }

    /// The checks of a write that need no lock: the caller may view the
    /// source and holds `permission` on it. Repeated under the lock, as the
    /// source may change in between.
    async fn authorize_write(
        &self,
        caller: &Caller,
        slug: &Slug,
        permission: Permission,
    ) -> Result<(), ServiceError> {
        let source = visible(caller, self.source_by_slug(slug).await?)?;
        if !caller.may(permission, Some(source.pk)) {
            return Err(ServiceError::PermissionDenied);
        }
        Ok(())
    }

    /// A source by slug, through the read cache.
    pub(super) async fn source_by_slug(
        &self,
        slug: &Slug,
    ) -> Result<Option<Arc<PlexSource>>, ServiceError> {
        let cache = &self.cache;
        if let Some(hit) = cache.source(slug.as_str()) {
            return Ok(hit);
        }
        let ticket = cache.source_miss();
        let source = store::find_source_by_slug(&self.db, slug)
            .await?
            .map(Arc::new);
        cache.put_source(ticket, slug.as_str().to_owned(), source.clone());
        Ok(source)
    }
}

/// The source as stored now, if the caller may view it and holds
/// `permission` on it: the checks of a write, with the source locked.
async fn authorized(
    txn: &Txn,
    caller: &Caller,
    slug: &Slug,
    permission: Permission,
) -> Result<PlexSource, ServiceError> {
    let stored = visible(caller, store::lock_source_by_slug(txn, slug).await?)?;
    if !caller.may(permission, Some(stored.pk)) {
        return Err(ServiceError::PermissionDenied);
    }
    Ok(stored)
}

/// The source if the caller may view it. Denied the same way whether or not
/// it exists (no probing); NOT_FOUND only for callers who may view all.
fn visible<S: std::borrow::Borrow<PlexSource>>(
    caller: &Caller,
    source: Option<S>,
) -> Result<S, ServiceError> {
    if !caller.may(Permission::View, source.as_ref().map(|s| s.borrow().pk)) {
        return Err(ServiceError::PermissionDenied);
    }
    source.ok_or(ServiceError::NotFound)
}

/// The validation result with the problems found before it: all of them in
/// one answer, and nothing written when there are any.
fn together<T>(first: Violations, result: Result<T, Violations>) -> Result<T, Violations> {
    match (first.is_empty(), result) {
        (true, result) => result,
        (false, Ok(_)) => Err(first),
        (false, Err(then)) => Err(merged(first, then)),
    }
}

/// `first`, then each violation of `then` on a field `first` does not
/// name: a field reports the first rule it breaks, so a value of the wrong
/// type (left out of the draft) is not also "required".
fn merged(first: Violations, then: Violations) -> Violations {
    let field = |path: &str| path.split('[').next().unwrap_or_default().to_owned();
    let named: Vec<String> = first.iter().map(|v| field(&v.field)).collect();
    let mut out = first;
    for v in then.iter() {
        if !named.contains(&field(&v.field)) {
            out.add(v.field.clone(), v.code, v.message.clone());
        }
    }
    out
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
    Slug::parse(value).map_err(|err| ServiceError::InvalidArgument(err.violations("slug")))
}
