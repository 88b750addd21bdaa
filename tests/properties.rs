//! Property tests of the parsers that read client and file input: slugs,
//! page tokens, update masks and blueprint files. Any input gives a value
//! or an error, never a panic; valid values round-trip. The `fuzz/` targets
//! search the same parsers for longer; inputs they found that once broke a
//! parser are kept here as regression tests.

use std::{path::Path, sync::OnceLock};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use plex_source_service::{
    blueprint,
    domain::{
        PlexSourceDraft, Slug, SlugRule,
        listing::{
            CursorValue, PageToken, PageTokenKey, SortField, SortKey, fingerprint, parse_ordering,
        },
    },
    grpc::input::{MAX_MASK_PATHS, UpdateMask, mask_paths},
    store,
};
use proptest::{prelude::*, sample::select};
use tokio::runtime::Runtime;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        // Failures are reported with the shrunk input; no files left behind.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ---- slugs ----------------------------------------------------------------

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn any_text_is_a_slug_or_an_error(text in any::<String>()) {
        match Slug::parse(&text) {
            Ok(slug) => {
                prop_assert_eq!(slug.as_str(), text.as_str());
                prop_assert_eq!(Slug::parse(slug.as_str()), Ok(slug));
            }
            Err(err) => {
                // Exactly the rules the text breaks, blank alone.
                let valid_chars =
                    text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
                prop_assert!(!err.rules().is_empty());
                prop_assert_eq!(err.breaks(SlugRule::Blank), text.is_empty());
                if !text.is_empty() {
                    prop_assert_eq!(
                        err.breaks(SlugRule::TooLong),
                        text.chars().count() > Slug::MAX_LEN
                    );
                    prop_assert_eq!(err.breaks(SlugRule::NullCharacters), text.contains('\0'));
                    prop_assert_eq!(err.breaks(SlugRule::Invalid), !valid_chars);
                }
            }
        }
    }

    #[test]
    fn valid_slugs_round_trip(text in "[-a-zA-Z0-9_]{1,50}") {
        let slug = Slug::parse(&text).expect("valid slug");
        prop_assert_eq!(slug.as_str(), text.as_str());
        prop_assert_eq!(Slug::parse(slug.as_ref()), Ok(slug));
    }
}

// ---- page tokens ----------------------------------------------------------

/// An ordering with a text, a bool and the pk key: every cursor rule.
fn ordering() -> Vec<SortKey> {
    parse_ordering("name,-enabled").expect("valid ordering")
}

/// A cursor value that fits `field`.
fn cursor_value(field: SortField) -> BoxedStrategy<CursorValue> {
    match field {
        SortField::Enabled | SortField::AllowFriends => {
            any::<bool>().prop_map(CursorValue::Bool).boxed()
        }
        SortField::Pk => any::<u128>()
            .prop_map(|n| CursorValue::Text(uuid::Uuid::from_u128(n).to_string()))
            .boxed(),
        _ => any::<String>().prop_map(CursorValue::Text).boxed(),
    }
}

fn fitting_token() -> impl Strategy<Value = PageToken> {
    let keys = ordering();
    (
        cursor_value(keys[0].field),
        cursor_value(keys[1].field),
        cursor_value(keys[2].field),
    )
        .prop_map(|(a, b, c)| PageToken {
            fingerprint: fingerprint(&["properties"]),
            after: vec![a, b, c],
        })
}

/// JSON that looks like a token: the right keys, values of any type.
fn token_like_json() -> impl Strategy<Value = String> {
    let value = prop_oneof![
        Just("null".to_owned()),
        any::<bool>().prop_map(|b| b.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|n| n.to_string()),
        any::<String>().prop_map(|s| serde_json::to_string(&s).expect("json")),
    ];
    (
        prop_oneof![Just(fingerprint(&["properties"])), any::<String>()],
        prop::collection::vec(value, 0..5),
        any::<bool>(),
    )
        .prop_map(|(f, after, extra)| {
            let f = serde_json::to_string(&f).expect("json");
            let extra = if extra { r#","x":{}"# } else { "" };
            format!(r#"{{"f":{f},"a":[{}]{extra}}}"#, after.join(","))
        })
}

fn key() -> PageTokenKey {
    PageTokenKey::new(b"property-test-key")
}

/// `payload` sealed with [`key`], so decoding reaches the checks behind
/// the seal.
fn sealed(payload: &str) -> String {
    key().sealed(payload)
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn any_token_text_decodes_or_is_refused(token in any::<String>()) {
        let _ = PageToken::decode(&token, &key(), &fingerprint(&["properties"]), &ordering());
        let _ = PageToken::decode(&sealed(&token), &key(), &fingerprint(&["properties"]), &ordering());
    }

    #[test]
    fn any_token_bytes_decode_or_are_refused(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let token = sealed(&URL_SAFE_NO_PAD.encode(bytes));
        let _ = PageToken::decode(&token, &key(), &fingerprint(&["properties"]), &ordering());
    }

    #[test]
    fn token_shaped_json_decodes_or_is_refused(json in token_like_json()) {
        let token = sealed(&URL_SAFE_NO_PAD.encode(json));
        let _ = PageToken::decode(&token, &key(), &fingerprint(&["properties"]), &ordering());
    }

    #[test]
    fn issued_tokens_round_trip(token in fitting_token()) {
        let decoded = PageToken::decode(
            &token.encode(&key()),
            &key(),
            &fingerprint(&["properties"]),
            &ordering(),
        );
        prop_assert_eq!(decoded, Ok(token));
    }
}

// ---- update masks ---------------------------------------------------------

fn writable_fields() -> Vec<&'static str> {
    PlexSourceDraft::FIELDS
        .iter()
        .copied()
        .filter(|f| *f != "icon")
        .collect()
}

/// A path: a writable field, a read-only or unknown one, `*`, or any text.
fn any_path() -> impl Strategy<Value = String> {
    prop_oneof![
        select(writable_fields()).prop_map(str::to_owned),
        select(vec!["pk", "icon", "managed", "*", "", "name.x", "NAME"]).prop_map(str::to_owned),
        any::<String>(),
    ]
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn any_mask_is_read_or_refused(paths in prop::collection::vec(any_path(), 0..80)) {
        let mask = prost_types::FieldMask { paths: paths.clone() };
        match mask_paths(Some(&mask)) {
            Ok(UpdateMask::Implied) => prop_assert!(paths.is_empty()),
            Ok(UpdateMask::Full) => prop_assert!(paths == ["*"]),
            Ok(UpdateMask::Paths(read)) => {
                prop_assert!(paths.len() <= MAX_MASK_PATHS);
                prop_assert!(read.iter().all(|p| paths.contains(p)));
            }
            Err(violations) => prop_assert!(!violations.is_empty()),
        }
    }

    #[test]
    fn masks_of_writable_paths_round_trip(
        paths in prop::collection::vec(select(writable_fields()), 1..40),
    ) {
        let mask = prost_types::FieldMask {
            paths: paths.iter().map(|p| (*p).to_owned()).collect(),
        };
        let mut expected: Vec<String> = Vec::new();
        for path in &paths {
            if !expected.iter().any(|p| p == path) {
                expected.push((*path).to_owned());
            }
        }
        let read = mask_paths(Some(&mask));
        prop_assert_eq!(&read, &Ok(UpdateMask::Paths(expected.clone())));
        // Reading what was read gives the same paths.
        let again = prost_types::FieldMask { paths: expected.clone() };
        prop_assert_eq!(mask_paths(Some(&again)), Ok(UpdateMask::Paths(expected)));
    }
}

// ---- blueprint files ------------------------------------------------------

/// A migrated SQLite database that every import copies, so each case
/// starts from an empty store without running migrations again.
struct Fixture {
    dir: tempfile::TempDir,
    template: std::path::PathBuf,
}

/// One runtime per call: the tests run on several threads.
fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let template = dir.path().join("template.db");
        runtime().block_on(async {
            let db = store::connect(&sqlite_url(&template))
                .await
                .expect("connect");
            store::migrate(&db).await.expect("migrate");
            db.close().await.expect("close");
        });
        Fixture { dir, template }
    })
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

/// Imports `bytes` as a blueprint file into a fresh copy of the template;
/// `case` keeps the files of concurrent tests apart.
fn import(case: &str, bytes: &[u8]) -> Result<blueprint::ImportReport, blueprint::ImportError> {
    let f = fixture();
    let file = f.dir.path().join(format!("{case}.yaml"));
    let db_path = f.dir.path().join(format!("{case}.db"));
    std::fs::write(&file, bytes).expect("write blueprint");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db_path.display()));
    }
    std::fs::copy(&f.template, &db_path).expect("copy template");
    let env = |name: &str| name.starts_with('A').then(|| format!("{name}-value"));
    runtime().block_on(async {
        let db = store::connect(&sqlite_url(&db_path))
            .await
            .expect("connect");
        let result = blueprint::import_file_with_env(&db, &file, &env).await;
        db.close().await.expect("close");
        result
    })
}

/// A YAML scalar, tag or small collection as blueprint values are written.
fn yaml_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        select(vec![
            "null",
            "true",
            "false",
            "0",
            "-1",
            "1",
            "1.5",
            "''",
            "x",
            "plex",
            "plex-login",
            "all",
            "any",
            "identifier",
            "username_link",
            "email_deny",
            "name_deny",
            "authentication",
            "enrollment",
            "!KeyOf a",
            "!KeyOf b",
            "!KeyOf [a]",
            "!Find [authentik_flows.flow, [slug, f]]",
            "!FindObject [authentik_flows.flow, [designation, x]]",
            "!Context [x, plex]",
            "!Format ['%s-%d', a, 1]",
            "!Format ['%d', a]",
            "!If [!Context x, a, b]",
            "!Condition [XOR, true, 0]",
            "!Enumerate [[a, b], SEQ, !Value 0]",
            "!Enumerate [{a: b}, MAP, [!Index 0, !Value 0]]",
            "!AtIndex [[a], 3, d]",
            "!File [/nonexistent/pss, f]",
            "!Index 2",
            "!Find [x]",
            "!Find a",
            "!Env AVAR",
            "!Env BVAR",
            "!Env [AVAR, d]",
            "!Env [BVAR, d]",
            "!Env {}",
            "!Unknown x",
            "00000000-0000-0000-0000-000000000000",
            "*anchor",
            "[]",
            "{}",
        ])
        .prop_map(str::to_owned),
        "[a-z_ -]{0,12}".prop_map(|s| format!("{s:?}")),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(", "))),
            prop::collection::vec((select(KEYS.to_vec()), inner), 0..4).prop_map(|kv| {
                let pairs: Vec<String> = kv.into_iter().map(|(k, v)| format!("{k}: {v}")).collect();
                format!("{{{}}}", pairs.join(", "))
            }),
        ]
    })
}

const KEYS: [&str; 24] = [
    "slug",
    "name",
    "pk",
    "enabled",
    "authentication_flow",
    "enrollment_flow",
    "user_property_mappings",
    "group_property_mappings",
    "policy_engine_mode",
    "user_matching_mode",
    "user_path_template",
    "group_matching_mode",
    "client_id",
    "allowed_servers",
    "allow_friends",
    "plex_token",
    "icon",
    "title",
    "designation",
    "expression",
    "username",
    "email",
    "user",
    "role",
];

const MODELS: [&str; 7] = [
    "authentik_sources_plex.plexsource",
    "authentik_flows.flow",
    "authentik_sources_plex.plexsourcepropertymapping",
    "authentik_core.user",
    "authentik_rbac.role",
    "authentik_core.group",
    "Authentik_Sources_Plex.PlexSource",
];

fn entry() -> impl Strategy<Value = String> {
    (
        select(MODELS.to_vec()),
        select(vec![
            "present",
            "created",
            "must_created",
            "absent",
            "gone",
            "[x]",
        ]),
        prop::option::of(select(vec!["a", "b", "[a]"])),
        prop::collection::vec((select(KEYS.to_vec()), yaml_value()), 0..3),
        prop::collection::vec((select(KEYS.to_vec()), yaml_value()), 0..6),
        prop::option::of(yaml_value()),
        prop::option::of(yaml_value()),
    )
        .prop_map(
            |(model, state, id, identifiers, attrs, conditions, permissions)| {
                let map = |pairs: Vec<(&str, String)>| {
                    let pairs: Vec<String> = pairs
                        .into_iter()
                        .map(|(k, v)| format!("{k}: {v}"))
                        .collect();
                    format!("{{{}}}", pairs.join(", "))
                };
                let mut text = format!(
                    "  - model: {model}\n    state: {state}\n    identifiers: {}\n    attrs: {}\n",
                    map(identifiers),
                    map(attrs)
                );
                if let Some(id) = id {
                    text.push_str(&format!("    id: {id}\n"));
                }
                if let Some(conditions) = conditions {
                    text.push_str(&format!("    conditions: {conditions}\n"));
                }
                if let Some(permissions) = permissions {
                    text.push_str(&format!("    permissions: {permissions}\n"));
                }
                text
            },
        )
}

fn blueprint_text() -> impl Strategy<Value = String> {
    (
        select(vec!["1", "2", "'1'", "null"]),
        prop::collection::vec(entry(), 0..5),
    )
        .prop_map(|(version, entries)| {
            format!("version: {version}\nentries:\n{}", entries.concat())
        })
}

proptest! {
    // Each case imports into its own database copy; fewer cases keep the
    // suite fast while the fuzz target covers far more.
    #![proptest_config(config(48))]

    #[test]
    fn any_bytes_import_or_are_refused(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = import("bytes", &bytes);
    }

    #[test]
    fn blueprint_shaped_files_import_or_are_refused(text in blueprint_text()) {
        let _ = import("shaped", text.as_bytes());
    }

    #[test]
    fn valid_sources_import_then_re_import_unchanged(
        slug in "[-a-zA-Z0-9_]{1,50}",
        name in "[A-Za-z][A-Za-z0-9 ]{0,30}",
    ) {
        let text = format!(
            "version: 1\nentries:\n  - model: authentik_sources_plex.plexsource\n    \
             identifiers: {{slug: {slug:?}}}\n    attrs: {{name: {name:?}, plex_token: t}}\n"
        );
        let twice = format!("{text}{}", text.split_once("entries:\n").expect("entries").1);
        let report = import("valid", twice.as_bytes()).expect("valid blueprint imports");
        prop_assert_eq!((report.created, report.unchanged), (1, 1));
    }
}

// ---- hostile blueprint files ----------------------------------------------

// Files built to exhaust the parser: nesting far beyond any blueprint,
// aliases that expand exponentially, and merge keys chained through
// aliases. Each is refused (or read) quickly, without a panic.

#[test]
fn deeply_nested_sequences_are_refused() {
    let deep = format!(
        "version: 1\nentries: {}{}\n",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    assert!(import("deep", deep.as_bytes()).is_err());
}

#[test]
fn deeply_nested_mappings_are_refused() {
    let deep_maps: String = (0..1_000)
        .map(|depth| format!("{}- a:\n", "  ".repeat(depth + 1)))
        .collect();
    let deep_maps = format!("version: 1\nentries:\n{deep_maps}");
    assert!(import("deep-maps", deep_maps.as_bytes()).is_err());
}

#[test]
fn exponential_aliases_are_refused() {
    let mut laughs = String::from("version: 1\nl0: &l0 [x, x, x, x, x, x, x, x, x, x]\n");
    for level in 1..10 {
        let previous = format!("*l{}", level - 1);
        laughs.push_str(&format!(
            "l{level}: &l{level} [{}]\n",
            vec![previous; 10].join(", ")
        ));
    }
    laughs.push_str("entries: [{model: authentik_core.group, attrs: {x: *l9}}]\n");
    assert!(import("laughs", laughs.as_bytes()).is_err());
}

#[test]
fn chained_merge_keys_are_read() {
    let mut merges = String::from("version: 1\nm0: &m0 {a: 1}\n");
    for level in 1..200 {
        merges.push_str(&format!(
            "m{level}: &m{level} {{<<: *m{}, b{level}: 1}}\n",
            level - 1
        ));
    }
    merges.push_str("entries: []\n");
    let _ = import("merges", merges.as_bytes());
}

// ---- REST requests against a running server --------------------------------

// authentik's REST routes on a real server (SQLite), over a real socket:
// any query string and any JSON body is answered with one of the statuses
// DRF would give and a JSON body, never a 5xx or a dropped connection.

struct Server {
    addr: std::net::SocketAddr,
    /// A superuser's key.
    key: String,
    _dir: tempfile::TempDir,
}

fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                use plex_source_service::{
                    app::{Application, ServerSettings, StreamLimits},
                    domain::access::TokenKey,
                    store::access,
                };
                let dir = tempfile::tempdir().expect("temp dir");
                let url = sqlite_url(&dir.path().join("server.db"));
                let db = store::connect(&url).await.expect("connect");
                store::migrate(&db).await.expect("migrate");
                access::create_user(&db, "admin", true).await.expect("user");
                let key = TokenKey::generate();
                access::create_token(&db, "admin-token", "admin", key.hash(), None, "")
                    .await
                    .expect("token");
                let settings = ServerSettings {
                    listen: "127.0.0.1:0".parse().expect("address"),
                    admin_listen: None,
                    shutdown_delay: std::time::Duration::ZERO,
                    shutdown_grace_period: std::time::Duration::from_secs(1),
                    health_check_interval: std::time::Duration::from_millis(200),
                    change_poll_interval: std::time::Duration::from_millis(100),
                    change_retention: std::time::Duration::from_secs(3600),
                    cache_max_bytes: plex_source_service::cache::DEFAULT_MAX_BYTES,
                    lock_timeout: store::DEFAULT_LOCK_TIMEOUT,
                    streams: StreamLimits::default(),
                    request_timeout: std::time::Duration::from_secs(30),
                    tls: None,
                    panic_hook: false,
                };
                let app = Application::build(db, settings).await.expect("bind");
                let addr = app.local_addr().expect("address");
                let mut started = app.started();
                let server = tokio::spawn(app.run_until_stopped(std::future::pending()));
                started.wait_for(|s| *s).await.expect("starts");
                tx.send(Server {
                    addr,
                    key: key.expose().to_owned(),
                    _dir: dir,
                })
                .expect("hand over");
                let _ = server.await;
            });
        });
        rx.recv().expect("the server starts")
    })
}

/// One request on a fresh HTTP/1.1 connection: status and body.
fn request(method: &str, path: &str, body: Option<&[u8]>) -> (u16, Vec<u8>) {
    use http_body_util::{BodyExt, Full};
    let server = server();
    runtime().block_on(async {
        let tcp = tokio::net::TcpStream::connect(server.addr)
            .await
            .expect("connect");
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
                .await
                .expect("handshake");
        tokio::spawn(connection);
        let mut builder = hyper::Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", server.addr))
            .header("authorization", format!("Bearer {}", server.key));
        if body.is_some() {
            builder = builder.header("content-type", "application/json");
        }
        let request = builder
            .body(Full::new(bytes::Bytes::copy_from_slice(
                body.unwrap_or_default(),
            )))
            .expect("request");
        let response = sender
            .send_request(request)
            .await
            .expect("answered, not dropped");
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        (status, body.to_vec())
    })
}

/// A query parameter value: numbers at and past every integer's edge,
/// words the filters know, and anything.
fn query_value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<u64>().prop_map(|n| n.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        "[0-9]{18,45}",
        select(vec![
            "",
            "0",
            "-1",
            "last",
            "true",
            "false",
            "1_0",
            "+3",
            " 7 ",
            "name",
            "-slug,pk",
            "any",
            "all",
            "identifier",
            "email_link",
            "%00",
            "%ZZ",
            "1e3",
            "NaN",
        ])
        .prop_map(str::to_owned),
        any::<String>(),
    ]
}

fn query_string() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        select(vec![
            "page",
            "page_size",
            "ordering",
            "search",
            "name",
            "slug",
            "enabled",
            "allow_friends",
            "authentication_flow",
            "enrollment_flow",
            "pbm_uuid",
            "policy_engine_mode",
            "user_matching_mode",
            "group_matching_mode",
            "client_id",
        ])
        .prop_map(str::to_owned),
        "[a-z_]{1,12}",
    ];
    prop::collection::vec((key, query_value()), 0..6).prop_map(|pairs| {
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish()
    })
}

/// A JSON value of any shape, small.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        ".{0,40}".prop_map(serde_json::Value::from),
        "[-a-z0-9_]{1,50}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            prop::collection::btree_map("[a-z_]{1,10}", inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A body with the source's field names, each holding anything.
fn source_body() -> impl Strategy<Value = serde_json::Value> {
    let field = select(PlexSourceDraft::FIELDS.to_vec());
    prop::collection::btree_map(field, json_value(), 0..10).prop_map(|fields| {
        serde_json::Value::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    })
}

fn is_json_object(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body).is_ok_and(|v| v.is_object())
}

proptest! {
    #![proptest_config(config(96))]

    #[test]
    fn any_list_query_is_answered(query in query_string()) {
        let (status, body) = request("GET", &format!("/api/v3/sources/plex/?{query}"), None);
        prop_assert!([200, 400, 404].contains(&status), "{status} for ?{query}");
        prop_assert!(is_json_object(&body), "{query}");
    }

    #[test]
    fn any_create_body_is_answered(body in source_body()) {
        let text = body.to_string();
        let (status, reply) = request("POST", "/api/v3/sources/plex/", Some(text.as_bytes()));
        prop_assert!([201, 400].contains(&status), "{status} for {text}");
        prop_assert!(is_json_object(&reply), "{text}");
    }

    #[test]
    fn any_patch_body_is_answered(body in source_body()) {
        let created = serde_json::json!({
            "name": "Target", "slug": "patch-target", "plex_token": "t"
        })
        .to_string();
        let _ = request("POST", "/api/v3/sources/plex/", Some(created.as_bytes()));
        let text = body.to_string();
        let (status, reply) =
            request("PATCH", "/api/v3/sources/plex/patch-target/", Some(text.as_bytes()));
        // 404 when an earlier case renamed the target away.
        prop_assert!([200, 400, 404].contains(&status), "{status} for {text}");
        prop_assert!(is_json_object(&reply), "{text}");
    }

    #[test]
    fn any_body_bytes_are_answered(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let (status, reply) = request("POST", "/api/v3/sources/plex/", Some(&bytes));
        prop_assert!([201, 400].contains(&status), "{status}");
        prop_assert!(is_json_object(&reply));
    }
}
