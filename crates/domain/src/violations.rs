//! Field violations: every rule a request broke, gathered before answering.
//!
//! A request is client input of any size, so the answer is bounded: at most
//! [`MAX_REPORTED`] violations, and no more than [`MAX_REPORTED_BYTES`] of
//! them, are kept (plus one saying how many more were found), and each field
//! path and message is cut to a fixed length. gRPC sends errors in HTTP/2
//! trailers, which common clients cap at 16 KiB; the bound keeps an error
//! well inside that.

use std::fmt;

/// Most violations one answer reports.
pub const MAX_REPORTED: usize = 100;
/// Most bytes of kept violations, as [`cost`] counts them.
pub const MAX_REPORTED_BYTES: usize = 7000;
/// Longest field path kept, in characters.
const MAX_FIELD_CHARS: usize = 120;
/// Longest message kept, in characters.
const MAX_MESSAGE_CHARS: usize = 300;
/// Field of the violation that counts the ones left out.
pub const OMITTED_FIELD: &str = "non_field_errors";

/// One broken rule on one field, as Django REST framework reports it: the
/// field path (`allowed_servers[1]` for a list item), the error code
/// (`blank`, `invalid`, ...) and the human message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: String,
    pub code: &'static str,
    pub message: String,
}

/// Authentik's messages for rules shared by many fields.
pub mod messages {
    pub const REQUIRED: &str = "This field is required.";
    pub const BLANK: &str = "This field may not be blank.";
    pub const NULL: &str = "This field may not be null.";
    /// `BooleanField`'s message.
    pub const INVALID_BOOLEAN: &str = "Must be a valid boolean.";
    /// `CharField`'s message for a value that is no text.
    pub const INVALID_STRING: &str = "Not a valid string.";

    /// Django's message for text that is no UUID, as DRF reports it.
    pub fn not_a_uuid(raw: &str) -> String {
        format!("\u{201c}{raw}\u{201d} is not a valid UUID.")
    }

    /// `PrimaryKeyRelatedField`'s message for a value of the wrong type
    /// (`type_name`: the Python type's name).
    pub fn incorrect_pk_type(type_name: &str) -> String {
        format!("Incorrect type. Expected pk value, received {type_name}.")
    }

    /// `ListField`'s message for a value that is no list.
    pub fn not_a_list(type_name: &str) -> String {
        format!("Expected a list of items but got type \"{type_name}\".")
    }

    pub fn max_length(max: usize) -> String {
        format!("Ensure this field has no more than {max} characters.")
    }

    pub fn invalid_pk(value: &str) -> String {
        format!("Invalid pk \"{value}\" - object does not exist.")
    }

    /// Django REST framework's `ListField(max_length=...)` message.
    pub fn max_items(max: usize) -> String {
        format!("Ensure this field has no more than {max} elements.")
    }

    pub fn omitted(count: usize) -> String {
        format!("{count} more violation(s) were found and not reported.")
    }
}

/// All violations of one request, in the order they were found (the first
/// [`MAX_REPORTED`], then one counting the rest).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Violations {
    kept: Vec<FieldViolation>,
    /// Bytes of `kept`, as [`cost`] counts them.
    bytes: usize,
    omitted: usize,
    /// Kept in step with `omitted`, so [`Violations::iter`] can lend it.
    omitted_note: Option<FieldViolation>,
}

impl Violations {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn single(
        field: impl Into<String>,
        code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        let mut v = Self::new();
        v.add(field, code, message);
        v
    }

    pub fn add(
        &mut self,
        field: impl Into<String>,
        code: &'static str,
        message: impl Into<String>,
    ) {
        if self.kept.len() >= MAX_REPORTED || self.bytes >= MAX_REPORTED_BYTES {
            self.omit(1);
            return;
        }
        let violation = FieldViolation {
            field: truncate(field.into(), MAX_FIELD_CHARS),
            code,
            message: truncate(message.into(), MAX_MESSAGE_CHARS),
        };
        let bytes = cost(&violation);
        if self.bytes + bytes > MAX_REPORTED_BYTES {
            self.bytes = MAX_REPORTED_BYTES;
            self.omit(1);
        } else {
            self.bytes += bytes;
            self.kept.push(violation);
        }
    }

    fn omit(&mut self, count: usize) {
        self.omitted += count;
        self.omitted_note = Some(FieldViolation {
            field: OMITTED_FIELD.to_owned(),
            code: "too_many_errors",
            message: messages::omitted(self.omitted),
        });
    }

    pub fn required(&mut self, field: &str) {
        self.add(field, "required", messages::REQUIRED);
    }

    pub fn blank(&mut self, field: &str) {
        self.add(field, "blank", messages::BLANK);
    }

    pub fn null(&mut self, field: &str) {
        self.add(field, "null", messages::NULL);
    }

    pub fn invalid_pk(&mut self, field: impl Into<String>, value: &str) {
        self.add(field, "does_not_exist", messages::invalid_pk(value));
    }

    pub fn extend(&mut self, other: Violations) {
        for v in other.kept {
            self.add(v.field, v.code, v.message);
        }
        if other.omitted > 0 {
            self.omit(other.omitted);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.kept.is_empty()
    }

    /// The kept violations, then the one counting those left out (if any).
    pub fn iter(&self) -> impl Iterator<Item = &FieldViolation> {
        self.kept.iter().chain(self.omitted_note.as_ref())
    }

    /// Each violation's field and message, in order: what tests compare.
    #[cfg(any(test, feature = "test-util"))]
    pub fn field_messages(&self) -> Vec<(&str, &str)> {
        self.iter()
            .map(|x| (x.field.as_str(), x.message.as_str()))
            .collect()
    }

    /// `Ok(value)` when nothing was broken.
    pub fn into_result<T>(self, value: T) -> Result<T, Violations> {
        if self.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }
}

impl fmt::Display for Violations {
    /// `field: message; field: message`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, v) in self.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {}", v.field, v.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for Violations {}

/// What a violation adds to an error's details: the field and code appear
/// twice (the bad request and the error info), plus framing.
fn cost(v: &FieldViolation) -> usize {
    2 * v.field.len() + v.message.len() + 2 * v.code.len() + 24
}

/// `text` cut to `max` characters, marked with an ellipsis when cut.
fn truncate(mut text: String, max: usize) -> String {
    if let Some((at, _)) = text.char_indices().nth(max) {
        text.truncate(at);
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_each_field_and_rule() {
        let mut v = Violations::new();
        v.blank("name");
        v.invalid_pk("enrollment_flow", "x");
        assert_eq!(
            v.to_string(),
            "name: This field may not be blank.; enrollment_flow: Invalid pk \"x\" - object does not exist."
        );
        assert!(v.clone().into_result(()).is_err());
        assert!(Violations::new().into_result(()).is_ok());
    }

    #[test]
    fn at_most_a_hundred_are_kept_and_the_rest_counted() {
        let mut v = Violations::new();
        for i in 0..250 {
            v.add(format!("s{i}"), "x", "m");
        }
        let all: Vec<_> = v.iter().collect();
        assert_eq!(all.len(), MAX_REPORTED + 1);
        assert_eq!(all[99].field, "s99");
        assert_eq!(all[100].field, OMITTED_FIELD);
        assert_eq!(
            all[100].message,
            "150 more violation(s) were found and not reported."
        );
        let mut merged = Violations::single("name", "blank", "x");
        merged.extend(v);
        assert_eq!(merged.iter().count(), MAX_REPORTED + 1);
        assert!(
            merged
                .iter()
                .last()
                .unwrap()
                .message
                .starts_with("151 more")
        );
    }

    #[test]
    fn long_violations_are_kept_within_a_byte_budget() {
        let mut v = Violations::new();
        for i in 0..1000 {
            v.invalid_pk(format!("user_property_mappings[{i}]"), &"y".repeat(500));
        }
        let kept: Vec<_> = v.iter().filter(|x| x.field != OMITTED_FIELD).collect();
        assert!(kept.len() < MAX_REPORTED);
        assert!(kept.iter().map(|x| cost(x)).sum::<usize>() <= MAX_REPORTED_BYTES);
        let note = v.iter().last().unwrap();
        assert_eq!(note.field, OMITTED_FIELD);
        assert!(
            note.message
                .starts_with(&format!("{} more", 1000 - kept.len()))
        );
    }

    #[test]
    fn echoed_values_are_cut() {
        let long = "é".repeat(10_000);
        let mut v = Violations::new();
        v.invalid_pk(long.clone(), &long);
        let only = v.iter().next().unwrap();
        assert_eq!(only.field.chars().count(), MAX_FIELD_CHARS + 1);
        assert_eq!(only.message.chars().count(), MAX_MESSAGE_CHARS + 1);
        assert!(only.message.ends_with('…'));
    }
}
