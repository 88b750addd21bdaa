//! Start-up that does not need the database to be up: the server listens
//! and answers health at once, and reaches its database in the background,
//! retrying with backoff. Until then readiness is `NOT_SERVING` and calls
//! are refused with UNAVAILABLE (`ServiceError::Starting`), so a database
//! outage at start neither crash-loops the pods nor fails their liveness.

use std::{net::SocketAddr, time::Duration};

use crate::store::Db;
use anyhow::Context;
use tokio::sync::watch;

use super::{Health, Preparation};
use crate::{domain::listing::PageTokenKey, ops::Operations, store};

/// First wait after a failed attempt; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

pub(super) struct Startup {
    pub db: Db,
    pub ops: Operations,
    pub preparation: Option<Preparation>,
    /// Set to `true` once the operations run.
    pub started: watch::Sender<bool>,
    /// The gRPC listener's, for the log line that says calls are taken.
    pub address: SocketAddr,
}

/// Reaches the database, starts the operations, then keeps checking the
/// database for readiness every `check_interval`. Runs until aborted.
pub(super) async fn run(mut startup: Startup, health: Health, check_interval: Duration) {
    let mut backoff = FIRST_BACKOFF;
    let mut attempts = 0u32;
    let key = loop {
        attempts += 1;
        match attempt(&startup.db, startup.preparation.as_mut()).await {
            Ok(key) => break key,
            Err(err) => {
                // The chain names the step and the driver's reason; it
                // never holds the URL (see `store::describe_connect_error`).
                tracing::warn!(
                    error = format!("{err:#}"),
                    attempt = attempts,
                    retry_in = ?backoff,
                    "database not ready; serving health only until it is"
                );
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    };
    startup.ops.start(key);
    // Ready only once calls would be taken.
    health.check_once().await;
    startup.started.send_replace(true);
    tracing::info!(address = %startup.address, attempts, "serving plexsource.v1.PlexSourceService");
    health.watch(check_interval).await;
}

async fn attempt(db: &Db, preparation: Option<&mut Preparation>) -> anyhow::Result<PageTokenKey> {
    if let Some(prepare) = preparation {
        prepare().await?;
    }
    let key = store::secrets::page_token_key(db)
        .await
        .context("cannot read the page token key")?
        .context("the page token key is missing: apply the migrations (`migrate`)")?;
    Ok(PageTokenKey::new(&key))
}
