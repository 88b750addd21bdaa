//! A slug that breaks several rules reports each of them, wherever a slug
//! is read: the slug naming a source, and the slug in a body.

use tonic::{Code, Status};
use tonic_types::StatusExt;

use super::violations;
use crate::{
    backend_tests,
    helpers::{TestApp, new_source, pb, reslug},
};

const TOO_LONG: &str = "Ensure this field has no more than 50 characters.";
const PATTERN: &str =
    "Enter a valid \"slug\" consisting of letters, numbers, underscores or hyphens.";
const NULL: &str = "Null characters are not allowed.";

/// (reason, message) of every violation, each of which must be on `slug`.
fn slug_rules(status: &Status) -> Vec<(String, String)> {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let bad = status.get_details_bad_request().expect("BadRequest");
    bad.field_violations
        .into_iter()
        .map(|v| {
            assert_eq!(v.field, "slug", "{status:?}");
            (v.reason, v.description)
        })
        .collect()
}

fn rules(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(r, m)| ((*r).to_owned(), (*m).to_owned()))
        .collect()
}

async fn a_slug_breaking_two_rules_reports_both(app: TestApp) {
    app.create(app.admin(), new_source("existing"))
        .await
        .expect("create");
    let long_and_spaced = format!("{} {}", "a".repeat(30), "b".repeat(30));
    let both = rules(&[("MAX_LENGTH", TOO_LONG), ("INVALID", PATTERN)]);

    // The slug that names a source: retrieve, update, delete.
    let retrieve = app
        .retrieve(app.admin(), &long_and_spaced)
        .await
        .unwrap_err();
    assert_eq!(slug_rules(&retrieve), both);
    assert!(
        retrieve.message().contains(TOO_LONG) && retrieve.message().contains(PATTERN),
        "{}",
        retrieve.message()
    );
    let update = app
        .update(app.admin(), reslug(&long_and_spaced, "fine"))
        .await
        .unwrap_err();
    assert_eq!(slug_rules(&update), both);
    let delete = app.delete(app.admin(), &long_and_spaced).await.unwrap_err();
    assert_eq!(slug_rules(&delete), both);

    // A slug in a body: create, rename.
    let create = app
        .create(app.admin(), new_source(&long_and_spaced))
        .await
        .unwrap_err();
    assert_eq!(slug_rules(&create), both);
    let rename = app
        .update(app.admin(), reslug("existing", &long_and_spaced))
        .await
        .unwrap_err();
    assert_eq!(slug_rules(&rename), both);

    // Length, null characters and pattern: three rules, three violations,
    // in Django REST framework's order.
    let three = format!("{}\0", "x".repeat(50));
    let status = app
        .create(app.admin(), new_source(&three))
        .await
        .unwrap_err();
    assert_eq!(
        slug_rules(&status),
        rules(&[
            ("MAX_LENGTH", TOO_LONG),
            ("NULL_CHARACTERS_NOT_ALLOWED", NULL),
            ("INVALID", PATTERN)
        ])
    );
    // Blank is reported alone.
    let status = app
        .update(
            app.admin(),
            crate::helpers::patch("existing", &["slug"], pb::PlexSource::default()),
        )
        .await
        .unwrap_err();
    assert_eq!(
        violations(&status),
        [("slug".to_owned(), "This field may not be blank.".to_owned())]
    );
    // With the other fields' violations, each slug rule is still its own.
    let status = app
        .create(
            app.admin(),
            pb::PlexSource {
                name: " ".into(),
                ..new_source(&long_and_spaced)
            },
        )
        .await
        .unwrap_err();
    let fields: Vec<String> = violations(&status).into_iter().map(|(f, _)| f).collect();
    assert_eq!(fields, ["name", "slug", "slug"]);

    // Nothing was written, and the source keeps its slug.
    let all = app
        .list(app.admin(), pb::ListPlexSourcesRequest::default())
        .await
        .expect("list");
    assert_eq!(all.total_size, 1);
    assert_eq!(
        app.retrieve(app.admin(), "existing").await.unwrap().slug,
        "existing"
    );
}

backend_tests!(
    apps: [
        a_slug_breaking_two_rules_reports_both,
    ],
);
