//! `!Enumerate`, and `!Index` and `!Value`, which read the item of an
//! `!Enumerate` being resolved.

use serde_yaml_ng::{Mapping, Value};

use super::{Finder, Resolver, TagError, arguments, invalid};
use crate::python;

impl<F: Finder> Resolver<'_, F> {
    /// `!Enumerate [iterable, SEQ|MAP, body]`.
    pub(super) async fn enumerate(&mut self, value: Value, path: &str) -> Result<Value, TagError> {
        let ([iterable, output, body], []) = arguments(
            value,
            path,
            "Enumerate: expected [iterable, SEQ or MAP, item body].",
        )?;
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
    pub(super) fn item(&self, name: &str, value: Value, path: &str) -> Result<Value, TagError> {
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

fn item_depth(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        // `int(text)`: an empty or `~` scalar is no depth.
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}
