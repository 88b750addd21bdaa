//! The connection pool as the server's metrics show it: its figures read
//! from the pool's own counters, and the waits of real calls for a pooled
//! connection. Reading either never touches the database, so a scrape
//! costs no connection.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use sea_orm::{DatabaseBackend, sqlx};

/// The pool now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolFigures {
    /// Connections open, idle or in use.
    pub size: u32,
    pub idle: usize,
    /// Most connections the pool opens.
    pub max: u32,
}

impl PoolFigures {
    pub fn in_use(&self) -> usize {
        (self.size as usize).saturating_sub(self.idle)
    }
}

/// The pool's figures, from its counters.
pub fn figures(db: &crate::Db) -> PoolFigures {
    let db = &db.0;
    match db.get_database_backend() {
        DatabaseBackend::Postgres => figures_of(db.get_postgres_connection_pool()),
        DatabaseBackend::Sqlite => figures_of(db.get_sqlite_connection_pool()),
        _ => PoolFigures::default(),
    }
}

/// The figures of a pool of any database's connections.
fn figures_of<D: sqlx::Database>(pool: &sqlx::Pool<D>) -> PoolFigures {
    PoolFigures {
        size: pool.size(),
        idle: pool.num_idle(),
        max: pool.options().get_max_connections(),
    }
}

/// Upper bounds, in seconds, of [`AcquireWaits`]' buckets: from a pooled
/// connection at hand to the pool's acquire timeout.
pub const ACQUIRE_BUCKETS: [f64; 10] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 1.0, 2.0,
];

/// How long write transactions waited to open (a pooled connection, then
/// `BEGIN`), as a histogram: what real calls saw of a saturated pool or a
/// slow database.
#[derive(Debug, Default)]
pub struct AcquireWaits {
    /// Waits at most each bound (not cumulative).
    buckets: [AtomicU64; ACQUIRE_BUCKETS.len()],
    /// Waits above the last bound.
    over: AtomicU64,
    sum_nanos: AtomicU64,
}

/// A histogram's figures: sum, count, and cumulative counts per bound.
#[derive(Debug, Clone, PartialEq)]
pub struct WaitHistogram {
    pub sum_seconds: f64,
    pub count: u64,
    pub buckets: Vec<(f64, u64)>,
}

impl AcquireWaits {
    pub fn observe(&self, wait: Duration) {
        let seconds = wait.as_secs_f64();
        match ACQUIRE_BUCKETS.iter().position(|bound| seconds <= *bound) {
            Some(bucket) => self.buckets[bucket].fetch_add(1, Ordering::Relaxed),
            None => self.over.fetch_add(1, Ordering::Relaxed),
        };
        let nanos = u64::try_from(wait.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    pub fn histogram(&self) -> WaitHistogram {
        let mut cumulative = 0;
        let buckets = ACQUIRE_BUCKETS
            .iter()
            .zip(&self.buckets)
            .map(|(bound, count)| {
                cumulative += count.load(Ordering::Relaxed);
                (*bound, cumulative)
            })
            .collect();
        WaitHistogram {
            sum_seconds: Duration::from_nanos(self.sum_nanos.load(Ordering::Relaxed)).as_secs_f64(),
            count: cumulative + self.over.load(Ordering::Relaxed),
            buckets,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_fall_in_their_buckets_cumulatively() {
        let waits = AcquireWaits::default();
        waits.observe(Duration::from_micros(100));
        waits.observe(Duration::from_millis(3));
        waits.observe(Duration::from_secs(3));
        let h = waits.histogram();
        assert_eq!(h.count, 3);
        assert_eq!(h.buckets[0], (0.0005, 1));
        assert_eq!(h.buckets[3], (0.005, 2));
        assert_eq!(h.buckets.last(), Some(&(2.0, 2)));
        assert!((h.sum_seconds - 3.0031).abs() < 1e-9);
    }
}
