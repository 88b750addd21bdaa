//! Databases, data, processes and measurements around the load itself.

use std::{
    fmt::Write as _,
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use tokio::process::{Child, Command as Process};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

/// What a run measures: the backends, the data loaded into each, and the
/// service binary. Shared by the modes that start the service per backend.
#[derive(Debug, clap::Args)]
pub struct Target {
    /// Plex sources loaded into each database.
    #[arg(long, default_value_t = 1000)]
    pub sources: usize,
    /// Backends to measure, comma-separated.
    #[arg(long, default_value = "sqlite,postgres", value_delimiter = ',')]
    pub backends: Vec<String>,
    /// PostgreSQL server on which a scratch database is created and dropped.
    #[arg(
        long,
        env = "LOADBENCH_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    pub postgres_url: String,
    /// The service binary (default: next to this one, built if missing).
    #[arg(long)]
    pub service_bin: Option<PathBuf>,
}

impl Target {
    /// The backends named, in order; a bad name fails before any work.
    pub fn backends(&self) -> anyhow::Result<Vec<Backend>> {
        self.backends
            .iter()
            .map(|name| Backend::parse(name, &self.postgres_url))
            .collect()
    }
}

/// The service binary: given, or next to this one (built when missing).
pub fn service_binary(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(path) = given {
        return Ok(path);
    }
    let here = std::env::current_exe()?;
    let path = here.with_file_name("plex-source-service");
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let profile = if here.to_string_lossy().contains("/release/") {
        "--release"
    } else {
        "--profile=dev"
    };
    let status = Command::new("cargo")
        .args(["build", profile, "--bin", "plex-source-service"])
        .current_dir(&workspace)
        .status()
        .context("cargo build of the service")?;
    if !status.success() || !path.is_file() {
        bail!("could not build {}", path.display());
    }
    Ok(path)
}

/// CPU model, cores and memory, for the record.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines().next().map(|l| {
                l.split_whitespace()
                    .nth(1)
                    .unwrap_or("0")
                    .parse::<u64>()
                    .unwrap_or(0)
            })
        })
        .unwrap_or(0);
    format!(
        "{cpu}, {cores} cores, {:.1} GiB",
        mem as f64 / 1024.0 / 1024.0
    )
}

pub enum Backend {
    Sqlite,
    Postgres { admin: String },
}

impl Backend {
    pub fn parse(name: &str, postgres_url: &str) -> anyhow::Result<Self> {
        match name {
            "sqlite" => Ok(Backend::Sqlite),
            "postgres" => Ok(Backend::Postgres {
                admin: postgres_url.to_owned(),
            }),
            other => bail!("unknown backend {other}: sqlite or postgres"),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres { .. } => "PostgreSQL",
        }
    }

    /// An empty database for one phase of the run.
    pub fn fresh(&self) -> anyhow::Result<Scratch> {
        match self {
            Backend::Sqlite => {
                let dir = tempfile::tempdir()?;
                let url = format!("sqlite://{}", dir.path().join("bench.db").display());
                Ok(Scratch {
                    url,
                    dir: Some(dir),
                    drop_sql: None,
                })
            }
            Backend::Postgres { admin } => {
                let name = format!("loadbench_{}", uuid::Uuid::new_v4().simple());
                psql(admin, &format!("CREATE DATABASE {name}"))?;
                let base = &admin[..admin.rfind('/').map_or(admin.len(), |i| i + 1)];
                Ok(Scratch {
                    url: format!("{base}{name}"),
                    dir: None,
                    drop_sql: Some((
                        admin.clone(),
                        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                    )),
                })
            }
        }
    }
}

/// Runs one statement through the service's own store connection code.
fn psql(url: &str, sql: &str) -> anyhow::Result<()> {
    let url = url.to_owned();
    let sql = sql.to_owned();
    std::thread::spawn(move || -> anyhow::Result<()> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(async {
            use plex_source_service::store;
            let db = store::connect(&url)
                .await
                .map_err(|e| anyhow::anyhow!(store::describe_connect_error(&url, &e)))?;
            db.execute(&sql).await?;
            db.close().await.ok();
            Ok(())
        })
    })
    .join()
    .map_err(|_| anyhow::anyhow!("database thread panicked"))?
}

/// A database that is removed when dropped.
pub struct Scratch {
    pub url: String,
    dir: Option<tempfile::TempDir>,
    drop_sql: Option<(String, String)>,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        self.dir.take();
        if let Some((admin, sql)) = self.drop_sql.take() {
            let _ = psql(&admin, &sql);
        }
    }
}

/// Runs a subcommand of the service binary; its stdout on success.
pub fn cli(bin: &Path, url: &str, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(bin)
        .args(args)
        .env("DATABASE_URL", url)
        .env("RUST_LOG", "warn")
        .output()
        .with_context(|| format!("running {args:?}"))?;
    if !out.status.success() {
        bail!("{args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Blueprint files of `count` sources (`bench-0`, ...), 10,000 a file
/// (one transaction each).
pub fn blueprints(dir: &Path, count: usize) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for (n, start) in (0..count).step_by(10_000).enumerate() {
        let mut yaml = String::from("version: 1\nentries:\n");
        for i in start..(start + 10_000).min(count) {
            write!(
                yaml,
                "  - model: authentik_sources_plex.plexsource\n    identifiers: {{slug: bench-{i}}}\n    attrs:\n      name: Bench source {i}\n      plex_token: owner-token-{i}\n      allowed_servers: [server-{i}]\n"
            )?;
        }
        let path = dir.join(format!("sources-{n}.yaml"));
        std::fs::write(&path, yaml)?;
        files.push(path);
    }
    Ok(files)
}

/// A fresh database of `backend` holding `count` sources (`bench-0`, ...),
/// imported through the service's own command.
pub fn loaded(bin: &Path, backend: &Backend, count: usize) -> anyhow::Result<Scratch> {
    let db = backend.fresh()?;
    let dir = tempfile::tempdir()?;
    import(bin, &db.url, &blueprints(dir.path(), count)?)?;
    eprintln!("{}: loaded {count} sources", backend.name());
    Ok(db)
}

/// Imports files; returns the elapsed time.
pub fn import(bin: &Path, url: &str, files: &[PathBuf]) -> anyhow::Result<Duration> {
    let mut args = vec!["import".to_owned()];
    args.extend(files.iter().map(|f| f.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let start = Instant::now();
    cli(bin, url, &args)?;
    Ok(start.elapsed())
}

/// The global view permission: a caller that never receives the Plex token.
pub const VIEWER: &[&str] = &["authentik_sources_plex.view_plexsource"];
/// View plus `view_plexsource_plex_token`: the Plex login path's caller,
/// whose every read hands out (and audits) the Plex token.
pub const TOKEN_READER: &[&str] = &[
    "authentik_sources_plex.view_plexsource",
    "authentik_sources_plex.view_plexsource_plex_token",
];
/// Global add and change: with [`VIEWER`] or [`TOKEN_READER`], a writer
/// (writes need view as well).
pub const EDITOR: &[&str] = &[
    "authentik_sources_plex.add_plexsource",
    "authentik_sources_plex.change_plexsource",
];

/// Who makes the measured calls: the answers, and the work behind them,
/// differ by whether the caller receives the Plex token.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum CallerKind {
    /// Holds view_plexsource: never receives the Plex token.
    Viewer,
    /// Also holds view_plexsource_plex_token: receives the Plex token, and
    /// every read that hands it out is audited (the login path).
    #[value(alias = "token-reader")]
    Secret,
}

impl CallerKind {
    pub fn grants(self) -> &'static [&'static str] {
        match self {
            CallerKind::Viewer => VIEWER,
            CallerKind::Secret => TOKEN_READER,
        }
    }

    /// For reports: the name and what it holds.
    pub fn describe(self) -> String {
        let name = match self {
            CallerKind::Viewer => "viewer",
            CallerKind::Secret => "secret",
        };
        let grants: Vec<&str> = self
            .grants()
            .iter()
            .map(|g| g.trim_start_matches("authentik_sources_plex."))
            .collect();
        format!("{name} ({})", grants.join(" + "))
    }
}

/// A user holding `grants`, with one token; returns its key. Made through
/// the service's own commands.
pub fn caller(bin: &Path, url: &str, user: &str, grants: &[&str]) -> anyhow::Result<String> {
    cli(bin, url, &["users", "create", user])?;
    for grant in grants {
        cli(bin, url, &["permissions", "grant", grant, "--user", user])?;
    }
    let out = cli(bin, url, &["tokens", "create", user, "--user", user])?;
    out.lines()
        .last()
        .map(str::to_owned)
        .context("no key printed")
}

/// `n` HTTP/2 connections (one `Channel` each) to `addr`.
pub async fn channels(addr: &str, n: usize) -> anyhow::Result<Vec<tonic::transport::Channel>> {
    let mut out = Vec::new();
    for _ in 0..n.max(1) {
        out.push(
            tonic::transport::Channel::from_shared(format!("http://{addr}"))?
                .connect()
                .await?,
        );
    }
    Ok(out)
}

/// The service (`serve` on an already-migrated database) in a process of
/// its own, killed when dropped.
pub struct Service {
    pub addr: String,
    /// The admin port (`GET /metrics`), where the build has one.
    pub admin_addr: String,
    /// From launch to SERVING.
    pub startup: Duration,
    pid: u32,
    process: Child,
    /// Holds `service.log` when warnings and errors are kept.
    log_dir: Option<tempfile::TempDir>,
}

impl Service {
    /// Starts the service with `extra` flags and waits until it is SERVING.
    /// With `keep_log`, it logs at `warn` into a file (see
    /// [`Service::print_log`]); otherwise its output is discarded, at its
    /// default level.
    pub async fn start(
        bin: &Path,
        url: &str,
        extra: &[&str],
        keep_log: bool,
    ) -> anyhow::Result<Self> {
        let addr = format!("127.0.0.1:{}", free_port()?);
        let admin_addr = format!("127.0.0.1:{}", free_port()?);
        let mut command = Process::new(bin);
        command
            .args(["serve", "--listen", &addr])
            // As an environment variable: older builds, measured for
            // comparison, ignore it.
            .env("ADMIN_LISTEN", &admin_addr)
            .args(extra)
            .env("DATABASE_URL", url)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true);
        let log_dir = if keep_log {
            let dir = tempfile::tempdir()?;
            let log = std::fs::File::create(dir.path().join("service.log"))?;
            command.env("RUST_LOG", "warn").stderr(log);
            Some(dir)
        } else {
            None
        };
        let started = Instant::now();
        let process = command.spawn()?;
        let pid = process.id().context("service pid")?;
        let startup = wait_serving(&addr, started).await?;
        Ok(Service {
            addr,
            admin_addr,
            startup,
            pid,
            process,
            log_dir,
        })
    }

    /// The metrics text of the admin port, if it answers.
    pub async fn scrape(&self) -> Option<String> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(&self.admin_addr)
            .await
            .ok()?;
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: metrics\r\nConnection: close\r\n\r\n")
            .await
            .ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).await.ok()?;
        Some(response.split_once("\r\n\r\n")?.1.to_owned())
    }

    /// Resident and peak resident memory, in KiB.
    pub fn memory_kib(&self) -> (u64, u64) {
        memory_kib(self.pid)
    }

    /// CPU time (user and system) the process has used so far.
    pub fn cpu_time(&self) -> Duration {
        cpu_time(self.pid)
    }

    /// How the process ended, if it has.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.process.try_wait().ok().flatten()
    }

    /// Kills the process; its log stays readable.
    pub async fn stop(&mut self) {
        self.process.kill().await.ok();
    }

    /// Counts the kept log's WARN and ERROR lines and prints the first few;
    /// returns the ERROR count.
    pub fn print_log(&self) -> usize {
        let text = self
            .log_dir
            .as_ref()
            .and_then(|dir| std::fs::read_to_string(dir.path().join("service.log")).ok())
            .unwrap_or_default();
        let warnings = text.lines().filter(|l| l.contains("WARN")).count();
        let errors = text.lines().filter(|l| l.contains("ERROR")).count();
        println!("service log: {warnings} WARN lines, {errors} ERROR lines");
        for line in text
            .lines()
            .filter(|l| l.contains("ERROR") || l.contains("WARN"))
            .take(5)
        {
            println!("  {line}");
        }
        errors
    }
}

/// A free port on 127.0.0.1.
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// CPU time of a process from `/proc/PID/stat` (utime + stime, in clock
/// ticks of 10 ms); zero when unreadable.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15, i.e. 11 and 12 after the name.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// Resident and peak resident memory of a process, in KiB.
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Polls health until SERVING; the time since `started`.
async fn wait_serving(addr: &str, started: Instant) -> anyhow::Result<Duration> {
    let deadline = started + Duration::from_secs(30);
    loop {
        let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))?;
        if let Ok(channel) = channel.connect().await
            && let Ok(reply) = HealthClient::new(channel)
                .check(HealthCheckRequest {
                    service: String::new(),
                })
                .await
            && reply.into_inner().status == ServingStatus::Serving as i32
        {
            return Ok(started.elapsed());
        }
        if Instant::now() > deadline {
            bail!("service at {addr} did not become SERVING");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}
