//! Load benchmark of plex-source-service.
//!
//! In one run, on one machine: the real service (release build, its own
//! process) on SQLite and on PostgreSQL, loaded with N sources and an
//! authenticated caller (`--caller`: a viewer, or `secret`, a reader of the
//! Plex token, whose every call is audited); and a baseline
//! tonic server (also its own process) answering RetrievePlexSource with a
//! fixed message from memory, with no authentication and no database. The
//! same load generator drives both, alternating baseline and service over
//! several rounds, and prints throughput, latency percentiles, their ratios,
//! the service's memory, start-up time, list latency and import rate. With
//! `--write-rate`, updates to sources outside the read hot set run beside
//! the service's reads, to show what writing costs them.
//!
//! With `--rest`, each round also drives authentik's REST retrieve on the
//! service's port, for the REST/gRPC ratios.
//!
//! `loadbench soak` instead runs one backend for a long time (default 10
//! minutes) under a mixed load with open watchers, and reports the service's
//! resident memory over the run and every error by gRPC code.
//!
//! `loadbench watch` measures how fast updates reach many open
//! WatchPlexSources streams, and what holding them costs; `loadbench writes`
//! measures update and create throughput; `loadbench hostile` measures what
//! callers without grants and floods of bogus keys cost.
//!
//! Run: `cargo run --release --bin loadbench -- --help`, and `--help` after
//! `soak`, `watch` or `writes`.

mod baseline;
mod calls;
mod driver;
mod hostile;
mod load;
mod pacer;
mod rest;
mod setup;
mod soak;
mod watch;
mod writes;

use std::time::Duration;

use clap::{Parser, Subcommand};
use setup::CallerKind;

#[derive(Debug, Parser)]
#[command(
    name = "loadbench",
    about = "Benchmark plex-source-service against an in-memory tonic baseline"
)]
struct Args {
    #[command(subcommand)]
    command: Option<Internal>,
    #[command(flatten)]
    target: setup::Target,
    /// Distinct slugs the load asks for, spread evenly (the hot set of a
    /// deployment); at most `--sources`.
    #[arg(long, default_value_t = 1000)]
    hot_set: usize,
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
    /// Who calls RetrievePlexSource: a viewer, or a caller that receives
    /// the Plex token (the login path).
    #[arg(long, value_enum, default_value_t = CallerKind::Viewer)]
    caller: CallerKind,
    /// UpdatePlexSource calls per second during the service's rounds
    /// (warm-up included), one at a time on a connection of their own, by a
    /// caller with global change permission; 0 makes none.
    #[arg(long, default_value_t = 0)]
    write_rate: u32,
    /// Sources the paced writes rename in turn; they are loaded after the
    /// `--sources`, so the reads never ask for them.
    #[arg(long, default_value_t = 50)]
    write_set: usize,
    /// Also drive authentik's REST retrieve (`GET /api/v3/sources/plex/{slug}/`)
    /// on the service's port in each round, with the same concurrency over
    /// as many HTTP/2 keep-alive connections, and compare it with
    /// RetrievePlexSource.
    #[arg(long)]
    rest: bool,
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
    /// Watch fan-out: many open WatchPlexSources streams, updates one at a
    /// time; reports delivery latency, missed events, stream errors and the
    /// service's resident memory.
    Watch(Box<watch::WatchArgs>),
    /// Write throughput: concurrent UpdatePlexSource, then concurrent
    /// CreatePlexSource; reports writes/s, latency and errors by code.
    Writes(Box<writes::WritesArgs>),
    /// Hostile callers beside a viewer: oversized creates by a token
    /// without grants (peak memory), then a flood of distinct bogus keys
    /// (the viewer's latency, the key lookups it cost).
    Hostile(Box<hostile::HostileArgs>),
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match args.command {
        Some(Internal::Baseline { listen }) => runtime.block_on(baseline::serve(listen)),
        Some(Internal::Soak(soak)) => runtime.block_on(soak::run(*soak)),
        Some(Internal::Watch(watch)) => runtime.block_on(watch::run(*watch)),
        Some(Internal::Writes(writes)) => runtime.block_on(writes::run(*writes)),
        Some(Internal::Hostile(hostile)) => runtime.block_on(hostile::run(*hostile)),
        None => runtime.block_on(run(args)),
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let backends = args.target.backends()?;
    let service_bin = setup::service_binary(args.target.service_bin.clone())?;
    let sources = args.target.sources;
    println!(
        "loadbench: {} sources, hot set {}, {} connections, {} in flight, warm-up {:?}, {} x {:?} per backend and round",
        sources,
        args.hot_set.min(sources),
        args.connections,
        args.concurrency,
        args.warmup,
        args.rounds,
        args.duration
    );
    println!("caller: {}", args.caller.describe());
    if args.rest {
        println!(
            "rest: GET /api/v3/sources/plex/{{slug}}/ each round, {} HTTP/2 connections, {} in flight",
            args.connections, args.concurrency
        );
    }
    if args.write_rate > 0 {
        println!(
            "writes: {}/s UpdatePlexSource of name during the service's rounds, on {} more sources outside the hot set",
            args.write_rate,
            args.write_set.max(1)
        );
    }
    println!("machine: {}", setup::machine());
    let mut reports = Vec::new();
    for backend in &backends {
        reports.push(load::measure_backend(&args, &service_bin, backend).await?);
    }
    println!();
    for report in &reports {
        report.print();
    }
    Ok(())
}
