//! The superuser's bootstrap key: example and low-variety keys are refused
//! at start, a key is easy to make, and a revoked bootstrap token stays
//! revoked across restarts while the variable still holds its key.

use std::{
    path::Path,
    process::{Command, Stdio},
    time::Duration,
};

use plex_source_service::domain::{access::TokenKey, bootstrap_key::EXAMPLE_KEYS};

use crate::helpers::{
    lines,
    pb::{self, plex_source_service_client::PlexSourceServiceClient},
    read_until, request_as,
};

const BIN: &str = env!("CARGO_BIN_EXE_plex-source-service");
const KEY: &str = "bootstrap-key-for-revocation-tests-4b7e19c0d2";

fn command(dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir)
        .env_remove("DATABASE_URL")
        .env_remove("LISTEN_ADDR")
        .env_remove("BOOTSTRAP_TOKEN")
        .env("ADMIN_LISTEN", "off")
        .env("RUST_LOG", "info");
    cmd
}

/// `serve` with `key`, refused before it opens the database: the message
/// names the rule and says how to make a key, never the key.
fn refused_at_start(key: &str, rule: &str) {
    let dir = tempfile::tempdir().unwrap();
    let out = command(dir.path())
        .args(["--listen", "127.0.0.1:0"])
        .env("BOOTSTRAP_TOKEN", key)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|child| child.wait_with_output())
        .unwrap();
    assert!(!out.status.success(), "serve accepted {key:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(rule), "{key:?}: {stderr}");
    assert!(stderr.contains("openssl rand -hex 32"), "{stderr}");
    assert!(!stderr.contains(key), "the key is never printed: {stderr}");
    assert!(!dir.path().join("plex-sources.db").exists());
}

#[test]
fn example_and_low_variety_keys_are_refused_at_start() {
    for example in EXAMPLE_KEYS {
        refused_at_start(example, "example or placeholder");
    }
    refused_at_start(
        "CHANGE-ME-example-only-1234567890abcdef",
        "example or placeholder",
    );
    refused_at_start(&"x".repeat(48), "distinct characters");
    refused_at_start(&"ab12".repeat(12), "distinct characters");
}

/// Every key-like value written in the README, the docs, the manifests
/// and the examples is refused: none of them can become a superuser's key.
#[test]
fn no_key_printed_in_the_repository_is_accepted() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md"), root.join("ARCHITECTURE.md")];
    for dir in ["docs", "deploy", "examples"] {
        collect(&root.join(dir), &mut files);
    }
    let marks = [
        "BOOTSTRAP_TOKEN=",
        "bootstrap-token:",
        "bootstrap-token=",
        "--bootstrap-token ",
        "Bearer ",
    ];
    let mut found = Vec::new();
    for file in &files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for mark in marks {
            for (at, _) in text.match_indices(mark) {
                let rest = text[at + mark.len()..].trim_start_matches(['"', '\'', ' ']);
                let value: String = rest
                    .chars()
                    .take_while(|c| !c.is_whitespace() && !matches!(c, '"' | '\'' | '`' | ')'))
                    .collect();
                // Shell variables and substitutions make their own key.
                if value.len() >= 8 && !value.starts_with('$') && !value.starts_with('<') {
                    found.push((file.display().to_string(), value));
                }
            }
        }
    }
    for (file, value) in &found {
        assert!(
            TokenKey::bootstrap(value).is_err(),
            "{file} prints a key that would be accepted: {value}"
        );
    }
    for example in EXAMPLE_KEYS {
        assert!(TokenKey::bootstrap(example).is_err(), "{example}");
    }
}

fn collect(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, files);
        } else {
            files.push(path);
        }
    }
}

#[test]
fn tokens_generate_prints_a_key_serve_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let out = command(dir.path())
        .args(["tokens", "generate"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let key = String::from_utf8(out.stdout).unwrap();
    let key = key.trim();
    assert_eq!(key.len(), 64);
    assert!(TokenKey::bootstrap(key).is_ok());
    let again = command(dir.path())
        .args(["tokens", "generate"])
        .output()
        .unwrap();
    assert_ne!(String::from_utf8_lossy(&again.stdout).trim(), key);
    assert!(
        !dir.path().join("plex-sources.db").exists(),
        "no database needed"
    );
}

/// Starts `serve` with the bootstrap key on the directory's database; the
/// answer to a call with that key; SIGTERM; every log line.
async fn serve_and_call(dir: &Path) -> (tonic::Code, Vec<String>) {
    let mut child = command(dir)
        .args(["--listen", "127.0.0.1:0", "--log-format", "json"])
        .env("BOOTSTRAP_TOKEN", KEY)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let lines = lines(child.stderr.take().expect("piped stderr"));
    let mut seen = Vec::new();
    let line = read_until(&lines, &mut seen, Duration::from_secs(20), |line| {
        line.contains("serving plexsource.v1.PlexSourceService")
    });
    let json: serde_json::Value = serde_json::from_str(&line).unwrap();
    let addr = json["fields"]["address"].as_str().unwrap().to_owned();
    let mut client = PlexSourceServiceClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    let request = pb::RetrievePlexSourceRequest {
        slug: "missing".into(),
    };
    let code = client
        .retrieve_plex_source(request_as(KEY, request))
        .await
        .unwrap_err()
        .code();
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));
    seen.extend(lines.try_iter());
    (code, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_bootstrap_token_stays_revoked_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    // Provisioned: the key works (the source is simply missing).
    let (code, _) = serve_and_call(dir.path()).await;
    assert_eq!(code, tonic::Code::NotFound);

    let revoked = command(dir.path())
        .args(["tokens", "revoke", "authentik-bootstrap-token"])
        .output()
        .unwrap();
    assert!(revoked.status.success(), "{revoked:?}");

    // The variable still holds the key: the server starts, the key stays
    // revoked, and the log says why.
    let (code, logs) = serve_and_call(dir.path()).await;
    assert_eq!(code, tonic::Code::Unauthenticated);
    assert!(
        logs.iter().any(|l| l.contains("WARN")
            && l.contains("revoked or replaced")
            && l.contains("stays revoked")),
        "{logs:#?}"
    );
    assert!(
        logs.iter().all(|l| !l.contains(KEY)),
        "the key is never logged"
    );
    // And again on the next restart.
    let (code, _) = serve_and_call(dir.path()).await;
    assert_eq!(code, tonic::Code::Unauthenticated);
}
