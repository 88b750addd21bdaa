//! The report of a soak run, and its verdict: the run fails on any error,
//! wrong answer, or watcher that missed an update, and when the service
//! exited or logged errors.

use std::{sync::atomic::Ordering, time::Duration};

use super::{
    SoakArgs,
    sampling::Sample,
    stats::{KINDS, Stats, Watched},
};
use crate::setup::{Backend, Service};

/// What the run measured besides its [`Stats`].
pub(super) struct Measured {
    /// UpdatePlexSource calls that succeeded: what each watcher is owed.
    pub(super) updates: u64,
    /// From the start of the load until its last reader and the updater
    /// were done.
    pub(super) load_took: Duration,
    /// What each watcher saw.
    pub(super) seen: Vec<Watched>,
    pub(super) samples: Vec<Sample>,
    /// Resident memory before the load.
    pub(super) idle_kib: u64,
    /// Resident memory at the end, and its peak (VmHWM).
    pub(super) last_kib: u64,
    pub(super) peak_kib: u64,
    /// The service was still running at the end.
    pub(super) alive: bool,
}

/// Prints the report, then what the service logged, and fails the run
/// when anything went wrong.
pub(super) fn report(
    args: &SoakArgs,
    backend: &Backend,
    stats: &Stats,
    service: &Service,
    measured: Measured,
) -> anyhow::Result<()> {
    let Measured {
        updates,
        load_took,
        seen,
        samples,
        idle_kib,
        last_kib,
        peak_kib,
        alive,
    } = measured;
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
