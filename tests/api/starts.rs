//! Replicas that start together on an empty PostgreSQL database: each
//! migrates and provisions the bootstrap user, and every one of them comes
//! up, whichever got there first.

use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

use crate::helpers::{
    Backend, TestDb, lines, pb, pb::plex_source_service_client::PlexSourceServiceClient,
    read_until, request_as,
};

const BIN: &str = env!("CARGO_BIN_EXE_plex-source-service");
const KEY: &str = "bootstrap-key-for-concurrent-starts-5d1c0b7e9a";

/// `n` servers started at the same instant on one empty database; each
/// must serve, and answer the bootstrap key as the superuser.
async fn all_reach_serving(n: usize) {
    let Some(db) = TestDb::empty(Backend::Postgres).await else {
        return;
    };
    let mut children: Vec<Child> = (0..n)
        .map(|_| {
            Command::new(BIN)
                .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
                .env("DATABASE_URL", &db.url)
                .env("BOOTSTRAP_TOKEN", KEY)
                .env("RUST_LOG", "info")
                .env_remove("LISTEN_ADDR")
                .stderr(Stdio::piped())
                .stdout(Stdio::null())
                .spawn()
                .expect("start a server")
        })
        .collect();
    let mut addrs = Vec::new();
    for child in &mut children {
        let lines = lines(child.stderr.take().expect("piped stderr"));
        let mut seen = Vec::new();
        let line = read_until(&lines, &mut seen, Duration::from_secs(60), |line| {
            line.contains("serving plexsource.v1.PlexSourceService")
        });
        let json: serde_json::Value = serde_json::from_str(&line).expect("JSON log line");
        addrs.push(
            json["fields"]["address"]
                .as_str()
                .expect("address")
                .to_owned(),
        );
    }
    for addr in &addrs {
        let mut client = PlexSourceServiceClient::connect(format!("http://{addr}"))
            .await
            .expect("connect");
        let answer = client
            .retrieve_plex_source(request_as(
                KEY,
                pb::RetrievePlexSourceRequest {
                    slug: "missing".into(),
                },
            ))
            .await
            .expect_err("no such source");
        // Authenticated as the superuser: the source is simply not there.
        assert_eq!(answer.code(), tonic::Code::NotFound, "{answer:?}");
    }
    for child in &mut children {
        assert!(child.try_wait().unwrap().is_none(), "a server exited");
        child.kill().ok();
        child.wait().ok();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_then_five_servers_start_together_on_an_empty_database() {
    all_reach_serving(2).await;
    all_reach_serving(5).await;
}
