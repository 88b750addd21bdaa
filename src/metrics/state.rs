//! The server's state as metrics, read when scraped: build, open watch
//! streams, the connection pool, the read cache, the change feed and
//! health.

use std::{fmt, sync::Arc};

use crate::store::Db;
use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeLabelSet, MetricEncoder, NoLabelSet},
    metrics::MetricType,
};

use crate::{
    app::{ConnectionCounts, Health},
    feed::ChangeFeed,
    ops::Operations,
    store::pool,
};

/// Handles to what the metrics describe.
#[derive(Clone)]
pub struct ServerState {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    ops: Operations,
    feed: ChangeFeed,
    health: Health,
    /// The main port's connections.
    connections: Arc<ConnectionCounts>,
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
    pub fn new(
        db: Db,
        ops: Operations,
        feed: ChangeFeed,
        health: Health,
        connections: Arc<ConnectionCounts>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                db,
                ops,
                feed,
                health,
                connections,
            }),
        }
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

        let figures = pool::figures(&inner.db);
        {
            let mut metric = encoder.encode_descriptor(
                "plexsource_db_pool_connections",
                "Database connections in the pool, by state",
                None,
                MetricType::Gauge,
            )?;
            metric
                .encode_family(&[("state", "in_use")])?
                .encode_gauge(&(figures.in_use() as i64))?;
            metric
                .encode_family(&[("state", "idle")])?
                .encode_gauge(&(figures.idle as i64))?;
        }
        gauge(
            &mut encoder,
            "plexsource_db_pool_max_connections",
            "Most connections the pool opens",
            i64::from(figures.max),
        )?;
        {
            let waits = inner.ops.write_waits().histogram();
            let metric = encoder.encode_descriptor(
                "plexsource_db_pool_acquire_seconds",
                "Time write transactions waited to open: a pooled connection, then BEGIN",
                None,
                MetricType::Histogram,
            )?;
            histogram(metric, &waits)?;
        }
        counter(
            &mut encoder,
            "plexsource_auth_lookups_refused",
            "Keys of no known token refused without a query: the lookup budget was spent",
            inner.ops.refused_key_lookups(),
        )?;
        let connections = &inner.connections;
        gauge(
            &mut encoder,
            "plexsource_connections_open",
            "Connections open on the main port, handshaking ones included",
            connections.open() as i64,
        )?;
        counter(
            &mut encoder,
            "plexsource_connections_accepted",
            "Connections accepted on the main port",
            connections.accepted(),
        )?;
        counter(
            &mut encoder,
            "plexsource_connections_refused",
            "Connections closed at accept because --max-connections were open",
            connections.refused(),
        )?;

        let stats = inner.ops.cache().stats();
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

fn counter(
    encoder: &mut DescriptorEncoder,
    name: &'static str,
    help: &str,
    value: u64,
) -> Result<(), fmt::Error> {
    let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    metric.encode_counter::<NoLabelSet, _, u64>(&value, None)
}

fn histogram(mut metric: MetricEncoder, waits: &pool::WaitHistogram) -> Result<(), fmt::Error> {
    // The text format's last bucket is `+Inf`, which the encoder writes
    // for `f64::MAX`.
    let mut buckets = waits.buckets.clone();
    buckets.push((f64::MAX, waits.count));
    metric.encode_histogram::<NoLabelSet>(waits.sum_seconds, waits.count, &buckets, None)
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
