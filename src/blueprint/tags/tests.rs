//! Tag resolution against a fake store and environment.

use std::sync::Mutex;

use super::*;

/// Answers every `!Find` with `answer` and records the lookups.
#[derive(Default)]
struct FakeFinder {
    answer: Vec<Uuid>,
    asked: Mutex<Vec<(Model, Lookup)>>,
}

impl Finder for FakeFinder {
    fn find(
        &self,
        model: Model,
        lookup: Lookup,
    ) -> impl Future<Output = Result<Vec<Uuid>, StoreError>> + Send {
        if let Ok(mut asked) = self.asked.lock() {
            asked.push((model, lookup));
        }
        std::future::ready(Ok(self.answer.clone()))
    }
}

fn env(name: &str) -> Option<String> {
    match name {
        "PSS_TEST_TAGS_TOKEN" => Some("s3cret-token".into()),
        "PSS_TEST_TAGS_SLUG" => Some("from-env".into()),
        _ => None,
    }
}

fn yaml(text: &str) -> Value {
    serde_yaml_ng::from_str(text).unwrap()
}

async fn resolve_with(
    text: &str,
    keys: &HashMap<String, Uuid>,
    finder: &FakeFinder,
) -> (Result<Value, TagError>, Vec<String>) {
    let mut resolver = Resolver::new(&env, keys, finder);
    let out = resolver.resolve(yaml(text), "field".into()).await;
    (out, resolver.into_secrets())
}

async fn resolve(text: &str) -> Result<Value, TagError> {
    resolve_with(text, &HashMap::new(), &FakeFinder::default())
        .await
        .0
}

fn violation(result: Result<Value, TagError>) -> FieldViolation {
    match result {
        Err(TagError::Invalid(v)) => v,
        other => panic!("expected a violation, got {other:?}"),
    }
}

#[tokio::test]
async fn env_reads_the_variable_and_remembers_it_as_secret() {
    let (value, secrets) = resolve_with(
        "!Env PSS_TEST_TAGS_TOKEN",
        &HashMap::new(),
        &FakeFinder::default(),
    )
    .await;
    assert_eq!(value.unwrap(), Value::String("s3cret-token".into()));
    assert_eq!(secrets, ["s3cret-token"]);
}

#[tokio::test]
async fn env_falls_back_to_the_default_then_null() {
    assert_eq!(
        resolve("!Env [PSS_TEST_TAGS_SLUG, fallback]")
            .await
            .unwrap(),
        Value::String("from-env".into())
    );
    assert_eq!(
        resolve("!Env [PSS_TEST_TAGS_UNSET, fallback]")
            .await
            .unwrap(),
        Value::String("fallback".into())
    );
    assert_eq!(
        resolve("!Env [PSS_TEST_TAGS_UNSET, false]").await.unwrap(),
        Value::Bool(false)
    );
    assert_eq!(
        resolve("!Env PSS_TEST_TAGS_UNSET").await.unwrap(),
        Value::Null
    );
    assert_eq!(
        resolve("!Env [PSS_TEST_TAGS_UNSET]").await.unwrap(),
        Value::Null
    );
}

#[tokio::test]
async fn env_refuses_malformed_arguments() {
    for text in [
        "!Env [a, b, c]",
        "!Env []",
        "!Env {a: b}",
        "!Env 5",
        "!Env [[a], b]",
    ] {
        let v = violation(resolve(text).await);
        assert_eq!(
            v.message, "Env: expected NAME or [NAME, default].",
            "{text}"
        );
    }
    for text in ["!Env ''", "!Env 'A=B'", "!Env \"A\\0B\""] {
        let v = violation(resolve(text).await);
        assert!(
            v.message.ends_with("is not a valid variable name."),
            "{text}"
        );
    }
}

#[tokio::test]
async fn tags_inside_lists_and_maps_resolve_with_their_path() {
    let value = resolve("[plain, !Env PSS_TEST_TAGS_SLUG, {k: !Env PSS_TEST_TAGS_SLUG}]")
        .await
        .unwrap();
    assert_eq!(value, yaml("[plain, from-env, {k: from-env}]"));

    let v = violation(resolve("[a, {k: [x, !KeyOf nope]}]").await);
    assert_eq!(v.field, "field[1].k[1]");
    assert_eq!(v.code, "does_not_exist");
    assert_eq!(v.message, "KeyOf: no earlier entry has id \"nope\".");
}

#[tokio::test]
async fn key_of_gives_the_pk_of_an_earlier_entry() {
    let pk = Uuid::new_v4();
    let keys = HashMap::from([("m1".to_owned(), pk)]);
    let (value, _) = resolve_with("!KeyOf m1", &keys, &FakeFinder::default()).await;
    assert_eq!(value.unwrap(), Value::String(pk.to_string()));
    let v = violation(resolve("!KeyOf [m1]").await);
    assert_eq!(v.message, "KeyOf: expected the id of an earlier entry.");
}

#[tokio::test]
async fn find_resolves_nested_arguments_and_builds_the_lookup() {
    let pk = Uuid::new_v4();
    let finder = FakeFinder {
        answer: vec![pk],
        ..Default::default()
    };
    let (value, _) = resolve_with(
        "!Find [authentik_flows.flow, [slug, !Env PSS_TEST_TAGS_SLUG], [name, 12]]",
        &HashMap::new(),
        &finder,
    )
    .await;
    assert_eq!(value.unwrap(), Value::String(pk.to_string()));
    let asked = finder.asked.lock().unwrap();
    assert_eq!(asked[0].0, Model::Flow);
    assert_eq!(
        asked[0].1,
        Lookup {
            pk: None,
            fields: vec![("slug", "from-env".into()), ("name", "12".into())],
        }
    );
}

#[tokio::test]
async fn find_ands_the_pk_with_other_fields() {
    let wanted = Uuid::new_v4();
    let finder = FakeFinder {
        answer: vec![Uuid::new_v4()],
        ..Default::default()
    };
    let text = format!("!Find [authentik_flows.flow, [pk, '{wanted}'], [slug, x]]");
    let (value, _) = resolve_with(&text, &HashMap::new(), &finder).await;
    assert_eq!(value.unwrap(), Value::Null);

    let text = format!("!Find [authentik_flows.flow, [pk, '{wanted}']]");
    let finder = FakeFinder {
        answer: vec![wanted],
        ..Default::default()
    };
    let (value, _) = resolve_with(&text, &HashMap::new(), &finder).await;
    assert_eq!(value.unwrap(), Value::String(wanted.to_string()));
    assert_eq!(finder.asked.lock().unwrap()[0].1.pk, Some(wanted));
}

#[tokio::test]
async fn find_with_a_null_value_matches_nothing_without_asking() {
    let finder = FakeFinder {
        answer: vec![Uuid::new_v4()],
        ..Default::default()
    };
    let (value, _) = resolve_with(
        "!Find [authentik_flows.flow, [slug, !Env PSS_TEST_TAGS_UNSET]]",
        &HashMap::new(),
        &finder,
    )
    .await;
    assert_eq!(value.unwrap(), Value::Null);
    assert!(finder.asked.lock().unwrap().is_empty());
}

#[tokio::test]
async fn find_refuses_what_it_cannot_search() {
    for (text, message) in [
        (
            "!Find authentik_flows.flow",
            "Find: expected [model, [field, value], ...].",
        ),
        (
            "!Find [authentik_flows.flow]",
            "Find: expected [model, [field, value], ...].",
        ),
        (
            "!Find [authentik_flows.flow, [slug]]",
            "Find: expected [model, [field, value], ...].",
        ),
        (
            "!Find [authentik_flows.flow, slug]",
            "Find: expected [model, [field, value], ...].",
        ),
        (
            "!Find [authentik_core.group, [name, a]]",
            "Find: model \"authentik_core.group\" is not supported.",
        ),
        (
            "!Find [authentik_flows.flow, [designation, a]]",
            "Find: cannot search authentik_flows.flow by \"designation\".",
        ),
        (
            "!Find [authentik_flows.flow, [slug, [a]]]",
            "Find: the value for \"slug\" must be a string.",
        ),
        (
            "!Find [authentik_flows.flow, [pk, nope]]",
            "Find: the value for \"pk\" must be a valid UUID.",
        ),
    ] {
        assert_eq!(violation(resolve(text).await).message, message, "{text}");
    }
}

#[tokio::test]
async fn unknown_tags_are_refused() {
    let v = violation(resolve("!Context foo").await);
    assert_eq!(v.message, "Tag \"!Context\" is not supported.");
}
