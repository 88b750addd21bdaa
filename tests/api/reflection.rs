//! Server reflection, checked with real clients: grpcurl 1.8 (reflection
//! v1alpha) and `buf curl` (reflection v1). Both are installed by `.ci/run`;
//! locally they are skipped when missing.

use std::{
    path::Path,
    process::{Command, Stdio},
    time::Duration,
};

use crate::helpers::{Backend, TestApp, example_blueprint, lines, read_until, spawn_app, tool};

fn run(program: &Path, args: &[&str]) -> (bool, String) {
    let output = Command::new(program)
        .args(args)
        .output()
        .expect("run client");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// The superuser's credentials as a client's `-H` argument.
fn auth_header(app: &TestApp) -> String {
    format!("authorization: Bearer {}", app.admin_key)
}

async fn app_with_example() -> Option<TestApp> {
    let app = spawn_app(Backend::Sqlite).await?;
    plex_source_service::blueprint::import_file(&app.db, &example_blueprint())
        .await
        .expect("example imports");
    Some(app)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpcurl_lists_describes_and_calls_every_method() {
    let Some(grpcurl) = tool("grpcurl") else {
        return;
    };
    let Some(app) = app_with_example().await else {
        return;
    };
    let addr = app.addr.to_string();

    let (ok, list) = run(&grpcurl, &["-plaintext", &addr, "list"]);
    assert!(ok, "{list}");
    for service in [
        "plexsource.v1.PlexSourceService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
        "grpc.reflection.v1.ServerReflection",
    ] {
        assert!(
            list.lines().any(|l| l.trim() == service),
            "{service} not listed:\n{list}"
        );
    }

    let (ok, methods) = run(
        &grpcurl,
        &[
            "-plaintext",
            &addr,
            "list",
            "plexsource.v1.PlexSourceService",
        ],
    );
    assert!(ok, "{methods}");
    assert!(
        methods.contains("plexsource.v1.PlexSourceService.RetrievePlexSource"),
        "{methods}"
    );

    let (ok, described) = run(
        &grpcurl,
        &["-plaintext", &addr, "describe", "plexsource.v1.PlexSource"],
    );
    assert!(ok, "{described}");
    assert!(described.contains("string plex_token = 22;"), "{described}");
    assert!(
        described.contains(".plexsource.v1.PolicyEngineMode policy_engine_mode = 13;"),
        "{described}"
    );

    let (ok, described) = run(
        &grpcurl,
        &["-plaintext", &addr, "describe", "google.rpc.BadRequest"],
    );
    assert!(ok, "error detail types are served too: {described}");

    let auth = auth_header(&app);
    let (ok, body) = run(
        &grpcurl,
        &[
            "-plaintext",
            "-H",
            &auth,
            "-d",
            r#"{"slug": "plex-login"}"#,
            &addr,
            "plexsource.v1.PlexSourceService/RetrievePlexSource",
        ],
    );
    assert!(ok, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).expect("grpcurl prints JSON");
    assert_eq!(json["slug"], "plex-login");
    assert_eq!(json["name"], "Sign in with Plex");
    assert_eq!(json["component"], "ak-source-plex-form");
    assert_eq!(json["policyEngineMode"], "POLICY_ENGINE_MODE_ANY");

    let (ok, error) = run(
        &grpcurl,
        &[
            "-plaintext",
            "-H",
            &auth,
            "-d",
            r#"{"slug": "not a slug"}"#,
            &addr,
            "plexsource.v1.PlexSourceService/RetrievePlexSource",
        ],
    );
    assert!(!ok);
    assert!(error.contains("Code: InvalidArgument"), "{error}");
    assert!(
        error.contains("google.rpc.BadRequest"),
        "details decoded through reflection: {error}"
    );

    let (ok, health) = run(
        &grpcurl,
        &["-plaintext", &addr, "grpc.health.v1.Health/Check"],
    );
    assert!(ok, "{health}");
    assert!(health.contains("\"SERVING\""), "{health}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buf_curl_uses_reflection_v1() {
    let Some(buf) = tool("buf") else { return };
    let Some(app) = app_with_example().await else {
        return;
    };
    let base = format!("http://{}", app.addr);
    let common = [
        "curl",
        "--protocol",
        "grpc",
        "--http2-prior-knowledge",
        "--reflect-protocol",
        "grpc-v1",
    ];

    let mut args = common.to_vec();
    args.extend(["--list-methods", &base]);
    let (ok, methods) = run(&buf, &args);
    assert!(ok, "{methods}");
    assert!(
        methods.contains("plexsource.v1.PlexSourceService/RetrievePlexSource"),
        "{methods}"
    );
    assert!(methods.contains("grpc.health.v1.Health/Check"), "{methods}");

    let url = format!("{base}/plexsource.v1.PlexSourceService/RetrievePlexSource");
    let auth = auth_header(&app);
    let mut args = common.to_vec();
    args.extend(["-H", &auth, "-d", r#"{"slug": "plex-login"}"#, &url]);
    let (ok, body) = run(&buf, &args);
    assert!(ok, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).expect("buf prints JSON");
    assert_eq!(json["slug"], "plex-login");
    assert_eq!(json["verboseName"], "Plex Source");
}

/// The grpcurl examples for writing and watching of docs/api.md ("Calls").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpcurl_runs_the_readme_write_and_watch_examples() {
    let Some(grpcurl) = tool("grpcurl") else {
        return;
    };
    let Some(app) = spawn_app(Backend::Sqlite).await else {
        return;
    };
    let addr = app.addr.to_string();
    let auth = auth_header(&app);
    let call = |method: &str, body: &str| {
        let method = format!("plexsource.v1.PlexSourceService/{method}");
        run(
            &grpcurl,
            &["-plaintext", "-H", &auth, "-d", body, &addr, &method],
        )
    };

    // A watcher started first sees the writes below: they follow the end
    // of its snapshot, so they come as live events.
    let mut watcher = Command::new(&grpcurl)
        .args([
            "-plaintext",
            "-max-time",
            "6",
            "-H",
            &auth,
            "-d",
            r#"{"initial_snapshot": true}"#,
            &addr,
            "plexsource.v1.PlexSourceService/WatchPlexSources",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("grpcurl watch");
    let watched = lines(watcher.stdout.take().expect("piped stdout"));
    let mut events = Vec::new();
    read_until(&watched, &mut events, Duration::from_secs(10), |line| {
        line.contains("EVENT_KIND_SNAPSHOT_COMPLETE")
    });

    let (ok, created) = call(
        "CreatePlexSource",
        r#"{"plex_source": {"name": "Family Plex", "slug": "family",
  "plex_token": "owner-token", "allowed_servers": ["0123456789abcdef"]}}"#,
    );
    assert!(ok, "{created}");
    let created: serde_json::Value = serde_json::from_str(&created).unwrap();
    assert_eq!(created["allowFriends"], true, "default applied");
    assert_eq!(created["clientId"].as_str().map(str::len), Some(40));

    let (ok, listed) = call(
        "ListPlexSources",
        r#"{"search": "plex", "ordering": "-slug", "page_size": 10}"#,
    );
    assert!(ok, "{listed}");
    let listed: serde_json::Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(listed["plexSources"][0]["slug"], "family");
    assert_eq!(listed["totalSize"], 1);

    let (ok, updated) = call(
        "UpdatePlexSource",
        r#"{"slug": "family", "plex_source": {"allow_friends": false},
  "update_mask": {"paths": ["allow_friends"]}}"#,
    );
    assert!(ok, "{updated}");
    let updated: serde_json::Value = serde_json::from_str(&updated).unwrap();
    assert!(
        updated.get("allowFriends").is_some_and(|v| v == false),
        "{updated}"
    );
    assert_eq!(updated["name"], "Family Plex", "PATCH kept the rest");

    let (ok, deleted) = call("DeletePlexSource", r#"{"slug": "family"}"#);
    assert!(ok, "{deleted}");
    assert_eq!(
        app.retrieve(app.admin(), "family")
            .await
            .unwrap_err()
            .code(),
        tonic::Code::NotFound
    );

    // The rest of its output, up to its exit at -max-time.
    events.extend(watched.iter());
    watcher.wait().expect("grpcurl watch");
    let events = events.join("\n");
    for kind in [
        "EVENT_KIND_SNAPSHOT_COMPLETE",
        "EVENT_KIND_CREATED",
        "EVENT_KIND_UPDATED",
        "EVENT_KIND_DELETED",
    ] {
        assert!(
            events.contains(kind),
            "{kind} missing from the watch output:\n{events}"
        );
    }
}
