//! Watch fan-out: how long one update takes to reach every one of many open
//! WatchPlexSources streams, whether any stream misses it, and what holding
//! the streams costs the service in memory.
//!
//! Streams are opened without a snapshot, spread evenly over the
//! connections, one client task each. A first update (the warm-up) must
//! reach every stream before anything is measured: that proves each is
//! live, as the call returning only says the server accepted it. Then
//! `--updates` renames are made one at a time; for each, the time its
//! acknowledgement came back, and on every stream the time its event came.
//! UpdatePlexSource's answer carries no revision, so each update gives a
//! name no other does, and events are matched to updates by that name (and
//! each update's revision is checked to be the same on every stream).

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use hdrhistogram::Histogram;
use plex_source_service::proto::{self as pb, plex_source_service_client::PlexSourceServiceClient};
use tokio::sync::{Semaphore, watch};
use tonic::{
    metadata::{Ascii, MetadataValue},
    transport::Channel,
};

use crate::{
    calls, driver,
    setup::{self, CallerKind, Service},
};

#[derive(Debug, clap::Args)]
pub struct WatchArgs {
    #[command(flatten)]
    target: setup::Target,
    /// Open WatchPlexSources streams (without the initial snapshot).
    #[arg(long, default_value_t = 1000)]
    watchers: usize,
    /// HTTP/2 connections the streams are spread over; the service is
    /// started allowing at least watchers / connections streams on each
    /// (`--max-concurrent-streams`, default 100).
    #[arg(long, default_value_t = 100)]
    connections: usize,
    /// Updates measured, one at a time, each after the previous one's
    /// acknowledgement.
    #[arg(long, default_value_t = 20)]
    updates: usize,
    /// From the start of one update to the start of the next.
    #[arg(long, default_value = "500ms", value_parser = humantime::parse_duration)]
    interval: Duration,
    /// Longest wait for the streams to open, for the warm-up update to reach
    /// them all, and for the last updates after the final one.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    drain: Duration,
    /// Who watches: a viewer, or a caller whose events carry the Plex token.
    #[arg(long, value_enum, default_value_t = CallerKind::Viewer)]
    caller: CallerKind,
}

/// Watch calls in flight while opening: the figures sought are those of
/// streams held open, not of a reconnection storm.
const OPENING: usize = 256;

/// Prefix of the names the updates give; the update's number follows.
const NAME: &str = "Watched update ";

/// What the streams report to the run as it goes.
struct Progress {
    /// Streams whose call returned, OK or not.
    settled: AtomicUsize,
    opened: AtomicUsize,
    /// Open streams that failed or ended since: no longer waited for.
    broken: AtomicUsize,
    /// Streams that received update k (0 is the warm-up).
    received: Vec<AtomicUsize>,
}

/// What one stream saw.
#[derive(Default)]
struct Seen {
    /// (update number, revision, arrival).
    events: Vec<(usize, i64, Instant)>,
    /// Events of no update of this run.
    other: u64,
    /// How the stream failed, when it did before the run ended.
    error: Option<String>,
}

pub async fn run(args: WatchArgs) -> anyhow::Result<()> {
    let backends = args.target.backends()?;
    let bin = setup::service_binary(args.target.service_bin.clone())?;
    let sources = args.target.sources;
    anyhow::ensure!(sources > 0, "--sources must be at least 1");
    let connections = args.connections.max(1);
    let per_connection = args.watchers.div_ceil(connections).max(100);
    let service_flags = [
        "--max-concurrent-streams".to_owned(),
        per_connection.to_string(),
        "--max-watch-streams".to_owned(),
        args.watchers.max(20_000).to_string(),
    ];
    let service_flags: Vec<&str> = service_flags.iter().map(String::as_str).collect();
    println!(
        "watch: {sources} sources, {} streams on {connections} connections, {} updates every {:?}; service {}",
        args.watchers,
        args.updates,
        args.interval,
        service_flags.join(" ")
    );
    println!("caller: {}", args.caller.describe());
    println!("machine: {}", setup::machine());

    for backend in &backends {
        let db = setup::loaded(&bin, backend, sources)?;
        let watcher = setup::caller(&bin, &db.url, "watcher", args.caller.grants())?;
        let writer_key = setup::caller(
            &bin,
            &db.url,
            "writer",
            &[setup::VIEWER, setup::EDITOR].concat(),
        )?;
        let mut service = Service::start(&bin, &db.url, &service_flags, true).await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (before_kib, _) = service.memory_kib();

        // The streams, each in a task of its own until `stop`.
        let progress = Arc::new(Progress {
            settled: AtomicUsize::new(0),
            opened: AtomicUsize::new(0),
            broken: AtomicUsize::new(0),
            received: (0..=args.updates).map(|_| AtomicUsize::new(0)).collect(),
        });
        let (stop, stopped) = watch::channel(false);
        let opening = Arc::new(Semaphore::new(OPENING));
        let channels = setup::channels(&service.addr, connections).await?;
        let auth = calls::bearer(&watcher);
        let open_start = Instant::now();
        let streams: Vec<_> = (0..args.watchers)
            .map(|w| {
                tokio::spawn(hold(
                    channels[w % connections].clone(),
                    auth.clone(),
                    opening.clone(),
                    progress.clone(),
                    stopped.clone(),
                ))
            })
            .collect();
        let deadline = Instant::now() + args.drain;
        wait_for(deadline, || {
            progress.settled.load(Ordering::Acquire) >= args.watchers
        })
        .await;
        let opened = progress.opened.load(Ordering::Acquire);
        let open_took = open_start.elapsed();
        eprintln!(
            "{}: {opened} of {} streams open in {open_took:.2?}",
            backend.name(),
            args.watchers
        );

        // The warm-up: every open stream must receive it.
        let writes = setup::channels(&service.addr, 1).await?.remove(0);
        let mut writer = Writer {
            client: PlexSourceServiceClient::new(writes),
            auth: calls::bearer(&writer_key),
            sources,
        };
        let warm_start = Instant::now();
        writer.update(0).await?;
        let deadline = Instant::now() + args.drain;
        wait_for(deadline, || progress.all_received(0, opened)).await;
        let warm_took = warm_start.elapsed();
        let warm_reached = progress.received[0].load(Ordering::Acquire);
        let (open_kib, _) = service.memory_kib();

        // The measured updates, one at a time.
        let mut acks: BTreeMap<usize, Instant> = BTreeMap::new();
        let mut ack_hist = driver::latency_histogram();
        let mut update_errors: BTreeMap<String, u64> = BTreeMap::new();
        let mut tick = tokio::time::interval(args.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        for k in 1..=args.updates {
            tick.tick().await;
            let sent = Instant::now();
            let result = writer.update(k).await;
            let at = Instant::now();
            if result.is_ok() {
                let _ = ack_hist.record((at - sent).as_micros().max(1) as u64);
                acks.insert(k, at);
            } else {
                *update_errors.entry(calls::outcome(&result)).or_default() += 1;
            }
        }
        let deadline = Instant::now() + args.drain;
        wait_for(deadline, || {
            acks.keys().all(|&k| progress.all_received(k, opened))
        })
        .await;
        let (after_kib, peak_kib) = service.memory_kib();
        let alive = service.exited().is_none();

        stop.send_replace(true);
        let mut seen = Vec::new();
        for stream in streams {
            seen.push(stream.await?);
        }

        // The report.
        let tally = Tally::of(&seen, &acks);
        let expected = (args.watchers * acks.len()) as u64;
        let ms = |us: u64| us as f64 / 1000.0;
        let mib = |kib: u64| kib as f64 / 1024.0;

        println!();
        println!(
            "== watch, {} ({sources} sources, {} streams on {connections} connections, caller {}) ==",
            backend.name(),
            args.watchers,
            args.caller.describe()
        );
        println!(
            "streams open: {opened} of {} in {:.2} s; warm-up update reached {warm_reached} in {:.1} ms",
            args.watchers,
            open_took.as_secs_f64(),
            warm_took.as_secs_f64() * 1000.0
        );
        println!(
            "updates: {} acknowledged (p50 {:.2} ms, max {:.2} ms), failed {:?}",
            acks.len(),
            ms(ack_hist.value_at_quantile(0.5)),
            ms(ack_hist.max()),
            update_errors
        );
        println!(
            "delivery after acknowledgement: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms over {} (stream, update) pairs; {} arrived before the acknowledgement",
            ms(tally.delivery.value_at_quantile(0.5)),
            ms(tally.delivery.value_at_quantile(0.99)),
            ms(tally.delivery.max()),
            tally.received,
            tally.early
        );
        println!(
            "missed events: {} of {expected}; duplicates {}; updates whose revision differed between streams {}; other events {}",
            expected.saturating_sub(tally.received),
            tally.duplicates,
            tally.inconsistent,
            tally.other
        );
        println!("stream errors: {:?}", tally.stream_errors);
        println!(
            "service RSS: before streams {:.1} MiB, all open {:.1} MiB ({:+.1} KiB a stream), after updates {:.1} MiB; peak {:.1} MiB",
            mib(before_kib),
            mib(open_kib),
            (open_kib as f64 - before_kib as f64) / opened.max(1) as f64,
            mib(after_kib),
            mib(peak_kib)
        );
        service.print_log();
        service.stop().await;
        anyhow::ensure!(alive, "the service exited during the run");
    }
    Ok(())
}

/// Opens one stream and records its events until `stop`.
async fn hold(
    channel: Channel,
    auth: MetadataValue<Ascii>,
    opening: Arc<Semaphore>,
    progress: Arc<Progress>,
    mut stop: watch::Receiver<bool>,
) -> Seen {
    let mut seen = Seen::default();
    let permit = opening.acquire_owned().await;
    let request = calls::authorized(
        pb::WatchPlexSourcesRequest {
            initial_snapshot: false,
            since_revision: None,
        },
        &auth,
    );
    let opened = PlexSourceServiceClient::new(channel)
        .watch_plex_sources(request)
        .await;
    drop(permit);
    let mut stream = match opened {
        Ok(reply) => {
            progress.opened.fetch_add(1, Ordering::AcqRel);
            progress.settled.fetch_add(1, Ordering::AcqRel);
            reply.into_inner()
        }
        Err(status) => {
            progress.settled.fetch_add(1, Ordering::AcqRel);
            seen.error = Some(format!("open: {:?}", status.code()));
            return seen;
        }
    };
    loop {
        tokio::select! {
            _ = stop.wait_for(|stop| *stop) => break,
            message = stream.message() => match message {
                Ok(Some(event)) => {
                    let at = Instant::now();
                    match update_number(&event) {
                        Some(k) if k < progress.received.len() => {
                            seen.events.push((k, event.revision, at));
                            progress.received[k].fetch_add(1, Ordering::AcqRel);
                        }
                        _ => seen.other += 1,
                    }
                }
                Ok(None) => {
                    seen.error = Some("ended by the server".into());
                    break;
                }
                Err(status) => {
                    seen.error = Some(format!("{:?}", status.code()));
                    break;
                }
            },
        }
    }
    if seen.error.is_some() {
        progress.broken.fetch_add(1, Ordering::AcqRel);
    }
    seen
}

impl Progress {
    /// Whether update `k` reached every one of the `opened` streams that is
    /// still open.
    fn all_received(&self, k: usize, opened: usize) -> bool {
        self.received[k].load(Ordering::Acquire) + self.broken.load(Ordering::Acquire) >= opened
    }
}

/// The run's figures, from what the streams saw.
struct Tally {
    /// Arrival after acknowledgement, in µs (0 when it came before).
    delivery: Histogram<u64>,
    /// (stream, update) pairs received, each counted once.
    received: u64,
    duplicates: u64,
    /// Events that arrived before their update's acknowledgement.
    early: u64,
    /// Updates whose event carried different revisions on different streams.
    inconsistent: usize,
    other: u64,
    /// How streams failed → streams.
    stream_errors: BTreeMap<String, u64>,
}

impl Tally {
    /// Over the updates acknowledged (`acks`); the warm-up is left out.
    fn of(seen: &[Seen], acks: &BTreeMap<usize, Instant>) -> Self {
        let mut tally = Tally {
            delivery: driver::latency_histogram(),
            received: 0,
            duplicates: 0,
            early: 0,
            inconsistent: 0,
            other: 0,
            stream_errors: BTreeMap::new(),
        };
        let mut revisions: BTreeMap<usize, BTreeSet<i64>> = BTreeMap::new();
        for s in seen {
            tally.other += s.other;
            if let Some(error) = &s.error {
                *tally.stream_errors.entry(error.clone()).or_default() += 1;
            }
            let mut got = BTreeSet::new();
            for &(k, revision, at) in &s.events {
                revisions.entry(k).or_default().insert(revision);
                let Some(&ack) = acks.get(&k) else { continue };
                if !got.insert(k) {
                    tally.duplicates += 1;
                    continue;
                }
                tally.received += 1;
                if at < ack {
                    tally.early += 1;
                }
                let after = at.saturating_duration_since(ack).as_micros().max(1) as u64;
                let _ = tally.delivery.record(after);
            }
        }
        tally.inconsistent = revisions.values().filter(|r| r.len() > 1).count();
        tally
    }
}

/// The update an event reports, by the name that update gave.
fn update_number(event: &pb::WatchPlexSourcesResponse) -> Option<usize> {
    if event.kind != pb::EventKind::Updated as i32 {
        return None;
    }
    event
        .plex_source
        .as_ref()?
        .name
        .strip_prefix(NAME)?
        .parse()
        .ok()
}

/// Makes the numbered updates, on a connection of its own.
struct Writer {
    client: PlexSourceServiceClient<Channel>,
    auth: MetadataValue<Ascii>,
    sources: usize,
}

impl Writer {
    /// Update `k`: a rename of source `k` (modulo the sources) to a name
    /// only it gives.
    async fn update(&mut self, k: usize) -> Result<(), tonic::Status> {
        let rename = calls::rename(format!("bench-{}", k % self.sources), format!("{NAME}{k}"));
        self.client
            .update_plex_source(calls::authorized(rename, &self.auth))
            .await
            .map(drop)
    }
}

/// Polls `done` every millisecond until it holds or `deadline` passes.
/// The arrival times are taken by the streams, not here.
async fn wait_for(deadline: Instant, done: impl Fn() -> bool) {
    while !done() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}
