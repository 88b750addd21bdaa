//! The supported blueprint models (their names and identifiers), the
//! [`Target`] each one implements, and the rules every model shares:
//! identifiers, unknown attributes, uniqueness and references.

use serde_yaml_ng::{Mapping, Value};
use store::Txn;
use uuid::Uuid;

use super::{
    python,
    values::{drf_bool, not_a_valid_uuid, type_name},
};
use domain::{Reference, Violations};
use store::StoreError;

use crate::lookup::{Identifier, Lookup};

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
const META_MODELS: &[&str] = &["authentik_blueprints.metaapplyblueprint"];

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Model {
    PlexSource,
    Flow,
    PropertyMapping,
    User,
    Role,
}

/// How a field compares in identifiers and `!Find`, as Django reads a
/// lookup value for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The primary key (a UUID).
    Pk,
    Text,
    Bool,
    /// A reference to one object by its UUID, or null.
    Ref,
    /// References to several objects: a lookup matches when one is the value.
    RefList,
    TextList,
}

const PLEX_SOURCE_FIELDS: &[(&str, Kind)] = &[
    ("pk", Kind::Pk),
    ("name", Kind::Text),
    ("slug", Kind::Text),
    ("enabled", Kind::Bool),
    ("authentication_flow", Kind::Ref),
    ("enrollment_flow", Kind::Ref),
    ("user_property_mappings", Kind::RefList),
    ("group_property_mappings", Kind::RefList),
    ("component", Kind::Text),
    ("verbose_name", Kind::Text),
    ("verbose_name_plural", Kind::Text),
    ("meta_model_name", Kind::Text),
    ("policy_engine_mode", Kind::Text),
    ("user_matching_mode", Kind::Text),
    ("managed", Kind::Text),
    ("user_path_template", Kind::Text),
    ("icon", Kind::Text),
    ("group_matching_mode", Kind::Text),
    ("client_id", Kind::Text),
    ("allowed_servers", Kind::TextList),
    ("allow_friends", Kind::Bool),
    ("plex_token", Kind::Text),
];

const FLOW_FIELDS: &[(&str, Kind)] = &[
    ("pk", Kind::Pk),
    ("name", Kind::Text),
    ("slug", Kind::Text),
    ("title", Kind::Text),
    ("designation", Kind::Text),
];

const MAPPING_FIELDS: &[(&str, Kind)] = &[
    ("pk", Kind::Pk),
    ("name", Kind::Text),
    ("expression", Kind::Text),
];

const USER_FIELDS: &[(&str, Kind)] = &[
    ("pk", Kind::Pk),
    ("username", Kind::Text),
    ("is_active", Kind::Bool),
    ("is_superuser", Kind::Bool),
    ("roles", Kind::RefList),
];

const ROLE_FIELDS: &[(&str, Kind)] = &[("pk", Kind::Pk), ("name", Kind::Text)];

impl Model {
    /// The model an entry names; authentik matches model names regardless
    /// of case.
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        [
            Model::PlexSource,
            Model::Flow,
            Model::PropertyMapping,
            Model::User,
            Model::Role,
        ]
        .into_iter()
        .find(|m| m.name().eq_ignore_ascii_case(name))
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Model::PlexSource => domain::plex_source::META_MODEL_NAME,
            Model::Flow => "authentik_flows.flow",
            Model::PropertyMapping => "authentik_sources_plex.plexsourcepropertymapping",
            Model::User => "authentik_core.user",
            Model::Role => "authentik_rbac.role",
        }
    }

    /// Indexed text columns: a lookup on them narrows the rows read before
    /// the other fields are compared. They are also the column names.
    pub(crate) fn identifier_fields(self) -> &'static [Identifier] {
        match self {
            Model::PlexSource | Model::Flow => &[Identifier::Slug, Identifier::Name],
            Model::PropertyMapping | Model::Role => &[Identifier::Name],
            Model::User => &[Identifier::Username],
        }
    }

    pub(crate) fn identifier_column(self, key: &str) -> Option<Identifier> {
        self.identifier_fields()
            .iter()
            .copied()
            .find(|f| f.field() == key)
    }

    /// Every field an object of the model serializes to, with its kind: what
    /// identifiers and `!Find` may name, and what `!FindObject` returns.
    pub(crate) fn fields(self) -> &'static [(&'static str, Kind)] {
        match self {
            Model::PlexSource => PLEX_SOURCE_FIELDS,
            Model::Flow => FLOW_FIELDS,
            Model::PropertyMapping => MAPPING_FIELDS,
            Model::User => USER_FIELDS,
            Model::Role => ROLE_FIELDS,
        }
    }

    fn field(self, name: &str) -> Option<(&'static str, Kind)> {
        self.fields().iter().copied().find(|(n, _)| *n == name)
    }
}

/// Which objects identifiers or `!Find` select: those whose pk is `pk`, or
/// that match every pair of `all` (values already read for their kind).
/// Neither given: every object.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Query {
    pub pk: Option<Uuid>,
    pub all: Vec<(&'static str, Kind, Value)>,
}

/// Reads `value` as Django reads a lookup on field `name` of `model`; the
/// error is the message to report.
pub(crate) fn lookup_value(
    model: Model,
    name: &str,
    value: Value,
) -> Result<(&'static str, Kind, Value), String> {
    let Some((field, kind)) = model.field(name) else {
        let choices: Vec<&str> = model.fields().iter().map(|(n, _)| *n).collect();
        return Err(format!(
            "Cannot resolve keyword '{name}' into field. Choices are: {}.",
            choices.join(", ")
        ));
    };
    let value = match (kind, value) {
        (_, Value::Null) => Value::Null,
        // Django's UUID field: `5` is `00000000-…-000000000005`.
        (Kind::Pk | Kind::Ref | Kind::RefList, other) => match python::django_uuid(&other) {
            Some(id) => Value::String(id.to_string()),
            None => return Err(not_a_valid_uuid(&python::str_of(&other))),
        },
        (Kind::Bool, other) => match drf_bool(&other) {
            Some(b) => Value::Bool(b),
            None => {
                return Err(format!(
                    "\u{201c}{}\u{201d} value must be either True or False.",
                    python::str_of(&other)
                ));
            }
        },
        // Trimmed as text is when written, so the next import finds what
        // this one stored.
        (Kind::Text, Value::String(s)) => Value::String(s.trim().to_owned()),
        (Kind::Text, other @ (Value::Number(_) | Value::Bool(_))) => {
            Value::String(python::str_of(&other))
        }
        (Kind::TextList, Value::Sequence(items)) => Value::Sequence(
            items
                .into_iter()
                .map(|i| Value::String(python::str_of(&i)))
                .collect(),
        ),
        (_, other) => {
            return Err(format!(
                "Field '{field}' expected a value, got {}.",
                type_name(&other)
            ));
        }
    };
    Ok((field, kind, value))
}

impl Query {
    /// The store lookup that narrows the rows to compare: the pk ORed with
    /// the indexed text fields; empty (every row) when no field is indexed.
    pub(crate) fn narrowing(&self, model: Model) -> Lookup {
        let fields: Vec<(Identifier, String)> = self
            .all
            .iter()
            .filter_map(
                |(name, _, value)| match (model.identifier_column(name), value) {
                    (Some(column), Value::String(s)) => Some((column, s.clone())),
                    _ => None,
                },
            )
            .collect();
        // `!Find`'s pk is one of the ANDed pairs: that one row at most.
        let and_pk = self
            .all
            .iter()
            .find_map(|(name, kind, value)| match (kind, value) {
                (Kind::Pk, Value::String(s)) if *name == "pk" && self.pk.is_none() => {
                    Uuid::parse_str(s).ok()
                }
                _ => None,
            });
        if let Some(pk) = and_pk {
            return Lookup {
                pk: Some(pk),
                fields: Vec::new(),
            };
        }
        let scan = !self.all.is_empty() && fields.is_empty();
        if scan || (self.pk.is_none() && self.all.is_empty()) {
            Lookup::default()
        } else {
            Lookup {
                pk: self.pk,
                fields,
            }
        }
    }

    /// Whether the serialized object (`pk`, `fields`) is selected.
    pub(crate) fn selects(&self, pk: Uuid, fields: &Mapping) -> bool {
        if self.pk.is_none() && self.all.is_empty() {
            return true;
        }
        if self.pk == Some(pk) {
            return true;
        }
        !self.all.is_empty()
            && self.all.iter().all(|(name, kind, wanted)| {
                let stored = fields.get(*name).unwrap_or(&Value::Null);
                match (kind, stored) {
                    (Kind::RefList, Value::Sequence(items)) if !wanted.is_sequence() => {
                        items.contains(wanted)
                    }
                    _ => stored == wanted,
                }
            })
    }
}
/// Keys authentik's serializers return but never write; blueprints exported
/// from authentik may carry them, so they are dropped without a word.
const READ_ONLY: &[&str] = &[
    "pk",
    "managed",
    "component",
    "verbose_name",
    "verbose_name_plural",
    "meta_model_name",
];

/// Whether `key` is read-only (dropped silently); otherwise warns that it is
/// unknown. Only the key is logged: values may be secrets.
pub(super) fn ignore(model: Model, key: &str) {
    if !READ_ONLY.contains(&key) {
        tracing::warn!(
            model = model.name(),
            key,
            "ignoring unknown blueprint attribute"
        );
    }
}

/// Why identifiers select no object to work on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// authentik refuses the entry before reading a value (no identifiers:
    /// `No or invalid identifiers`; a field the model does not have:
    /// `Invalid identifier field: ...`): an `absent` entry is skipped.
    Entry,
    /// A value is refused (Django cannot read it for its field, or the
    /// serializer's rules): an error in every state.
    Value,
}

/// The objects an entry's `identifiers` select: `pk` ORed with the AND of
/// every other field, as authentik queries them. Any field of the model may
/// identify (the first match is the object, as in authentik). Every refused
/// identifier is reported in `v`; the first one, in the order Django reads
/// them (`pk` first), says why. `serializer` adds the rules authentik's
/// serializer applies to identifiers merged into the object written (not
/// null, not blank), which an `absent` entry never reaches.
pub(crate) fn identity(
    v: &mut Violations,
    model: Model,
    identifiers: Vec<(String, Value)>,
    serializer: bool,
) -> Result<Query, Refused> {
    if identifiers.is_empty() {
        v.add("identifiers", "invalid", "No or invalid identifiers");
        return Err(Refused::Entry);
    }
    let mut first = None;
    let (pk, others): (Vec<_>, Vec<_>) = identifiers.into_iter().partition(|(k, _)| k == "pk");
    let mut query = Query::default();
    for (key, value) in pk.into_iter().chain(others) {
        let field = format!("identifiers.{key}");
        match (&value, model.field(&key)) {
            (_, None) => {
                let message = lookup_value(model, &key, value).err().unwrap_or_default();
                v.add(
                    field,
                    "invalid",
                    format!("Invalid identifier field: {message}"),
                );
                first.get_or_insert(Refused::Entry);
                continue;
            }
            (Value::Null, Some((_, Kind::Pk | Kind::Text))) if serializer => {
                v.null(&field);
                first.get_or_insert(Refused::Value);
                continue;
            }
            (Value::String(s), Some((_, Kind::Text))) if serializer && s.trim().is_empty() => {
                v.blank(&field);
                first.get_or_insert(Refused::Value);
                continue;
            }
            _ => {}
        }
        match lookup_value(model, &key, value) {
            Ok((_, Kind::Pk, Value::String(s))) if key == "pk" => {
                query.pk = Uuid::parse_str(&s).ok();
            }
            Ok(pair) => query.all.push(pair),
            Err(message) => {
                v.add(field, "invalid", message);
                first.get_or_insert(Refused::Value);
            }
        }
    }
    match first {
        None => Ok(query),
        Some(why) => Err(why),
    }
}

/// The objects of `T` that `query` selects, ordered by pk: the first is
/// the one authentik takes (Django's `.first()` orders by pk).
pub(crate) async fn find_matching<T: Target>(
    db: &Txn,
    query: &Query,
) -> Result<Vec<T::Stored>, StoreError> {
    let rows = T::find(db, &query.narrowing(T::MODEL)).await?;
    let mut rows: Vec<T::Stored> = rows
        .into_iter()
        .filter(|row| query.selects(T::pk(row), &T::serialize(row)))
        .collect();
    rows.sort_by_key(T::pk);
    Ok(rows)
}

/// A model other objects refer to by pk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Referenced {
    Flow,
    PropertyMapping,
    Role,
}

/// An attribute holding a reference: authentik's serializer field is a
/// `PrimaryKeyRelatedField` (`many` for a list of them).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RefField {
    pub name: &'static str,
    pub to: Referenced,
    pub many: bool,
}

/// One model's part of an import: typing, rules, and the store calls. The
/// state machine that applies an entry is the same for every model.
pub(crate) trait Target {
    const MODEL: Model;
    /// Whether entries may carry `permissions` on the object; the store
    /// holds object permissions on Plex sources only. Other models warn
    /// and ignore them.
    const OBJECT_PERMISSIONS: bool = false;
    /// The attributes that refer to other objects by pk, checked as DRF
    /// checks them before the draft is typed (see `references`).
    const REFERENCES: &'static [RefField] = &[];
    /// An object as stored.
    type Stored: Send + Sync;
    type Draft: Send;
    /// What gets written, checked.
    type Fields: Send + Sync;

    fn pk(stored: &Self::Stored) -> Uuid;

    /// Types `attrs`; refused values are violations and stay missing.
    fn draft(v: &mut Violations, attrs: Vec<(String, Value)>) -> Self::Draft;

    /// The object as authentik's serializer shows it: what `!FindObject`
    /// returns and what identifiers and `!Find` compare.
    fn serialize(stored: &Self::Stored) -> Mapping;

    async fn find(db: &Txn, lookup: &Lookup) -> Result<Vec<Self::Stored>, StoreError>;

    /// The fields to write, or `None` with the broken rules in `v`: the
    /// draft's own rules, then references and uniqueness in the store.
    async fn check(
        db: &Txn,
        draft: Self::Draft,
        existing: Option<&Self::Stored>,
        v: &mut Violations,
    ) -> Result<Option<Self::Fields>, StoreError>;

    /// Whether writing `fields` would change nothing.
    fn unchanged(stored: &Self::Stored, fields: &Self::Fields) -> bool;

    async fn insert(db: &Txn, pk: Uuid, fields: &Self::Fields) -> Result<(), StoreError>;

    async fn update(db: &Txn, pk: Uuid, fields: &Self::Fields) -> Result<(), StoreError>;

    async fn delete(db: &Txn, pk: Uuid) -> Result<(), StoreError>;
}

/// Reports `column` as `unique`, with the model's `message`, when an object
/// other than `existing` already holds `value` (`None`: nothing to check,
/// e.g. a blank value already reported). Looked up with the model's own
/// `find`, so the value matches as an identifier would.
pub(super) async fn check_unique<T: Target>(
    db: &Txn,
    v: &mut Violations,
    existing: Option<&T::Stored>,
    column: Identifier,
    value: Option<String>,
    message: &str,
) -> Result<(), StoreError> {
    let Some(value) = value else {
        return Ok(());
    };
    let lookup = Lookup {
        pk: None,
        fields: vec![(column, value)],
    };
    let owners = T::find(db, &lookup).await?;
    let existing = existing.map(T::pk);
    if owners.iter().any(|owner| Some(T::pk(owner)) != existing) {
        v.add(column.field(), "unique", message);
    }
    Ok(())
}

/// `Ok(fields)` only when no rule at all was broken.
pub(super) fn finished<T>(v: &mut Violations, result: Result<T, Violations>) -> Option<T> {
    match result {
        Ok(fields) => Some(fields),
        Err(broken) => {
            v.extend(broken);
            None
        }
    }
}

pub(super) fn ids(refs: &[Reference]) -> Vec<Uuid> {
    let mut ids: Vec<Uuid> = refs.iter().map(|r| r.id).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

pub(super) fn report_missing(v: &mut Violations, refs: &[Reference], missing: &[Uuid]) {
    for r in refs.iter().filter(|r| missing.contains(&r.id)) {
        v.invalid_pk(r.field.clone(), &r.raw);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::pairs;

    fn fields(v: &Violations) -> Vec<&str> {
        v.iter().map(|f| f.field.as_str()).collect()
    }

    #[test]
    fn model_names_match_regardless_of_case() {
        assert_eq!(
            Model::from_name("authentik_sources_plex.PlexSource"),
            Some(Model::PlexSource)
        );
        assert_eq!(Model::from_name("authentik_flows.flow"), Some(Model::Flow));
        assert_eq!(
            Model::from_name("authentik_sources_plex.plexsourcepropertymapping"),
            Some(Model::PropertyMapping)
        );
        assert_eq!(Model::from_name("authentik_core.User"), Some(Model::User));
        assert_eq!(Model::from_name("authentik_rbac.role"), Some(Model::Role));
        assert_eq!(Model::from_name("authentik_core.group"), None);
        assert_eq!(
            Model::User.identifier_column("username"),
            Some(Identifier::Username)
        );
        assert_eq!(Model::Role.identifier_column("username"), None);
        assert_eq!(Model::PropertyMapping.identifier_column("slug"), None);
        assert_eq!(
            Model::Flow.identifier_column("slug"),
            Some(Identifier::Slug)
        );
    }

    #[test]
    fn bad_identifiers_are_each_reported_and_the_first_says_why() {
        let mut v = Violations::new();
        let query = identity(
            &mut v,
            Model::PropertyMapping,
            pairs("{name: '', slug: x, expression: null, pk: nope}"),
            true,
        );
        // Django reads `pk` first: a malformed one fails the lookup.
        assert_eq!(query, Err(Refused::Value));
        assert_eq!(
            fields(&v),
            [
                "identifiers.pk",
                "identifiers.name",
                "identifiers.slug",
                "identifiers.expression"
            ]
        );
        assert_eq!(
            v.iter().next().unwrap().message,
            "\u{201c}nope\u{201d} is not a valid UUID."
        );
        assert_eq!(
            v.iter().nth(2).unwrap().message,
            "Invalid identifier field: Cannot resolve keyword 'slug' into field. \
             Choices are: pk, name, expression."
        );

        // Without the serializer's rules, null and blank text select
        // nothing; the unknown field comes first.
        let mut v = Violations::new();
        let query = identity(
            &mut v,
            Model::PropertyMapping,
            pairs("{name: '', slug: x, expression: null}"),
            false,
        );
        assert_eq!(query, Err(Refused::Entry));
        assert_eq!(fields(&v), ["identifiers.slug"]);

        let mut v = Violations::new();
        assert_eq!(
            identity(&mut v, Model::Flow, vec![], true),
            Err(Refused::Entry)
        );
        assert_eq!(v.to_string(), "identifiers: No or invalid identifiers");
    }

    #[test]
    fn any_field_identifies_with_djangos_reading() {
        let pk = Uuid::new_v4();
        let mut v = Violations::new();
        let query = identity(
            &mut v,
            Model::PlexSource,
            pairs(&format!(
                "{{pk: '{pk}', slug: ' plex ', enabled: 'yes', name: 2024}}"
            )),
            true,
        )
        .unwrap();
        assert_eq!(query.pk, Some(pk));
        assert_eq!(
            query.all,
            [
                ("slug", Kind::Text, Value::String("plex".into())),
                ("enabled", Kind::Bool, Value::Bool(true)),
                ("name", Kind::Text, Value::String("2024".into())),
            ]
        );
        let lookup = query.narrowing(Model::PlexSource);
        assert_eq!(
            lookup.fields,
            [
                (Identifier::Slug, "plex".to_owned()),
                (Identifier::Name, "2024".to_owned())
            ]
        );

        let mut stored = Mapping::new();
        stored.insert("slug".into(), "plex".into());
        stored.insert("enabled".into(), true.into());
        stored.insert("name".into(), "2024".into());
        assert!(query.selects(Uuid::new_v4(), &stored));
        stored.insert("enabled".into(), false.into());
        assert!(!query.selects(Uuid::new_v4(), &stored));
        assert!(query.selects(pk, &stored), "the pk alone is enough");

        // A field that is no column: every row is read and compared.
        let query = identity(
            &mut v,
            Model::Flow,
            pairs("{designation: authentication}"),
            true,
        )
        .unwrap();
        assert_eq!(query.narrowing(Model::Flow), Lookup::default());
    }

    #[test]
    fn model_names_are_authentiks() {
        assert_eq!(
            known("authentik_sources_plex.PlexSource"),
            Ok(Known::Stored(Model::PlexSource))
        );
        assert_eq!(
            known("authentik_core.Group"),
            Ok(Known::Elsewhere("authentik_core.group"))
        );
        assert_eq!(
            known("authentik_core.grop"),
            Err("App 'authentik_core' doesn't have a 'grop' model.".into())
        );
        assert_eq!(
            known("authentik_cor.group"),
            Err("No installed app with label 'authentik_cor'.".into())
        );
        assert!(known("flow").is_err());
        for name in AUTHENTIK_MODELS {
            assert!(known(name).is_ok(), "{name}");
        }
        let stored = [
            Model::PlexSource,
            Model::Flow,
            Model::PropertyMapping,
            Model::User,
            Model::Role,
        ];
        for model in stored {
            assert!(AUTHENTIK_MODELS.contains(&model.name()), "{model:?}");
            assert_eq!(model.fields()[0], ("pk", Kind::Pk));
        }
        assert_eq!(
            rbac_models().get("plexsource"),
            Some(&Value::String("authentik_sources_plex".into()))
        );
    }

    #[test]
    fn the_model_list_is_authentik_2025_10s() {
        // 108 models of `ModelEnum` and one meta model, sorted, each once.
        assert_eq!(AUTHENTIK_MODELS.len(), 109);
        assert!(AUTHENTIK_MODELS.windows(2).all(|w| w[0] < w[1]));
        for meta in META_MODELS {
            assert!(AUTHENTIK_MODELS.contains(meta), "{meta}");
        }
        // authentik's `rbac_models()` names the apps' models only.
        assert_eq!(rbac_models().len(), 108);
        assert_eq!(rbac_models().get("metaapplyblueprint"), None);
        assert!(known("authentik_sources_telegram.telegramsource").is_ok());
        assert!(known("authentik_endpoints.deviceaccessgroup").is_err());
    }
}
