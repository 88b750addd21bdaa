//! What an entry breaks: its violations, collected in the order of its
//! attributes without repeating a field already reported, and scrubbed of
//! the secrets its tags produced.

use domain::{FieldViolation, Violations};

use super::EntryRef;
use crate::report::Failure;

/// Replaces secret values quoted in messages (`"<value>" is not a valid
/// choice.`, `“<value>” is not a valid UUID.`); every message that embeds a
/// value quotes it.
const REDACTED: &str = "[REDACTED]";

/// The violations of the entry being applied and the `!Env` values its
/// tags produced, which must not show in them.
#[derive(Default)]
pub(super) struct Findings {
    pub(super) violations: Violations,
    pub(super) secrets: Vec<String>,
}

impl Findings {
    pub(super) fn into_failure(self, entry: &EntryRef) -> Failure {
        Failure::Entry {
            index: entry.index,
            model: entry.model.clone(),
            violations: self.scrubbed(),
        }
    }

    /// The violations without the secrets they quote.
    pub(super) fn scrubbed(self) -> Violations {
        scrub(self.violations, &self.secrets)
    }
}

/// Adds the rule violations of fields not already reported while typing or
/// resolving tags: a refused value is left missing, and "This field is
/// required." on top of "Not a valid string." would only confuse.
pub(super) fn merge_unreported(reported: &mut Violations, more: Violations) {
    let roots: Vec<String> = reported.iter().map(|v| root(&v.field).to_owned()).collect();
    for v in more.iter() {
        if !roots.iter().any(|r| r == root(&v.field)) {
            reported.add(v.field.clone(), v.code, v.message.clone());
        }
    }
}

/// `first` and `then` together, ordered by the position of their field's
/// attribute in `keys` (stable: `first` before `then` on the same one).
pub(super) fn in_key_order(keys: &[String], first: Violations, then: Violations) -> Violations {
    let mut all: Vec<&FieldViolation> = first.iter().chain(then.iter()).collect();
    all.sort_by_key(|v| {
        keys.iter()
            .position(|k| k == root(&v.field))
            .unwrap_or(keys.len())
    });
    let mut out = Violations::new();
    for v in all {
        out.add(v.field.clone(), v.code, v.message.clone());
    }
    out
}

/// `user_property_mappings` of `user_property_mappings[1]`.
fn root(field: &str) -> &str {
    field.split(['[', '.']).next().unwrap_or(field)
}

/// Removes secrets (`!Env`, `!File`, Plex tokens) from messages, where
/// they are quoted, straight or curly.
fn scrub(violations: Violations, secrets: &[String]) -> Violations {
    if secrets.is_empty() {
        return violations;
    }
    let quoted: Vec<(String, String)> = secrets
        .iter()
        .filter(|s| !s.is_empty())
        .flat_map(|s| {
            [
                (format!("\"{s}\""), format!("\"{REDACTED}\"")),
                (
                    format!("\u{201c}{s}\u{201d}"),
                    format!("\u{201c}{REDACTED}\u{201d}"),
                ),
            ]
        })
        .collect();
    let mut out = Violations::new();
    for v in violations.iter() {
        let message = quoted
            .iter()
            .fold(v.message.clone(), |m, (q, r)| m.replace(q.as_str(), r));
        out.add(v.field.clone(), v.code, message);
    }
    out
}

#[cfg(test)]
mod tests;
