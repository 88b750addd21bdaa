//! The file around the entries: `version` defaults to 1, `metadata` is
//! checked, entries may come in named sections.

use super::{fixture, report};
use crate::{backend_tests, helpers::Backend};

backend_tests!(version_defaults_and_metadata_and_sections_are_read);

async fn version_defaults_and_metadata_and_sections_are_read(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
    let text = "
metadata:
  name: No version
  labels: {blueprints.goauthentik.io/instantiate: 'false'}
entries:
  flows:
    - model: authentik_flows.flow
      identifiers: {slug: sectioned}
      attrs: {name: S, designation: authentication}
  sources:
    - model: authentik_sources_plex.plexsource
      identifiers: {slug: sectioned}
      attrs: {name: S, plex_token: t, authentication_flow: !Find [authentik_flows.flow, [slug, sectioned]]}
";
    assert_eq!(fx.import(text).await.unwrap(), report(2, 0, 0, 0, 0));
    let flow = fx.flow("sectioned").await.unwrap();
    assert_eq!(
        fx.source("sectioned")
            .await
            .unwrap()
            .fields
            .authentication_flow,
        Some(flow.pk)
    );
    for (bad, needle) in [
        ("version: 2\n", "unsupported blueprint `version`"),
        ("metadata: {labels: {}}\n", "`metadata.name` is required"),
        (
            "metadata: {name: x, labels: {a: [1]}}\n",
            "`metadata.labels` must map strings to strings",
        ),
        ("context: [x]\n", "`context` must be a mapping, got list"),
    ] {
        let err = fx.import(bad).await.unwrap_err();
        assert!(err.to_string().contains(needle), "{bad}: {err}");
        assert!(err.to_string().contains("blueprint.yaml"), "{err}");
    }
}
