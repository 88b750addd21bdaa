//! Writes beside the read load: UpdatePlexSource at a fixed rate, on a
//! connection of its own, to sources the reads never ask for. What the reads
//! then lose is the cost of writing as such (every commit drops the
//! service's read caches and wakes its change feed), not contention on the
//! rows they read.

use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, Instant},
};

use plex_source_service::proto::plex_source_service_client::PlexSourceServiceClient;
use tokio::{task::JoinHandle, time::MissedTickBehavior};
use tonic::{
    metadata::{Ascii, MetadataValue},
    transport::Channel,
};

use crate::calls;

/// What a paced writer did.
pub struct Writes {
    /// Updates per second asked for.
    pub asked: u32,
    /// Updates acknowledged OK.
    pub ok: u64,
    /// Failed updates by gRPC code.
    pub errors: BTreeMap<String, u64>,
    /// How long the writer ran.
    pub took: Duration,
}

impl Writes {
    pub fn summary(&self) -> String {
        let errors: u64 = self.errors.values().sum();
        let mut line = format!(
            "writes: asked {}/s, made {:.1}/s, errors {errors}",
            self.asked,
            self.ok as f64 / self.took.as_secs_f64()
        );
        if errors > 0 {
            line.push_str(&format!(" {:?}", self.errors));
        }
        line
    }
}

/// One update at a time at `rate` per second until `until`, each renaming
/// the next of `slugs` to a name no earlier update gave (`tag` tells runs
/// apart). A tick missed because an update was slow is skipped, not made
/// up, so the rate made shows how far the service kept up.
pub fn spawn(
    channel: Channel,
    auth: MetadataValue<Ascii>,
    slugs: Arc<Vec<String>>,
    rate: u32,
    until: Instant,
    tag: usize,
) -> JoinHandle<Writes> {
    tokio::spawn(async move {
        let mut client = PlexSourceServiceClient::new(channel);
        let mut tick = tokio::time::interval(Duration::from_secs(1) / rate.max(1));
        tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let start = Instant::now();
        let mut writes = Writes {
            asked: rate,
            ok: 0,
            errors: BTreeMap::new(),
            took: Duration::ZERO,
        };
        for k in 0.. {
            tick.tick().await;
            if Instant::now() >= until {
                break;
            }
            let slug = slugs[k % slugs.len()].clone();
            let name = format!("Written {tag}-{k}");
            let request = calls::authorized(calls::rename(slug, name), &auth);
            let result = client.update_plex_source(request).await;
            if result.is_ok() {
                writes.ok += 1;
            } else {
                *writes.errors.entry(calls::outcome(&result)).or_default() += 1;
            }
        }
        writes.took = start.elapsed();
        writes
    })
}
