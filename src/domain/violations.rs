//! Field violations: every rule a request broke, gathered before answering.

use std::fmt;

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

    pub fn max_length(max: usize) -> String {
        format!("Ensure this field has no more than {max} characters.")
    }

    pub fn invalid_pk(value: &str) -> String {
        format!("Invalid pk \"{value}\" - object does not exist.")
    }
}

/// All violations of one request, in the order they were found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Violations(Vec<FieldViolation>);

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
        self.0.push(FieldViolation {
            field: field.into(),
            code,
            message: message.into(),
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
        self.0.extend(other.0);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &FieldViolation> {
        self.0.iter()
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
        for (i, v) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {}", v.field, v.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for Violations {}

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
}
