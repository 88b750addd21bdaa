//! The server's state as metrics, read when scraped: build, open watch
//! streams, the connection pool, the read cache, the change feed and
//! health.

use std::{
    fmt,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeLabelSet, MetricEncoder, NoLabelSet},
    metrics::MetricType,
};
use sea_orm::{DatabaseBackend, DatabaseConnection};

use crate::{app::Health, feed::ChangeFeed, ops::Operations};

/// Longest the scrape's pool probe waits for a connection.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Handles to what the metrics describe.
#[derive(Clone)]
pub struct ServerState {
    inner: Arc<Inner>,
}

struct Inner {
    db: DatabaseConnection,
    ops: Operations,
    feed: ChangeFeed,
    health: Health,
    /// Seconds (as f64 bits) the last scrape's probe waited for a pooled
    /// connection.
    acquire_wait: AtomicU64,
}

impl fmt::Debug for ServerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerState").finish_non_exhaustive()
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
    git_commit: &'static str,
}

impl ServerState {
    pub fn new(db: DatabaseConnection, ops: Operations, feed: ChangeFeed, health: Health) -> Self {
        Self {
            inner: Arc::new(Inner {
                db,
                ops,
                feed,
                health,
                acquire_wait: AtomicU64::new(0f64.to_bits()),
            }),
        }
    }

    /// Before a scrape: times taking a connection from the pool, as a call
    /// would (a saturated pool or a slow database shows here).
    pub async fn probe_pool(&self) {
        let started = Instant::now();
        let wait = match tokio::time::timeout(PROBE_TIMEOUT, acquire(&self.inner.db)).await {
            Ok(true) => started.elapsed(),
            // Unreachable or exhausted: as long as a call would wait.
            Ok(false) | Err(_) => PROBE_TIMEOUT.max(started.elapsed()),
        };
        self.inner
            .acquire_wait
            .store(wait.as_secs_f64().to_bits(), Ordering::Relaxed);
    }

    fn pool(&self) -> (u32, usize, u32) {
        let db = &self.inner.db;
        match db.get_database_backend() {
            DatabaseBackend::Postgres => {
                let pool = db.get_postgres_connection_pool();
                (
                    pool.size(),
                    pool.num_idle(),
                    pool.options().get_max_connections(),
                )
            }
            DatabaseBackend::Sqlite => {
                let pool = db.get_sqlite_connection_pool();
                (
                    pool.size(),
                    pool.num_idle(),
                    pool.options().get_max_connections(),
                )
            }
            _ => (0, 0, 0),
        }
    }
}

async fn acquire(db: &DatabaseConnection) -> bool {
    match db.get_database_backend() {
        DatabaseBackend::Postgres => db.get_postgres_connection_pool().acquire().await.is_ok(),
        DatabaseBackend::Sqlite => db.get_sqlite_connection_pool().acquire().await.is_ok(),
        _ => false,
    }
}

/// The commit the binary was built from, when the build knew it.
const GIT_COMMIT: &str = match option_env!("PLEX_SOURCE_GIT_COMMIT") {
    Some(commit) => commit,
    None => "unknown",
};

impl Collector for ServerState {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let inner = &self.inner;
        {
            let mut metric = encoder.encode_descriptor(
                "plexsource_build_info",
                "The running build: version and git commit",
                None,
                MetricType::Gauge,
            )?;
            let labels = BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
                git_commit: GIT_COMMIT,
            };
            metric.encode_family(&labels)?.encode_gauge(&1i64)?;
        }
        gauge(
            &mut encoder,
            "plexsource_watch_streams_open",
            "Open WatchPlexSources streams",
            inner.ops.open_watch_streams() as i64,
        )?;

        let (size, idle, max) = self.pool();
        {
            let mut metric = encoder.encode_descriptor(
                "plexsource_db_pool_connections",
                "Database connections in the pool, by state",
                None,
                MetricType::Gauge,
            )?;
            let in_use = i64::from(size).saturating_sub(idle as i64).max(0);
            metric
                .encode_family(&[("state", "in_use")])?
                .encode_gauge(&in_use)?;
            metric
                .encode_family(&[("state", "idle")])?
                .encode_gauge(&(idle as i64))?;
        }
        gauge(
            &mut encoder,
            "plexsource_db_pool_max_connections",
            "Most connections the pool opens",
            i64::from(max),
        )?;
        gauge_f64(
            &mut encoder,
            "plexsource_db_pool_acquire_seconds",
            "Time this scrape waited for a pooled connection, as a call would",
            f64::from_bits(inner.acquire_wait.load(Ordering::Relaxed)),
        )?;

        let stats = inner.feed.cache().stats();
        for (name, help, value) in [
            (
                "plexsource_cache_hits",
                "Lookups the read cache answered, per cache",
                (|s: &crate::cache::CacheStats| s.hits) as fn(&_) -> u64,
            ),
            (
                "plexsource_cache_misses",
                "Lookups that went to the database, per cache",
                |s: &crate::cache::CacheStats| s.misses,
            ),
        ] {
            let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for stat in &stats {
                metric
                    .encode_family(&[("cache", stat.cache)])?
                    .encode_counter::<NoLabelSet, _, u64>(&value(stat), None)?;
            }
        }

        let progress = inner.feed.progress();
        gauge(
            &mut encoder,
            "plexsource_change_feed_revision",
            "Newest change-log revision this replica has handled",
            progress.revision(),
        )?;
        if let Some(age) = progress.since_last_poll() {
            gauge_f64(
                &mut encoder,
                "plexsource_change_feed_last_poll_age_seconds",
                "Time since the change feed last read the database successfully",
                age.as_secs_f64(),
            )?;
        }

        let mut metric = encoder.encode_descriptor(
            "plexsource_health_status",
            "1 while the health service reports SERVING for the name, else 0",
            None,
            MetricType::Gauge,
        )?;
        for (name, serving) in inner.health.statuses() {
            metric
                .encode_family(&[("service", name)])?
                .encode_gauge(&i64::from(serving))?;
        }
        Ok(())
    }
}

fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &'static str,
    help: &str,
    value: i64,
) -> Result<(), fmt::Error> {
    let metric: MetricEncoder = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    single(metric, &value)
}

fn gauge_f64(
    encoder: &mut DescriptorEncoder,
    name: &'static str,
    help: &str,
    value: f64,
) -> Result<(), fmt::Error> {
    let metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    single(metric, &value)
}

fn single(
    mut metric: MetricEncoder,
    value: &impl prometheus_client::encoding::EncodeGaugeValue,
) -> Result<(), fmt::Error> {
    metric.encode_gauge(value)
}
