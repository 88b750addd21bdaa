//! Tag resolution against a fake store, environment, file system and
//! context: each tag's semantics and authentik's messages.

use std::sync::Mutex;

use super::*;

/// Answers `!Find` from `objects` with the real query semantics, and
/// records the queries.
#[derive(Default)]
struct FakeFinder {
    objects: Vec<(Model, Uuid, Mapping)>,
    asked: Mutex<Vec<(Model, Query)>>,
}

impl FakeFinder {
    fn with(objects: &[(Model, Uuid, &str)]) -> Self {
        Self {
            objects: objects
                .iter()
                .map(|(m, pk, fields)| {
                    let mut fields: Mapping = serde_yaml_ng::from_str(fields).unwrap();
                    fields.insert("pk".into(), pk.to_string().into());
                    (*m, *pk, fields)
                })
                .collect(),
            ..Default::default()
        }
    }
}

impl Finder for FakeFinder {
    fn find(
        &self,
        model: Model,
        query: Query,
    ) -> impl Future<Output = Result<Vec<(Uuid, Mapping)>, StoreError>> + Send {
        let found = self
            .objects
            .iter()
            .filter(|(m, pk, fields)| *m == model && query.selects(*pk, fields))
            .map(|(_, pk, fields)| (*pk, fields.clone()))
            .collect();
        if let Ok(mut asked) = self.asked.lock() {
            asked.push((model, query));
        }
        std::future::ready(Ok(found))
    }
}

fn env(name: &str) -> Option<String> {
    match name {
        "PSS_TEST_TAGS_TOKEN" => Some("s3cret-token".into()),
        "PSS_TEST_TAGS_SLUG" => Some("from-env".into()),
        "PSS_TEST_TAGS_EMPTY" => Some(String::new()),
        _ => None,
    }
}

fn files(path: &Path) -> std::io::Result<String> {
    match path.to_str() {
        Some("/run/secrets/key") => Ok("  file-secret\n".into()),
        _ => Err(std::io::Error::new(std::io::ErrorKind::NotFound, "missing")),
    }
}

fn yaml(text: &str) -> Value {
    serde_yaml_ng::from_str(text).unwrap()
}

fn context() -> Mapping {
    serde_yaml_ng::from_str(
        "{slug: ctx-slug, n: 3, list: [a, b], nested: !Format ['%s-x', !Context slug], loop: !Context loop}",
    )
    .unwrap()
}

async fn resolve_with(
    text: &str,
    keys: &HashMap<String, Key>,
    finder: &FakeFinder,
) -> (Result<Value, TagError>, Vec<String>) {
    let context = context();
    let inputs = Inputs {
        env: &env,
        files: &files,
        context: &context,
    };
    let mut resolver = Resolver::new(&inputs, keys, finder);
    let out = resolver.resolve(yaml(text), "field".into()).await;
    (out, resolver.into_secrets())
}

/// `text` resolved with no earlier entries and an empty store, with the
/// secrets it produced.
async fn resolve_alone(text: &str) -> (Result<Value, TagError>, Vec<String>) {
    resolve_with(text, &HashMap::new(), &FakeFinder::default()).await
}

async fn resolve(text: &str) -> Result<Value, TagError> {
    resolve_alone(text).await.0
}

async fn value(text: &str) -> Value {
    match resolve(text).await {
        Ok(v) => v,
        Err(e) => panic!("{text}: {e:?}"),
    }
}

async fn message(text: &str) -> String {
    violation(resolve(text).await).message
}

fn violation(result: Result<Value, TagError>) -> FieldViolation {
    match result {
        Err(TagError::Invalid(v)) => v,
        other => panic!("expected a violation, got {other:?}"),
    }
}

#[tokio::test]
async fn env_reads_the_variable_and_remembers_it_as_secret() {
    let (value, secrets) = resolve_alone("!Env PSS_TEST_TAGS_TOKEN").await;
    assert_eq!(value.unwrap(), Value::String("s3cret-token".into()));
    assert_eq!(secrets, ["s3cret-token"]);
}

#[tokio::test]
async fn env_falls_back_to_the_default_when_unset_or_empty_then_null() {
    assert_eq!(
        value("!Env [PSS_TEST_TAGS_SLUG, fallback]").await,
        yaml("from-env")
    );
    assert_eq!(
        value("!Env [PSS_TEST_TAGS_UNSET, fallback]").await,
        yaml("fallback")
    );
    assert_eq!(
        value("!Env [PSS_TEST_TAGS_EMPTY, fallback]").await,
        yaml("fallback")
    );
    assert_eq!(value("!Env PSS_TEST_TAGS_EMPTY").await, Value::Null);
    assert_eq!(
        value("!Env [PSS_TEST_TAGS_UNSET, false]").await,
        Value::Bool(false)
    );
    assert_eq!(value("!Env PSS_TEST_TAGS_UNSET").await, Value::Null);
    assert_eq!(value("!Env [PSS_TEST_TAGS_UNSET]").await, Value::Null);
    // Names that cannot be set are simply unset, as `getenv` finds them.
    assert_eq!(value("!Env ''").await, Value::Null);
    assert_eq!(value("!Env [A=B, d]").await, yaml("d"));
}

#[tokio::test]
async fn env_refuses_malformed_arguments() {
    for text in ["!Env [a, b, c]", "!Env []", "!Env {a: b}", "!Env [[a], b]"] {
        assert_eq!(
            message(text).await,
            "Env: expected NAME or [NAME, default].",
            "{text}"
        );
    }
    assert_eq!(message("!Env \"A\\0B\"").await, "Env: embedded null byte");
}

#[tokio::test]
async fn file_reads_stripped_text_as_a_secret_else_the_default() {
    let (v, secrets) = resolve_alone("!File /run/secrets/key").await;
    assert_eq!(v.unwrap(), yaml("file-secret"));
    assert_eq!(secrets, ["file-secret"]);
    assert_eq!(value("!File [/nope, fallback]").await, yaml("fallback"));
    assert_eq!(value("!File /nope").await, Value::Null);
    assert_eq!(
        message("!File [a, b, c]").await,
        "File: expected PATH or [PATH, default]."
    );
}

#[tokio::test]
async fn context_reads_keys_defaults_and_resolves_tags_in_values() {
    assert_eq!(value("!Context slug").await, yaml("ctx-slug"));
    assert_eq!(value("!Context [missing, dflt]").await, yaml("dflt"));
    assert_eq!(value("!Context missing").await, Value::Null);
    assert_eq!(value("!Context list").await, yaml("[a, b]"));
    assert_eq!(value("!Context nested").await, yaml("ctx-slug-x"));
    assert_eq!(
        message("!Context loop").await,
        format!("Tags nested deeper than {MAX_DEPTH} levels.")
    );
}

#[tokio::test]
async fn format_is_python_percent_formatting() {
    assert_eq!(
        value("!Format ['%s-%d%%', !Context slug, !Context n]").await,
        yaml("ctx-slug-3%")
    );
    assert_eq!(value("!Format [plain]").await, yaml("plain"));
    assert_eq!(
        message("!Format ['%s %s', a]").await,
        "Format: not enough arguments for format string"
    );
    assert_eq!(
        message("!Format ['%s', a, b]").await,
        "Format: not all arguments converted during string formatting"
    );
    assert_eq!(
        message("!Format ['%d', abc]").await,
        "Format: %d format: a real number is required, not str"
    );
    assert_eq!(
        message("!Format []").await,
        "Format: expected [format, args...]."
    );
    assert_eq!(
        message("!Format [5]").await,
        "Format: unsupported operand type(s) for %: 'int' and 'tuple'"
    );
}

#[tokio::test]
async fn if_has_a_short_and_a_long_form_and_resolves_one_branch() {
    assert_eq!(value("!If [!Context slug]").await, Value::Bool(true));
    assert_eq!(value("!If ['']").await, Value::Bool(false));
    assert_eq!(
        value("!If [[], yes-branch, no-branch]").await,
        yaml("no-branch")
    );
    assert_eq!(
        value("!If [0.5, !Context slug, !KeyOf missing]").await,
        yaml("ctx-slug")
    );
    assert_eq!(
        value("!If [!Condition [AND, true, !Context missing], [a], {b: !Context n}]").await,
        yaml("{b: 3}")
    );
    for bad in ["!If []", "!If [a, b]", "!If [a, b, c, d]", "!If x"] {
        assert_eq!(
            message(bad).await,
            "If: expected [condition] or [condition, when_true, when_false].",
            "{bad}"
        );
    }
}

#[tokio::test]
async fn condition_combines_truthiness_in_every_mode() {
    for (mode, expected) in [
        ("AND", [true, false, false, false]),
        ("NAND", [false, true, true, true]),
        ("OR", [true, true, true, false]),
        ("NOR", [false, false, false, true]),
        ("XOR", [false, true, true, false]),
        ("XNOR", [true, false, false, true]),
    ] {
        for (args, want) in ["1, abc", "1, ''", "null, [x]", "0, {}"]
            .iter()
            .zip(expected)
        {
            let text = format!("!Condition [{mode}, {args}]");
            assert_eq!(value(&text).await, Value::Bool(want), "{text}");
        }
    }
    assert_eq!(
        value("!Condition [xor, true, true, true]").await,
        Value::Bool(true)
    );
    assert_eq!(value("!Condition [XNOR, 0]").await, Value::Bool(true));
    assert_eq!(
        message("!Condition [AND]").await,
        "At least one value is required after mode selection."
    );
    assert_eq!(
        message("!Condition [MAYBE, true]").await,
        "Condition: unknown mode 'MAYBE'; use AND, NAND, OR, NOR, XOR or XNOR."
    );
}

#[tokio::test]
async fn enumerate_builds_lists_and_mappings_at_any_depth() {
    assert_eq!(
        value("!Enumerate [[a, b], SEQ, !Format ['%s=%s', !Index 0, !Value 0]]").await,
        yaml("['0=a', '1=b']")
    );
    assert_eq!(
        value("!Enumerate [{x: 1, y: 2}, MAP, [!Format ['k-%s', !Index 0], !Value 0]]").await,
        yaml("{k-x: 1, k-y: 2}")
    );
    // A mapping body merges into the result (lists are appended).
    assert_eq!(
        value("!Enumerate [[a, b], MAP, {all: [!Value 0], last: !Index 0}]").await,
        yaml("{all: [a, b], last: 1}")
    );
    // Nested: depth 1 reaches the outer item, also from the inner
    // iterable (where depth 0 is the inner tag itself, as in authentik).
    assert_eq!(
        value(
            "!Enumerate [{p: [1, 2], q: [3]}, SEQ, \
             !Enumerate [!Value 1, SEQ, !Format ['%s%s', !Index 1, !Value 0]]]"
        )
        .await,
        yaml("[[p1, p2], [q3]]")
    );
    assert_eq!(
        value("!Enumerate [!Context list, SEQ, !Value 0]").await,
        yaml("[a, b]")
    );
    assert_eq!(
        value("!Enumerate [ab, SEQ, !Value 0]").await,
        yaml("[a, b]")
    );
    assert_eq!(value("!Enumerate [[], MAP, x]").await, yaml("{}"));
}

#[tokio::test]
async fn enumerate_and_its_items_give_authentiks_errors() {
    for (text, msg) in [
        (
            "!Enumerate [!Value 0, SEQ, x]",
            "Enumerate tag's iterable references this tag's context. This is a noop. \
             Check you are setting depth bigger than 0.",
        ),
        (
            "!Enumerate [5, SEQ, x]",
            "Enumerate's iterable must be an iterable such as a sequence or a mapping",
        ),
        (
            "!Enumerate [[a], LIST, x]",
            "Enumerate: output body must be SEQ or MAP, not 'LIST'",
        ),
        (
            "!Enumerate [[a], MAP, x]",
            "Invalid Enumerate item found: x",
        ),
        (
            "!Enumerate [[a], SEQ]",
            "Enumerate: expected [iterable, SEQ or MAP, item body].",
        ),
        (
            "!Index 0",
            "Index tags are only usable inside an Enumerate tag",
        ),
        (
            "!Value 0",
            "Value tags are only usable inside an Enumerate tag",
        ),
        (
            "!Enumerate [[a], SEQ, !Value 2]",
            "Value tag: invalid depth: 2. Max depth: 0",
        ),
        (
            "!Enumerate [[a], SEQ, !Index -1]",
            "Index tag: depth must be a positive number or zero",
        ),
        (
            "!Enumerate [[a], SEQ, !Index x]",
            "Index: expected a depth (0, 1, ...).",
        ),
        (
            "!Enumerate [[a], SEQ, !Index ~]",
            "Index: expected a depth (0, 1, ...).",
        ),
    ] {
        assert_eq!(message(text).await, msg, "{text}");
    }
}

#[tokio::test]
async fn at_index_reads_lists_and_mappings_with_or_without_default() {
    assert_eq!(value("!AtIndex [[a, b, c], 1]").await, yaml("b"));
    assert_eq!(value("!AtIndex [[a, b, c], -1]").await, yaml("c"));
    assert_eq!(value("!AtIndex [{k: v}, k]").await, yaml("v"));
    assert_eq!(value("!AtIndex [[a], 5, dflt]").await, yaml("dflt"));
    assert_eq!(value("!AtIndex [{k: v}, x, null]").await, Value::Null);
    assert_eq!(value("!AtIndex [!Context list, 0]").await, yaml("a"));
    assert_eq!(message("!AtIndex [[a], 5]").await, "Index out of range: 5");
    assert_eq!(
        message("!AtIndex [{k: v}, x]").await,
        "Key does not exist: x"
    );
    assert_eq!(
        message("!AtIndex [[a], x]").await,
        "Invalid index for list: x"
    );
    assert_eq!(
        message("!AtIndex [5, 0]").await,
        "AtIndex: expected a list or a mapping, got int"
    );
}

#[tokio::test]
async fn tags_inside_lists_and_maps_resolve_with_their_path() {
    assert_eq!(
        value("[plain, !Env PSS_TEST_TAGS_SLUG, {k: !Env PSS_TEST_TAGS_SLUG}]").await,
        yaml("[plain, from-env, {k: from-env}]")
    );
    let v = violation(resolve("[a, {k: [x, !KeyOf nope]}]").await);
    assert_eq!(v.field, "field[1].k[1]");
    assert_eq!(
        v.message,
        "KeyOf: failed to find entry with `id` of `nope` and a model instance"
    );
}

#[tokio::test]
async fn key_of_gives_the_pk_of_an_earlier_entry_or_names_a_skipped_one() {
    let pk = Uuid::new_v4();
    let keys = HashMap::from([
        ("m1".to_owned(), Key::Object(pk)),
        ("g".to_owned(), Key::NotStored(3, "authentik_core.group")),
    ]);
    let (v, _) = resolve_with("!KeyOf m1", &keys, &FakeFinder::default()).await;
    assert_eq!(v.unwrap(), Value::String(pk.to_string()));
    let (v, _) = resolve_with("!KeyOf g", &keys, &FakeFinder::default()).await;
    assert_eq!(
        violation(v).message,
        "KeyOf: `g` is entry 3 (authentik_core.group), a model this service does not store, \
         so it has no object to refer to."
    );
    assert_eq!(
        message("!KeyOf [m1]").await,
        "KeyOf: expected the id of an earlier entry."
    );
}

fn flows() -> (Uuid, Uuid, FakeFinder) {
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let finder = FakeFinder::with(&[
        (
            Model::Flow,
            a,
            "{slug: auth, name: Auth, title: '', designation: authentication}",
        ),
        (
            Model::Flow,
            b,
            "{slug: from-env, name: '12', title: '', designation: enrollment}",
        ),
    ]);
    (a, b, finder)
}

#[tokio::test]
async fn find_ands_any_fields_with_nested_tags() {
    let (a, b, finder) = flows();
    let pk_and_slug = format!("!Find [authentik_flows.flow, [pk, '{b}'], [slug, auth]]");
    let pk_only = format!("!Find [authentik_flows.flow, [pk, '{b}']]");
    let (a, b) = (Value::String(a.to_string()), Value::String(b.to_string()));
    let cases = [
        (
            "!Find [authentik_flows.flow, [slug, !Env PSS_TEST_TAGS_SLUG], [name, 12]]",
            b.clone(),
        ),
        (
            "!Find [authentik_flows.flow, [designation, authentication]]",
            a.clone(),
        ),
        (
            "!Find [authentik_flows.flow, [slug, auth], [name, nope]]",
            Value::Null,
        ),
        (pk_and_slug.as_str(), Value::Null),
        (pk_only.as_str(), b.clone()),
        // No pair: every object, the first wins.
        ("!Find [authentik_flows.flow]", a.clone()),
        ("!Find [authentik_flows.flow, [slug, null]]", Value::Null),
        ("!Find [authentik_core.group, [name, a]]", Value::Null),
    ];
    for (text, want) in cases {
        let (v, _) = resolve_with(text, &HashMap::new(), &finder).await;
        assert_eq!(v.unwrap(), want, "{text}");
    }
}

#[tokio::test]
async fn find_object_gives_the_serialized_object_and_hides_tokens() {
    let pk = Uuid::new_v4();
    let finder = FakeFinder::with(&[(
        Model::PlexSource,
        pk,
        "{slug: plex, name: Plex, plex_token: tok-123, enabled: true}",
    )]);
    let (v, secrets) = resolve_with(
        "!AtIndex [!FindObject [authentik_sources_plex.plexsource, [slug, plex]], name]",
        &HashMap::new(),
        &finder,
    )
    .await;
    assert_eq!(v.unwrap(), yaml("Plex"));
    assert_eq!(secrets, ["tok-123"]);
    let (v, _) = resolve_with(
        "!FindObject [authentik_sources_plex.plexsource, [enabled, 'yes']]",
        &HashMap::new(),
        &finder,
    )
    .await;
    assert_eq!(v.unwrap()["pk"], Value::String(pk.to_string()));
    let (v, _) = resolve_with(
        "!FindObject [authentik_sources_plex.plexsource, [slug, other]]",
        &HashMap::new(),
        &finder,
    )
    .await;
    assert_eq!(v.unwrap(), Value::Null);
}

#[tokio::test]
async fn find_refuses_what_it_cannot_search() {
    for (text, msg) in [
        (
            "!Find authentik_flows.flow",
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
            "!Find [authentik_core.grop, [name, a]]",
            "Find: App 'authentik_core' doesn't have a 'grop' model.",
        ),
        (
            "!FindObject [authentik_flows.flow, [layout, a]]",
            "FindObject: Cannot resolve keyword 'layout' into field. \
             Choices are: pk, name, slug, title, designation.",
        ),
        (
            "!Find [authentik_flows.flow, [pk, nope]]",
            "Find: \u{201c}nope\u{201d} is not a valid UUID.",
        ),
        (
            "!Find [authentik_sources_plex.plexsource, [enabled, maybe]]",
            "Find: \u{201c}maybe\u{201d} value must be either True or False.",
        ),
    ] {
        assert_eq!(message(text).await, msg, "{text}");
    }
}

#[tokio::test]
async fn unknown_tags_and_runaway_tags_are_refused() {
    assert_eq!(
        message("!ParseJSON '{}'").await,
        "could not determine a constructor for the tag '!ParseJSON'"
    );
    let list: Vec<String> = (0..20).map(|i| i.to_string()).collect();
    let text = format!(
        "!Enumerate [&l [{}], SEQ, !Enumerate [*l, SEQ, !Enumerate [*l, SEQ, !Enumerate [*l, SEQ, x]]]]",
        list.join(", ")
    );
    let text = text.as_str();
    assert_eq!(
        message(text).await,
        format!("Tags produce more than {MAX_STEPS} values.")
    );
}
