//! `!Find` and `!FindObject`: the first object of a model that field
//! values select, read through the [`Finder`]. A Plex token in a
//! `!FindObject` answer is a secret, remembered for scrubbing.

use serde_yaml_ng::Value;

use super::{Finder, Resolver, TagError, invalid, scalar_text};
use crate::models::{Known, Query, known, lookup_value};

impl<F: Finder> Resolver<'_, F> {
    /// `!Find [model, [field, value], ...]` (the first match's pk) and
    /// `!FindObject` (its serialized fields); null when nothing matches.
    /// The pairs are ANDed; none at all selects every object.
    pub(super) async fn find(
        &mut self,
        object: bool,
        args: Value,
        path: &str,
    ) -> Result<Value, TagError> {
        let tag = if object { "FindObject" } else { "Find" };
        let usage = || {
            invalid(
                path,
                format!("{tag}: expected [model, [field, value], ...]."),
            )
        };
        let Value::Sequence(args) = args else {
            return Err(usage());
        };
        let mut args = args.into_iter();
        let Some(Value::String(name)) = args.next() else {
            return Err(usage());
        };
        let model = match known(&name) {
            Ok(Known::Stored(model)) => model,
            Ok(Known::Elsewhere(model)) => {
                tracing::warn!(
                    model,
                    "{tag} of a model this service does not store finds nothing"
                );
                return Ok(Value::Null);
            }
            Err(message) => return Err(invalid(path, format!("{tag}: {message}"))),
        };
        let mut query = Query::default();
        for pair in args {
            let Value::Sequence(pair) = pair else {
                return Err(usage());
            };
            let [field, value] = <[Value; 2]>::try_from(pair).map_err(|_| usage())?;
            let Some(field) = scalar_text(&field) else {
                return Err(usage());
            };
            let pair = lookup_value(model, &field, value)
                .map_err(|message| invalid(path, format!("{tag}: {message}")))?;
            query.all.push(pair);
        }
        let found = self
            .finder
            .find(model, query)
            .await
            .map_err(TagError::Store)?;
        let Some((pk, fields)) = found.into_iter().next() else {
            return Ok(Value::Null);
        };
        if !object {
            return Ok(Value::String(pk.to_string()));
        }
        if let Some(Value::String(token)) = fields.get("plex_token") {
            self.secrets.push(token.clone());
        }
        Ok(Value::Mapping(fields))
    }
}
