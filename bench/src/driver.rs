//! Closed-loop load: workers that each make one call after another, the
//! same loop for reads and writes so their figures compare.

use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, Instant},
};

use hdrhistogram::Histogram;

/// One load run's figures.
#[derive(Clone)]
pub struct Run {
    /// Calls per second over the recorded part, whatever their outcome.
    pub rps: f64,
    /// Latency of the recorded calls, in µs.
    pub hist: Histogram<u64>,
    /// Outcome (see [`crate::calls::outcome`]) → calls.
    pub statuses: BTreeMap<String, u64>,
}

impl Run {
    pub fn us(&self, q: f64) -> f64 {
        self.hist.value_at_quantile(q) as f64
    }

    /// Calls that did not end OK, by gRPC code.
    pub fn errors(&self) -> BTreeMap<String, u64> {
        self.statuses
            .iter()
            .filter(|(k, _)| k.as_str() != "Ok")
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }
}

/// A histogram of µs up to a minute.
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds")
}

/// `workers` loops of `call(worker, i)` (`i` counts that worker's calls):
/// `warmup` unrecorded, then `duration` recorded.
pub async fn closed_loop<F, Fut, T>(
    workers: usize,
    warmup: Duration,
    duration: Duration,
    call: F,
) -> Run
where
    F: Fn(usize, usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T, tonic::Status>> + Send,
{
    let call = Arc::new(call);
    let record_from = Instant::now() + warmup;
    let stop = record_from + duration;
    let mut tasks = Vec::new();
    for worker in 0..workers.max(1) {
        let call = call.clone();
        tasks.push(tokio::spawn(async move {
            let mut hist = latency_histogram();
            let mut statuses: BTreeMap<String, u64> = BTreeMap::new();
            for i in 0.. {
                let now = Instant::now();
                if now >= stop {
                    break;
                }
                let result = call(worker, i).await;
                if now >= record_from {
                    *statuses.entry(crate::calls::outcome(&result)).or_default() += 1;
                    let _ = hist.record(now.elapsed().as_micros().max(1) as u64);
                }
            }
            (hist, statuses)
        }));
    }
    let mut hist = latency_histogram();
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
        rps: calls as f64 / duration.as_secs_f64(),
        hist,
        statuses,
    }
}
