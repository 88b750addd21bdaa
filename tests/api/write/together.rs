//! Concurrent writes (side by side on PostgreSQL, in turns on SQLite):
//! each is answered only after its commit, a failing one fails alone, and
//! watchers get one event per write, in increasing revisions, whatever
//! order the writes committed in.

use std::time::Duration;

use futures::future::join_all;
use tonic::Code;

use crate::{
    backend_tests,
    helpers::{TestApp, new_source, pb, rename},
};

const WRITERS: usize = 24;

async fn concurrent_writes_commit_together_and_fail_alone(app: TestApp) {
    let mut stream = app
        .watch(app.admin(), pb::WatchPlexSourcesRequest::default())
        .await
        .expect("watch");

    // Creates, two of which ask for the same slug, one with an unknown flow.
    let mut drafts: Vec<_> = (0..WRITERS)
        .map(|n| new_source(&format!("c-{n}")))
        .collect();
    drafts[1].slug = "c-0".into();
    drafts[2].authentication_flow = Some(uuid::Uuid::new_v4().to_string());
    let results = join_all(drafts.into_iter().map(|d| app.create(app.admin(), d))).await;
    let failed: Vec<(usize, Code)> = results
        .iter()
        .enumerate()
        .filter_map(|(n, r)| r.as_ref().err().map(|s| (n, s.code())))
        .collect();
    // One of the pair got the slug; the other is told it is taken.
    let slug_pair: Vec<_> = failed.iter().filter(|(n, _)| *n <= 1).collect();
    assert_eq!(slug_pair.len(), 1, "{failed:?}");
    assert_eq!(slug_pair[0].1, Code::AlreadyExists);
    assert!(failed.contains(&(2, Code::InvalidArgument)), "{failed:?}");
    assert_eq!(failed.len(), 2, "{failed:?}");

    // Every acknowledged write is visible at once, as acknowledged.
    for created in results.iter().filter_map(|r| r.as_ref().ok()) {
        assert_eq!(
            &app.retrieve(app.admin(), &created.slug).await.unwrap(),
            created
        );
    }
    assert_eq!(
        app.retrieve(app.admin(), "c-2").await.unwrap_err().code(),
        Code::NotFound,
        "nothing of the failed create was written"
    );

    // Updates of all of them at once, one of which is refused.
    let created: Vec<String> = results
        .iter()
        .filter_map(|r| r.as_ref().ok().map(|s| s.slug.clone()))
        .collect();
    let mut updates: Vec<_> = created
        .iter()
        .map(|slug| rename(slug, &format!("{slug} renamed")))
        .collect();
    updates[3] = rename(&created[3], " ");
    let answers = join_all(updates.into_iter().map(|u| app.update(app.admin(), u))).await;
    for (n, answer) in answers.iter().enumerate() {
        if n == 3 {
            assert_eq!(answer.as_ref().unwrap_err().code(), Code::InvalidArgument);
        } else {
            assert_eq!(
                answer.as_ref().unwrap().name,
                format!("{} renamed", created[n])
            );
        }
    }

    // One event per acknowledged write, in increasing revisions.
    let expected = created.len() * 2 - 1;
    let mut revisions = Vec::new();
    while revisions.len() < expected {
        let event = tokio::time::timeout(Duration::from_secs(10), stream.message())
            .await
            .expect("an event")
            .expect("stream open")
            .expect("a message");
        revisions.push(event.revision);
    }
    assert!(revisions.windows(2).all(|w| w[0] < w[1]), "{revisions:?}");
}

backend_tests!(
    apps: [
        concurrent_writes_commit_together_and_fail_alone,
    ],
);
