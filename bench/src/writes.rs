//! Write throughput: how many updates, then creates, the service commits
//! per second under concurrent writers, and at what latency. Writes are
//! serialized by the service's writer lock (and, on SQLite, the database's
//! own), so this is the ceiling for imports by API and for busy editors.

use std::time::Duration;

use plex_source_service::proto::plex_source_service_client::PlexSourceServiceClient;

use crate::{
    calls,
    driver::{self, Run},
    setup::{self, CallerKind, Service},
};

#[derive(Debug, clap::Args)]
pub struct WritesArgs {
    #[command(flatten)]
    target: setup::Target,
    /// Concurrent writers, each with one call in flight.
    #[arg(long, default_value_t = 16)]
    writers: usize,
    /// HTTP/2 connections the writers share.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    warmup: Duration,
    /// Recorded time of each kind of write.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Who writes; it also holds add and change globally. The answer to a
    /// `secret` writer carries the Plex token, as in authentik's admin UI.
    #[arg(long, value_enum, default_value_t = CallerKind::Secret)]
    caller: CallerKind,
}

pub async fn run(args: WritesArgs) -> anyhow::Result<()> {
    let backends = args.target.backends()?;
    let sources = args.target.sources;
    anyhow::ensure!(
        sources >= args.writers.max(1),
        "--sources must be at least --writers (each writer updates its own sources)"
    );
    let bin = setup::service_binary(args.target.service_bin.clone())?;
    println!(
        "writes: {sources} sources, {} writers on {} connections, warm-up {:?}, {:?} per kind",
        args.writers, args.connections, args.warmup, args.duration
    );
    println!(
        "caller: {} + add_plexsource + change_plexsource",
        args.caller.describe()
    );
    println!("machine: {}", setup::machine());
    for backend in &backends {
        let db = setup::loaded(&bin, backend, sources)?;
        let grants = [args.caller.grants(), setup::EDITOR].concat();
        let key = setup::caller(&bin, &db.url, "writer", &grants)?;
        let mut service = Service::start(&bin, &db.url, &[], true).await?;
        let channels = setup::channels(&service.addr, args.connections).await?;
        let auth = calls::bearer(&key);
        let writers = args.writers.max(1);

        // Writer w renames sources w, w + writers, ...: no two writers touch
        // the same row.
        let (ch, au) = (channels.clone(), auth.clone());
        let updates = driver::closed_loop(writers, args.warmup, args.duration, move |w, i| {
            let mut client = PlexSourceServiceClient::new(ch[w % ch.len()].clone());
            let n = w + writers * (i % (sources / writers));
            let rename = calls::rename(format!("bench-{n}"), format!("Writer {w} write {i}"));
            let request = calls::authorized(rename, &au);
            async move { client.update_plex_source(request).await }
        })
        .await;
        eprintln!("{}: updates {:.0}/s", backend.name(), updates.rps);

        let (ch, au) = (channels.clone(), auth.clone());
        let creates = driver::closed_loop(writers, args.warmup, args.duration, move |w, i| {
            let mut client = PlexSourceServiceClient::new(ch[w % ch.len()].clone());
            let request = calls::authorized(calls::new_source(format!("new-{w}-{i}")), &au);
            async move { client.create_plex_source(request).await }
        })
        .await;
        eprintln!("{}: creates {:.0}/s", backend.name(), creates.rps);

        println!();
        println!("== writes, {} ({sources} sources) ==", backend.name());
        println!(
            "{:<28} {:>8} {:>9} {:>9} {:>9}  errors",
            "call", "writes/s", "p50 us", "p99 us", "max us"
        );
        for (name, run) in [
            ("UpdatePlexSource (name)", &updates),
            ("CreatePlexSource", &creates),
        ] {
            print_row(name, run);
        }
        service.print_log();
        service.stop().await;
    }
    Ok(())
}

/// One kind's line; writes/s counts OK calls only.
fn print_row(name: &str, run: &Run) {
    let ok = run.statuses.get("Ok").copied().unwrap_or(0);
    let total: u64 = run.statuses.values().sum();
    let ok_rate = if total == 0 {
        0.0
    } else {
        run.rps * ok as f64 / total as f64
    };
    println!(
        "{name:<28} {ok_rate:>8.0} {:>9.0} {:>9.0} {:>9}  {:?}",
        run.us(0.5),
        run.us(0.99),
        run.hist.max(),
        run.errors()
    );
}
