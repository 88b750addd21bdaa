//! Load benchmark of plex-source-service.
//!
//! In one run, on one machine: the real service (release build, its own
//! process) on SQLite and on PostgreSQL, loaded with N sources and an
//! authenticated caller (`--caller`: a viewer, or a reader of the Plex
//! token, whose every call is audited); and a baseline
//! tonic server (also its own process) answering RetrievePlexSource with a
//! fixed message from memory, with no authentication and no database. The
//! same load generator drives both, alternating baseline and service over
//! several rounds, and prints throughput, latency percentiles, their ratios,
//! the service's memory, start-up time, list latency and import rate.
//!
//! `loadbench soak` instead runs one backend for a long time (default 10
//! minutes) under a mixed load with open watchers, and reports the service's
//! resident memory over the run and every error by gRPC code.
//!
//! Run: `cargo run --release --bin loadbench -- --help`, and
//! `cargo run --release --bin loadbench -- soak --help`.

mod baseline;
mod load;
mod setup;
mod soak;

use std::{path::PathBuf, time::Duration};

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "loadbench",
    about = "Benchmark plex-source-service against an in-memory tonic baseline"
)]
struct Args {
    #[command(subcommand)]
    command: Option<Internal>,
    /// Plex sources loaded into each database.
    #[arg(long, default_value_t = 1000)]
    sources: usize,
    /// Distinct slugs the load asks for, spread evenly (the hot set of a
    /// deployment); at most `--sources`.
    #[arg(long, default_value_t = 1000)]
    hot_set: usize,
    /// Backends to measure, comma-separated.
    #[arg(long, default_value = "sqlite,postgres", value_delimiter = ',')]
    backends: Vec<String>,
    /// PostgreSQL server on which a scratch database is created and dropped.
    #[arg(
        long,
        env = "LOADBENCH_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    postgres_url: String,
    /// HTTP/2 connections of the load generator.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Calls in flight.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    warmup: Duration,
    #[arg(long, default_value = "8s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Baseline/service alternations.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Sources in the import benchmark's blueprint (0 skips it).
    #[arg(long, default_value_t = 10_000)]
    import_sources: usize,
    /// Sequential ListPlexSources calls for the first-page latency.
    #[arg(long, default_value_t = 300)]
    list_calls: usize,
    /// The service binary (default: next to this one, built if missing).
    #[arg(long)]
    service_bin: Option<PathBuf>,
    /// Who calls RetrievePlexSource: a viewer, or a caller that receives
    /// the Plex token (the login path).
    #[arg(long, value_enum, default_value_t = CallerKind::Viewer)]
    caller: CallerKind,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum CallerKind {
    Viewer,
    TokenReader,
}

impl CallerKind {
    fn grants(self) -> &'static [&'static str] {
        match self {
            CallerKind::Viewer => setup::VIEWER,
            CallerKind::TokenReader => setup::TOKEN_READER,
        }
    }
}

#[derive(Debug, Subcommand)]
enum Internal {
    /// Serve the baseline (used by the benchmark itself).
    #[command(hide = true)]
    Baseline {
        #[arg(long)]
        listen: std::net::SocketAddr,
    },
    /// Soak one backend: a long mixed load (reads, token reads, list pages,
    /// updates) with open watchers; reports calls, errors by gRPC code,
    /// watcher events and the service's resident memory over time.
    Soak(Box<soak::SoakArgs>),
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match args.command {
        Some(Internal::Baseline { listen }) => runtime.block_on(baseline::serve(listen)),
        Some(Internal::Soak(soak)) => runtime.block_on(soak::run(*soak)),
        None => runtime.block_on(run(args)),
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let service_bin = setup::service_binary(args.service_bin.clone())?;
    println!(
        "loadbench: {} sources, hot set {}, {} connections, {} in flight, warm-up {:?}, {} x {:?} per backend and round",
        args.sources,
        args.hot_set.min(args.sources),
        args.connections,
        args.concurrency,
        args.warmup,
        args.rounds,
        args.duration
    );
    println!("machine: {}", setup::machine());
    let mut reports = Vec::new();
    for backend in &args.backends {
        let backend = setup::Backend::parse(backend, &args.postgres_url)?;
        reports.push(load::measure_backend(&args, &service_bin, &backend).await?);
    }
    println!();
    for report in &reports {
        report.print();
    }
    Ok(())
}
