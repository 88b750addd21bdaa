//! Hostile callers beside real ones: what they cost the server and the
//! callers who are entitled to it.
//!
//! 1. **Creates by a token without grants**, each a message of two million
//!    empty property mappings (about 4 MB, what tonic's default limit let
//!    through), `--creates` at once on connections of their own, over and
//!    over: the server's peak resident memory, and a viewer's reads meanwhile.
//! 2. **A flood of distinct bogus keys** (`--bogus-keys` of them, cycled)
//!    beside a viewer's reads: the viewer's p50/p99 without and with the
//!    flood, and the key lookups the flood cost the database.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use plex_source_service::proto::{self as pb, plex_source_service_client::PlexSourceServiceClient};
use tonic::transport::Channel;

use crate::{
    calls,
    driver::{self, Run},
    setup::{self, Service},
};

#[derive(Debug, clap::Args)]
pub struct HostileArgs {
    #[command(flatten)]
    target: setup::Target,
    /// Oversized creates in flight at once, each on its own connection.
    #[arg(long, default_value_t = 32)]
    creates: usize,
    /// Distinct bogus keys the flood cycles through.
    #[arg(long, default_value_t = 10_000)]
    bogus_keys: usize,
    /// Flood calls in flight.
    #[arg(long, default_value_t = 32)]
    flood_concurrency: usize,
    /// The viewer's calls in flight.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    warmup: Duration,
    /// Recorded time of each run.
    #[arg(long, default_value = "8s", value_parser = humantime::parse_duration)]
    duration: Duration,
}

pub async fn run(args: HostileArgs) -> anyhow::Result<()> {
    let bin = setup::service_binary(args.target.service_bin.clone())?;
    let sources = args.target.sources;
    println!(
        "hostile: {sources} sources; {} oversized creates at once; {} bogus keys at {} in flight; viewer at {} in flight; warm-up {:?}, {:?} per run",
        args.creates,
        args.bogus_keys,
        args.flood_concurrency,
        args.concurrency,
        args.warmup,
        args.duration
    );
    println!("machine: {}", setup::machine());
    for backend in &args.target.backends()? {
        let db = setup::loaded(&bin, backend, sources)?;
        let viewer = setup::caller(&bin, &db.url, "viewer", setup::VIEWER)?;
        let nobody = setup::caller(&bin, &db.url, "nobody", &[])?;
        let mut service = Service::start(&bin, &db.url, &[], true).await?;
        let channels = setup::channels(&service.addr, 4).await?;
        let (idle_kib, _) = service.memory_kib();
        println!();
        println!(
            "== hostile callers, {} ({sources} sources) ==",
            backend.name()
        );
        println!("service RSS idle: {:.1} MiB", mib(idle_kib));

        // 1. Oversized creates by a caller who may not create.
        let stop = Arc::new(AtomicBool::new(false));
        let mut creators = Vec::new();
        let mut refused = Vec::new();
        for _ in 0..args.creates.max(1) {
            let (addr, key, stop) = (service.addr.clone(), nobody.clone(), stop.clone());
            creators.push(tokio::spawn(oversized_creates(addr, key, stop)));
        }
        let reads = viewer_reads(&args, &channels, &viewer, sources).await;
        stop.store(true, Ordering::Relaxed);
        for creator in creators {
            refused.push(creator.await.unwrap_or_default());
        }
        let (_, peak_kib) = service.memory_kib();
        let codes: std::collections::BTreeMap<String, u64> =
            refused
                .into_iter()
                .flatten()
                .fold(Default::default(), |mut all, code| {
                    *all.entry(code).or_default() += 1;
                    all
                });
        println!(
            "oversized creates without grants: {} answered, by code {codes:?}; peak RSS (VmHWM) {:.1} MiB",
            codes.values().sum::<u64>(),
            mib(peak_kib)
        );
        print_run("viewer during the creates", &reads);

        // 2. The bogus-key flood.
        let quiet = viewer_reads(&args, &channels, &viewer, sources).await;
        let before = lookups(&service).await;
        let stop = Arc::new(AtomicBool::new(false));
        let flood = flood(&args, &channels, stop.clone());
        let loud = viewer_reads(&args, &channels, &viewer, sources).await;
        stop.store(true, Ordering::Relaxed);
        let flooded = flood.await.unwrap_or_default();
        let after = lookups(&service).await;
        print_run("viewer, no flood", &quiet);
        print_run("viewer, during the flood", &loud);
        println!(
            "flood: {flooded} calls ({:.0}/s); key lookups that reached the database: {} ({:.1}/s), refused without a query: {}; viewer p99 ratio {:.2}x, throughput ratio {:.2}x",
            flooded as f64 / args.duration.as_secs_f64(),
            after.0 - before.0,
            (after.0 - before.0) as f64 / args.duration.as_secs_f64(),
            after.1 - before.1,
            loud.us(0.99) / quiet.us(0.99).max(1.0),
            loud.rps / quiet.rps.max(1.0),
        );
        service.print_log();
        service.stop().await;
    }
    Ok(())
}

/// Creates of two million empty mappings (about 4 MB, encoded once, so the
/// load generator spends its time sending rather than encoding), one after
/// another on a connection of their own, until `stop`; the code of each
/// answer.
async fn oversized_creates(addr: String, key: String, stop: Arc<AtomicBool>) -> Vec<String> {
    let Ok(tcp) = tokio::net::TcpStream::connect(&addr).await else {
        return vec!["Connect".to_owned()];
    };
    let Ok((mut sender, connection)) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tcp),
    )
    .await
    else {
        return vec!["Handshake".to_owned()];
    };
    tokio::spawn(connection);
    let frame = oversized_frame();
    let mut codes = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let request = hyper::Request::post(format!(
            "http://{addr}/plexsource.v1.PlexSourceService/CreatePlexSource"
        ))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("authorization", format!("Bearer {key}"))
        .body(http_body_util::Full::new(frame.clone()))
        .expect("request");
        if sender.ready().await.is_err() {
            codes.push("ConnectionClosed".to_owned());
            break;
        }
        let code = match sender.send_request(request).await {
            Ok(response) => response
                .headers()
                .get("grpc-status")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<i32>().ok())
                .map(|c| format!("{:?}", tonic::Code::from(c)))
                .unwrap_or_else(|| "NoStatus".to_owned()),
            Err(_) => "Reset".to_owned(),
        };
        codes.push(code);
    }
    codes
}

/// The gRPC frame of a create with two million empty property mappings.
fn oversized_frame() -> bytes::Bytes {
    use prost::Message;
    let request = pb::CreatePlexSourceRequest {
        plex_source: Some(pb::PlexSource {
            name: "Flood".into(),
            slug: "flood".into(),
            plex_token: "t".into(),
            user_property_mappings: vec![String::new(); 2_000_000],
            ..Default::default()
        }),
    };
    let message = request.encode_to_vec();
    let mut frame = Vec::with_capacity(message.len() + 5);
    frame.push(0);
    frame.extend_from_slice(
        &u32::try_from(message.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    frame.extend_from_slice(&message);
    frame.into()
}

/// A viewer's retrieves, closed loop, over the shared channels.
async fn viewer_reads(args: &HostileArgs, channels: &[Channel], key: &str, sources: usize) -> Run {
    let (ch, auth) = (channels.to_vec(), calls::bearer(key));
    driver::closed_loop(args.concurrency, args.warmup, args.duration, move |w, i| {
        let mut client = PlexSourceServiceClient::new(ch[w % ch.len()].clone());
        let slug = format!("bench-{}", (w * 7919 + i) % sources.max(1));
        let request = calls::authorized(pb::RetrievePlexSourceRequest { slug }, &auth);
        async move { client.retrieve_plex_source(request).await }
    })
    .await
}

/// Calls with bogus keys until `stop`; how many were made.
fn flood(
    args: &HostileArgs,
    channels: &[Channel],
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<u64> {
    let keys: Arc<Vec<_>> = Arc::new(
        (0..args.bogus_keys.max(1))
            .map(|_| calls::bearer(&format!("bogus-{}", uuid::Uuid::new_v4().simple())))
            .collect(),
    );
    let (workers, channels) = (args.flood_concurrency.max(1), channels.to_vec());
    tokio::spawn(async move {
        let mut tasks = Vec::new();
        for w in 0..workers {
            let (keys, stop, channel) = (
                keys.clone(),
                stop.clone(),
                channels[w % channels.len()].clone(),
            );
            tasks.push(tokio::spawn(async move {
                let mut client = PlexSourceServiceClient::new(channel);
                let mut made = 0u64;
                let mut i = w;
                while !stop.load(Ordering::Relaxed) {
                    let request = pb::RetrievePlexSourceRequest {
                        slug: "bench-0".into(),
                    };
                    let _ = client
                        .retrieve_plex_source(calls::authorized(request, &keys[i % keys.len()]))
                        .await;
                    made += 1;
                    i += workers;
                }
                made
            }));
        }
        let mut total = 0;
        for task in tasks {
            total += task.await.unwrap_or(0);
        }
        total
    })
}

/// Key lookups that reached the database, and those refused without one,
/// as the service's metrics count them.
async fn lookups(service: &Service) -> (u64, u64) {
    let text = service.scrape().await.unwrap_or_default();
    let value = |name: &str, label: &str| {
        text.lines()
            .find(|l| l.starts_with(name) && l.contains(label))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0) as u64
    };
    (
        value("plexsource_cache_misses_total", "cache=\"callers\""),
        value("plexsource_auth_lookups_refused_total", ""),
    )
}

fn print_run(what: &str, run: &Run) {
    println!(
        "{what:<28} {:>8.0} calls/s  p50 {:>6.0} us  p99 {:>6.0} us  errors {:?}",
        run.rps,
        run.us(0.5),
        run.us(0.99),
        run.errors()
    );
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}
