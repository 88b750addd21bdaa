//! Blueprint imports against both databases, one fresh migrated database
//! per test, observed through the store.

mod document;
mod errors;
mod language;
mod models;
mod permissions;
mod shapes;
mod sources;
mod states;
mod tags;
mod users_roles;
mod values;

use std::path::PathBuf;

use plex_source_service::store::Db;
use plex_source_service::{
    blueprint::{self, ImportError, ImportReport},
    domain::{
        PlexSource, Slug,
        access::{Caller, Permission, hash_key},
    },
    store::{
        self, FlowRow, MappingRow, Match,
        access::{GrantRow, Principal, UserRow},
    },
};
use tempfile::TempDir;

use crate::helpers::{Backend, TestDb};

pub const PLEX: &str = "authentik_sources_plex.plexsource";

/// A migrated database and a directory for the blueprint files.
pub struct Fixture {
    pub dir: TempDir,
    pub db: Db,
    /// Declared last: the connection closes before the database goes.
    _test_db: TestDb,
}

/// `None` when the backend is not available locally (never under CI).
pub async fn fixture(backend: Backend) -> Option<Fixture> {
    let test_db = TestDb::empty(backend).await?;
    let db = test_db.connect().await;
    store::migrate(&db).await.expect("migrations apply");
    Some(Fixture {
        dir: tempfile::tempdir().expect("temp dir"),
        db,
        _test_db: test_db,
    })
}

/// The environment the tests see; names are unique to these tests, and the
/// process environment is never touched.
pub fn env(name: &str) -> Option<String> {
    let value = match name {
        "PSS_TEST_FULL_TOKEN" => "full-owner-token",
        "PSS_TEST_FULL_MAPPING" => "Plex: groups",
        "PSS_TEST_ENV_CLIENT" => "client-from-env",
        "PSS_TEST_SECRET_MODE" => "super-secret-mode",
        "PSS_TEST_SECRET_FLOW" => "0f0f0f0f-aaaa-4bbb-8ccc-0123456789ab",
        _ => return None,
    };
    Some(value.to_owned())
}

impl Fixture {
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Imports `text` as `blueprint.yaml`, with `!Env` answered by [`env`].
    pub async fn import(&self, text: &str) -> Result<ImportReport, ImportError> {
        let path = self.write("blueprint.yaml", text);
        blueprint::import_file_with_env(&self.db, &path, &env).await
    }

    /// [`Fixture::import`] with a context given at import (YAML mapping
    /// text), `!File` reading the real file system.
    pub async fn import_with_context(
        &self,
        text: &str,
        context: &str,
    ) -> Result<ImportReport, ImportError> {
        let path = self.write("blueprint.yaml", text);
        let options = blueprint::ImportOptions {
            env: &env,
            files: &blueprint::read_file,
            context: serde_yaml_ng::from_str(context).unwrap(),
        };
        blueprint::import_file_with(&self.db, &path, &options).await
    }

    pub async fn role(&self, name: &str) -> Option<plex_source_service::store::access::RoleRecord> {
        let lookup = Match {
            name: Some(name.to_owned()),
            ..Match::default()
        };
        store::access::lookup_roles(&self.db, &lookup)
            .await
            .unwrap()
            .pop()
    }

    pub async fn source(&self, slug: &str) -> Option<PlexSource> {
        store::find_source_by_slug(&self.db, &Slug::parse(slug).unwrap())
            .await
            .unwrap()
    }

    pub async fn flow(&self, slug: &str) -> Option<FlowRow> {
        let lookup = Match {
            slug: Some(slug.to_owned()),
            ..Match::default()
        };
        store::flows::find(&self.db, &lookup).await.unwrap().pop()
    }

    pub async fn mapping(&self, name: &str) -> Option<MappingRow> {
        let lookup = Match {
            name: Some(name.to_owned()),
            ..Match::default()
        };
        store::mappings::find(&self.db, &lookup)
            .await
            .unwrap()
            .pop()
    }

    pub async fn users(&self) -> Vec<UserRow> {
        store::access::list_users(&self.db).await.unwrap()
    }

    pub async fn grants(&self) -> Vec<GrantRow> {
        store::access::list_grants(&self.db).await.unwrap()
    }

    /// Gives `username` a token with `key`, as the admin command does.
    pub async fn token(&self, username: &str, key: &str) {
        store::access::create_token(
            &self.db,
            &format!("{username}-token"),
            username,
            hash_key(key),
            None,
            "",
        )
        .await
        .unwrap();
    }

    pub async fn caller(&self, key: &str) -> Option<Caller> {
        store::access::authenticate_hash(&self.db, &hash_key(key), chrono::Utc::now())
            .await
            .unwrap()
    }
}

pub fn report(
    created: usize,
    updated: usize,
    unchanged: usize,
    deleted: usize,
    skipped: usize,
) -> ImportReport {
    ImportReport {
        created,
        updated,
        unchanged,
        deleted,
        skipped,
    }
}

pub fn violated_fields(err: &ImportError) -> Vec<String> {
    err.violations()
        .unwrap_or_else(|| panic!("expected violations, got {err}"))
        .iter()
        .map(|v| v.field.clone())
        .collect()
}

pub fn grant(permission: Permission, principal: Principal, slug: &str) -> GrantRow {
    GrantRow {
        permission,
        principal,
        slug: Some(slug.to_owned()),
    }
}

/// One Plex source with only what is required.
pub const MINIMAL: &str = "
version: 1
entries:
  - model: authentik_sources_plex.plexsource
    identifiers:
      slug: minimal
    attrs:
      name: Minimal
      plex_token: minimal-token
";

/// Every Plex source attribute, with the flows and mappings it refers to.
pub const FULL: &str = r#"
version: 1
metadata:
  name: Test - full Plex source
entries:
  - model: authentik_flows.flow
    id: auth
    identifiers:
      slug: src-auth
    attrs:
      name: Authenticate
      title: Welcome
      designation: authentication
  - model: authentik_flows.flow
    identifiers:
      slug: src-enroll
    attrs:
      name: Enroll
      designation: enrollment
  - model: authentik_sources_plex.plexsourcepropertymapping
    id: m1
    identifiers:
      name: "Plex: username"
    attrs:
      expression: |
        return {"username": info.get("username")}
  - model: authentik_sources_plex.plexsourcepropertymapping
    identifiers:
      name: "Plex: groups"
  - model: authentik_sources_plex.plexsource
    id: plex
    identifiers:
      slug: plex-login
    attrs:
      name: Sign in with Plex
      enabled: false
      authentication_flow: !KeyOf auth
      enrollment_flow: !Find [authentik_flows.flow, [slug, src-enroll]]
      user_property_mappings:
        - !KeyOf m1
        - !Find [authentik_sources_plex.plexsourcepropertymapping, [name, "Plex: groups"]]
      group_property_mappings:
        - !Find [authentik_sources_plex.plexsourcepropertymapping, [name, !Env PSS_TEST_FULL_MAPPING]]
      policy_engine_mode: all
      user_matching_mode: email_link
      group_matching_mode: name_deny
      user_path_template: goauthentik.io/sources/plex
      icon: https://example.com/plex.png
      client_id: fixed-client-id
      allowed_servers: [server-a, server-b]
      allow_friends: false
      plex_token: !Env PSS_TEST_FULL_TOKEN
      verbose_name: Plex Source
      component: ak-source-plex-form
"#;

/// Two users, a role, and Plex sources, one granting both object
/// permissions.
pub const ACCESS: &str = "
version: 1
entries:
  - model: authentik_rbac.role
    id: r
    identifiers: {name: readers}
    permissions:
      - {permission: view_plexsource, user: 5}
  - model: authentik_core.user
    id: u
    identifiers: {username: alice}
    attrs:
      name: Alice
      email: alice@example.com
      path: users
      attributes: {team: plex}
      type: internal
      roles: [!KeyOf r]
  - model: authentik_core.user
    identifiers: {username: bob}
    attrs:
      is_active: false
      roles: [!Find [authentik_rbac.role, [name, readers]]]
  - model: authentik_sources_plex.plexsource
    identifiers: {slug: guarded}
    attrs: {name: Guarded, plex_token: t}
    permissions:
      - permission: view_plexsource
        user: !KeyOf u
      - permission: authentik_sources_plex.view_plexsource_plex_token
        role: !Find [authentik_rbac.role, [name, readers]]
      - permission: view_plexsource
        user: !Find [authentik_core.user, [username, alice]]
  - model: authentik_sources_plex.plexsource
    identifiers: {slug: other}
    attrs: {name: Other, plex_token: t}
";
