//! `!AtIndex`: an item of a list or a mapping, as Python indexes them.

use serde_yaml_ng::Value;

use super::{TagError, arguments, invalid};
use crate::python;

/// `!AtIndex [list or mapping, index or key]` or with a default.
pub(super) fn at_index(args: Value, path: &str) -> Result<Value, TagError> {
    let ([object, attribute], [default]) = arguments(
        args,
        path,
        "AtIndex: expected [object, index or key] or [object, index or key, default].",
    )?;
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
                crate::values::type_name(&other)
            ),
        )),
    }
}
