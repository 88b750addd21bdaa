//! Finding objects by what a blueprint names them by: identifiers and
//! `!Find` give a primary key and field values, which become the store's
//! typed [`Match`].

use store::Match;
use uuid::Uuid;

/// A field objects are looked up by. Every model's identifier fields are
/// among these (authentik's slug, name and username).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Identifier {
    Slug,
    Name,
    Username,
}

impl Identifier {
    /// The field's name, as blueprints and messages write it.
    pub(crate) fn field(self) -> &'static str {
        match self {
            Identifier::Slug => "slug",
            Identifier::Name => "name",
            Identifier::Username => "username",
        }
    }
}

/// Identifiers of an object, as blueprints give them: a primary key ORed
/// with the AND of every other field's value. An empty lookup (no pk, no
/// field) selects every object: blueprints then compare fields that are
/// no column themselves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Lookup {
    pub pk: Option<Uuid>,
    pub fields: Vec<(Identifier, String)>,
}

impl Lookup {
    /// The same selection as the store takes it (a user's username is its
    /// name there).
    pub(crate) fn to_match(&self) -> Match {
        let mut found = Match {
            pk: self.pk,
            ..Match::default()
        };
        for (field, value) in &self.fields {
            let slot = match field {
                Identifier::Slug => &mut found.slug,
                Identifier::Name | Identifier::Username => &mut found.name,
            };
            *slot = Some(value.clone());
        }
        found
    }
}
