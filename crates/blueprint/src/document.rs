//! The file's shape: `version` (1, the default), `metadata` (`name`,
//! `labels`), `context`, `entries` (a list, or a mapping of named lists
//! applied in order), and the keys of each entry. Everything here is
//! checked before the database is touched, so a malformed file fails fast
//! and says where.

use serde_yaml_ng::{Mapping, Value};

use super::{
    report::Failure,
    values::{not_a_list, type_name},
};
use domain::{Violations, violations::messages};

/// The only blueprint format version authentik has.
const VERSION: u64 = 1;

/// What an entry wants for its object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// Create it, or update it with `attrs`.
    Present,
    /// Create it if missing; never update it.
    Created,
    /// Create it; fail if it exists.
    MustCreated,
    /// Delete it if it exists.
    Absent,
}

impl State {
    fn parse(value: &str) -> Option<Self> {
        match value {
            "present" => Some(State::Present),
            "created" => Some(State::Created),
            "must_created" => Some(State::MustCreated),
            "absent" => Some(State::Absent),
            _ => None,
        }
    }
}

/// One entry with its keys checked; values may still hold YAML tags.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// 0-based position in `entries`, used in every error.
    pub index: usize,
    /// The model as written in the file.
    pub model: String,
    pub state: State,
    pub identifiers: Vec<(String, Value)>,
    pub attrs: Vec<(String, Value)>,
    /// Name later entries use with `!KeyOf`.
    pub id: Option<String>,
    pub conditions: Vec<Value>,
    /// authentik's object permissions, tags unresolved; `Null` when absent.
    /// Only the models that support them look inside (see `permissions`).
    pub permissions: Value,
}

/// Deepest nesting of flow collections (`[`, `{`) read. The YAML reader
/// refuses anything past 128 levels anyway, but it takes time quadratic
/// in the depth to get there, so a file of 100,000 brackets would hold an
/// import for minutes; such a file is refused before it is parsed.
const MAX_FLOW_DEPTH: usize = 256;

/// A parsed file: its `context` block (values may hold tags, resolved where
/// `!Context` uses them) and its entries.
#[derive(Debug, Clone, Default)]
pub(crate) struct Document {
    pub context: Mapping,
    pub entries: Vec<Entry>,
}

/// Parses a blueprint document into its context and entries.
pub(crate) fn parse(text: &str) -> Result<Document, Failure> {
    if flow_depth(text) > MAX_FLOW_DEPTH {
        return Err(Failure::parse(
            None,
            format!("invalid YAML: collections nested deeper than {MAX_FLOW_DEPTH} levels"),
        ));
    }
    let mut root: Value = serde_yaml_ng::from_str(text)
        .map_err(|e| Failure::parse(None, format!("invalid YAML: {e}")))?;
    root.apply_merge()
        .map_err(|e| Failure::parse(None, format!("invalid YAML merge key: {e}")))?;
    let Value::Mapping(root) = root else {
        return Err(Failure::parse(
            None,
            format!(
                "expected a mapping with `version` and `entries`, got {}",
                type_name(&root)
            ),
        ));
    };

    let mut version = None;
    let mut entries = Value::Null;
    let mut context = Mapping::new();
    for (key, value) in root {
        match key.as_str() {
            Some("version") => version = Some(value),
            Some("entries") => entries = value,
            Some("metadata") => metadata(value)?,
            Some("context") => {
                context = match value {
                    Value::Null => Mapping::new(),
                    Value::Mapping(map) => map,
                    other => {
                        return Err(Failure::parse(
                            None,
                            format!("`context` must be a mapping, got {}", type_name(&other)),
                        ));
                    }
                }
            }
            Some(other) => tracing::warn!(key = other, "ignoring unknown top-level blueprint key"),
            None => tracing::warn!("ignoring a non-string top-level blueprint key"),
        }
    }
    // authentik's default, as its `Blueprint` dataclass has it.
    match version {
        None => {}
        Some(v) if v.as_u64() == Some(VERSION) => {}
        Some(_) => {
            return Err(Failure::parse(
                None,
                format!("unsupported blueprint `version`; only {VERSION} is known"),
            ));
        }
    }
    let entries = match entries {
        Value::Null => Vec::new(),
        Value::Sequence(items) => items,
        // Named sections, applied one after the other.
        Value::Mapping(sections) => {
            let mut all = Vec::new();
            for (name, section) in sections {
                match section {
                    Value::Sequence(items) => all.extend(items),
                    Value::Null => {}
                    other => {
                        return Err(Failure::parse(
                            None,
                            format!(
                                "`entries` section {} must be a list, got {}",
                                super::python::repr(&name),
                                type_name(&other)
                            ),
                        ));
                    }
                }
            }
            all
        }
        other => {
            return Err(Failure::parse(
                None,
                format!("`entries` must be a list, got {}", type_name(&other)),
            ));
        }
    };
    let entries = entries
        .into_iter()
        .enumerate()
        .map(|(index, value)| parse_entry(index, value))
        .collect::<Result<_, _>>()?;
    Ok(Document { context, entries })
}

/// `metadata`: a mapping with a string `name` and string `labels`, as
/// authentik's `BlueprintMetadata` requires. Nothing else reads it.
fn metadata(value: Value) -> Result<(), Failure> {
    let map = match value {
        Value::Null => return Ok(()),
        Value::Mapping(map) => map,
        _ => return Err(Failure::parse(None, "`metadata` must be a mapping")),
    };
    match map.get("name") {
        Some(Value::String(_)) => {}
        Some(other) => {
            return Err(Failure::parse(
                None,
                format!("`metadata.name` must be a string, got {}", type_name(other)),
            ));
        }
        None => return Err(Failure::parse(None, "`metadata.name` is required")),
    }
    match map.get("labels") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Mapping(labels))
            if labels.iter().all(|(k, v)| k.is_string() && v.is_string()) =>
        {
            Ok(())
        }
        Some(_) => Err(Failure::parse(
            None,
            "`metadata.labels` must map strings to strings",
        )),
    }
}

/// The deepest nesting of `[`/`{` in `text`, counted byte by byte (brackets
/// inside quoted scalars count too: a real blueprint never comes near the
/// bound either way).
fn flow_depth(text: &str) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    for byte in text.bytes() {
        match byte {
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

fn parse_entry(index: usize, value: Value) -> Result<Entry, Failure> {
    let Value::Mapping(map) = value else {
        return Err(Failure::parse(
            Some(index),
            format!("expected a mapping, got {}", type_name(&value)),
        ));
    };
    let mut model = None;
    let mut state = Value::Null;
    let mut identifiers = Value::Null;
    let mut attrs = Value::Null;
    let mut id = Value::Null;
    let mut conditions = Value::Null;
    let mut permissions = Value::Null;
    for (key, value) in map {
        match key.as_str() {
            Some("model") => model = Some(value),
            Some("state") => state = value,
            Some("identifiers") => identifiers = value,
            Some("attrs") => attrs = value,
            Some("id") => id = value,
            Some("conditions") => conditions = value,
            Some("permissions") => permissions = value,
            Some(other) => {
                tracing::warn!(index, key = other, "ignoring unknown blueprint entry key")
            }
            None => tracing::warn!(index, "ignoring a non-string blueprint entry key"),
        }
    }
    let model = match model {
        Some(Value::String(model)) => model,
        Some(other) => {
            return Err(Failure::parse(
                Some(index),
                format!("`model` must be a string, got {}", type_name(&other)),
            ));
        }
        None => return Err(Failure::parse(Some(index), "missing `model`")),
    };

    let mut v = Violations::new();
    let state = match state {
        Value::Null => Some(State::Present),
        Value::String(raw) => {
            let state = State::parse(&raw);
            if state.is_none() {
                v.add(
                    "state",
                    "invalid_choice",
                    format!("\"{raw}\" is not a valid choice."),
                );
            }
            state
        }
        _ => {
            v.add("state", "invalid", messages::INVALID_STRING);
            None
        }
    };
    let identifiers = pairs(&mut v, "identifiers", identifiers);
    let attrs = pairs(&mut v, "attrs", attrs);
    let id = match id {
        Value::Null => None,
        Value::String(id) => Some(id),
        _ => {
            v.add("id", "invalid", messages::INVALID_STRING);
            None
        }
    };
    let conditions = match conditions {
        Value::Null => Vec::new(),
        Value::Sequence(items) => items,
        other => {
            v.add("conditions", "not_a_list", not_a_list(&other));
            Vec::new()
        }
    };
    match state {
        Some(state) if v.is_empty() => Ok(Entry {
            index,
            model,
            state,
            identifiers,
            attrs,
            id,
            conditions,
            permissions,
        }),
        _ => Err(Failure::Entry {
            index,
            model,
            violations: v,
        }),
    }
}

/// The key/value pairs of `identifiers` or `attrs`; keys must be strings.
fn pairs(v: &mut Violations, field: &str, value: Value) -> Vec<(String, Value)> {
    match value {
        Value::Null => Vec::new(),
        Value::Mapping(map) => string_keys(v, field, map),
        other => {
            v.add(
                field,
                "not_a_dict",
                format!(
                    "Expected a dictionary of items but got type \"{}\".",
                    type_name(&other)
                ),
            );
            Vec::new()
        }
    }
}

fn string_keys(v: &mut Violations, field: &str, map: Mapping) -> Vec<(String, Value)> {
    let mut out = Vec::with_capacity(map.len());
    for (key, value) in map {
        match key {
            Value::String(key) => out.push((key, value)),
            _ => v.add(field, "invalid", "Keys must be strings."),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_err(text: &str) -> Failure {
        parse(text).expect_err("should fail")
    }

    #[test]
    fn reads_entries_with_defaults() {
        let entries = parse(
            "version: 1\nmetadata: {name: x}\nentries:\n  - model: a.b\n    identifiers: {slug: s}\n    attrs: {name: n}\n    id: first\n  - model: c.d\n    state: absent\n",
        )
        .unwrap()
        .entries;
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].state, State::Present);
        assert_eq!(entries[0].id.as_deref(), Some("first"));
        assert_eq!(entries[0].identifiers[0].0, "slug");
        assert_eq!(entries[1].index, 1);
        assert_eq!(entries[1].state, State::Absent);
        assert!(entries[1].attrs.is_empty());
    }

    #[test]
    fn empty_entries_are_fine() {
        assert!(parse("version: 1\nentries:\n").unwrap().entries.is_empty());
        assert!(parse("version: 1\n").unwrap().entries.is_empty());
    }

    #[test]
    fn version_defaults_to_one_and_metadata_and_context_are_read() {
        let doc = parse(
            "metadata:\n  name: Example\n  labels: {blueprints.goauthentik.io/description: Demo}\n\
             context: {slug: ctx}\nentries:\n  first: [{model: a.b}]\n  second:\n    - model: c.d\n",
        )
        .unwrap();
        assert_eq!(doc.context.get("slug"), Some(&Value::String("ctx".into())));
        let models: Vec<_> = doc.entries.iter().map(|e| e.model.as_str()).collect();
        assert_eq!(models, ["a.b", "c.d"]);
        assert_eq!(doc.entries[1].index, 1);
    }

    #[test]
    fn malformed_files_are_parse_errors() {
        for text in [
            "",
            "- 1\n- 2\n",
            "just a string",
            "version: 2\nentries: []\n",
            "version: '1'\nentries: []\n",
            "version: 1\nmetadata: [x]\nentries: []\n",
            "version: 1\nmetadata: {labels: {}}\nentries: []\n",
            "version: 1\nmetadata: {name: [x]}\n",
            "version: 1\nmetadata: {name: x, labels: {a: [b]}}\n",
            "version: 1\ncontext: [a]\n",
            "version: 1\nentries: {a: 5}\n",
            "version: 1\nentries: [\n",
            "version: 1\nentries:\n  - model: a\n  - model: a\n    model: b\n",
        ] {
            assert!(
                matches!(parse_err(text), Failure::Parse { entry: None, .. }),
                "{text:?}"
            );
        }
    }

    #[test]
    fn malformed_entries_name_their_index() {
        for (text, index) in [
            ("version: 1\nentries:\n  - [model]\n", 0),
            ("version: 1\nentries:\n  - model: a.b\n  - 5\n", 1),
            ("version: 1\nentries:\n  - model: [a]\n", 0),
            ("version: 1\nentries:\n  - state: present\n", 0),
        ] {
            match parse_err(text) {
                Failure::Parse { entry, .. } => assert_eq!(entry, Some(index), "{text:?}"),
                other => panic!("{text:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn bad_entry_keys_are_all_reported() {
        let failure = parse_err(
            "version: 1\nentries:\n  - model: a.b\n    state: gone\n    identifiers: [x]\n    attrs: 5\n    id: [x]\n    conditions: true\n",
        );
        let Failure::Entry {
            index,
            model,
            violations,
        } = failure
        else {
            panic!("{failure:?}");
        };
        assert_eq!((index, model.as_str()), (0, "a.b"));
        let fields: Vec<_> = violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(
            fields,
            ["state", "identifiers", "attrs", "id", "conditions"]
        );
        assert_eq!(
            violations.to_string(),
            "state: \"gone\" is not a valid choice.; \
             identifiers: Expected a dictionary of items but got type \"list\".; \
             attrs: Expected a dictionary of items but got type \"int\".; \
             id: Not a valid string.; \
             conditions: Expected a list of items but got type \"bool\"."
        );
    }

    #[test]
    fn merge_keys_are_applied() {
        let entries = parse(
            "version: 1\nentries:\n  - model: a.b\n    attrs:\n      <<: {name: merged}\n      slug: s\n",
        )
        .unwrap()
        .entries;
        let keys: Vec<_> = entries[0].attrs.iter().map(|(k, _)| k.as_str()).collect();
        assert!(keys.contains(&"name") && keys.contains(&"slug"), "{keys:?}");
    }
}
