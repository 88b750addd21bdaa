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
//! Values from `!Env` and `!File`, and the Plex token in a `!FindObject`
//! answer, are secrets: they are never logged, and the resolver remembers
//! them so the importer can scrub them from error messages.

use std::{collections::HashMap, future::Future, path::Path};

use futures::future::{BoxFuture, FutureExt};
use serde_yaml_ng::{Mapping, Value, value::TaggedValue};
use uuid::Uuid;

use super::{
    models::{Known, Model, Query, known, lookup_value},
    python,
};
use domain::FieldViolation;
use store::StoreError;

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

    /// `!KeyOf id`: the pk of the object an earlier entry with that `id`
    /// stored or matched.
    fn key_of(&self, arg: Value, path: &str) -> Result<Value, TagError> {
        let id = scalar_text(&arg)
            .ok_or_else(|| invalid(path, "KeyOf: expected the id of an earlier entry."))?;
        match self.keys.get(&id) {
            Some(Key::Object(pk)) => Ok(Value::String(pk.to_string())),
            Some(Key::NotStored(index, model)) => Err(invalid(
                path,
                format!(
                    "KeyOf: `{id}` is entry {index} ({model}), a model this service does not \
                     store, so it has no object to refer to."
                ),
            )),
            None => Err(invalid(
                path,
                format!("KeyOf: failed to find entry with `id` of `{id}` and a model instance"),
            )),
        }
    }

    /// `!Env NAME` or `!Env [NAME, default]`: the variable, else (unset or
    /// empty, as Python's `getenv(name) or default`) the default, else null.
    fn env(&mut self, args: Value, path: &str) -> Result<Value, TagError> {
        let (name, default) = name_and_default(args)
            .ok_or_else(|| invalid(path, "Env: expected NAME or [NAME, default]."))?;
        if name.contains('\0') {
            return Err(invalid(path, "Env: embedded null byte"));
        }
        // A name with `=` cannot be set; reading it could panic.
        let value = if name.is_empty() || name.contains('=') {
            None
        } else {
            (self.inputs.env)(&name)
        };
        match value {
            Some(value) if !value.is_empty() => {
                self.secrets.push(value.clone());
                Ok(Value::String(value))
            }
            _ => Ok(default),
        }
    }

    /// `!File path` or `!File [path, default]`: the file's text without
    /// surrounding whitespace, else the default, else null.
    fn file(&mut self, args: Value, path: &str) -> Result<Value, TagError> {
        let (file, default) = name_and_default(args)
            .ok_or_else(|| invalid(path, "File: expected PATH or [PATH, default]."))?;
        if file.contains('\0') {
            return Err(invalid(path, "File: embedded null byte"));
        }
        match (self.inputs.files)(Path::new(&file)) {
            Ok(text) => {
                let text = text.trim().to_owned();
                self.secrets.push(text.clone());
                Ok(Value::String(text))
            }
            Err(error) => {
                tracing::warn!(
                    path = %file,
                    %error,
                    "Failed to read file. Falling back to default value"
                );
                Ok(default)
            }
        }
    }

    /// `!Context key` or `!Context [key, default]`.
    async fn context(&mut self, args: Value, path: &str) -> Result<Value, TagError> {
        let (key, default) = name_and_default(args)
            .ok_or_else(|| invalid(path, "Context: expected KEY or [KEY, default]."))?;
        match self.inputs.context.get(Value::String(key)) {
            Some(value) => self.resolve(value.clone(), path.to_owned()).await,
            None => Ok(default),
        }
    }

    /// `!Find [model, [field, value], ...]` (the first match's pk) and
    /// `!FindObject` (its serialized fields); null when nothing matches.
    /// The pairs are ANDed; none at all selects every object.
    async fn find(&mut self, object: bool, args: Value, path: &str) -> Result<Value, TagError> {
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

    /// `!If [condition]` (`true` or `false`) or `!If [condition, then,
    /// else]`: only the chosen branch is resolved.
    async fn if_(&mut self, value: Value, path: &str) -> Result<Value, TagError> {
        let usage = || {
            invalid(
                path,
                "If: expected [condition] or [condition, when_true, when_false].",
            )
        };
        let Value::Sequence(args) = value else {
            return Err(usage());
        };
        let mut args = args.into_iter();
        let (Some(condition), then, otherwise, None) =
            (args.next(), args.next(), args.next(), args.next())
        else {
            return Err(usage());
        };
        let condition = self.resolve(condition, path.to_owned()).await?;
        let holds = python::truthy(&condition);
        match (then, otherwise) {
            (None, None) => Ok(Value::Bool(holds)),
            (Some(then), Some(otherwise)) => {
                let branch = if holds { then } else { otherwise };
                self.resolve(branch, path.to_owned()).await
            }
            _ => Err(usage()),
        }
    }

    /// `!Enumerate [iterable, SEQ|MAP, body]`.
    async fn enumerate(&mut self, value: Value, path: &str) -> Result<Value, TagError> {
        let usage = || {
            invalid(
                path,
                "Enumerate: expected [iterable, SEQ or MAP, item body].",
            )
        };
        let Value::Sequence(args) = value else {
            return Err(usage());
        };
        let [iterable, output, body] = <[Value; 3]>::try_from(args).map_err(|_| usage())?;
        if let Value::Tagged(t) = &iterable {
            let name = t.tag.to_string();
            if matches!(name.trim_start_matches('!'), "Index" | "Value")
                && item_depth(&t.value) == Some(0)
            {
                return Err(invalid(
                    path,
                    "Enumerate tag's iterable references this tag's context. This is a noop. \
                     Check you are setting depth bigger than 0.",
                ));
            }
        }
        self.items.push(None);
        let result = self.enumerate_items(iterable, output, body, path).await;
        self.items.pop();
        result
    }

    async fn enumerate_items(
        &mut self,
        iterable: Value,
        output: Value,
        body: Value,
        path: &str,
    ) -> Result<Value, TagError> {
        let iterable = self.resolve(iterable, path.to_owned()).await?;
        let items: Vec<(Value, Value)> = match iterable {
            Value::Sequence(items) => items
                .into_iter()
                .enumerate()
                .map(|(i, v)| (Value::Number((i as u64).into()), v))
                .collect(),
            Value::Mapping(map) => map.into_iter().collect(),
            // Python iterates text by character.
            Value::String(s) => s
                .chars()
                .enumerate()
                .map(|(i, c)| {
                    (
                        Value::Number((i as u64).into()),
                        Value::String(c.to_string()),
                    )
                })
                .collect(),
            _ => {
                return Err(invalid(
                    path,
                    "Enumerate's iterable must be an iterable such as a sequence or a mapping",
                ));
            }
        };
        let output = self.resolve(output, path.to_owned()).await?;
        let seq = match output.as_str().map(str::to_uppercase).as_deref() {
            Some("SEQ") => true,
            Some("MAP") => false,
            _ => {
                return Err(invalid(
                    path,
                    format!(
                        "Enumerate: output body must be SEQ or MAP, not {}",
                        python::repr(&output)
                    ),
                ));
            }
        };
        let mut list = Vec::new();
        let mut map = Value::Mapping(Mapping::new());
        for item in items {
            if let Some(top) = self.items.last_mut() {
                *top = Some(item);
            }
            let resolved = self.resolve(body.clone(), path.to_owned()).await?;
            if seq {
                list.push(resolved);
                continue;
            }
            let addition = match resolved {
                Value::Sequence(pair) if pair.len() >= 2 => {
                    let mut pair = pair.into_iter();
                    let (Some(k), Some(v)) = (pair.next(), pair.next()) else {
                        unreachable!("two items were counted");
                    };
                    let mut m = Mapping::new();
                    m.insert(k, v);
                    Value::Mapping(m)
                }
                m @ Value::Mapping(_) => m,
                other => {
                    return Err(invalid(
                        path,
                        format!("Invalid Enumerate item found: {}", python::str_of(&other)),
                    ));
                }
            };
            python::merge(&mut map, addition);
        }
        Ok(if seq { Value::Sequence(list) } else { map })
    }

    /// `!Index depth` and `!Value depth`: the key (or index) and the value
    /// of the item of the `!Enumerate` `depth` levels up.
    fn item(&self, name: &str, value: Value, path: &str) -> Result<Value, TagError> {
        let depth = item_depth(&value)
            .ok_or_else(|| invalid(path, format!("{name}: expected a depth (0, 1, ...).")))?;
        if depth < 0 {
            return Err(invalid(
                path,
                format!("{name} tag: depth must be a positive number or zero"),
            ));
        }
        let depth = usize::try_from(depth).unwrap_or(usize::MAX);
        let found = self
            .items
            .len()
            .checked_sub(depth.saturating_add(1))
            .map(|i| &self.items[i]);
        match found {
            Some(Some((key, value))) => Ok(if name == "Index" { key } else { value }.clone()),
            Some(None) => Err(invalid(path, "Empty/invalid context: ()")),
            None if depth == 0 => Err(invalid(
                path,
                format!("{name} tags are only usable inside an Enumerate tag"),
            )),
            None => Err(invalid(
                path,
                format!(
                    "{name} tag: invalid depth: {depth}. Max depth: {}",
                    self.items.len() as i64 - 1
                ),
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

/// `NAME` or `[NAME, default]` (the default null when left out).
fn name_and_default(args: Value) -> Option<(String, Value)> {
    match args {
        Value::Sequence(items) if (1..=2).contains(&items.len()) => {
            let mut items = items.into_iter();
            let name = scalar_text(&items.next()?)?;
            Some((name, items.next().unwrap_or(Value::Null)))
        }
        Value::Sequence(_) | Value::Mapping(_) | Value::Tagged(_) => None,
        scalar => Some((scalar_text(&scalar)?, Value::Null)),
    }
}

fn item_depth(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        // `int(text)`: an empty or `~` scalar is no depth.
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// `!Format [format, args...]`.
fn format(args: Value, path: &str) -> Result<Value, TagError> {
    let Value::Sequence(mut args) = args else {
        return Err(invalid(path, "Format: expected [format, args...]."));
    };
    if args.is_empty() {
        return Err(invalid(path, "Format: expected [format, args...]."));
    }
    let template = match args.remove(0) {
        Value::String(template) => template,
        // Python's `%` on anything but text.
        other => {
            return Err(invalid(
                path,
                format!(
                    "Format: unsupported operand type(s) for %: '{}' and 'tuple'",
                    super::values::type_name(&other)
                ),
            ));
        }
    };
    python::percent_format(&template, &args)
        .map(Value::String)
        .map_err(|e| invalid(path, format!("Format: {}", e.0)))
}

/// `!Condition [MODE, values...]`.
fn condition(args: Value, path: &str) -> Result<Value, TagError> {
    let Value::Sequence(args) = args else {
        return Err(invalid(path, "Condition: expected [MODE, values...]."));
    };
    let mut args = args.into_iter();
    let Some(mode) = args.next() else {
        return Err(invalid(path, "Condition: expected [MODE, values...]."));
    };
    let values: Vec<bool> = args.map(|v| python::truthy(&v)).collect();
    if values.is_empty() {
        return Err(invalid(
            path,
            "At least one value is required after mode selection.",
        ));
    }
    let xor = || values.iter().fold(false, |a, b| a ^ b);
    let result = match mode.as_str().map(str::to_uppercase).as_deref() {
        Some("AND") => values.iter().all(|b| *b),
        Some("NAND") => !values.iter().all(|b| *b),
        Some("OR") => values.iter().any(|b| *b),
        Some("NOR") => !values.iter().any(|b| *b),
        Some("XOR") => xor(),
        Some("XNOR") => !xor(),
        _ => {
            return Err(invalid(
                path,
                format!(
                    "Condition: unknown mode {}; use AND, NAND, OR, NOR, XOR or XNOR.",
                    python::repr(&mode)
                ),
            ));
        }
    };
    Ok(Value::Bool(result))
}

/// `!AtIndex [list or mapping, index or key]` or with a default.
fn at_index(args: Value, path: &str) -> Result<Value, TagError> {
    let usage = || {
        invalid(
            path,
            "AtIndex: expected [object, index or key] or [object, index or key, default].",
        )
    };
    let Value::Sequence(args) = args else {
        return Err(usage());
    };
    let mut args = args.into_iter();
    let (Some(object), Some(attribute), default, None) =
        (args.next(), args.next(), args.next(), args.next())
    else {
        return Err(usage());
    };
    let missing = |message: String| match &default {
        Some(d) => Ok(d.clone()),
        None => Err(invalid(path, message)),
    };
    match object {
        Value::Sequence(items) => {
            let index = match &attribute {
                Value::Bool(b) => Some(i64::from(*b)),
                Value::Number(n) => n.as_i64(),
                _ => None,
            };
            let Some(index) = index else {
                return Err(invalid(
                    path,
                    format!("Invalid index for list: {}", python::str_of(&attribute)),
                ));
            };
            // Python counts negative indexes from the end.
            let len = items.len() as i64;
            let at = if index < 0 { len + index } else { index };
            match usize::try_from(at).ok().and_then(|i| items.get(i)) {
                Some(item) => Ok(item.clone()),
                None => missing(format!("Index out of range: {index}")),
            }
        }
        Value::Mapping(map) => match map.get(&attribute) {
            Some(item) => Ok(item.clone()),
            None => missing(format!(
                "Key does not exist: {}",
                python::str_of(&attribute)
            )),
        },
        other => Err(invalid(
            path,
            format!(
                "AtIndex: expected a list or a mapping, got {}",
                super::values::type_name(&other)
            ),
        )),
    }
}

#[cfg(test)]
mod tests;
