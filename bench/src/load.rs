//! The load generator and one backend's measurement.

use std::{
    path::Path,
    process::Stdio,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context;
use plex_source_service::proto::{self as pb, plex_source_service_client::PlexSourceServiceClient};
use tokio::{io::AsyncBufReadExt, process::Command};
use tonic::transport::Channel;

use crate::{
    Args, calls,
    driver::{self, Run},
    pacer::{self, Writes},
    rest,
    setup::{self, Backend, Service},
};

pub struct Report {
    backend: &'static str,
    sources: usize,
    caller: String,
    baseline: Vec<Run>,
    service: Vec<Run>,
    /// The paced writes of each service round; empty without `--write-rate`.
    writes: Vec<Writes>,
    /// With `--write-rate`: a round of the same service without writes
    /// right before each round with them, so that both are compared in
    /// the same conditions.
    quiet: Vec<Run>,
    startup: Duration,
    idle_kib: u64,
    /// The service's CPU time per call in each round, in µs: its cost,
    /// less sensitive than throughput to what else runs on the machine.
    cpu_per_call: Vec<f64>,
    peak_kib: u64,
    /// With `--rest`: the REST retrieve's run of each round, right after
    /// the gRPC one, and the service's CPU time per REST call.
    rest: Vec<Run>,
    rest_cpu_per_call: Vec<f64>,
    list_p50_us: f64,
    list_p99_us: f64,
    import: Option<(usize, Duration)>,
}

/// One round of one server: rate, latency percentiles and statuses.
fn print_row(name: &str, round: usize, run: &Run) {
    println!(
        "{:<10} {:>5} {:>10.0} {:>9.0} {:>9.0} {:>9.0} {:>9.0}  {:?}",
        name,
        round + 1,
        run.rps,
        run.us(0.5),
        run.us(0.9),
        run.us(0.99),
        run.us(0.999),
        run.statuses
    );
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() { 0.0 } else { v[v.len() / 2] }
}

impl Report {
    pub fn print(&self) {
        println!(
            "== {} ({} sources, caller {}) ==",
            self.backend, self.sources, self.caller
        );
        println!(
            "{:<10} {:>5} {:>10} {:>9} {:>9} {:>9} {:>9}  statuses",
            "server", "round", "req/s", "p50 us", "p90 us", "p99 us", "p99.9 us"
        );
        for (i, (b, s)) in self.baseline.iter().zip(&self.service).enumerate() {
            print_row("baseline", i, b);
            print_row("service", i, s);
            if let Some(writes) = self.writes.get(i) {
                println!("{:<10} {:>5} {}", "", "", writes.summary());
            }
            if let Some(run) = self.quiet.get(i) {
                print_row("no writes", i, run);
            }
            if let Some(run) = self.rest.get(i) {
                print_row("rest", i, run);
            }
        }
        if !self.rest.is_empty() {
            let pairs = || self.service.iter().zip(&self.rest);
            println!(
                "REST retrieve (median of rounds):               {:.0} req/s, p50 {:.0} us, p99 {:.0} us",
                median(self.rest.iter().map(|r| r.rps).collect()),
                median(self.rest.iter().map(|r| r.us(0.5)).collect()),
                median(self.rest.iter().map(|r| r.us(0.99)).collect())
            );
            println!(
                "throughput REST/gRPC (median of rounds):        {:.2}x",
                median(pairs().map(|(g, r)| r.rps / g.rps).collect())
            );
            println!(
                "p50 REST/gRPC (median of rounds):               {:.2}x",
                median(pairs().map(|(g, r)| r.us(0.5) / g.us(0.5)).collect())
            );
            println!(
                "p99 REST/gRPC (median of rounds):               {:.2}x",
                median(pairs().map(|(g, r)| r.us(0.99) / g.us(0.99)).collect())
            );
            println!(
                "service CPU per REST call (median of rounds):   {:.1} us",
                median(self.rest_cpu_per_call.clone())
            );
        }
        if !self.quiet.is_empty() {
            let pairs = || self.quiet.iter().zip(&self.service);
            println!(
                "throughput with writes/without (median of rounds): {:.2}x",
                median(pairs().map(|(q, s)| s.rps / q.rps).collect())
            );
            println!(
                "p99 with writes/without (median of rounds):        {:.2}x",
                median(pairs().map(|(q, s)| s.us(0.99) / q.us(0.99)).collect())
            );
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
        if !self.cpu_per_call.is_empty() {
            println!(
                "service CPU per call (median of rounds):        {:.1} us",
                median(self.cpu_per_call.clone())
            );
        }
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
    let sources = args.target.sources;
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

    // With paced writes, the `--write-set` sources after the read ones are
    // theirs: `bench-{sources}` on, outside the hot set.
    let write_set = if args.write_rate > 0 {
        args.write_set.max(1)
    } else {
        0
    };
    let db = setup::loaded(bin, backend, sources + write_set)?;
    let key = setup::caller(bin, &db.url, "bench", args.caller.grants())?;
    let writer = if write_set > 0 {
        let grants = [setup::VIEWER, setup::EDITOR].concat();
        Some(setup::caller(bin, &db.url, "writer", &grants)?)
    } else {
        None
    };

    // The service, on its already-migrated database.
    let mut service = Service::start(bin, &db.url, &[], false).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (idle_kib, _) = service.memory_kib();

    // The baseline, in a process of its own as well.
    let mut baseline = Command::new(std::env::current_exe()?)
        .args(["baseline", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut lines =
        tokio::io::BufReader::new(baseline.stdout.take().context("baseline stdout")?).lines();
    let baseline_addr = lines.next_line().await?.context("baseline address")?;

    let hot = args.hot_set.clamp(1, sources.max(1));
    let step = (sources / hot).max(1);
    let slugs: Arc<Vec<String>> =
        Arc::new((0..hot).map(|i| format!("bench-{}", i * step)).collect());
    let written: Arc<Vec<String>> = Arc::new(
        (sources..sources + write_set)
            .map(|i| format!("bench-{i}"))
            .collect(),
    );
    let service_channels = setup::channels(&service.addr, args.connections).await?;
    let baseline_channels = setup::channels(&baseline_addr, args.connections).await?;
    // The writer's own connection and credentials.
    let pacing = match writer {
        Some(key) => Some((
            setup::channels(&service.addr, 1).await?.remove(0),
            calls::bearer(&key),
        )),
        None => None,
    };

    let mut baseline_runs = Vec::new();
    let mut service_runs = Vec::new();
    let mut write_runs = Vec::new();
    let mut quiet_runs = Vec::new();
    let mut cpu_per_call = Vec::new();
    let mut rest_runs = Vec::new();
    let mut rest_cpu_per_call = Vec::new();
    let rest_connections = if args.rest {
        rest::connections(&service.addr, args.connections).await?
    } else {
        Vec::new()
    };
    for round in 0..args.rounds {
        let b = drive(&baseline_channels, &key, &slugs, args).await;
        if pacing.is_some() {
            let q = drive(&service_channels, &key, &slugs, args).await;
            anyhow::ensure!(q.errors().is_empty(), "non-OK responses: {:?}", q.statuses);
            quiet_runs.push(q);
        }
        // Writes span the service's whole round, warm-up included.
        let pacer = pacing.as_ref().map(|(channel, auth)| {
            pacer::spawn(
                channel.clone(),
                auth.clone(),
                written.clone(),
                args.write_rate,
                Instant::now() + args.warmup + args.duration,
                round,
            )
        });
        let cpu_before = service.cpu_time();
        let s = drive(&service_channels, &key, &slugs, args).await;
        // Warm-up included: the calls at the recorded rate over the whole
        // drive.
        let calls = s.rps * (args.warmup + args.duration).as_secs_f64();
        if calls > 0.0 {
            cpu_per_call.push((service.cpu_time() - cpu_before).as_secs_f64() * 1e6 / calls);
        }
        eprintln!(
            "{} round {}: baseline {:.0} req/s, service {:.0} req/s",
            backend.name(),
            round + 1,
            b.rps,
            s.rps
        );
        if args.rest {
            let cpu_before = service.cpu_time();
            let r = rest::drive(
                &rest_connections,
                &service.addr,
                &key,
                &slugs,
                args.concurrency,
                args.warmup,
                args.duration,
            )
            .await;
            let calls = r.rps * (args.warmup + args.duration).as_secs_f64();
            if calls > 0.0 {
                rest_cpu_per_call
                    .push((service.cpu_time() - cpu_before).as_secs_f64() * 1e6 / calls);
            }
            eprintln!(
                "{} round {}: REST {:.0} req/s",
                backend.name(),
                round + 1,
                r.rps
            );
            anyhow::ensure!(r.errors().is_empty(), "REST errors: {:?}", r.statuses);
            rest_runs.push(r);
        }
        if let Some(pacer) = pacer {
            let writes = pacer.await?;
            eprintln!(
                "{} round {}: {}",
                backend.name(),
                round + 1,
                writes.summary()
            );
            write_runs.push(writes);
        }
        for run in [&b, &s] {
            anyhow::ensure!(
                run.errors().is_empty(),
                "non-OK responses: {:?}",
                run.statuses
            );
        }
        baseline_runs.push(b);
        service_runs.push(s);
    }

    let (list_p50_us, list_p99_us) =
        list_latency(&service_channels[0], &key, args.list_calls).await?;
    let (_, peak_kib) = service.memory_kib();
    let startup = service.startup;
    service.stop().await;
    baseline.kill().await.ok();
    Ok(Report {
        backend: backend.name(),
        sources,
        caller: args.caller.describe(),
        baseline: baseline_runs,
        service: service_runs,
        writes: write_runs,
        quiet: quiet_runs,
        startup,
        idle_kib,
        peak_kib,
        cpu_per_call,
        rest: rest_runs,
        rest_cpu_per_call,
        list_p50_us,
        list_p99_us,
        import,
    })
}

/// `concurrency` loops of RetrievePlexSource over the hot slugs: a warm-up,
/// then `duration` of recorded calls.
async fn drive(channels: &[Channel], key: &str, slugs: &Arc<Vec<String>>, args: &Args) -> Run {
    let auth = calls::bearer(key);
    let channels = channels.to_vec();
    let slugs = slugs.clone();
    driver::closed_loop(
        args.concurrency,
        args.warmup,
        args.duration,
        move |worker, i| {
            let mut client =
                PlexSourceServiceClient::new(channels[worker % channels.len()].clone());
            let slug = slugs[(worker * 7919 + i) % slugs.len()].clone();
            let request = calls::authorized(pb::RetrievePlexSourceRequest { slug }, &auth);
            async move { client.retrieve_plex_source(request).await }
        },
    )
    .await
}

/// First page of ListPlexSources, one call at a time: p50 and p99 in µs.
async fn list_latency(channel: &Channel, key: &str, count: usize) -> anyhow::Result<(f64, f64)> {
    let mut client = PlexSourceServiceClient::new(channel.clone());
    let auth = calls::bearer(key);
    let mut hist = driver::latency_histogram();
    for i in 0..count + 20 {
        let request = calls::authorized(pb::ListPlexSourcesRequest::default(), &auth);
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
