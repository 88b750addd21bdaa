//! `!KeyOf`, `!Env`, `!File` and `!Context`: what the entry is given from
//! outside its value, from earlier entries, the environment, files and the
//! context. `!Env` and `!File` values are secrets, remembered for scrubbing.

use std::path::Path;

use serde_yaml_ng::Value;

use super::{Finder, Key, Resolver, TagError, invalid, scalar_text};

impl<F: Finder> Resolver<'_, F> {
    /// `!KeyOf id`: the pk of the object an earlier entry with that `id`
    /// stored or matched.
    pub(super) fn key_of(&self, arg: Value, path: &str) -> Result<Value, TagError> {
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
    pub(super) fn env(&mut self, args: Value, path: &str) -> Result<Value, TagError> {
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
    pub(super) fn file(&mut self, args: Value, path: &str) -> Result<Value, TagError> {
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
    pub(super) async fn context(&mut self, args: Value, path: &str) -> Result<Value, TagError> {
        let (key, default) = name_and_default(args)
            .ok_or_else(|| invalid(path, "Context: expected KEY or [KEY, default]."))?;
        match self.inputs.context.get(Value::String(key)) {
            Some(value) => self.resolve(value.clone(), path.to_owned()).await,
            None => Ok(default),
        }
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
