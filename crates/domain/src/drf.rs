//! How Django REST framework reads loosely typed values, for every reader
//! of authentik's formats (the REST body, blueprint files), each over its
//! own value type: the same spellings and the same messages everywhere.

use crate::Violations;

/// `BooleanField`'s spellings of true and false.
pub fn bool_from_text(text: &str) -> Option<bool> {
    const TRUE: &[&str] = &[
        "t", "T", "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON", "1",
    ];
    const FALSE: &[&str] = &[
        "f", "F", "n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF", "0",
    ];
    if TRUE.contains(&text) {
        Some(true)
    } else if FALSE.contains(&text) {
        Some(false)
    } else {
        None
    }
}

/// `BooleanField` on a number: Python compares `1 == 1.0 == True`.
pub fn bool_from_number(number: Option<f64>) -> Option<bool> {
    match number {
        Some(1.0) => Some(true),
        Some(0.0) => Some(false),
        _ => None,
    }
}

/// An item of a list of text (`ListField(child=CharField())`): `None` is
/// null, refused; `Some(None)` a value that is no text.
pub fn text_item(v: &mut Violations, field: &str, item: Option<Option<String>>) -> Option<String> {
    match item {
        None => {
            v.null(field);
            None
        }
        Some(None) => {
            v.add(
                field,
                "invalid",
                crate::violations::messages::INVALID_STRING,
            );
            None
        }
        Some(Some(text)) => Some(text),
    }
}

/// A `ListField`'s items read one by one, each error under `field[i]`;
/// `None` when any item is refused (every refusal is reported).
pub fn items<V, T>(
    v: &mut Violations,
    field: &str,
    items: impl IntoIterator<Item = V>,
    item: impl Fn(&mut Violations, &str, V) -> Option<T>,
) -> Option<Vec<T>> {
    let mut ok = true;
    let mut out = Vec::new();
    for (i, value) in items.into_iter().enumerate() {
        match item(v, &format!("{field}[{i}]"), value) {
            Some(value) => out.push(value),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_read_as_drf_reads_them() {
        assert_eq!(bool_from_text("Yes"), Some(true));
        assert_eq!(bool_from_text("OFF"), Some(false));
        assert_eq!(bool_from_text("maybe"), None);
        assert_eq!(bool_from_number(Some(1.0)), Some(true));
        assert_eq!(bool_from_number(Some(0.0)), Some(false));
        assert_eq!(bool_from_number(Some(2.0)), None);
    }

    #[test]
    fn every_refused_item_is_reported_under_its_index() {
        let mut v = Violations::new();
        let read = items(&mut v, "xs", ["a", "", "c", ""], |v, field, s: &str| {
            if s.is_empty() {
                v.blank(field);
                None
            } else {
                Some(s.to_owned())
            }
        });
        assert_eq!(read, None);
        let fields: Vec<&str> = v.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["xs[1]", "xs[3]"]);
        let mut v = Violations::new();
        assert_eq!(
            items(&mut v, "xs", ["a"], |_, _, s: &str| Some(s.len())),
            Some(vec![1])
        );
    }
}
