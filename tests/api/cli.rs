//! The binary as an operator runs it: default SQLite file, `import`,
//! `serve` with JSON logs carrying one line per call, and a clean exit on
//! SIGTERM.

use std::{
    path::Path,
    process::{Command, Stdio},
    sync::mpsc,
    time::Duration,
};

use crate::helpers::{
    lines,
    pb::{self, plex_source_service_client::PlexSourceServiceClient},
    read_until, request_as,
};

const BIN: &str = env!("CARGO_BIN_EXE_plex-source-service");

fn command(dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir)
        .env_remove("DATABASE_URL")
        .env_remove("LISTEN_ADDR")
        .env_remove("LOG_FORMAT")
        .env_remove("BOOTSTRAP_TOKEN")
        .env_remove("PLEX_OWNER_TOKEN")
        .env("ADMIN_LISTEN", "127.0.0.1:0")
        .env("RUST_LOG", "info");
    cmd
}

/// The next JSON log line satisfying `pred`, within 20 s; every line read
/// is kept in `seen`.
fn wait_for_line(
    lines: &mpsc::Receiver<String>,
    seen: &mut Vec<String>,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let line = read_until(lines, seen, Duration::from_secs(20), |line| {
        serde_json::from_str(line).is_ok_and(|json| pred(&json))
    });
    serde_json::from_str(&line).expect("JSON log line")
}

/// Key the tests hand to `BOOTSTRAP_TOKEN`; it must never reach a log line.
const BOOTSTRAP_KEY: &str = "bootstrap-key-for-cli-tests-7f3a9c2e41d84b6f";
/// The example blueprint's Plex token when `PLEX_OWNER_TOKEN` is unset.
const EXAMPLE_PLEX_TOKEN: &str = "example-owner-token";

/// One run of `serve` on the default database file in `dir`: two calls,
/// then SIGTERM. Returns every stderr line.
async fn serve_once(dir: &Path, check_call_logs: bool) -> Vec<String> {
    let mut child = command(dir)
        .args(["--listen", "127.0.0.1:0", "--log-format", "json"])
        .env("BOOTSTRAP_TOKEN", BOOTSTRAP_KEY)
        .env("RUST_LOG", "trace")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let lines = lines(child.stderr.take().expect("piped stderr"));
    let mut seen = Vec::new();
    let started = wait_for_line(&lines, &mut seen, |j| {
        j["fields"]["message"] == "serving plexsource.v1.PlexSourceService"
    });
    let addr = started["fields"]["address"]
        .as_str()
        .expect("address logged")
        .to_owned();

    let mut client = PlexSourceServiceClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    let request = |slug: &str| {
        request_as(
            BOOTSTRAP_KEY,
            pb::RetrievePlexSourceRequest { slug: slug.into() },
        )
    };
    let got = client
        .retrieve_plex_source(request("plex-login"))
        .await
        .expect("example source")
        .into_inner();
    assert_eq!(got.slug, "plex-login");
    assert_eq!(got.plex_token, EXAMPLE_PLEX_TOKEN, "akadmin is a superuser");
    let missing = client
        .retrieve_plex_source(request("missing"))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);

    if check_call_logs {
        let is_call = |j: &serde_json::Value, code: &str| {
            j["fields"]["message"] == "rpc finished"
                && j["span"]["method"] == "/plexsource.v1.PlexSourceService/RetrievePlexSource"
                && j["fields"]["grpc.code"] == code
                && j["fields"]["latency_ms"]
                    .as_f64()
                    .is_some_and(|ms| ms >= 0.0)
        };
        wait_for_line(&lines, &mut seen, |j| is_call(j, "Ok"));
        wait_for_line(&lines, &mut seen, |j| is_call(j, "NotFound"));
    }

    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "exit status after SIGTERM");
    seen.extend(lines.try_iter());
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_on_the_default_sqlite_file_logs_calls_and_exits_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/plex-login.yaml");
    let import = command(dir.path())
        .arg("import")
        .arg(&example)
        .env("RUST_LOG", "trace")
        .output()
        .unwrap();
    assert!(
        import.status.success(),
        "{}",
        String::from_utf8_lossy(&import.stderr)
    );
    assert!(String::from_utf8_lossy(&import.stdout).contains("created"));
    assert!(
        dir.path().join("plex-sources.db").is_file(),
        "default database file created"
    );
    let mut logs: Vec<String> = String::from_utf8_lossy(&import.stderr)
        .lines()
        .map(str::to_owned)
        .collect();

    // Twice: the bootstrap token survives a restart unchanged.
    logs.extend(serve_once(dir.path(), true).await);
    logs.extend(serve_once(dir.path(), false).await);

    let users = command(dir.path())
        .args(["users", "list"])
        .output()
        .unwrap();
    let users = String::from_utf8_lossy(&users.stdout);
    assert_eq!(
        users.lines().filter(|l| l.starts_with("akadmin ")).count(),
        1,
        "{users}"
    );
    let tokens = command(dir.path())
        .args(["tokens", "list"])
        .output()
        .unwrap();
    let tokens = String::from_utf8_lossy(&tokens.stdout);
    assert_eq!(
        tokens
            .lines()
            .filter(|l| l.starts_with("authentik-bootstrap-token"))
            .count(),
        1
    );
    assert!(!tokens.contains(BOOTSTRAP_KEY));

    assert!(logs.len() > 10, "trace logging produced output");
    for line in &logs {
        assert!(
            !line.contains(BOOTSTRAP_KEY),
            "bearer key in a log line: {line}"
        );
        assert!(
            !line.contains(EXAMPLE_PLEX_TOKEN),
            "Plex token in a log line: {line}"
        );
    }
}

#[test]
fn import_errors_name_file_entry_and_field_and_exit_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yaml");
    std::fs::write(
        &file,
        "version: 1\nentries:\n  - model: authentik_sources_plex.plexsource\n    identifiers: {slug: ok}\n    attrs: {name: X, plex_token: secret-plex-token, policy_engine_mode: sometimes}\n",
    )
    .unwrap();
    let out = command(dir.path())
        .arg("import")
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.yaml"), "{stderr}");
    assert!(stderr.contains("entry 0"), "{stderr}");
    assert!(stderr.contains("policy_engine_mode"), "{stderr}");
    assert!(
        stderr.contains("\"sometimes\" is not a valid choice."),
        "{stderr}"
    );
    assert!(
        !stderr.contains("secret-plex-token"),
        "token leaked: {stderr}"
    );

    let out = command(dir.path())
        .args(["import", "does-not-exist.yaml"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does-not-exist.yaml"));
}

#[test]
fn import_takes_a_context_from_flags_and_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, help, _) = run_cli(dir.path(), &["import", "--help"]);
    assert!(ok);
    for option in ["--context <KEY=VALUE>", "--context-file <FILE>"] {
        assert!(help.contains(option), "{option} missing: {help}");
    }

    std::fs::write(
        dir.path().join("ctx.yaml"),
        "slug: from-file\nname: From the file\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("bp.yaml"),
        "context: {slug: from-blueprint}\nentries:\n  - model: authentik_sources_plex.plexsource\n    identifiers: {slug: !Context slug}\n    attrs: {name: !Context name, plex_token: !Context token}\n",
    )
    .unwrap();
    let args = [
        "import",
        "bp.yaml",
        "--context-file",
        "ctx.yaml",
        "--context",
        "slug=from-flag",
        "--context",
        "token=ctx-token",
    ];
    let (ok, out, err) = run_cli(dir.path(), &args);
    assert!(ok, "{err}");
    assert!(out.contains("bp.yaml: 1 created"), "{out}");
    let (ok, out, _) = run_cli(dir.path(), &args);
    assert!(
        ok && out.contains("0 created, 0 updated, 1 unchanged"),
        "{out}"
    );

    let (ok, _, err) = run_cli(dir.path(), &["import", "bp.yaml", "--context", "novalue"]);
    assert!(!ok);
    assert!(err.contains("expected KEY=VALUE"), "{err}");
    let (ok, _, err) = run_cli(
        dir.path(),
        &["import", "bp.yaml", "--context-file", "nope.json"],
    );
    assert!(!ok);
    assert!(
        err.contains("--context-file nope.json: cannot read the file"),
        "{err}"
    );
}

#[test]
fn an_unreachable_database_is_reported_without_its_password() {
    let dir = tempfile::tempdir().unwrap();
    let out = command(dir.path())
        .args([
            "migrate",
            "--database-url",
            "postgres://app:hunter2-secret@127.0.0.1:1/plex",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot connect to the PostgreSQL database"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2-secret"), "{stderr}");
}

fn run_cli(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let out = command(dir).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn management_commands_work_and_refuse_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/plex-login.yaml");
    assert!(
        command(d)
            .arg("import")
            .arg(&example)
            .status()
            .unwrap()
            .success()
    );

    assert!(run_cli(d, &["users", "create", "svc-reader"]).0);
    assert!(run_cli(d, &["roles", "create", "readers"]).0);
    assert!(run_cli(d, &["roles", "assign", "readers", "--user", "svc-reader"]).0);
    let (ok, out, err) = run_cli(
        d,
        &[
            "permissions",
            "grant",
            "authentik_sources_plex.view_plexsource",
            "--role",
            "readers",
            "--slug",
            "plex-login",
        ],
    );
    assert!(ok, "{out}{err}");
    let (ok, out, err) = run_cli(
        d,
        &[
            "tokens",
            "create",
            "reader-token",
            "--user",
            "svc-reader",
            "--description",
            "CI reader",
        ],
    );
    assert!(ok, "{err}");
    let key = out.lines().last().expect("key on the last line").to_owned();
    assert_eq!(key.len(), 64, "{out}");
    assert!(key.bytes().all(|b| b.is_ascii_alphanumeric()));

    // The printed key authenticates, with the role's object permission.
    let db = plex_source_service::store::connect(&format!(
        "sqlite://{}",
        d.join("plex-sources.db").display()
    ))
    .await
    .unwrap();
    let caller = plex_source_service::store::access::authenticate_hash(
        &db,
        &plex_source_service::domain::access::hash_key(&key),
        chrono::Utc::now(),
    )
    .await
    .unwrap()
    .expect("the printed key works");
    assert_eq!(caller.username, "svc-reader");
    assert_eq!(caller.grants.len(), 1);
    db.close().await.unwrap();

    let (_, listed, _) = run_cli(d, &["tokens", "list"]);
    assert!(listed.contains("reader-token") && listed.contains("CI reader"));
    assert!(!listed.contains(&key), "tokens list never shows keys");
    let (_, grants, _) = run_cli(d, &["permissions", "list"]);
    assert!(
        grants.contains("authentik_sources_plex.view_plexsource")
            && grants.contains("role readers")
            && grants.contains("plex-login"),
        "{grants}"
    );
    let (_, users, _) = run_cli(d, &["users", "list"]);
    assert!(
        users
            .lines()
            .any(|l| l.starts_with("svc-reader") && l.contains("readers")),
        "{users}"
    );

    // The database file itself holds no key.
    for file in ["plex-sources.db", "plex-sources.db-wal"] {
        if let Ok(bytes) = std::fs::read(d.join(file)) {
            assert!(
                !bytes.windows(key.len()).any(|w| w == key.as_bytes()),
                "key found in {file}"
            );
        }
    }

    // Bad input: a clear message and a non-zero exit each.
    let cases: [(&[&str], &str); 9] = [
        (
            &["users", "deactivate", "nobody"],
            "unknown user \"nobody\"",
        ),
        (
            &["users", "create", "svc-reader"],
            "user \"svc-reader\" already exists",
        ),
        (
            &["roles", "assign", "no-role", "--user", "svc-reader"],
            "unknown role \"no-role\"",
        ),
        (
            &["tokens", "create", "t2", "--user", "nobody"],
            "unknown user \"nobody\"",
        ),
        (
            &["tokens", "create", "reader-token", "--user", "svc-reader"],
            "token \"reader-token\" already exists",
        ),
        (
            &[
                "tokens",
                "create",
                "t3",
                "--user",
                "svc-reader",
                "--expires",
                "next week",
            ],
            "RFC 3339",
        ),
        (
            &["tokens", "revoke", "no-token"],
            "unknown token \"no-token\"",
        ),
        (
            &[
                "permissions",
                "grant",
                "authentik_sources_plex.view_everything",
                "--user",
                "svc-reader",
            ],
            "unknown permission",
        ),
        (
            &[
                "permissions",
                "grant",
                "view_plexsource",
                "--user",
                "svc-reader",
                "--slug",
                "no-such-slug",
            ],
            "no Plex source with slug \"no-such-slug\"",
        ),
    ];
    for (args, expected) in cases {
        let (ok, out, err) = run_cli(d, args);
        assert!(!ok, "{args:?} succeeded: {out}");
        assert!(
            err.contains(expected),
            "{args:?}: expected {expected:?} in {err}"
        );
    }

    // Revocation and deactivation through the CLI.
    assert!(run_cli(d, &["users", "deactivate", "svc-reader"]).0);
    assert!(run_cli(d, &["tokens", "revoke", "reader-token"]).0);
    let (_, listed, _) = run_cli(d, &["tokens", "list"]);
    assert!(!listed.contains("reader-token"));
}

/// `BOOTSTRAP_TOKEN` with surrounding whitespace (as a secrets file often
/// has) provisions the trimmed key, the one callers send.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_padded_bootstrap_token_works_trimmed() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = command(dir.path())
        .args(["--listen", "127.0.0.1:0", "--log-format", "json"])
        .env("BOOTSTRAP_TOKEN", format!("  {BOOTSTRAP_KEY}\n"))
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let lines = lines(child.stderr.take().expect("piped stderr"));
    let mut seen = Vec::new();
    let started = wait_for_line(&lines, &mut seen, |j| {
        j["fields"]["message"] == "serving plexsource.v1.PlexSourceService"
    });
    let addr = started["fields"]["address"].as_str().expect("address");
    let mut client = PlexSourceServiceClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    let answer = client
        .retrieve_plex_source(request_as(
            BOOTSTRAP_KEY,
            pb::RetrievePlexSourceRequest {
                slug: "missing".into(),
            },
        ))
        .await
        .unwrap_err();
    // Authenticated as the superuser: the source is simply not there.
    assert_eq!(answer.code(), tonic::Code::NotFound, "{answer:?}");
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

/// A bootstrap key shorter than 32 characters once trimmed stops `serve`
/// before it touches the database, with a message that names the rule and
/// never the key.
#[test]
fn a_short_bootstrap_token_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let short = "k".repeat(31);
    let mut child = command(dir.path())
        .args(["--listen", "127.0.0.1:0"])
        // 35 characters with the padding, 31 without.
        .env("BOOTSTRAP_TOKEN", format!("  {short}  "))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("serve accepted a 31-character BOOTSTRAP_TOKEN");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("BOOTSTRAP_TOKEN") && stderr.contains("at least 32 characters"),
        "{stderr}"
    );
    assert!(
        !stderr.contains(&short),
        "the key is never printed: {stderr}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains(&short));
    assert!(
        !dir.path().join("plex-sources.db").exists(),
        "refused before opening the database"
    );
}
