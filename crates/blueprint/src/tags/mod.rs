//! YAML tags, resolved to plain values before anything is typed, so typing
//! never sees a tag. Every tag of authentik 2025.10 is here, with its
//! semantics and, where authentik has one, its message:
//!
//! | tag | arguments | gives |
//! |---|---|---|
//! | `!KeyOf` | `id` | pk of the object an earlier entry with that `id` stored |
//! | `!Env` | `NAME` or `[NAME, default]` | the variable; unset or empty: the default, else null |
//! | `!File` | `path` or `[path, default]` | the file's text, stripped; unreadable: the default, else null |
//! | `!Context` | `key` or `[key, default]` | the context value (tags in it resolved), else the default |
//! | `!Format` | `[format, args...]` | Python `format % tuple(args)` |
//! | `!Find` | `[model, [field, value]...]` | pk of the first match, else null |
//! | `!FindObject` | same | the first match's serialized fields, else null |
//! | `!If` | `[cond]` or `[cond, then, else]` | `true`/`false`, or the chosen branch (only it is resolved) |
//! | `!Condition` | `[MODE, values...]` | AND, NAND, OR, NOR, XOR, XNOR of the values' truthiness |
//! | `!Enumerate` | `[iterable, SEQ or MAP, body]` | the body once per item, as a list or a mapping |
//! | `!Index`, `!Value` | `depth` | key/index or value of the item of the `!Enumerate` `depth` levels up |
//! | `!AtIndex` | `[list or mapping, index or key, default?]` | the item; missing: the default, else an error |
//!
//! Arguments are resolved first, so tags nest anywhere a value can stand
//! (`!Find [authentik_flows.flow, [slug, !Format ["%s-auth", !Context slug]]]`).
//! A tag that cannot be resolved is reported on the path of the field that
//! holds it.
//!
//! Each family of tags has a file of its own; this one holds the
//! [`Resolver`], which walks a value and hands each tag to its family:
//! - [`inputs`]: `!KeyOf`, `!Env`, `!File` and `!Context`, which read what
//!   the entry is given (earlier entries, the environment, files, context);
//! - [`find`]: `!Find` and `!FindObject`, which read the store;
//! - [`conditions`]: `!If` and `!Condition`, by Python's truthiness;
//! - [`enumerate`]: `!Enumerate` with its `!Index` and `!Value`;
//! - [`format`](mod@format): `!Format`; [`at_index`](mod@at_index): `!AtIndex`.
//!
//! Values from `!Env` and `!File`, and the Plex token in a `!FindObject`
//! answer, are secrets: they are never logged, and the resolver remembers
//! them so the importer can scrub them from error messages.

mod at_index;
mod conditions;
mod enumerate;
mod find;
mod format;
mod inputs;

use std::{collections::HashMap, future::Future, path::Path};

use futures::future::{BoxFuture, FutureExt};
use serde_yaml_ng::{Mapping, Value, value::TaggedValue};
use uuid::Uuid;

use super::models::{Model, Query};
use domain::FieldViolation;
use store::StoreError;

use at_index::at_index;
use conditions::condition;
use format::format;

/// Answers `!Env`: the variable's value, or `None` when it is unset.
pub type EnvReader = dyn Fn(&str) -> Option<String> + Sync;

/// Answers `!File`: the file's text, or why it cannot be read.
pub type FileReader = dyn Fn(&Path) -> std::io::Result<String> + Sync;

/// What tags read from outside the file.
pub(crate) struct Inputs<'a> {
    pub env: &'a EnvReader,
    pub files: &'a FileReader,
    /// authentik's default context, the file's `context` block and the
    /// context given at import, merged in that order.
    pub context: &'a Mapping,
}

/// What an earlier entry's `id` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Key {
    /// The object the entry stored or matched.
    Object(Uuid),
    /// The entry (its index and model) was skipped: its model is not
    /// stored here.
    NotStored(usize, &'static str),
}

/// Answers `!Find` and `!FindObject`: the objects of `model` that `query`
/// selects, each as its pk and serialized fields, ordered by pk.
pub(crate) trait Finder: Sync {
    fn find(
        &self,
        model: Model,
        query: Query,
    ) -> impl Future<Output = Result<Vec<(Uuid, Mapping)>, StoreError>> + Send;
}

#[derive(Debug)]
pub(crate) enum TagError {
    /// The tag is malformed or names nothing; reported on its field.
    Invalid(FieldViolation),
    Store(StoreError),
}

fn invalid(path: &str, message: impl Into<String>) -> TagError {
    TagError::Invalid(FieldViolation {
        field: path.to_owned(),
        code: "invalid",
        message: message.into(),
    })
}

/// A tag's list of arguments: `REQUIRED` items, then up to `OPTIONAL`
/// more (`None` where left out). Anything else is refused with `usage`.
fn arguments<const REQUIRED: usize, const OPTIONAL: usize>(
    args: Value,
    path: &str,
    usage: &str,
) -> Result<([Value; REQUIRED], [Option<Value>; OPTIONAL]), TagError> {
    let Value::Sequence(mut args) = args else {
        return Err(invalid(path, usage));
    };
    if !(REQUIRED..=REQUIRED + OPTIONAL).contains(&args.len()) {
        return Err(invalid(path, usage));
    }
    let mut optional = args.split_off(REQUIRED).into_iter();
    let required = <[Value; REQUIRED]>::try_from(args).map_err(|_| invalid(path, usage))?;
    Ok((required, std::array::from_fn(|_| optional.next())))
}

/// Deepest nesting of tags (a `!Context` value naming itself would
/// otherwise never end).
const MAX_DEPTH: usize = 64;

/// Most values one resolution may visit: nested `!Enumerate`s multiply.
const MAX_STEPS: usize = 100_000;

/// Resolves the tags of one entry's values.
pub(crate) struct Resolver<'a, F> {
    inputs: &'a Inputs<'a>,
    /// `id` → what earlier entries produced.
    keys: &'a HashMap<String, Key>,
    finder: &'a F,
    secrets: Vec<String>,
    /// The items of the `!Enumerate`s being resolved, innermost last;
    /// `None` while an `!Enumerate` reads its iterable.
    items: Vec<Option<(Value, Value)>>,
    depth: usize,
    steps: usize,
}

impl<'a, F: Finder> Resolver<'a, F> {
    pub(crate) fn new(
        inputs: &'a Inputs<'a>,
        keys: &'a HashMap<String, Key>,
        finder: &'a F,
    ) -> Self {
        Self {
            inputs,
            keys,
            finder,
            secrets: Vec::new(),
            items: Vec::new(),
            depth: 0,
            steps: 0,
        }
    }

    /// Every secret (`!Env`, `!File`, Plex tokens) produced so far.
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
            self.steps += 1;
            if self.steps > MAX_STEPS {
                return Err(invalid(
                    &path,
                    format!("Tags produce more than {MAX_STEPS} values."),
                ));
            }
            match value {
                Value::Tagged(tagged) => {
                    if self.depth >= MAX_DEPTH {
                        return Err(invalid(
                            &path,
                            format!("Tags nested deeper than {MAX_DEPTH} levels."),
                        ));
                    }
                    self.depth += 1;
                    let result = self.tag(*tagged, &path).await;
                    self.depth -= 1;
                    result
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
                            Some(key) if path.is_empty() => key.to_owned(),
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

    async fn tag(&mut self, tagged: TaggedValue, path: &str) -> Result<Value, TagError> {
        let TaggedValue { tag, value } = tagged;
        let name = tag.to_string();
        let name = name.trim_start_matches('!');
        match name {
            "KeyOf" => self.key_of(value, path),
            "Env" => {
                let args = self.resolve(value, path.to_owned()).await?;
                self.env(args, path)
            }
            "File" => {
                let args = self.resolve(value, path.to_owned()).await?;
                self.file(args, path)
            }
            "Context" => {
                let args = self.resolve(value, path.to_owned()).await?;
                self.context(args, path).await
            }
            "Format" => {
                let args = self.resolve(value, path.to_owned()).await?;
                format(args, path)
            }
            "Find" | "FindObject" => {
                let args = self.resolve(value, path.to_owned()).await?;
                self.find(name == "FindObject", args, path).await
            }
            "If" => self.if_(value, path).await,
            "Condition" => {
                let args = self.resolve(value, path.to_owned()).await?;
                condition(args, path)
            }
            "Enumerate" => self.enumerate(value, path).await,
            "Index" | "Value" => self.item(name, value, path),
            "AtIndex" => {
                let args = self.resolve(value, path.to_owned()).await?;
                at_index(args, path)
            }
            _ => Err(invalid(
                path,
                format!("could not determine a constructor for the tag '!{name}'"),
            )),
        }
    }
}

/// A scalar as the text authentik's loader reads for a scalar tag argument.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some(String::new()),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
