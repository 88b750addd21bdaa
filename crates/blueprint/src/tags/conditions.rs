//! `!If` and `!Condition`: values decided by Python's truthiness, as
//! authentik decides them.

use serde_yaml_ng::Value;

use super::{Finder, Resolver, TagError, arguments, invalid};
use crate::python;

impl<F: Finder> Resolver<'_, F> {
    /// `!If [condition]` (`true` or `false`) or `!If [condition, then,
    /// else]`: only the chosen branch is resolved.
    pub(super) async fn if_(&mut self, value: Value, path: &str) -> Result<Value, TagError> {
        const USAGE: &str = "If: expected [condition] or [condition, when_true, when_false].";
        let ([condition], [then, otherwise]) = arguments(value, path, USAGE)?;
        let condition = self.resolve(condition, path.to_owned()).await?;
        let holds = python::truthy(&condition);
        match (then, otherwise) {
            (None, None) => Ok(Value::Bool(holds)),
            (Some(then), Some(otherwise)) => {
                let branch = if holds { then } else { otherwise };
                self.resolve(branch, path.to_owned()).await
            }
            _ => Err(invalid(path, USAGE)),
        }
    }
}

/// `!Condition [MODE, values...]`.
pub(super) fn condition(args: Value, path: &str) -> Result<Value, TagError> {
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
