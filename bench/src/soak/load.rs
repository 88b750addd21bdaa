//! The load of a soak run, each part a task of its own counting what it
//! sees in [`Stats`]: watchers holding WatchPlexSources streams, readers
//! calling RetrievePlexSource (as a viewer and as a token reader) and
//! ListPlexSources, and one updater calling UpdatePlexSource at a fixed rate.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::Context;
use plex_source_service::proto::{self as pb, plex_source_service_client::PlexSourceServiceClient};
use tokio::task::JoinHandle;
use tonic::{
    Streaming,
    metadata::{Ascii, MetadataValue},
    transport::Channel,
};

use super::{
    SoakArgs,
    stats::{KINDS, LIST, RETRIEVE_SECRET, RETRIEVE_VIEWER, Stats, UPDATE, Watched},
};

/// Opens `count` WatchPlexSources streams as the viewer, spread over
/// `channels`.
pub(super) async fn open_watchers(
    channels: &[Channel],
    count: usize,
    viewer_auth: &MetadataValue<Ascii>,
) -> anyhow::Result<Vec<Streaming<pb::WatchPlexSourcesResponse>>> {
    let mut streams = Vec::new();
    for w in 0..count {
        let mut client = PlexSourceServiceClient::new(channels[w % channels.len()].clone());
        let mut request = tonic::Request::new(pb::WatchPlexSourcesRequest {
            initial_snapshot: false,
            since_revision: None,
        });
        request
            .metadata_mut()
            .insert("authorization", viewer_auth.clone());
        let stream = client
            .watch_plex_sources(request)
            .await
            .with_context(|| format!("opening watcher {w}"))?
            .into_inner();
        streams.push(stream);
    }
    Ok(streams)
}

/// A task per stream, counting what it receives until the updater is done
/// and every update it made has arrived, or until `drain_until`.
pub(super) fn spawn_watchers(
    streams: Vec<Streaming<pb::WatchPlexSourcesResponse>>,
    stats: &Arc<Stats>,
    updates_done: &Arc<AtomicBool>,
    update_ok: &Arc<AtomicU64>,
    drain_until: Instant,
) -> Vec<JoinHandle<Watched>> {
    let mut watchers = Vec::new();
    for mut stream in streams {
        let stats = stats.clone();
        let done = updates_done.clone();
        let update_ok = update_ok.clone();
        watchers.push(tokio::spawn(async move {
            let mut seen = Watched::default();
            let mut last_revision = i64::MIN;
            loop {
                let now = Instant::now();
                if now >= drain_until
                    || (done.load(Ordering::Acquire)
                        && seen.updated >= update_ok.load(Ordering::Acquire))
                {
                    break;
                }
                let wait = (now + Duration::from_millis(500)).min(drain_until);
                match tokio::time::timeout_at(wait.into(), stream.message()).await {
                    Err(_) => continue,
                    Ok(Ok(Some(event))) => {
                        stats.events.fetch_add(1, Ordering::Relaxed);
                        if event.revision <= last_revision {
                            seen.out_of_order += 1;
                        }
                        last_revision = event.revision;
                        if event.kind == pb::EventKind::Updated as i32 {
                            seen.updated += 1;
                            if event
                                .plex_source
                                .as_ref()
                                .is_some_and(|s| !s.plex_token.is_empty())
                            {
                                stats.error(
                                    "WatchPlexSources",
                                    "check: token shown to a viewer",
                                    event.slug.clone(),
                                );
                            }
                        } else {
                            seen.other_kinds += 1;
                        }
                    }
                    Ok(Ok(None)) => {
                        stats.error(
                            "WatchPlexSources",
                            "stream ended",
                            "the server closed the stream".into(),
                        );
                        seen.broken = true;
                        break;
                    }
                    Ok(Err(status)) => {
                        stats.error(
                            "WatchPlexSources",
                            &format!("{:?}", status.code()),
                            status.message().to_owned(),
                        );
                        seen.broken = true;
                        break;
                    }
                }
            }
            seen
        }));
    }
    watchers
}

/// `--concurrency` tasks calling, until `stop`, six viewer retrieves, two
/// token reads and two list pages in every ten calls, spread over
/// `read_channels`.
pub(super) fn spawn_readers(
    read_channels: &[Channel],
    args: &SoakArgs,
    stats: &Arc<Stats>,
    viewer_auth: &MetadataValue<Ascii>,
    secret_auth: &MetadataValue<Ascii>,
    stop: Instant,
) -> Vec<JoinHandle<()>> {
    let mut readers = Vec::new();
    for worker in 0..args.concurrency.max(1) {
        let mut client =
            PlexSourceServiceClient::new(read_channels[worker % read_channels.len()].clone());
        let stats = stats.clone();
        let viewer_auth = viewer_auth.clone();
        let secret_auth = secret_auth.clone();
        let sources = args.sources;
        let page_size = args.page_size;
        readers.push(tokio::spawn(async move {
            let mut i = worker * 7919;
            let mut page_token = String::new();
            while Instant::now() < stop {
                i += 1;
                let n = i % sources;
                // Per ten calls: six viewer retrieves, two token reads, two
                // list pages.
                match i % 10 {
                    0..=5 => {
                        let mut request = tonic::Request::new(pb::RetrievePlexSourceRequest {
                            slug: format!("bench-{n}"),
                        });
                        request
                            .metadata_mut()
                            .insert("authorization", viewer_auth.clone());
                        match client.retrieve_plex_source(request).await {
                            Ok(reply) if reply.get_ref().plex_token.is_empty() => {
                                stats.ok[RETRIEVE_VIEWER].fetch_add(1, Ordering::Relaxed);
                            }
                            Ok(_) => stats.error(
                                KINDS[RETRIEVE_VIEWER],
                                "check: token shown to a viewer",
                                format!("bench-{n}"),
                            ),
                            Err(status) => stats.status(RETRIEVE_VIEWER, &status),
                        }
                    }
                    6 | 7 => {
                        let mut request = tonic::Request::new(pb::RetrievePlexSourceRequest {
                            slug: format!("bench-{n}"),
                        });
                        request
                            .metadata_mut()
                            .insert("authorization", secret_auth.clone());
                        match client.retrieve_plex_source(request).await {
                            Ok(reply)
                                if reply.get_ref().plex_token == format!("owner-token-{n}") =>
                            {
                                stats.ok[RETRIEVE_SECRET].fetch_add(1, Ordering::Relaxed);
                            }
                            Ok(reply) => stats.error(
                                KINDS[RETRIEVE_SECRET],
                                "check: wrong or missing token",
                                format!("bench-{n}: {:?}", reply.get_ref().plex_token),
                            ),
                            Err(status) => stats.status(RETRIEVE_SECRET, &status),
                        }
                    }
                    _ => {
                        let mut request = tonic::Request::new(pb::ListPlexSourcesRequest {
                            page_size,
                            page_token: std::mem::take(&mut page_token),
                            ..Default::default()
                        });
                        request
                            .metadata_mut()
                            .insert("authorization", viewer_auth.clone());
                        match client.list_plex_sources(request).await {
                            Ok(reply) => {
                                let page = reply.into_inner();
                                if page.plex_sources.is_empty()
                                    || page.plex_sources.iter().any(|s| !s.plex_token.is_empty())
                                {
                                    stats.error(
                                        KINDS[LIST],
                                        "check: empty page or token shown",
                                        format!("{} rows", page.plex_sources.len()),
                                    );
                                } else {
                                    stats.ok[LIST].fetch_add(1, Ordering::Relaxed);
                                }
                                // The next call takes the next page; after
                                // the last, the first again.
                                page_token = page.next_page_token;
                            }
                            Err(status) => stats.status(LIST, &status),
                        }
                    }
                }
            }
        }));
    }
    readers
}

/// The updater: `--update-rate` UpdatePlexSource calls per second, one at a
/// time, on `--update-set` sources, until `stop`; then `updates_done`.
pub(super) fn spawn_updater(
    update_channel: Channel,
    writer_auth: MetadataValue<Ascii>,
    args: &SoakArgs,
    stats: &Arc<Stats>,
    update_ok: &Arc<AtomicU64>,
    updates_done: &Arc<AtomicBool>,
    stop: Instant,
) -> JoinHandle<()> {
    let stats = stats.clone();
    let update_ok = update_ok.clone();
    let done = updates_done.clone();
    let set = args.update_set.clamp(1, args.sources);
    let step = (args.sources / set).max(1);
    let every = Duration::from_secs(1) / args.update_rate;
    tokio::spawn(async move {
        let mut client = PlexSourceServiceClient::new(update_channel);
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut k: usize = 0;
        loop {
            tick.tick().await;
            if Instant::now() >= stop {
                break;
            }
            let n = (k % set) * step;
            let mut request = pb::UpdatePlexSourceRequest {
                slug: format!("bench-{n}"),
                plex_source: Some(pb::PlexSource {
                    allowed_servers: vec![format!("server-{n}-{k}")],
                    ..Default::default()
                }),
                update_mask: Some(Default::default()),
            };
            if let Some(mask) = request.update_mask.as_mut() {
                mask.paths.push("allowed_servers".into());
            }
            k += 1;
            let mut request = tonic::Request::new(request);
            request
                .metadata_mut()
                .insert("authorization", writer_auth.clone());
            match client.update_plex_source(request).await {
                Ok(_) => {
                    stats.ok[UPDATE].fetch_add(1, Ordering::Relaxed);
                    update_ok.fetch_add(1, Ordering::Release);
                }
                Err(status) => stats.status(UPDATE, &status),
            }
        }
        done.store(true, Ordering::Release);
    })
}
