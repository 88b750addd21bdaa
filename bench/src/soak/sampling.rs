//! Sampling the service's resident memory while the load runs, with a
//! progress line at each sample.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

use super::{SoakArgs, stats::Stats};
use crate::setup::Service;

/// The service's resident memory at one point of the run.
pub(super) struct Sample {
    pub(super) at: Duration,
    pub(super) rss_kib: u64,
}

/// Samples from `start` every `--sample-every` until `stop`, the first at
/// once; fails when the service exits meanwhile.
pub(super) async fn sample(
    service: &mut Service,
    args: &SoakArgs,
    start: Instant,
    stop: Instant,
    stats: &Stats,
    update_ok: &AtomicU64,
) -> anyhow::Result<Vec<Sample>> {
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
    Ok(samples)
}
