//! The context `!Context` reads: authentik's defaults, under the file's
//! `context` block, under the context given at import (`--context-file`,
//! then each `--context key=value`), merged as authentik merges them
//! (`always_merger`: mappings key by key, lists appended, the rest
//! replaced).

use std::path::{Path, PathBuf};

use serde_yaml_ng::{Mapping, Value};

use super::{models::rbac_models, python, read_limited};

/// Why the context given at import cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("--context {0:?}: expected KEY=VALUE")]
    Pair(String),
    #[error("--context-file {}: cannot read the file: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("--context-file {}: {message}", path.display())]
    Parse { path: PathBuf, message: String },
}

/// authentik's default context: whether an enterprise licence is valid
/// (never, here) and its RBAC model map (model name → app label).
pub(crate) fn defaults() -> Mapping {
    let mut ctx = Mapping::new();
    ctx.insert("goauthentik.io/enterprise/licensed".into(), false.into());
    ctx.insert(
        "goauthentik.io/rbac/models".into(),
        Value::Mapping(rbac_models()),
    );
    ctx
}

/// The context of one import: defaults, then the file's block, then what
/// was given at import.
pub(crate) fn merged(file: Mapping, given: &Mapping) -> Mapping {
    let mut ctx = defaults();
    python::merge_maps(&mut ctx, file);
    python::merge_maps(&mut ctx, given.clone());
    ctx
}

/// The context given on the command line: the mapping in `file` (JSON or
/// YAML, no tags), then each `key=value` pair (values are text; later
/// pairs win).
pub fn load(file: Option<&Path>, pairs: &[String]) -> Result<Mapping, ContextError> {
    let mut ctx = Mapping::new();
    if let Some(path) = file {
        let text = read_limited(path).map_err(|error| ContextError::Io {
            path: path.to_owned(),
            error,
        })?;
        let parse = |message: String| ContextError::Parse {
            path: path.to_owned(),
            message,
        };
        let value: Value = serde_yaml_ng::from_str(&text)
            .map_err(|e| parse(format!("invalid JSON or YAML: {e}")))?;
        match value {
            Value::Null => {}
            Value::Mapping(map) => {
                if has_tags(&Value::Mapping(map.clone())) {
                    return Err(parse("tags are not allowed in a context file".into()));
                }
                python::merge_maps(&mut ctx, map);
            }
            other => {
                return Err(parse(format!(
                    "expected a mapping, got {}",
                    super::values::type_name(&other)
                )));
            }
        }
    }
    for pair in pairs {
        let (key, value) = parse_pair(pair)?;
        ctx.insert(Value::String(key), Value::String(value));
    }
    Ok(ctx)
}

/// `key=value`, split at the first `=`; the key may not be empty.
pub fn parse_pair(pair: &str) -> Result<(String, String), ContextError> {
    match pair.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(ContextError::Pair(pair.to_owned())),
    }
}

fn has_tags(value: &Value) -> bool {
    match value {
        Value::Tagged(_) => true,
        Value::Sequence(items) => items.iter().any(has_tags),
        Value::Mapping(map) => map.iter().any(|(k, v)| has_tags(k) || has_tags(v)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Mapping {
        serde_yaml_ng::from_str(text).unwrap()
    }

    #[test]
    fn given_context_wins_over_the_files_over_the_defaults() {
        let ctx = merged(
            yaml("{a: file, b: file, l: [1], goauthentik.io/enterprise/licensed: true}"),
            &yaml("{b: given, l: [2]}"),
        );
        assert_eq!(ctx["a"], Value::String("file".into()));
        assert_eq!(ctx["b"], Value::String("given".into()));
        assert_eq!(
            ctx["l"],
            serde_yaml_ng::from_str::<Value>("[1, 2]").unwrap()
        );
        assert_eq!(ctx["goauthentik.io/enterprise/licensed"], Value::Bool(true));
        assert!(ctx["goauthentik.io/rbac/models"].is_mapping());
    }

    #[test]
    fn pairs_and_files_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ctx.json");
        std::fs::write(
            &file,
            r#"{"slug": "from-file", "n": 3, "nested": {"a": [1]}}"#,
        )
        .unwrap();
        let ctx = load(Some(&file), &["slug=from-flag".into(), "eq=a=b".into()]).unwrap();
        assert_eq!(ctx["slug"], Value::String("from-flag".into()));
        assert_eq!(ctx["eq"], Value::String("a=b".into()));
        assert_eq!(ctx["n"], Value::Number(3.into()));

        for bad in ["novalue", "=x"] {
            let err = load(None, &[bad.into()]).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("--context {bad:?}: expected KEY=VALUE")
            );
        }
        let error = |path: &Path| load(Some(path), &[]).unwrap_err().to_string();
        std::fs::write(&file, "[1, 2]").unwrap();
        assert!(error(&file).contains("expected a mapping"));
        std::fs::write(&file, "a: !Env X").unwrap();
        assert!(error(&file).contains("tags are not allowed"));
        assert!(error(&dir.path().join("missing.yaml")).contains("cannot read"));
    }
}
