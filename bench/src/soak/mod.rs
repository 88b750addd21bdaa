//! Soak run: one backend, a long mixed load with watchers, the service's
//! resident memory sampled throughout.
//!
//! The service (release build, its own process) is loaded with sources
//! through the real `import`. Watchers open `WatchPlexSources` streams
//! before any change is made, so each of them must receive every update the
//! run makes, in increasing revision order. Meanwhile a few connections carry
//! RetrievePlexSource by a viewer (who must not get the Plex token) and by a
//! holder of `view_plexsource_plex_token` (who must), ListPlexSources walked
//! page by page, and UpdatePlexSource at a fixed rate on a set of sources.
//! Every call and every stream outcome is counted by gRPC code; the run fails
//! on any error, wrong answer, or watcher that missed an update.
//!
//! [`load`] holds the watchers, the readers and the updater, each a task
//! counting what it sees in [`stats`]; [`sampling`] samples the service's
//! memory while they run; [`report`] prints what was counted and sampled
//! and gives the verdict. This module sets the run up and runs them.

mod load;
mod report;
mod sampling;
mod stats;

use std::{
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use tonic::metadata::MetadataValue;

use crate::setup::{self, Backend, Service};
use report::Measured;
use sampling::Sample;
use stats::Stats;

#[derive(Debug, clap::Args)]
pub struct SoakArgs {
    /// Backend to soak: sqlite or postgres.
    #[arg(long, default_value = "postgres")]
    backend: String,
    /// PostgreSQL server on which a scratch database is created and dropped.
    #[arg(
        long,
        env = "LOADBENCH_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    postgres_url: String,
    /// Length of the load (watchers then get `--drain` to receive the last
    /// updates).
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Plex sources loaded into the database.
    #[arg(long, default_value_t = 1000)]
    sources: usize,
    /// Open WatchPlexSources streams, held for the whole run.
    #[arg(long, default_value_t = 200)]
    watchers: usize,
    /// HTTP/2 connections the watchers share (at most 100 streams each, the
    /// service's default `--max-concurrent-streams`).
    #[arg(long, default_value_t = 4)]
    watch_connections: usize,
    /// HTTP/2 connections of the read load.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Read calls in flight (retrieves and list pages).
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// UpdatePlexSource calls per second (one at a time, on a connection of
    /// their own).
    #[arg(long, default_value_t = 20)]
    update_rate: u32,
    /// Distinct sources the updates go to, spread evenly.
    #[arg(long, default_value_t = 50)]
    update_set: usize,
    /// ListPlexSources page size.
    #[arg(long, default_value_t = 100)]
    page_size: i32,
    /// How often the service's resident memory is sampled.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    sample_every: Duration,
    /// Memory growth is reported from this point of the run to its end
    /// (start-up and cache filling come before it).
    #[arg(long, default_value = "2m", value_parser = humantime::parse_duration)]
    growth_from: Duration,
    /// Longest the watchers wait, after the load, for the last updates.
    #[arg(long, default_value = "15s", value_parser = humantime::parse_duration)]
    drain: Duration,
    /// The service binary (default: next to this one, built if missing).
    #[arg(long)]
    service_bin: Option<PathBuf>,
}

pub async fn run(args: SoakArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.sources > 0, "--sources must be at least 1");
    anyhow::ensure!(args.update_rate > 0, "--update-rate must be at least 1");
    let watch_connections = args
        .watch_connections
        .max(args.watchers.div_ceil(100))
        .max(1);
    let bin = setup::service_binary(args.service_bin.clone())?;
    let backend = Backend::parse(&args.backend, &args.postgres_url)?;
    println!(
        "soak: {}, {} sources, {:?}; {} watchers on {} connections; reads {} in flight on {} connections; {} updates/s on {} sources",
        backend.name(),
        args.sources,
        args.duration,
        args.watchers,
        watch_connections,
        args.concurrency,
        args.connections,
        args.update_rate,
        args.update_set.clamp(1, args.sources)
    );
    println!("machine: {}", setup::machine());

    // Data and callers, through the service's own commands.
    let db = setup::loaded(&bin, &backend, args.sources)?;
    let viewer = setup::caller(&bin, &db.url, "viewer", setup::VIEWER)?;
    let secret = setup::caller(&bin, &db.url, "token-reader", setup::TOKEN_READER)?;
    let writer = setup::caller(
        &bin,
        &db.url,
        "writer",
        &[
            "authentik_sources_plex.view_plexsource",
            "authentik_sources_plex.change_plexsource",
        ],
    )?;

    // The service, its warnings and errors kept in a log file.
    let mut service = Service::start(&bin, &db.url, &[], true).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (idle_kib, _) = service.memory_kib();

    let stats = Arc::new(Stats::default());
    let updates_done = Arc::new(AtomicBool::new(false));

    // Watchers first: each stream's starting point is fixed when its call
    // returns, so every update made from here on is owed to every watcher.
    let watch_channels = setup::channels(&service.addr, watch_connections).await?;
    let viewer_auth: MetadataValue<_> = format!("Bearer {viewer}").parse()?;
    let streams = load::open_watchers(&watch_channels, args.watchers, &viewer_auth).await?;
    eprintln!("{} watchers open", args.watchers);

    let start = Instant::now();
    let stop = start + args.duration;
    let drain_until = stop + args.drain;
    let update_ok = Arc::new(AtomicU64::new(0));

    let watchers = load::spawn_watchers(streams, &stats, &updates_done, &update_ok, drain_until);

    // Reads.
    let read_channels = setup::channels(&service.addr, args.connections).await?;
    let secret_auth: MetadataValue<_> = format!("Bearer {secret}").parse()?;
    let readers = load::spawn_readers(
        &read_channels,
        &args,
        &stats,
        &viewer_auth,
        &secret_auth,
        stop,
    );

    // Updates, at a fixed rate, one at a time.
    let update_channel = setup::channels(&service.addr, 1).await?.remove(0);
    let writer_auth: MetadataValue<_> = format!("Bearer {writer}").parse()?;
    let updater = load::spawn_updater(
        update_channel,
        writer_auth,
        &args,
        &stats,
        &update_ok,
        &updates_done,
        stop,
    );

    // Memory samples, with a progress line each.
    let mut samples =
        sampling::sample(&mut service, &args, start, stop, &stats, &update_ok).await?;

    for reader in readers {
        reader.await?;
    }
    updater.await?;
    let load_took = start.elapsed();
    let mut seen = Vec::new();
    for watcher in watchers {
        seen.push(watcher.await?);
    }
    let (last_kib, peak_kib) = service.memory_kib();
    samples.push(Sample {
        at: start.elapsed(),
        rss_kib: last_kib,
    });
    let alive = service.exited().is_none();
    service.stop().await;

    // The report.
    let measured = Measured {
        updates: update_ok.load(Ordering::Relaxed),
        load_took,
        seen,
        samples,
        idle_kib,
        last_kib,
        peak_kib,
        alive,
    };
    report::report(&args, &backend, &stats, &service, measured)
}
