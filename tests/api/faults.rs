//! The database goes away and comes back under load, or answers slowly.
//!
//! PostgreSQL only, through a proxy the test cuts, restores and slows down:
//! SQLite is a file inside the server's own process, with no connection
//! that can drop or lag.

use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use plex_source_service::{
    domain::Slug,
    store::{self, StoreError},
};
use tonic::{Code, Status};

use crate::{
    helpers::{
        Backend, TestApp, TestDb, named, new_source, patch, pb, request_as, test_settings, within,
    },
    proxy::{Proxy, app_behind_proxy, app_behind_proxy_with},
};

/// Every call's deadline.
const DEADLINE: Duration = Duration::from_secs(3);
/// How far past its deadline a call may end (scheduling on a busy machine).
const LATE: Duration = Duration::from_millis(500);
/// How long the database refuses connections.
const OUTAGE: Duration = Duration::from_secs(2);
/// How soon after the database returns every call must succeed.
const RECOVERY: Duration = Duration::from_secs(2);
const WRITERS: usize = 3;
const SOURCES_PER_WRITER: usize = 2;
const READERS: usize = 2;

/// One finished call.
#[derive(Debug, Clone)]
struct Call {
    rpc: &'static str,
    /// `None`: OK.
    code: Option<Code>,
    message: String,
    started: Instant,
    took: Duration,
}

#[derive(Default)]
struct Log {
    calls: Mutex<Vec<Call>>,
}

impl Log {
    /// Runs `call` with the deadline and records how it ended; a call that
    /// outlives its deadline by more than [`LATE`] is recorded as hung.
    async fn run<T>(
        &self,
        rpc: &'static str,
        call: impl Future<Output = Result<T, Status>>,
    ) -> Result<T, Status> {
        let started = Instant::now();
        let result = match tokio::time::timeout(DEADLINE + LATE, call).await {
            Ok(result) => result,
            Err(_) => Err(Status::unknown("hung past its deadline")),
        };
        let (code, message) = match &result {
            Ok(_) => (None, String::new()),
            Err(status) => (Some(status.code()), status.message().to_owned()),
        };
        self.calls.lock().unwrap().push(Call {
            rpc,
            code,
            message,
            started,
            took: started.elapsed(),
        });
        result
    }
}

fn with_deadline<T>(app: &TestApp, message: T) -> tonic::Request<T> {
    let mut request = request_as(app.admin(), message);
    request.set_timeout(DEADLINE);
    request
}

/// The fields a write with generation `k` sets: each derived from `k`, so a
/// stored row whose name says `k` and whose links say another generation
/// is a half-applied write.
fn generation(k: usize, mappings: &[String]) -> pb::PlexSource {
    pb::PlexSource {
        name: format!("gen {k}"),
        allowed_servers: vec![format!("server-{k}")],
        user_property_mappings: vec![mappings[k % mappings.len()].clone()],
        group_property_mappings: vec![mappings[(k + 1) % mappings.len()].clone()],
        ..Default::default()
    }
}

const WRITE_PATHS: [&str; 4] = [
    "name",
    "allowed_servers",
    "user_property_mappings",
    "group_property_mappings",
];

/// What a writer tried on one slug, in order: generation and whether the
/// server reported success (with the source it returned).
type History = BTreeMap<String, Vec<(usize, Option<pb::PlexSource>)>>;

async fn writer(
    app: Arc<TestApp>,
    log: Arc<Log>,
    stop: Arc<AtomicBool>,
    w: usize,
    mappings: Arc<Vec<String>>,
) -> History {
    let mut history = History::new();
    let mut k: usize = 0;
    while !stop.load(Ordering::Relaxed) {
        k += 1;
        // Mostly updates of the writer's own sources, every third a create.
        if k.is_multiple_of(3) {
            let slug = format!("w{w}-new-{k}");
            let mut body = generation(k, &mappings);
            body.slug.clone_from(&slug);
            body.plex_token = format!("token-{slug}");
            let request = pb::CreatePlexSourceRequest {
                plex_source: Some(body),
            };
            let result = log
                .run(
                    "create",
                    app.client
                        .clone()
                        .create_plex_source(with_deadline(&app, request)),
                )
                .await;
            history
                .entry(slug)
                .or_default()
                .push((k, result.ok().map(tonic::Response::into_inner)));
        } else {
            let slug = format!("w{w}-s{}", k % SOURCES_PER_WRITER);
            let request = patch(&slug, &WRITE_PATHS, generation(k, &mappings));
            let result = log
                .run(
                    "update",
                    app.client
                        .clone()
                        .update_plex_source(with_deadline(&app, request)),
                )
                .await;
            history
                .entry(slug)
                .or_default()
                .push((k, result.ok().map(tonic::Response::into_inner)));
        }
    }
    history
}

async fn reader(app: Arc<TestApp>, log: Arc<Log>, stop: Arc<AtomicBool>, r: usize) {
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        if (i + r).is_multiple_of(3) {
            let request = pb::ListPlexSourcesRequest {
                page_size: 50,
                ..Default::default()
            };
            let _ = log
                .run(
                    "list",
                    app.client
                        .clone()
                        .list_plex_sources(with_deadline(&app, request)),
                )
                .await;
        } else {
            let request = pb::RetrievePlexSourceRequest {
                slug: format!("w{}-s{}", i % WRITERS, i % SOURCES_PER_WRITER),
            };
            let _ = log
                .run(
                    "retrieve",
                    app.client
                        .clone()
                        .retrieve_plex_source(with_deadline(&app, request)),
                )
                .await;
        }
    }
}

/// One retrieve, list and update, each succeeding.
async fn all_succeed(app: &TestApp, mappings: &[String]) -> bool {
    let retrieve = pb::RetrievePlexSourceRequest {
        slug: "w0-s0".into(),
    };
    let list = pb::ListPlexSourcesRequest::default();
    let update = patch("probe", &WRITE_PATHS, generation(0, mappings));
    let mut client = app.client.clone();
    client
        .retrieve_plex_source(with_deadline(app, retrieve))
        .await
        .is_ok()
        && client
            .list_plex_sources(with_deadline(app, list))
            .await
            .is_ok()
        && client
            .update_plex_source(with_deadline(app, update))
            .await
            .is_ok()
}

/// The generation a stored source holds, after checking that every field
/// a write sets agrees on it.
async fn stored_generation(app: &TestApp, slug: &str, mappings: &[String]) -> Option<usize> {
    let slug = Slug::parse(slug).expect("slug");
    let stored = store::find_source_by_slug(&app.db, &slug)
        .await
        .expect("read back")?;
    let k: usize = stored
        .fields
        .name
        .strip_prefix("gen ")
        .and_then(|k| k.parse().ok())
        .unwrap_or_else(|| panic!("{slug}: unexpected name {:?}", stored.fields.name));
    let expected = generation(k, mappings);
    let text = |ids: &[uuid::Uuid]| ids.iter().map(ToString::to_string).collect::<Vec<_>>();
    assert_eq!(
        stored.fields.allowed_servers, expected.allowed_servers,
        "{slug}: half-applied write"
    );
    assert_eq!(
        text(&stored.fields.user_property_mappings),
        expected.user_property_mappings,
        "{slug}: user mapping links disagree with the row"
    );
    assert_eq!(
        text(&stored.fields.group_property_mappings),
        expected.group_property_mappings,
        "{slug}: group mapping links disagree with the row"
    );
    Some(k)
}

/// Mixed load (retrieves, lists, creates, updates) while PostgreSQL
/// restarts (every connection drops, new ones are refused for two seconds)
/// and later shuts its sessions down: failed calls are UNAVAILABLE and end
/// by their deadline, writes are all or nothing, and within two seconds of
/// its return every call succeeds again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restart_under_load() {
    let Some((app, proxy)) = app_behind_proxy().await else {
        return;
    };
    app.import(
        "version: 1\nentries:\n\
         - model: authentik_sources_plex.plexsourcepropertymapping\n  identifiers: {name: f-m0}\n\
         - model: authentik_sources_plex.plexsourcepropertymapping\n  identifiers: {name: f-m1}\n\
         - model: authentik_sources_plex.plexsourcepropertymapping\n  identifiers: {name: f-m2}\n\
         - model: authentik_sources_plex.plexsourcepropertymapping\n  identifiers: {name: f-m3}\n",
    )
    .await
    .expect("mappings");
    let mut mappings = Vec::new();
    for i in 0..4 {
        mappings.push(app.mapping_pk(&format!("f-m{i}")).await);
    }
    let mappings = Arc::new(mappings);
    let mut slugs = vec!["probe".to_owned()];
    for w in 0..WRITERS {
        for j in 0..SOURCES_PER_WRITER {
            slugs.push(format!("w{w}-s{j}"));
        }
    }
    for slug in &slugs {
        app.create(app.admin(), new_source(slug))
            .await
            .expect("create");
        app.update(
            app.admin(),
            patch(slug, &WRITE_PATHS, generation(0, &mappings)),
        )
        .await
        .expect("first generation");
    }

    let app = Arc::new(app);
    let log = Arc::new(Log::default());
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            tokio::spawn(writer(
                app.clone(),
                log.clone(),
                stop.clone(),
                w,
                mappings.clone(),
            ))
        })
        .collect();
    let readers: Vec<_> = (0..READERS)
        .map(|r| tokio::spawn(reader(app.clone(), log.clone(), stop.clone(), r)))
        .collect();

    tokio::time::sleep(Duration::from_secs(1)).await;
    // A restart as the network sees it: every connection drops, new ones
    // are refused, then accepted again.
    let cut_at = Instant::now();
    proxy.cut();
    tokio::time::sleep(OUTAGE).await;
    proxy.restore().await;
    let restored_at = Instant::now();
    let recovery = within(RECOVERY, "every call succeeds after the restart", || {
        all_succeed(&app, &mappings)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    // A shutdown as the sessions see it: PostgreSQL ends each one with
    // `admin_shutdown` (57P01), in flight or idle in the pool.
    let terminated_at = Instant::now();
    terminate_sessions(&app).await;
    let after_termination = within(RECOVERY, "every call succeeds after the shutdown", || {
        all_succeed(&app, &mappings)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    let mut histories = Vec::new();
    for task in writers {
        histories.push(task.await.expect("writer"));
    }
    for task in readers {
        task.await.expect("reader");
    }

    let faults = [
        (cut_at, restored_at + recovery),
        (terminated_at, terminated_at + after_termination),
    ];
    let calls = log.calls.lock().unwrap().clone();
    let mut by_code: BTreeMap<String, usize> = BTreeMap::new();
    for call in &calls {
        let code = call.code.map_or("Ok".to_owned(), |c| format!("{c:?}"));
        *by_code.entry(code).or_default() += 1;
    }
    let overlapping = |call: &Call| {
        faults
            .iter()
            .any(|(from, to)| call.started <= *to && call.started + call.took >= *from)
    };
    let during = calls.iter().filter(|c| overlapping(c)).count();
    let slowest = calls.iter().map(|c| c.took).max().unwrap_or_default();
    eprintln!(
        "fault summary: {} calls ({during} overlapping a fault), by code {by_code:?}, \
         slowest {slowest:?}; every call succeeding {recovery:?} after the database \
         returned, {after_termination:?} after its sessions were terminated",
        calls.len()
    );

    for call in &calls {
        if let Some(code) = call.code {
            assert_eq!(
                code,
                Code::Unavailable,
                "{} failed with {code:?}: {}",
                call.rpc,
                call.message
            );
            assert!(overlapping(call), "failed outside the faults: {call:?}");
        }
        assert!(
            call.took <= DEADLINE + LATE,
            "{} took {:?}",
            call.rpc,
            call.took
        );
    }
    let (_, recovered_at) = faults[1];
    assert!(
        calls
            .iter()
            .any(|c| c.code.is_none() && c.started > recovered_at),
        "no call made after recovery"
    );

    // All or nothing: every stored source is one generation throughout; a
    // source is as the last successful write reported it, or as a later
    // failed write (whose commit the outage hid) would have left it.
    let mut checked = 0;
    for history in &histories {
        for (slug, attempts) in history {
            let stored = stored_generation(&app, slug, &mappings).await;
            let last_ok = attempts
                .iter()
                .rposition(|(_, reported)| reported.is_some());
            let mut allowed: Vec<Option<usize>> = match last_ok {
                Some(i) => vec![Some(attempts[i].0)],
                // Never written successfully: absent (a create), or as set up.
                None if slug.contains("-new-") => vec![None],
                None => vec![Some(0)],
            };
            let after = last_ok.map_or(0, |i| i + 1);
            allowed.extend(attempts[after..].iter().map(|(k, _)| Some(*k)));
            assert!(
                allowed.contains(&stored),
                "{slug}: stored generation {stored:?}, expected one of {allowed:?}"
            );
            if let Some(i) = last_ok
                && stored == Some(attempts[i].0)
            {
                let reported = attempts[i].1.as_ref().expect("reported");
                let expected = generation(attempts[i].0, &mappings);
                assert_eq!(reported.name, expected.name, "{slug}");
                assert_eq!(
                    reported.user_property_mappings, expected.user_property_mappings,
                    "{slug}"
                );
                assert_eq!(
                    reported.group_property_mappings, expected.group_property_mappings,
                    "{slug}"
                );
                assert_eq!(reported.allowed_servers, expected.allowed_servers, "{slug}");
            }
            checked += 1;
        }
    }
    assert!(checked > WRITERS * SOURCES_PER_WRITER, "{checked} sources");
}

/// Ends every session on the server's database, as a shutdown of
/// PostgreSQL does (the test's own connection goes direct; its pool
/// reconnects too).
async fn terminate_sessions(app: &TestApp) {
    let admin = store::connect(&crate::helpers::admin_url())
        .await
        .expect("admin connects");
    let name = app
        .database_url()
        .rsplit('/')
        .next()
        .expect("database name");
    admin
        .execute(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        ))
        .await
        .expect("terminate sessions");
    admin.close().await.ok();
}

/// The proxy holds every reply of the database for three seconds.
async fn slowed_down(request_timeout: Duration) -> Option<(TestApp, Proxy)> {
    let mut settings = test_settings();
    settings.request_timeout = request_timeout;
    let (app, proxy) = app_behind_proxy_with(settings).await?;
    app.create(app.admin(), new_source("slow"))
        .await
        .expect("create");
    proxy.delay_replies(Duration::from_secs(3));
    // Past the cache's freshness bound: every call goes to the database.
    tokio::time::sleep(Duration::from_secs(1)).await;
    Some((app, proxy))
}

/// A call that the slowed database cannot answer in time, with its status
/// and how long it took.
async fn slow_call(app: &TestApp, deadline: Option<Duration>) -> (Status, Duration) {
    let mut request = request_as(app.admin(), patch("slow", &["name"], named("renamed")));
    if let Some(deadline) = deadline {
        request.set_timeout(deadline);
    }
    let start = Instant::now();
    let result = tokio::time::timeout(
        Duration::from_secs(10),
        app.client.clone().update_plex_source(request),
    )
    .await
    .expect("the call ends");
    let status = result.expect_err("the database is too slow");
    (status, start.elapsed())
}

/// Statements slower than the caller's deadline: the call ends at the
/// deadline, and the caller's client reports it as its deadline expiring.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_database_ends_calls_at_the_callers_deadline() {
    let Some((app, proxy)) = slowed_down(Duration::from_secs(30)).await else {
        return;
    };
    let (status, took) = slow_call(&app, Some(Duration::from_secs(1))).await;
    // The server answers DEADLINE_EXCEEDED at the deadline; tonic's client
    // reports its own expired deadline as CANCELLED "Timeout expired", and
    // whichever arrives first is what the caller sees.
    let deadline_reported = status.code() == Code::DeadlineExceeded
        || status.code() == Code::Unavailable
        || (status.code() == Code::Cancelled && status.message() == "Timeout expired");
    assert!(deadline_reported, "{status:?}");
    assert!(took < Duration::from_millis(1500), "took {took:?}");

    proxy.delay_replies(Duration::ZERO);
    within(
        Duration::from_secs(5),
        "calls succeed once it is fast",
        || async { app.retrieve(app.admin(), "slow").await.is_ok() },
    )
    .await;
}

/// Without a deadline of the caller's, or with a longer one, the server's
/// request timeout ends the call with DEADLINE_EXCEEDED.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_database_ends_calls_at_the_request_timeout() {
    let Some((app, _proxy)) = slowed_down(Duration::from_secs(1)).await else {
        return;
    };
    for deadline in [None, Some(Duration::from_secs(20))] {
        let (status, took) = slow_call(&app, deadline).await;
        assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
        assert!(took < Duration::from_millis(1500), "{deadline:?}: {took:?}");
        assert!(took >= Duration::from_millis(900), "{deadline:?}: {took:?}");
    }
}

/// A statement past PostgreSQL's `statement_timeout` is cancelled by the
/// server and reported as UNAVAILABLE, not as an internal error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_cancels_statements_past_the_statement_timeout() {
    let Some(test_db) = TestDb::empty(Backend::Postgres).await else {
        return;
    };
    let db = store::connect_bounded(
        &test_db.url,
        store::DEFAULT_LOCK_TIMEOUT,
        Some(Duration::from_millis(200)),
    )
    .await
    .expect("connect");
    let start = Instant::now();
    let err = db
        .execute("SELECT pg_sleep(5)")
        .await
        .expect_err("cancelled");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    db.close().await.ok();
}
