//! The load generator and one backend's measurement.

use std::{
    collections::BTreeMap,
    path::Path,
    process::Stdio,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context;
use hdrhistogram::Histogram;
use plex_source_service::proto::{self as pb, plex_source_service_client::PlexSourceServiceClient};
use tokio::{io::AsyncBufReadExt, process::Command};
use tonic::{metadata::MetadataValue, transport::Channel};

use crate::{
    Args,
    setup::{self, Backend},
};

/// One load run's figures.
#[derive(Clone)]
pub struct Run {
    pub rps: f64,
    pub hist: Histogram<u64>,
    pub statuses: BTreeMap<String, u64>,
}

impl Run {
    fn us(&self, q: f64) -> f64 {
        self.hist.value_at_quantile(q) as f64
    }
}

pub struct Report {
    backend: &'static str,
    sources: usize,
    baseline: Vec<Run>,
    service: Vec<Run>,
    startup: Duration,
    idle_kib: u64,
    peak_kib: u64,
    list_p50_us: f64,
    list_p99_us: f64,
    import: Option<(usize, Duration)>,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() { 0.0 } else { v[v.len() / 2] }
}

impl Report {
    pub fn print(&self) {
        println!("== {} ({} sources) ==", self.backend, self.sources);
        println!(
            "{:<10} {:>5} {:>10} {:>9} {:>9} {:>9} {:>9}  statuses",
            "server", "round", "req/s", "p50 us", "p90 us", "p99 us", "p99.9 us"
        );
        for (i, (b, s)) in self.baseline.iter().zip(&self.service).enumerate() {
            for (name, run) in [("baseline", b), ("service", s)] {
                println!(
                    "{:<10} {:>5} {:>10.0} {:>9.0} {:>9.0} {:>9.0} {:>9.0}  {:?}",
                    name,
                    i + 1,
                    run.rps,
                    run.us(0.5),
                    run.us(0.9),
                    run.us(0.99),
                    run.us(0.999),
                    run.statuses
                );
            }
        }
        let ratios: Vec<f64> = self
            .baseline
            .iter()
            .zip(&self.service)
            .map(|(b, s)| s.rps / b.rps)
            .collect();
        let p99s: Vec<f64> = self
            .baseline
            .iter()
            .zip(&self.service)
            .map(|(b, s)| s.us(0.99) / b.us(0.99))
            .collect();
        println!(
            "throughput service/baseline (median of rounds): {:.2}x",
            median(ratios)
        );
        println!(
            "p99 service/baseline (median of rounds):        {:.2}x",
            median(p99s)
        );
        println!(
            "service RetrievePlexSource (median of rounds):  {:.0} req/s",
            median(self.service.iter().map(|r| r.rps).collect())
        );
        println!(
            "ListPlexSources first page (sequential):        p50 {:.0} us, p99 {:.0} us",
            self.list_p50_us, self.list_p99_us
        );
        println!(
            "start to SERVING (migrated database):           {:.0} ms",
            self.startup.as_secs_f64() * 1000.0
        );
        println!(
            "service memory: idle {:.1} MiB, peak {:.1} MiB",
            self.idle_kib as f64 / 1024.0,
            self.peak_kib as f64 / 1024.0
        );
        if let Some((n, took)) = self.import {
            println!(
                "import of {n} sources: {:.2} s ({:.0} sources/s)",
                took.as_secs_f64(),
                n as f64 / took.as_secs_f64()
            );
        }
        println!();
    }
}

/// Everything measured for one backend.
pub async fn measure_backend(args: &Args, bin: &Path, backend: &Backend) -> anyhow::Result<Report> {
    let files_dir = tempfile::tempdir()?;
    let import = if args.import_sources > 0 {
        let scratch = backend.fresh()?;
        let files = setup::blueprints(&files_dir.path().join(""), args.import_sources)?;
        setup::cli(bin, &scratch.url, &["migrate"])?;
        let took = setup::import(bin, &scratch.url, &files)?;
        eprintln!(
            "{}: imported {} sources in {:.2?}",
            backend.name(),
            args.import_sources,
            took
        );
        Some((args.import_sources, took))
    } else {
        None
    };

    let db = backend.fresh()?;
    let data_dir = tempfile::tempdir()?;
    let files = setup::blueprints(data_dir.path(), args.sources)?;
    setup::import(bin, &db.url, &files)?;
    let key = setup::caller(bin, &db.url, "bench", args.caller.grants())?;
    eprintln!("{}: loaded {} sources", backend.name(), args.sources);

    // The service, on its already-migrated database.
    let port = setup::free_port()?;
    let addr = format!("127.0.0.1:{port}");
    let started = Instant::now();
    let mut service = Command::new(bin)
        .args(["serve", "--listen", &addr])
        .env("DATABASE_URL", &db.url)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let startup = setup::wait_serving(&addr, started).await?;
    let pid = service.id().context("service pid")?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (idle_kib, _) = setup::memory_kib(pid);

    // The baseline, in a process of its own as well.
    let mut baseline = Command::new(std::env::current_exe()?)
        .args(["baseline", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut lines =
        tokio::io::BufReader::new(baseline.stdout.take().context("baseline stdout")?).lines();
    let baseline_addr = lines.next_line().await?.context("baseline address")?;

    let hot = args.hot_set.clamp(1, args.sources.max(1));
    let step = (args.sources / hot).max(1);
    let slugs: Arc<Vec<String>> =
        Arc::new((0..hot).map(|i| format!("bench-{}", i * step)).collect());
    let service_channels = setup::channels(&addr, args.connections).await?;
    let baseline_channels = setup::channels(&baseline_addr, args.connections).await?;

    let mut baseline_runs = Vec::new();
    let mut service_runs = Vec::new();
    for round in 0..args.rounds {
        let b = drive(&baseline_channels, &key, &slugs, args).await;
        let s = drive(&service_channels, &key, &slugs, args).await;
        eprintln!(
            "{} round {}: baseline {:.0} req/s, service {:.0} req/s",
            backend.name(),
            round + 1,
            b.rps,
            s.rps
        );
        for run in [&b, &s] {
            let failures: u64 = run
                .statuses
                .iter()
                .filter(|(k, _)| k.as_str() != "Ok")
                .map(|(_, v)| v)
                .sum();
            anyhow::ensure!(failures == 0, "non-OK responses: {:?}", run.statuses);
        }
        baseline_runs.push(b);
        service_runs.push(s);
    }

    let (list_p50_us, list_p99_us) =
        list_latency(&service_channels[0], &key, args.list_calls).await?;
    let (_, peak_kib) = setup::memory_kib(pid);
    service.kill().await.ok();
    baseline.kill().await.ok();
    Ok(Report {
        backend: backend.name(),
        sources: args.sources,
        baseline: baseline_runs,
        service: service_runs,
        startup,
        idle_kib,
        peak_kib,
        list_p50_us,
        list_p99_us,
        import,
    })
}

/// `concurrency` loops of RetrievePlexSource over the hot slugs: a warm-up,
/// then `duration` of recorded calls.
async fn drive(channels: &[Channel], key: &str, slugs: &Arc<Vec<String>>, args: &Args) -> Run {
    let auth: MetadataValue<_> = format!("Bearer {key}").parse().expect("ascii key");
    let start = Instant::now();
    let record_from = start + args.warmup;
    let stop = record_from + args.duration;
    let mut tasks = Vec::new();
    for worker in 0..args.concurrency {
        let mut client = PlexSourceServiceClient::new(channels[worker % channels.len()].clone());
        let slugs = slugs.clone();
        let auth = auth.clone();
        tasks.push(tokio::spawn(async move {
            let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram");
            let mut statuses: BTreeMap<String, u64> = BTreeMap::new();
            let mut i = worker * 7919;
            loop {
                let now = Instant::now();
                if now >= stop {
                    break;
                }
                let slug = slugs[i % slugs.len()].clone();
                i += 1;
                let mut request = tonic::Request::new(pb::RetrievePlexSourceRequest { slug });
                request.metadata_mut().insert("authorization", auth.clone());
                let result = client.retrieve_plex_source(request).await;
                if now >= record_from {
                    let code = match &result {
                        Ok(_) => "Ok".to_owned(),
                        Err(status) => format!("{:?}", status.code()),
                    };
                    *statuses.entry(code).or_default() += 1;
                    let _ = hist.record(now.elapsed().as_micros().max(1) as u64);
                }
            }
            (hist, statuses)
        }));
    }
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram");
    let mut statuses: BTreeMap<String, u64> = BTreeMap::new();
    for task in tasks {
        if let Ok((h, s)) = task.await {
            let _ = hist.add(&h);
            for (k, v) in s {
                *statuses.entry(k).or_default() += v;
            }
        }
    }
    let calls: u64 = statuses.values().sum();
    Run {
        rps: calls as f64 / args.duration.as_secs_f64(),
        hist,
        statuses,
    }
}

/// First page of ListPlexSources, one call at a time: p50 and p99 in µs.
async fn list_latency(channel: &Channel, key: &str, calls: usize) -> anyhow::Result<(f64, f64)> {
    let mut client = PlexSourceServiceClient::new(channel.clone());
    let auth: MetadataValue<_> = format!("Bearer {key}").parse()?;
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    for i in 0..calls + 20 {
        let mut request = tonic::Request::new(pb::ListPlexSourcesRequest::default());
        request.metadata_mut().insert("authorization", auth.clone());
        let start = Instant::now();
        let page = client.list_plex_sources(request).await?.into_inner();
        anyhow::ensure!(!page.plex_sources.is_empty(), "empty first page");
        if i >= 20 {
            hist.record(start.elapsed().as_micros().max(1) as u64)?;
        }
    }
    Ok((
        hist.value_at_quantile(0.5) as f64,
        hist.value_at_quantile(0.99) as f64,
    ))
}
