//! Real-world shapes: files that follow authentik's shipped blueprints
//! (flows with stages and bindings, context-driven names, `!Enumerate`d
//! lists, conditional entries) and a Plex source built with every tag. Each
//! imports, and importing it again changes nothing.

use plex_source_service::blueprint::ImportReport;

use super::{Fixture, fixture, report};
use crate::{backend_tests, helpers::Backend};

backend_tests!(
    default_authentication_flow_shape,
    source_enrollment_shape_with_context,
    rbac_role_shape_enumerates_the_model_map,
    plex_source_with_every_tag,
);

/// Imports twice: the second import creates, updates and deletes nothing.
async fn twice(fx: &Fixture, text: &str, context: &str) -> ImportReport {
    let first = fx.import_with_context(text, context).await.unwrap();
    let again = fx.import_with_context(text, context).await.unwrap();
    assert_eq!(
        again,
        report(
            0,
            0,
            first.created + first.updated + first.unchanged,
            0,
            first.skipped
        ),
        "the second import changed something"
    );
    first
}

async fn default_authentication_flow_shape(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
    let text = include_str!("fixtures/default-authentication-flow.yaml");
    // One flow stored; the meta entry, 4 stages, 3 bindings, the policy, its
    // binding and the licensed flow skipped.
    assert_eq!(twice(&fx, text, "{}").await, report(1, 0, 0, 0, 11));
    let flow = fx.flow("default-authentication-flow").await.unwrap();
    assert_eq!(flow.title, "Welcome to authentik!");
    assert_eq!(flow.designation, "authentication");
    assert!(fx.flow("enterprise-only-flow").await.is_none());
    // A licence given as context enables the conditional entry.
    let licensed = "{goauthentik.io/enterprise/licensed: true}";
    assert_eq!(
        fx.import_with_context(text, licensed).await.unwrap(),
        report(1, 0, 1, 0, 10)
    );
    assert!(fx.flow("enterprise-only-flow").await.is_some());
}

async fn source_enrollment_shape_with_context(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
    let text = include_str!("fixtures/source-enrollment-context.yaml");
    assert_eq!(twice(&fx, text, "{}").await, report(2, 0, 0, 0, 4));
    let flow = fx.flow("plex-source-enrollment").await.unwrap();
    assert_eq!(
        (flow.name.as_str(), flow.title.as_str()),
        ("Plex enrollment", "Welcome to authentik!")
    );
    assert!(fx.mapping("Plex enrollment: username").await.is_some());
    // Names driven by the context given at import.
    let given =
        "{flow_slug: family-enroll, flow_name: Family, brand_name: Home, with_recovery: 'yes'}";
    assert_eq!(twice(&fx, text, given).await, report(3, 0, 0, 0, 3));
    let flow = fx.flow("family-enroll").await.unwrap();
    assert_eq!(
        (flow.name.as_str(), flow.title.as_str()),
        ("Family", "Welcome to Home!")
    );
    assert!(fx.flow("family-enroll-recovery").await.is_some());
    assert!(fx.mapping("Family: username").await.is_some());
}

async fn rbac_role_shape_enumerates_the_model_map(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
    let text = include_str!("fixtures/rbac-read-only.yaml");
    assert_eq!(twice(&fx, text, "{}").await, report(1, 0, 0, 0, 1));
    assert!(fx.role("Read-only").await.is_some());
}

async fn plex_source_with_every_tag(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
    let text = include_str!("fixtures/plex-every-tag.yaml");
    let token = fx.write("plex-token", "every-tag-token\n");
    let context = format!("{{token_file: '{}'}}", token.display());
    assert_eq!(twice(&fx, text, &context).await, report(5, 0, 0, 0, 3));

    let auth = fx.flow("plex-every-tag-authentication").await.unwrap();
    let enroll = fx.flow("plex-every-tag-enrollment").await.unwrap();
    assert_eq!(
        (auth.name.as_str(), auth.title.as_str()),
        ("Plex authentication", "Welcome")
    );
    let username = fx.mapping("Plex: username").await.unwrap();
    let email = fx.mapping("Plex: email").await.unwrap();
    let source = fx.source("plex-every-tag").await.unwrap();
    let s = &source.fields;
    assert_eq!(s.name, "Sign in with Plex (2 servers)");
    assert!(s.enabled);
    assert_eq!(s.authentication_flow, Some(auth.pk));
    assert_eq!(s.enrollment_flow, Some(enroll.pk));
    assert_eq!(s.user_property_mappings, [username.pk, email.pk]);
    assert_eq!(s.group_property_mappings, [email.pk]);
    assert_eq!(s.policy_engine_mode.as_str(), "any");
    assert_eq!(s.user_matching_mode.as_str(), "identifier");
    assert_eq!(s.allowed_servers, ["server-a-0", "server-b-1"]);
    assert!(s.allow_friends);
    assert_eq!(s.client_id, "client-authentication");
    assert_eq!(s.icon.as_deref(), Some("https://example.com/plex.png"));
    assert_eq!(s.plex_token.expose(), "every-tag-token");
    assert!(fx.source("enterprise-plex").await.is_none());

    // The example in the repository is the same file.
    assert_eq!(include_str!("../../../examples/plex-every-tag.yaml"), text);
}
