//! `!Env` and `!KeyOf`: defaults, secrets kept out of errors, order.

use super::{MINIMAL, fixture, report, violated_fields};
use crate::{backend_tests, helpers::Backend};

backend_tests!(
    env_with_default_and_unset,
    env_values_never_show_in_errors,
    key_of_must_name_an_earlier_entry,
);

async fn env_with_default_and_unset(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
    let text = "
version: 1
entries:
  - model: authentik_sources_plex.plexsource
    identifiers: {slug: !Env [PSS_TEST_ENV_UNSET_SLUG, env-source]}
    attrs:
      name: Env
      plex_token: !Env [PSS_TEST_ENV_UNSET_TOKEN, fallback-token]
      client_id: !Env PSS_TEST_ENV_CLIENT
      enrollment_flow: !Env PSS_TEST_ENV_UNSET_FLOW
";
    assert_eq!(fx.import(text).await.unwrap(), report(1, 0, 0, 0, 0));
    let s = fx.source("env-source").await.unwrap().fields;
    assert_eq!(s.plex_token.expose(), "fallback-token");
    assert_eq!(s.client_id, "client-from-env");
    assert_eq!(s.enrollment_flow, None);

    let err = fx
        .import(&MINIMAL.replace("minimal-token", "!Env PSS_TEST_ENV_UNSET_TOKEN"))
        .await
        .unwrap_err();
    assert_eq!(
        err.violations().unwrap().to_string(),
        "plex_token: This field may not be null."
    );
}

async fn env_values_never_show_in_errors(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
    let text = "
version: 1
entries:
  - model: authentik_sources_plex.plexsource
    identifiers: {slug: secretive}
    attrs:
      name: Secretive
      plex_token: t
      policy_engine_mode: !Env PSS_TEST_SECRET_MODE
      authentication_flow: !Env PSS_TEST_SECRET_FLOW
";
    let err = fx.import(text).await.unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("super-secret-mode"), "{shown}");
    assert!(!shown.contains("0f0f0f0f-aaaa"), "{shown}");
    // References are looked up as the attributes are read, before the
    // choices are checked (authentik's serializer order, too).
    assert_eq!(
        violated_fields(&err),
        ["authentication_flow", "policy_engine_mode"]
    );
    assert!(
        shown.contains("\"[REDACTED]\" is not a valid choice."),
        "{shown}"
    );
}

async fn key_of_must_name_an_earlier_entry(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
    let text = "
version: 1
entries:
  - model: authentik_sources_plex.plexsource
    identifiers: {slug: early}
    attrs:
      name: Early
      plex_token: t
      user_property_mappings: [!KeyOf m, !KeyOf m]
  - model: authentik_sources_plex.plexsourcepropertymapping
    id: m
    identifiers: {name: m}
";
    let err = fx.import(text).await.unwrap_err();
    assert_eq!(violated_fields(&err), ["user_property_mappings[0]"]);
    assert!(fx.mapping("m").await.is_none());
}
