//! Command line and environment settings. Every setting is a flag with an
//! environment variable; compiled-in defaults make `cargo run` work on a
//! fresh machine (a SQLite file in the working directory).

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::{cache::FRESH_FOR, domain::access::Permission};

/// SQLite file in the working directory, created if missing.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://plex-sources.db";

#[derive(Debug, Parser)]
#[command(
    name = "plex-source-service",
    version,
    about = "Serves authentik Plex source configuration over gRPC",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// Database to use: `sqlite://FILE` or `postgres://USER:PASSWORD@HOST/DB`.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = DEFAULT_DATABASE_URL,
        hide_env_values = true,
        global = true
    )]
    pub database_url: String,

    /// Longest a write waits for another write's lock (a large import holds
    /// it for its whole transaction) before failing with UNAVAILABLE.
    #[arg(
        long,
        env = "LOCK_TIMEOUT",
        default_value = "5s",
        value_parser = humantime::parse_duration,
        global = true
    )]
    pub lock_timeout: Duration,

    /// Log output: human-readable text or one JSON object per line.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Option<Command>,

    /// Settings of `serve`, also accepted when no subcommand is given.
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gRPC server (the default).
    Serve(Box<ServeArgs>),
    /// Apply pending database migrations and exit.
    Migrate,
    /// Ask a running server's health service: exits 0 when the name is
    /// `SERVING`, 1 otherwise (for exec probes and `--health-cmd` in an
    /// image without a shell).
    Health(HealthArgs),
    /// Manage users (service accounts and people).
    #[command(subcommand)]
    Users(UsersCommand),
    /// Manage roles: named sets of permissions.
    #[command(subcommand)]
    Roles(RolesCommand),
    /// Manage API tokens; keys are shown once, at creation.
    #[command(subcommand)]
    Tokens(TokensCommand),
    /// Grant, revoke and list permissions.
    #[command(subcommand)]
    Permissions(PermissionsCommand),
    /// Load authentik blueprint files; each file is applied in one transaction.
    Import {
        /// Blueprint YAML files, applied in the order given.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Do not apply pending migrations first.
        #[arg(long)]
        no_migrate: bool,
        /// A value `!Context KEY` reads (text), over the file's `context`
        /// block and `--context-file`; repeat for more keys.
        #[arg(long = "context", value_name = "KEY=VALUE", value_parser = context_pair)]
        context: Vec<String>,
        /// A JSON or YAML mapping of context values (any type), over the
        /// file's `context` block.
        #[arg(long, value_name = "FILE")]
        context_file: Option<PathBuf>,
    },
}

/// `KEY=VALUE` with a non-empty key, kept whole for the importer.
fn context_pair(raw: &str) -> Result<String, String> {
    match raw.split_once('=') {
        Some((key, _)) if !key.is_empty() => Ok(raw.to_owned()),
        _ => Err("expected KEY=VALUE".to_owned()),
    }
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create an active user.
    Create {
        name: String,
        /// Holds every permission.
        #[arg(long)]
        superuser: bool,
    },
    /// Deactivate a user: its tokens stop working on the next call.
    Deactivate { name: String },
    /// List users with their roles.
    List,
}

#[derive(Debug, Subcommand)]
pub enum RolesCommand {
    /// Create a role.
    Create { name: String },
    /// Give a role to a user.
    Assign {
        role: String,
        #[arg(long)]
        user: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Create a token; its key is printed alone on the last line.
    Create {
        /// The token's unique public name.
        identifier: String,
        #[arg(long)]
        user: String,
        /// Expiry, RFC 3339 (e.g. 2027-01-31T00:00:00Z); none by default.
        #[arg(long, value_parser = parse_rfc3339)]
        expires: Option<chrono::DateTime<chrono::Utc>>,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Revoke (delete) a token: its key stops working on the next call.
    Revoke { identifier: String },
    /// Print a new random key (64 characters of `[A-Za-z0-9]`), e.g. for
    /// `BOOTSTRAP_TOKEN`; nothing is stored and no database is needed.
    Generate,
    /// List tokens (never their keys).
    List,
}

#[derive(Debug, Subcommand)]
pub enum PermissionsCommand {
    /// Grant a permission globally, or on one source with --slug.
    Grant(GrantArgs),
    /// Revoke a grant made with the same arguments.
    Revoke(GrantArgs),
    /// List every grant.
    List,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("principal").required(true).args(["user", "role"])))]
pub struct GrantArgs {
    /// e.g. authentik_sources_plex.view_plexsource
    #[arg(value_parser = parse_permission)]
    pub codename: Permission,
    #[arg(long)]
    pub user: Option<String>,
    #[arg(long)]
    pub role: Option<String>,
    /// Only on the source with this slug.
    #[arg(long)]
    pub slug: Option<String>,
}

/// Help of `--change-poll-interval`: cached reads are used only while the
/// last poll is younger than [`FRESH_FOR`], so polls must come well within it.
fn change_poll_help() -> String {
    format!(
        "How often the database is polled for other replicas' changes \
         (watch events; cached reads are dropped). Keep it well under {}",
        humantime::format_duration(FRESH_FOR)
    )
}

fn parse_rfc3339(value: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|err| format!("not an RFC 3339 time ({err}); e.g. 2027-01-31T00:00:00Z"))
}

fn parse_permission(value: &str) -> Result<Permission, String> {
    value
        .parse()
        .map_err(|err: crate::domain::access::UnknownPermission| err.to_string())
}

/// A size: plain bytes, or a number with `KiB`, `MiB` or `GiB` (or `KB`,
/// `MB`, `GB`, decimal), e.g. `64MiB`.
fn parse_bytes(value: &str) -> Result<u64, String> {
    let value = value.trim();
    let split = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        other => return Err(format!("unknown unit \"{other}\"; e.g. 64MiB or 67108864")),
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(multiplier))
        .ok_or_else(|| format!("not a size: \"{value}\"; e.g. 64MiB or 67108864"))
}

/// `MAX_REQUEST_BYTES`: a size (see [`parse_bytes`]) of at least 1 KiB,
/// which fits any request but a source's largest.
fn parse_request_bytes(value: &str) -> Result<usize, String> {
    let bytes = parse_bytes(value)?;
    usize::try_from(bytes)
        .ok()
        .filter(|bytes| *bytes >= 1024)
        .ok_or_else(|| format!("{value} is not a size from 1KiB up"))
}

/// A duration above zero: zero would refuse every connection.
fn positive_duration(value: &str) -> Result<Duration, String> {
    match humantime::parse_duration(value) {
        Ok(duration) if duration > Duration::ZERO => Ok(duration),
        Ok(_) => Err("must be more than 0s".to_owned()),
        Err(err) => Err(err.to_string()),
    }
}

/// A duration, or none (`off`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionalDuration(pub Option<Duration>);

fn parse_optional_duration(value: &str) -> Result<OptionalDuration, String> {
    if value.trim().eq_ignore_ascii_case("off") {
        return Ok(OptionalDuration(None));
    }
    match humantime::parse_duration(value) {
        Ok(duration) if duration > Duration::ZERO => Ok(OptionalDuration(Some(duration))),
        Ok(_) => Err("must be more than 0s, or off".to_owned()),
        Err(err) => Err(format!("{err}; e.g. 30m, or off")),
    }
}

/// The admin listener's address, or none (`off`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdminListen(pub Option<SocketAddr>);

fn parse_admin_listen(value: &str) -> Result<AdminListen, String> {
    if value.trim().eq_ignore_ascii_case("off") {
        return Ok(AdminListen(None));
    }
    value
        .parse()
        .map(|addr| AdminListen(Some(addr)))
        .map_err(|_| format!("not an address: \"{value}\"; e.g. [::]:9464, or off"))
}

#[derive(Debug, Clone, Args)]
pub struct HealthArgs {
    /// The server's gRPC address (`HOST:PORT`, or an `http://` URL).
    #[arg(long, default_value = "127.0.0.1:50051")]
    pub addr: String,
    /// The health service name: `liveness`, `readiness`, `""` (the whole
    /// server) or `plexsource.v1.PlexSourceService`.
    #[arg(long, default_value = "")]
    pub service: String,
    /// Longest wait for the answer, connecting included.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long = "listen", env = "LISTEN_ADDR", default_value = "[::]:50051")]
    pub listen: SocketAddr,

    /// Plaintext admin port: `GET /metrics` (Prometheus) and the gRPC
    /// health service, for probes. `off` disables it.
    #[arg(long, env = "ADMIN_LISTEN", default_value = "[::]:9464", value_parser = parse_admin_listen)]
    pub admin_listen: AdminListen,

    /// Do not apply pending migrations at start.
    #[arg(long)]
    pub no_migrate: bool,

    /// After SIGTERM/SIGINT, how long the server keeps serving while
    /// reporting `NOT_SERVING`, so load balancers stop routing to it first.
    #[arg(long, env = "SHUTDOWN_DELAY", default_value = "0s", value_parser = humantime::parse_duration)]
    pub shutdown_delay: Duration,

    /// How long in-flight calls may run after SIGTERM/SIGINT.
    #[arg(long, env = "SHUTDOWN_GRACE_PERIOD", default_value = "10s", value_parser = humantime::parse_duration)]
    pub shutdown_grace_period: Duration,

    /// How often the database is checked for the health service.
    #[arg(long, env = "HEALTH_CHECK_INTERVAL", default_value = "2s", value_parser = humantime::parse_duration)]
    pub health_check_interval: Duration,

    // The help quotes the cache's freshness bound from its one definition.
    #[arg(
        long,
        env = "CHANGE_POLL_INTERVAL",
        default_value = "200ms",
        value_parser = humantime::parse_duration,
        help = change_poll_help()
    )]
    pub change_poll_interval: Duration,

    /// How long changes stay available to watchers that resume.
    #[arg(long, env = "CHANGE_RETENTION", default_value = "24h", value_parser = humantime::parse_duration)]
    pub change_retention: Duration,

    /// Memory the read caches (callers, sources, list pages) may hold, as
    /// estimated: bytes, or with a unit such as `64MiB`.
    #[arg(long, env = "CACHE_MAX_BYTES", default_value = "64MiB", value_parser = parse_bytes)]
    pub cache_max_bytes: u64,

    /// Concurrent calls (HTTP/2 streams) one client connection may have open.
    #[arg(long, env = "MAX_CONCURRENT_STREAMS", default_value_t = 100)]
    pub max_concurrent_streams: u32,

    /// Open WatchPlexSources streams the server holds in all; more are
    /// refused with RESOURCE_EXHAUSTED.
    #[arg(long, env = "MAX_WATCH_STREAMS", default_value_t = 20_000)]
    pub max_watch_streams: usize,

    /// Open WatchPlexSources streams one token may hold on this server;
    /// more are refused with RESOURCE_EXHAUSTED while other tokens go on.
    #[arg(long, env = "MAX_WATCH_STREAMS_PER_TOKEN", default_value_t = 1_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_watch_streams_per_token: u32,

    /// How many revisions behind the newest a watch may resume
    /// (`since_revision`); further back is OUT_OF_RANGE (resync with a
    /// snapshot).
    #[arg(long, env = "MAX_WATCH_REPLAY", default_value_t = 100_000, value_parser = clap::value_parser!(i64).range(1..))]
    pub max_watch_replay: i64,

    /// Largest gRPC request message decoded and REST body read: bytes, or
    /// with a unit such as `256KiB`. The largest valid source (1,000
    /// allowed servers, 2,000 property mappings) takes about 125 KiB.
    #[arg(long, env = "MAX_REQUEST_BYTES", default_value = "256KiB", value_parser = parse_request_bytes)]
    pub max_request_bytes: usize,

    /// Unary calls and REST requests this server serves at once; more are
    /// refused at once (RESOURCE_EXHAUSTED, REST 503). Watch streams,
    /// health and reflection have bounds of their own.
    #[arg(long, env = "MAX_REQUESTS_IN_FLIGHT", default_value_t = 1_024, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_requests_in_flight: u32,

    /// Connections open at once on the gRPC port, handshaking ones
    /// included; more are closed as they are accepted.
    #[arg(long, env = "MAX_CONNECTIONS", default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,

    /// Longest a new connection may take to send a complete request head
    /// (or the HTTP/2 preface), its TLS handshake included; also the
    /// longest wait for each later HTTP/1.1 request head.
    #[arg(long, env = "HEADER_READ_TIMEOUT", default_value = "10s", value_parser = positive_duration)]
    pub header_read_timeout: Duration,

    /// Age at which a connection is drained (HTTP/2 GOAWAY; open watch
    /// streams end with where to resume), so clients reconnect: load
    /// spreads over the replicas and a changed client CA takes effect.
    /// `off` (the default): never.
    #[arg(long, env = "MAX_CONNECTION_AGE", default_value = "off", value_parser = parse_optional_duration)]
    pub max_connection_age: OptionalDuration,

    /// How long a drained connection may finish its calls before it is
    /// closed.
    #[arg(long, env = "MAX_CONNECTION_AGE_GRACE", default_value = "30s", value_parser = humantime::parse_duration)]
    pub max_connection_age_grace: Duration,

    /// Idle time after which a connection is probed (HTTP/2 ping and TCP
    /// keepalive), so streams of clients that vanished are reclaimed.
    #[arg(long, env = "KEEPALIVE_INTERVAL", default_value = "30s", value_parser = humantime::parse_duration)]
    pub keepalive_interval: Duration,

    /// How long a keepalive ping may go unanswered before the connection
    /// is closed.
    #[arg(long, env = "KEEPALIVE_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub keepalive_timeout: Duration,

    /// Deadline of calls that bring none, and the longest a caller may ask
    /// for; also PostgreSQL's `statement_timeout`, so the database stops
    /// work nobody waits for.
    #[arg(long, env = "REQUEST_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub request_timeout: Duration,

    /// Key of the superuser `akadmin`'s token, created at start if missing.
    #[arg(long, env = "BOOTSTRAP_TOKEN", hide_env_values = true)]
    pub bootstrap_token: Option<String>,

    /// TLS on the gRPC port (boxed: most commands do without).
    #[command(flatten)]
    pub tls: Box<TlsArgs>,
}

/// TLS and mutual TLS on the gRPC port; plaintext without `--tls-cert`.
#[derive(Debug, Clone, Args)]
pub struct TlsArgs {
    /// PEM certificate chain to serve TLS with (the server's certificate
    /// first); needs --tls-key. Plaintext without it.
    #[arg(long, env = "TLS_CERT", value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key of --tls-cert.
    #[arg(long, env = "TLS_KEY", value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// PEM CA certificates: clients must present a certificate signed by
    /// one of them (mutual TLS); needs --tls-cert.
    #[arg(
        long,
        env = "TLS_CLIENT_CA",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    pub tls_client_ca: Option<PathBuf>,

    /// How often the TLS files are checked for changes; changed
    /// certificates are served to new connections.
    #[arg(long, env = "TLS_RELOAD_INTERVAL", default_value = "5s", value_parser = humantime::parse_duration)]
    pub tls_reload_interval: Duration,
}

#[cfg(test)]
mod tests;
