//! Starting up: replicas that start together on an empty PostgreSQL
//! database (each migrates and provisions the bootstrap user, and every one
//! comes up, whichever got there first), and a server whose database is
//! down when it starts.

use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::{
    helpers::{
        Backend, TestDb, admin_url, lines, pb,
        pb::plex_source_service_client::PlexSourceServiceClient, read_until, request_as,
    },
    proxy::Proxy,
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
                .env("ADMIN_LISTEN", "127.0.0.1:0")
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

/// A free port on 127.0.0.1 (bound, then released for the server).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

async fn health_status(addr: &str, service: &str) -> Result<i32, String> {
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .map_err(|err| err.to_string())?
        .connect()
        .await
        .map_err(|err| err.to_string())?;
    let mut client = HealthClient::new(channel);
    client
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await
        .map(|r| r.into_inner().status)
        .map_err(|status| status.to_string())
}

/// Polls until `service` reports `want` on `addr`, for at most `within`.
async fn wait_for_status(addr: &str, service: &str, want: ServingStatus, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let status = health_status(addr, service).await;
        if status == Ok(want as i32) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{service:?} on {addr}: {status:?}, wanted {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// PostgreSQL is down when `serve` starts. The server listens anyway:
/// liveness `SERVING`, readiness `NOT_SERVING` on both ports, calls refused
/// with UNAVAILABLE, and it does not exit. Once the database is reachable
/// it migrates, creates the bootstrap user and turns ready, with no
/// restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_starts_without_its_database_and_turns_ready_when_it_comes() {
    let Some(db) = TestDb::empty(Backend::Postgres).await else {
        return;
    };
    let admin = url::Url::parse(&admin_url()).expect("admin url");
    let target = format!(
        "{}:{}",
        admin.host_str().unwrap_or("127.0.0.1"),
        admin.port().unwrap_or(5432)
    );
    let proxy = Proxy::start(target.parse().expect("address")).await;
    proxy.cut();
    let mut via_proxy = url::Url::parse(&db.url).expect("db url");
    via_proxy.set_host(Some("127.0.0.1")).expect("host");
    via_proxy.set_port(Some(proxy.addr.port())).expect("port");

    let grpc = format!("127.0.0.1:{}", free_port());
    let admin_port = format!("127.0.0.1:{}", free_port());
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", &grpc, "--admin-listen", &admin_port])
        .args(["--log-format", "json"])
        .env("DATABASE_URL", via_proxy.as_str())
        .env("BOOTSTRAP_TOKEN", KEY)
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("start the server");
    let lines = lines(child.stderr.take().expect("piped stderr"));
    let mut seen = Vec::new();

    for addr in [&admin_port, &grpc] {
        wait_for_status(
            addr,
            "liveness",
            ServingStatus::Serving,
            Duration::from_secs(20),
        )
        .await;
        for name in ["", "readiness", "plexsource.v1.PlexSourceService"] {
            assert_eq!(
                health_status(addr, name).await,
                Ok(ServingStatus::NotServing as i32),
                "{name:?} on {addr}"
            );
        }
    }
    let mut client = PlexSourceServiceClient::connect(format!("http://{grpc}"))
        .await
        .expect("connect");
    let retrieve = |slug: &str| {
        request_as(
            KEY,
            pb::RetrievePlexSourceRequest {
                slug: slug.to_owned(),
            },
        )
    };
    let refused = client
        .retrieve_plex_source(retrieve("missing"))
        .await
        .expect_err("not started");
    assert_eq!(refused.code(), tonic::Code::Unavailable, "{refused:?}");
    assert!(refused.message().contains("starting"), "{refused:?}");
    // It retries rather than exits (a crash loop under Kubernetes).
    read_until(&lines, &mut seen, Duration::from_secs(20), |line| {
        line.contains("database not ready")
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        child.try_wait().expect("status").is_none(),
        "the server exited"
    );

    proxy.restore().await;
    wait_for_status(&grpc, "", ServingStatus::Serving, Duration::from_secs(30)).await;
    wait_for_status(
        &admin_port,
        "readiness",
        ServingStatus::Serving,
        Duration::from_secs(5),
    )
    .await;
    let answer = client
        .retrieve_plex_source(retrieve("missing"))
        .await
        .expect_err("no such source");
    // Migrated, and the bootstrap user exists: the source simply is not there.
    assert_eq!(answer.code(), tonic::Code::NotFound, "{answer:?}");

    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(kill.success());
    assert_eq!(child.wait().expect("exit").code(), Some(0));
    seen.extend(lines.try_iter());
    assert!(
        seen.iter().all(|line| !line.contains(KEY)),
        "the key was logged"
    );
}
