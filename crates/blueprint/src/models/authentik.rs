//! authentik's models: every name a blueprint entry may give, which of
//! them this service stores, and the `rbac_models` context they make.

use serde_yaml_ng::{Mapping, Value};

use super::Model;

/// Every model authentik 2025.10 accepts in a blueprint: the `model`
/// constants of its blueprint schema (`blueprints/schema.json`), which are
/// the serializable models of its apps (its OpenAPI `ModelEnum`) plus the
/// meta model [`META_MODELS`]. Taken from authentik 2025.10.0's `ModelEnum`
/// (`schema.yml`, `info.version: 2025.10.0`; unchanged through 2025.10.4)
/// and checked against the blueprint schema of authentik's main branch at
/// 05e26b33e (2025-09-25, `authentik 2025.10.0-rc1 Blueprint schema`),
/// which lists the same models but the Telegram source's four, added
/// before the release. An entry naming one of them that this service does
/// not store is skipped; a name outside this list is a typo, refused as
/// authentik refuses it.
pub(crate) const AUTHENTIK_MODELS: &[&str] = &[
    "authentik_blueprints.blueprintinstance",
    "authentik_blueprints.metaapplyblueprint",
    "authentik_brands.brand",
    "authentik_core.application",
    "authentik_core.applicationentitlement",
    "authentik_core.group",
    "authentik_core.token",
    "authentik_core.user",
    "authentik_crypto.certificatekeypair",
    "authentik_enterprise.license",
    "authentik_events.event",
    "authentik_events.notification",
    "authentik_events.notificationrule",
    "authentik_events.notificationtransport",
    "authentik_events.notificationwebhookmapping",
    "authentik_flows.flow",
    "authentik_flows.flowstagebinding",
    "authentik_outposts.dockerserviceconnection",
    "authentik_outposts.kubernetesserviceconnection",
    "authentik_outposts.outpost",
    "authentik_policies.policybinding",
    "authentik_policies_dummy.dummypolicy",
    "authentik_policies_event_matcher.eventmatcherpolicy",
    "authentik_policies_expiry.passwordexpirypolicy",
    "authentik_policies_expression.expressionpolicy",
    "authentik_policies_geoip.geoippolicy",
    "authentik_policies_password.passwordpolicy",
    "authentik_policies_reputation.reputationpolicy",
    "authentik_policies_unique_password.uniquepasswordpolicy",
    "authentik_providers_google_workspace.googleworkspaceprovider",
    "authentik_providers_google_workspace.googleworkspaceprovidermapping",
    "authentik_providers_ldap.ldapprovider",
    "authentik_providers_microsoft_entra.microsoftentraprovider",
    "authentik_providers_microsoft_entra.microsoftentraprovidermapping",
    "authentik_providers_oauth2.oauth2provider",
    "authentik_providers_oauth2.scopemapping",
    "authentik_providers_proxy.proxyprovider",
    "authentik_providers_rac.endpoint",
    "authentik_providers_rac.racpropertymapping",
    "authentik_providers_rac.racprovider",
    "authentik_providers_radius.radiusprovider",
    "authentik_providers_radius.radiusproviderpropertymapping",
    "authentik_providers_saml.samlpropertymapping",
    "authentik_providers_saml.samlprovider",
    "authentik_providers_scim.scimmapping",
    "authentik_providers_scim.scimprovider",
    "authentik_providers_ssf.ssfprovider",
    "authentik_rbac.initialpermissions",
    "authentik_rbac.role",
    "authentik_sources_kerberos.groupkerberossourceconnection",
    "authentik_sources_kerberos.kerberossource",
    "authentik_sources_kerberos.kerberossourcepropertymapping",
    "authentik_sources_kerberos.userkerberossourceconnection",
    "authentik_sources_ldap.groupldapsourceconnection",
    "authentik_sources_ldap.ldapsource",
    "authentik_sources_ldap.ldapsourcepropertymapping",
    "authentik_sources_ldap.userldapsourceconnection",
    "authentik_sources_oauth.groupoauthsourceconnection",
    "authentik_sources_oauth.oauthsource",
    "authentik_sources_oauth.oauthsourcepropertymapping",
    "authentik_sources_oauth.useroauthsourceconnection",
    "authentik_sources_plex.groupplexsourceconnection",
    "authentik_sources_plex.plexsource",
    "authentik_sources_plex.plexsourcepropertymapping",
    "authentik_sources_plex.userplexsourceconnection",
    "authentik_sources_saml.groupsamlsourceconnection",
    "authentik_sources_saml.samlsource",
    "authentik_sources_saml.samlsourcepropertymapping",
    "authentik_sources_saml.usersamlsourceconnection",
    "authentik_sources_scim.scimsource",
    "authentik_sources_scim.scimsourcepropertymapping",
    "authentik_sources_telegram.grouptelegramsourceconnection",
    "authentik_sources_telegram.telegramsource",
    "authentik_sources_telegram.telegramsourcepropertymapping",
    "authentik_sources_telegram.usertelegramsourceconnection",
    "authentik_stages_authenticator_duo.authenticatorduostage",
    "authentik_stages_authenticator_duo.duodevice",
    "authentik_stages_authenticator_email.authenticatoremailstage",
    "authentik_stages_authenticator_email.emaildevice",
    "authentik_stages_authenticator_endpoint_gdtc.authenticatorendpointgdtcstage",
    "authentik_stages_authenticator_sms.authenticatorsmsstage",
    "authentik_stages_authenticator_sms.smsdevice",
    "authentik_stages_authenticator_static.authenticatorstaticstage",
    "authentik_stages_authenticator_static.staticdevice",
    "authentik_stages_authenticator_totp.authenticatortotpstage",
    "authentik_stages_authenticator_totp.totpdevice",
    "authentik_stages_authenticator_validate.authenticatorvalidatestage",
    "authentik_stages_authenticator_webauthn.authenticatorwebauthnstage",
    "authentik_stages_authenticator_webauthn.webauthndevice",
    "authentik_stages_captcha.captchastage",
    "authentik_stages_consent.consentstage",
    "authentik_stages_deny.denystage",
    "authentik_stages_dummy.dummystage",
    "authentik_stages_email.emailstage",
    "authentik_stages_identification.identificationstage",
    "authentik_stages_invitation.invitation",
    "authentik_stages_invitation.invitationstage",
    "authentik_stages_mtls.mutualtlsstage",
    "authentik_stages_password.passwordstage",
    "authentik_stages_prompt.prompt",
    "authentik_stages_prompt.promptstage",
    "authentik_stages_redirect.redirectstage",
    "authentik_stages_source.sourcestage",
    "authentik_stages_user_delete.userdeletestage",
    "authentik_stages_user_login.userloginstage",
    "authentik_stages_user_logout.userlogoutstage",
    "authentik_stages_user_write.userwritestage",
    "authentik_tasks_schedules.schedule",
    "authentik_tenants.domain",
];

/// What a model name stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Known {
    /// A model this service stores.
    Stored(Model),
    /// A model of authentik this service does not store (its canonical
    /// name).
    Elsewhere(&'static str),
}

/// Looks `name` up as authentik does (model names regardless of case), with
/// Django's message when it names nothing.
pub(crate) fn known(name: &str) -> Result<Known, String> {
    if let Some(model) = Model::from_name(name) {
        return Ok(Known::Stored(model));
    }
    if let Some(found) = AUTHENTIK_MODELS
        .iter()
        .find(|m| m.eq_ignore_ascii_case(name))
    {
        return Ok(Known::Elsewhere(found));
    }
    let Some((app, model)) = name.split_once('.') else {
        return Err(format!(
            "Model label must be in the form 'app_label.model_name', got '{name}'."
        ));
    };
    let app_known = AUTHENTIK_MODELS
        .iter()
        .any(|m| m.split_once('.').is_some_and(|(a, _)| a == app));
    if app_known {
        Err(format!("App '{app}' doesn't have a '{model}' model."))
    } else {
        Err(format!("No installed app with label '{app}'."))
    }
}

/// Models of [`AUTHENTIK_MODELS`] that are no database table: blueprint
/// entries apply them (another blueprint), Django's app registry does not
/// list them.
pub(super) const META_MODELS: &[&str] = &["authentik_blueprints.metaapplyblueprint"];

/// authentik's `goauthentik.io/rbac/models` context: model name → app
/// label, for the models of its apps (`rbac_models()` in its importer; the
/// meta models are none of them).
pub(crate) fn rbac_models() -> Mapping {
    let mut out = Mapping::new();
    for name in AUTHENTIK_MODELS.iter().filter(|m| !META_MODELS.contains(m)) {
        if let Some((app, model)) = name.split_once('.') {
            out.insert(Value::String(model.into()), Value::String(app.into()));
        }
    }
    out
}
