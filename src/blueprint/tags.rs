//! YAML tags: `!KeyOf`, `!Find` and `!Env`, resolved to plain values before
//! anything is typed, so typing never sees a tag.
//!
//! Tags nest (`!Find [authentik_flows.flow, [slug, !Env FLOW_SLUG]]`): the
//! arguments of `!Find` and `!Env` are resolved first. A tag that cannot be
//! resolved is reported on the path of the field that holds it.
//!
//! Values from `!Env` are secrets (the Plex token usually comes from there):
//! they are never logged, and the resolver remembers them so the importer
//! can scrub them from error messages.

use std::{collections::HashMap, future::Future};

use futures::future::{BoxFuture, FutureExt};
use serde_yaml_ng::{Mapping, Value, value::TaggedValue};
use uuid::Uuid;

use super::models::Model;
use crate::{
    domain::FieldViolation,
    store::{Lookup, StoreError},
};

/// Answers `!Env`: the variable's value, or `None` when it is unset.
pub type EnvReader = dyn Fn(&str) -> Option<String> + Sync;

/// Answers `!Find`: the pks of the objects of `model` matching `lookup`, in
/// store order.
pub(crate) trait Finder: Sync {
    fn find(
        &self,
        model: Model,
        lookup: Lookup,
    ) -> impl Future<Output = Result<Vec<Uuid>, StoreError>> + Send;
}

#[derive(Debug)]
pub(crate) enum TagError {
    /// The tag is malformed or names nothing; reported on its field.
    Invalid(FieldViolation),
    Store(StoreError),
}

fn invalid(path: &str, code: &'static str, message: impl Into<String>) -> TagError {
    TagError::Invalid(FieldViolation {
        field: path.to_owned(),
        code,
        message: message.into(),
    })
}

/// Resolves the tags of one entry.
pub(crate) struct Resolver<'a, F> {
    env: &'a EnvReader,
    /// `id` → pk of the objects earlier entries produced.
    keys: &'a HashMap<String, Uuid>,
    finder: &'a F,
    secrets: Vec<String>,
}

impl<'a, F: Finder> Resolver<'a, F> {
    pub(crate) fn new(env: &'a EnvReader, keys: &'a HashMap<String, Uuid>, finder: &'a F) -> Self {
        Self {
            env,
            keys,
            finder,
            secrets: Vec::new(),
        }
    }

    /// Every string `!Env` produced so far.
    pub(crate) fn into_secrets(self) -> Vec<String> {
        self.secrets
    }

    /// `value` with every tag replaced by what it stands for. `path` names
    /// the field in errors (`user_property_mappings[1]`).
    pub(crate) fn resolve<'s>(
        &'s mut self,
        value: Value,
        path: String,
    ) -> BoxFuture<'s, Result<Value, TagError>> {
        async move {
            match value {
                Value::Tagged(tagged) => {
                    let TaggedValue { tag, value } = *tagged;
                    if tag == "KeyOf" {
                        self.key_of(value, &path)
                    } else if tag == "Find" {
                        let args = self.resolve(value, path.clone()).await?;
                        self.find(args, &path).await
                    } else if tag == "Env" {
                        let args = self.resolve(value, path.clone()).await?;
                        self.env(args, &path)
                    } else {
                        Err(invalid(
                            &path,
                            "invalid",
                            format!("Tag \"{tag}\" is not supported."),
                        ))
                    }
                }
                Value::Sequence(items) => {
                    let mut out = Vec::with_capacity(items.len());
                    for (i, item) in items.into_iter().enumerate() {
                        out.push(self.resolve(item, format!("{path}[{i}]")).await?);
                    }
                    Ok(Value::Sequence(out))
                }
                Value::Mapping(map) => {
                    let mut out = Mapping::with_capacity(map.len());
                    for (key, item) in map {
                        let sub = match key.as_str() {
                            Some(key) => format!("{path}.{key}"),
                            None => path.clone(),
                        };
                        let item = self.resolve(item, sub).await?;
                        out.insert(key, item);
                    }
                    Ok(Value::Mapping(out))
                }
                scalar => Ok(scalar),
            }
        }
        .boxed()
    }

    /// `!KeyOf id`: the pk of the object an earlier entry with that `id`
    /// produced or matched.
    fn key_of(&self, arg: Value, path: &str) -> Result<Value, TagError> {
        let Value::String(id) = arg else {
            return Err(invalid(
                path,
                "invalid",
                "KeyOf: expected the id of an earlier entry.",
            ));
        };
        match self.keys.get(&id) {
            Some(pk) => Ok(Value::String(pk.to_string())),
            None => Err(invalid(
                path,
                "does_not_exist",
                format!("KeyOf: no earlier entry has id \"{id}\"."),
            )),
        }
    }

    /// `!Env NAME` or `!Env [NAME, default]`: the variable as a string, else
    /// the default, else null.
    fn env(&mut self, args: Value, path: &str) -> Result<Value, TagError> {
        let usage = || invalid(path, "invalid", "Env: expected NAME or [NAME, default].");
        let (name, default) = match args {
            Value::String(name) => (name, Value::Null),
            Value::Sequence(items) if (1..=2).contains(&items.len()) => {
                let mut items = items.into_iter();
                match (items.next(), items.next()) {
                    (Some(Value::String(name)), default) => (name, default.unwrap_or(Value::Null)),
                    _ => return Err(usage()),
                }
            }
            _ => return Err(usage()),
        };
        // `std::env::var` may panic on such names; refuse them first.
        if name.is_empty() || name.contains(['=', '\0']) {
            return Err(invalid(
                path,
                "invalid",
                format!("Env: \"{name}\" is not a valid variable name."),
            ));
        }
        let value = match (self.env)(&name) {
            Some(value) => Value::String(value),
            None => default,
        };
        if let Value::String(secret) = &value {
            self.secrets.push(secret.clone());
        }
        Ok(value)
    }

    /// `!Find [model, [field, value], ...]`: the pk of the first matching
    /// object, or null when none matches (as authentik does).
    async fn find(&self, args: Value, path: &str) -> Result<Value, TagError> {
        let usage = || {
            invalid(
                path,
                "invalid",
                "Find: expected [model, [field, value], ...].",
            )
        };
        let Value::Sequence(args) = args else {
            return Err(usage());
        };
        let mut args = args.into_iter();
        let model = match args.next() {
            Some(Value::String(name)) => Model::from_name(&name).ok_or_else(|| {
                invalid(
                    path,
                    "invalid",
                    format!("Find: model \"{name}\" is not supported."),
                )
            })?,
            _ => return Err(usage()),
        };
        let mut pk = None;
        let mut fields = Vec::new();
        let mut can_match = true;
        let mut pairs = 0;
        for pair in args {
            pairs += 1;
            let Value::Sequence(pair) = pair else {
                return Err(usage());
            };
            let [Value::String(field), value] =
                <[Value; 2]>::try_from(pair).map_err(|_| usage())?
            else {
                return Err(usage());
            };
            let text = match value {
                Value::String(text) => text,
                Value::Number(n) => n.to_string(),
                // Like a query for `field = NULL`: matches nothing.
                Value::Null => {
                    can_match = false;
                    continue;
                }
                _ => {
                    return Err(invalid(
                        path,
                        "invalid",
                        format!("Find: the value for \"{field}\" must be a string."),
                    ));
                }
            };
            if field == "pk" {
                let id = Uuid::parse_str(text.trim()).map_err(|_| {
                    invalid(
                        path,
                        "invalid",
                        "Find: the value for \"pk\" must be a valid UUID.",
                    )
                })?;
                can_match &= pk.is_none_or(|prev| prev == id);
                pk = Some(id);
            } else if let Some(column) = model.identifier_column(&field) {
                fields.push((column, text));
            } else {
                return Err(invalid(
                    path,
                    "invalid",
                    format!("Find: cannot search {} by \"{field}\".", model.name()),
                ));
            }
        }
        if pairs == 0 {
            return Err(usage());
        }
        if !can_match {
            return Ok(Value::Null);
        }
        // A store lookup ORs the pk with the other fields; `!Find` ANDs
        // them all, so with both the pk filters the field matches.
        let lookup = if fields.is_empty() {
            Lookup { pk, fields }
        } else {
            Lookup { pk: None, fields }
        };
        let found = self
            .finder
            .find(model, lookup)
            .await
            .map_err(TagError::Store)?;
        Ok(found
            .into_iter()
            .find(|id| pk.is_none_or(|pk| pk == *id))
            .map_or(Value::Null, |id| Value::String(id.to_string())))
    }
}

#[cfg(test)]
mod tests;
