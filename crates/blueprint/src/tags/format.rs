//! `!Format`: Python's `%` formatting of its arguments.

use serde_yaml_ng::Value;

use super::{TagError, invalid};
use crate::python;

/// `!Format [format, args...]`.
pub(super) fn format(args: Value, path: &str) -> Result<Value, TagError> {
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
                    crate::values::type_name(&other)
                ),
            ));
        }
    };
    python::percent_format(&template, &args)
        .map(Value::String)
        .map_err(|e| invalid(path, format!("Format: {}", e.0)))
}
