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

use std::{
    collections::BTreeMap,
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::Context;
use plex_source_service::proto::{self as pb, plex_source_service_client::PlexSourceServiceClient};
use tonic::metadata::MetadataValue;

use crate::setup::{self, Backend, Service};

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

/// Kinds of unary call in the mix.
const KINDS: [&str; 4] = [
    "RetrievePlexSource (viewer)",
    "RetrievePlexSource (token reader)",
    "ListPlexSources (page)",
    "UpdatePlexSource",
];
const RETRIEVE_VIEWER: usize = 0;
const RETRIEVE_SECRET: usize = 1;
const LIST: usize = 2;
const UPDATE: usize = 3;

/// Counters shared by every task of the run.
#[derive(Default)]
struct Stats {
    ok: [AtomicU64; 4],
    /// (what, gRPC code or check) → count.
    errors: Mutex<BTreeMap<(String, String), u64>>,
    /// First message of each (what, code), for the report.
    first_message: Mutex<BTreeMap<(String, String), String>>,
    events: AtomicU64,
}

impl Stats {
    fn error(&self, what: &str, code: &str, message: String) {
        let key = (what.to_owned(), code.to_owned());
        *self
            .errors
            .lock()
            .expect("stats")
            .entry(key.clone())
            .or_default() += 1;
        self.first_message
            .lock()
            .expect("stats")
            .entry(key)
            .or_insert(message);
    }

    fn status(&self, kind: usize, status: &tonic::Status) {
        self.error(
            KINDS[kind],
            &format!("{:?}", status.code()),
            status.message().to_owned(),
        );
    }

    fn error_count(&self) -> u64 {
        self.errors.lock().expect("stats").values().sum()
    }

    fn calls(&self) -> u64 {
        self.ok
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum::<u64>()
            + self.error_count()
    }
}

/// What one watcher saw.
#[derive(Default)]
struct Watched {
    updated: u64,
    other_kinds: u64,
    out_of_order: u64,
    /// The stream failed or ended before the run did.
    broken: bool,
}

struct Sample {
    at: Duration,
    rss_kib: u64,
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
    let mut streams = Vec::new();
    for w in 0..args.watchers {
        let mut client =
            PlexSourceServiceClient::new(watch_channels[w % watch_connections].clone());
        let mut request = tonic::Request::new(pb::WatchPlexSourcesRequest {
            initial_snapshot: false,
            since_revision: None,
        });
        request
            .metadata_mut()
            .insert("authorization", viewer_auth.clone());
        let stream = client
            .watch_plex_sources(request)
            .await
            .with_context(|| format!("opening watcher {w}"))?
            .into_inner();
        streams.push(stream);
    }
    eprintln!("{} watchers open", args.watchers);

    let start = Instant::now();
    let stop = start + args.duration;
    let drain_until = stop + args.drain;
    let update_ok = Arc::new(AtomicU64::new(0));

    let mut watchers = Vec::new();
    for mut stream in streams {
        let stats = stats.clone();
        let done = updates_done.clone();
        let update_ok = update_ok.clone();
        watchers.push(tokio::spawn(async move {
            let mut seen = Watched::default();
            let mut last_revision = i64::MIN;
            loop {
                let now = Instant::now();
                if now >= drain_until
                    || (done.load(Ordering::Acquire)
                        && seen.updated >= update_ok.load(Ordering::Acquire))
                {
                    break;
                }
                let wait = (now + Duration::from_millis(500)).min(drain_until);
                match tokio::time::timeout_at(wait.into(), stream.message()).await {
                    Err(_) => continue,
                    Ok(Ok(Some(event))) => {
                        stats.events.fetch_add(1, Ordering::Relaxed);
                        if event.revision <= last_revision {
                            seen.out_of_order += 1;
                        }
                        last_revision = event.revision;
                        if event.kind == pb::EventKind::Updated as i32 {
                            seen.updated += 1;
                            if event
                                .plex_source
                                .as_ref()
                                .is_some_and(|s| !s.plex_token.is_empty())
                            {
                                stats.error(
                                    "WatchPlexSources",
                                    "check: token shown to a viewer",
                                    event.slug.clone(),
                                );
                            }
                        } else {
                            seen.other_kinds += 1;
                        }
                    }
                    Ok(Ok(None)) => {
                        stats.error(
                            "WatchPlexSources",
                            "stream ended",
                            "the server closed the stream".into(),
                        );
                        seen.broken = true;
                        break;
                    }
                    Ok(Err(status)) => {
                        stats.error(
                            "WatchPlexSources",
                            &format!("{:?}", status.code()),
                            status.message().to_owned(),
                        );
                        seen.broken = true;
                        break;
                    }
                }
            }
            seen
        }));
    }

    // Reads.
    let read_channels = setup::channels(&service.addr, args.connections).await?;
    let secret_auth: MetadataValue<_> = format!("Bearer {secret}").parse()?;
    let mut readers = Vec::new();
    for worker in 0..args.concurrency.max(1) {
        let mut client =
            PlexSourceServiceClient::new(read_channels[worker % read_channels.len()].clone());
        let stats = stats.clone();
        let viewer_auth = viewer_auth.clone();
        let secret_auth = secret_auth.clone();
        let sources = args.sources;
        let page_size = args.page_size;
        readers.push(tokio::spawn(async move {
            let mut i = worker * 7919;
            let mut page_token = String::new();
            while Instant::now() < stop {
                i += 1;
                let n = i % sources;
                // Per ten calls: six viewer retrieves, two token reads, two
                // list pages.
                match i % 10 {
                    0..=5 => {
                        let mut request = tonic::Request::new(pb::RetrievePlexSourceRequest {
                            slug: format!("bench-{n}"),
                        });
                        request
                            .metadata_mut()
                            .insert("authorization", viewer_auth.clone());
                        match client.retrieve_plex_source(request).await {
                            Ok(reply) if reply.get_ref().plex_token.is_empty() => {
                                stats.ok[RETRIEVE_VIEWER].fetch_add(1, Ordering::Relaxed);
                            }
                            Ok(_) => stats.error(
                                KINDS[RETRIEVE_VIEWER],
                                "check: token shown to a viewer",
                                format!("bench-{n}"),
                            ),
                            Err(status) => stats.status(RETRIEVE_VIEWER, &status),
                        }
                    }
                    6 | 7 => {
                        let mut request = tonic::Request::new(pb::RetrievePlexSourceRequest {
                            slug: format!("bench-{n}"),
                        });
                        request
                            .metadata_mut()
                            .insert("authorization", secret_auth.clone());
                        match client.retrieve_plex_source(request).await {
                            Ok(reply)
                                if reply.get_ref().plex_token == format!("owner-token-{n}") =>
                            {
                                stats.ok[RETRIEVE_SECRET].fetch_add(1, Ordering::Relaxed);
                            }
                            Ok(reply) => stats.error(
                                KINDS[RETRIEVE_SECRET],
                                "check: wrong or missing token",
                                format!("bench-{n}: {:?}", reply.get_ref().plex_token),
                            ),
                            Err(status) => stats.status(RETRIEVE_SECRET, &status),
                        }
                    }
                    _ => {
                        let mut request = tonic::Request::new(pb::ListPlexSourcesRequest {
                            page_size,
                            page_token: std::mem::take(&mut page_token),
                            ..Default::default()
                        });
                        request
                            .metadata_mut()
                            .insert("authorization", viewer_auth.clone());
                        match client.list_plex_sources(request).await {
                            Ok(reply) => {
                                let page = reply.into_inner();
                                if page.plex_sources.is_empty()
                                    || page.plex_sources.iter().any(|s| !s.plex_token.is_empty())
                                {
                                    stats.error(
                                        KINDS[LIST],
                                        "check: empty page or token shown",
                                        format!("{} rows", page.plex_sources.len()),
                                    );
                                } else {
                                    stats.ok[LIST].fetch_add(1, Ordering::Relaxed);
                                }
                                // The next call takes the next page; after
                                // the last, the first again.
                                page_token = page.next_page_token;
                            }
                            Err(status) => stats.status(LIST, &status),
                        }
                    }
                }
            }
        }));
    }

    // Updates, at a fixed rate, one at a time.
    let update_channel = setup::channels(&service.addr, 1).await?.remove(0);
    let updater = {
        let stats = stats.clone();
        let update_ok = update_ok.clone();
        let done = updates_done.clone();
        let writer_auth: MetadataValue<_> = format!("Bearer {writer}").parse()?;
        let set = args.update_set.clamp(1, args.sources);
        let step = (args.sources / set).max(1);
        let every = Duration::from_secs(1) / args.update_rate;
        tokio::spawn(async move {
            let mut client = PlexSourceServiceClient::new(update_channel);
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut k: usize = 0;
            loop {
                tick.tick().await;
                if Instant::now() >= stop {
                    break;
                }
                let n = (k % set) * step;
                let mut request = pb::UpdatePlexSourceRequest {
                    slug: format!("bench-{n}"),
                    plex_source: Some(pb::PlexSource {
                        allowed_servers: vec![format!("server-{n}-{k}")],
                        ..Default::default()
                    }),
                    update_mask: Some(Default::default()),
                };
                if let Some(mask) = request.update_mask.as_mut() {
                    mask.paths.push("allowed_servers".into());
                }
                k += 1;
                let mut request = tonic::Request::new(request);
                request
                    .metadata_mut()
                    .insert("authorization", writer_auth.clone());
                match client.update_plex_source(request).await {
                    Ok(_) => {
                        stats.ok[UPDATE].fetch_add(1, Ordering::Relaxed);
                        update_ok.fetch_add(1, Ordering::Release);
                    }
                    Err(status) => stats.status(UPDATE, &status),
                }
            }
            done.store(true, Ordering::Release);
        })
    };

    // Memory samples, with a progress line each.
    let mut samples = vec![Sample {
        at: Duration::ZERO,
        rss_kib: service.memory_kib().0,
    }];
    loop {
        let next = start + args.sample_every * samples.len() as u32;
        if next > stop {
            break;
        }
        tokio::time::sleep_until(next.into()).await;
        if let Some(exit) = service.exited() {
            anyhow::bail!("the service exited during the run: {exit}");
        }
        let (rss_kib, _) = service.memory_kib();
        samples.push(Sample {
            at: start.elapsed(),
            rss_kib,
        });
        eprintln!(
            "{:>5.0} s  RSS {:>6.1} MiB  calls {:>9}  updates {:>6}  events {:>9}  errors {}",
            start.elapsed().as_secs_f64(),
            rss_kib as f64 / 1024.0,
            stats.calls(),
            update_ok.load(Ordering::Relaxed),
            stats.events.load(Ordering::Relaxed),
            stats.error_count()
        );
    }

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
    let updates = update_ok.load(Ordering::Relaxed);
    let secs = load_took.as_secs_f64().min(args.duration.as_secs_f64());
    println!();
    println!(
        "== soak, {}: {} sources, {:.0} s of load ==",
        backend.name(),
        args.sources,
        args.duration.as_secs_f64()
    );
    println!("{:<36} {:>10} {:>10}", "call", "OK", "per s");
    for (kind, name) in KINDS.iter().enumerate() {
        let n = stats.ok[kind].load(Ordering::Relaxed);
        println!("{name:<36} {n:>10} {:>10.0}", n as f64 / secs);
    }
    let errors = stats.errors.lock().expect("stats").clone();
    let first = stats.first_message.lock().expect("stats").clone();
    if errors.is_empty() {
        println!("errors: none");
    } else {
        println!("errors:");
        for ((what, code), n) in &errors {
            let message = first
                .get(&(what.clone(), code.clone()))
                .map(String::as_str)
                .unwrap_or("");
            println!("  {what:<34} {code:<28} {n:>8}  first: {message}");
        }
    }
    let received: Vec<u64> = seen.iter().map(|w| w.updated).collect();
    let exact = seen
        .iter()
        .filter(|w| w.updated == updates && !w.broken)
        .count();
    let other: u64 = seen.iter().map(|w| w.other_kinds).sum();
    let disorder: u64 = seen.iter().map(|w| w.out_of_order).sum();
    println!(
        "watchers: {} streams, {} UPDATED events in all (min {} / max {} per stream, {} updates made); {} of {} saw every update; other kinds {}, out of order {}",
        seen.len(),
        received.iter().sum::<u64>(),
        received.iter().min().copied().unwrap_or(0),
        received.iter().max().copied().unwrap_or(0),
        updates,
        exact,
        seen.len(),
        other,
        disorder
    );
    let mib = |k: u64| k as f64 / 1024.0;
    let rss: Vec<u64> = samples.iter().map(|s| s.rss_kib).collect();
    let from = samples
        .iter()
        .find(|s| s.at >= args.growth_from)
        .unwrap_or(&samples[0]);
    println!(
        "service RSS: idle before load {:.1} MiB; {} samples every {:?}: first {:.1}, min {:.1}, max {:.1}, last {:.1} MiB; peak (VmHWM) {:.1} MiB",
        mib(idle_kib),
        samples.len(),
        args.sample_every,
        mib(rss[0]),
        mib(rss.iter().copied().min().unwrap_or(0)),
        mib(rss.iter().copied().max().unwrap_or(0)),
        mib(last_kib),
        mib(peak_kib)
    );
    println!(
        "RSS growth from {:.0} s to the end ({:.0} s): {:+.1} MiB ({:.1} -> {:.1})",
        from.at.as_secs_f64(),
        samples.last().map_or(0.0, |s| s.at.as_secs_f64()),
        (last_kib as f64 - from.rss_kib as f64) / 1024.0,
        mib(from.rss_kib),
        mib(last_kib)
    );
    println!(
        "RSS series (MiB): {}",
        rss.iter()
            .map(|k| format!("{:.1}", mib(*k)))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let log_errors = service.print_log();

    anyhow::ensure!(alive, "the service exited during the run");
    anyhow::ensure!(errors.is_empty(), "{} errors", stats.error_count());
    anyhow::ensure!(
        exact == seen.len() && other == 0 && disorder == 0,
        "watchers did not each see the {updates} updates exactly once, in order"
    );
    anyhow::ensure!(log_errors == 0, "the service logged {log_errors} errors");
    Ok(())
}
