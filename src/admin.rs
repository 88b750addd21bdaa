//! The management subcommands: users, roles, tokens and permissions.
//! Each prints what it did on stdout; bad input is an error (exit 1).

use crate::store::Db;

use crate::{
    config::{GrantArgs, PermissionsCommand, RolesCommand, TokensCommand, UsersCommand},
    domain::access::TokenKey,
    store::access::{self, Principal},
};

/// Provisions `akadmin` and its token from `BOOTSTRAP_TOKEN`; running it
/// again with the same key changes nothing. The key is trimmed, as callers'
/// keys are, and must be at least 32 characters.
pub async fn bootstrap(db: &Db, key: &str) -> anyhow::Result<access::Bootstrap> {
    let key = TokenKey::bootstrap(key)?;
    let outcome = access::ensure_bootstrap(db, key.hash()).await?;
    if outcome == access::Bootstrap::Revoked {
        // Kept revoked: starting is better than an outage over a stale
        // variable, and bringing the key back would undo the revocation.
        tracing::warn!(
            user = access::BOOTSTRAP_USERNAME,
            "BOOTSTRAP_TOKEN holds a key that was revoked or replaced; it stays revoked. \
             Unset BOOTSTRAP_TOKEN, or set a new key (`openssl rand -hex 32`)"
        );
    } else {
        tracing::info!(
            ?outcome,
            user = access::BOOTSTRAP_USERNAME,
            "bootstrap token checked"
        );
    }
    Ok(outcome)
}

pub async fn users(db: &Db, command: UsersCommand) -> anyhow::Result<()> {
    match command {
        UsersCommand::Create { name, superuser } => {
            access::create_user(db, &name, superuser).await?;
            println!(
                "user \"{name}\" created{}",
                if superuser { " (superuser)" } else { "" }
            );
        }
        UsersCommand::Deactivate { name } => {
            access::deactivate_user(db, &name).await?;
            println!("user \"{name}\" deactivated");
        }
        UsersCommand::List => {
            println!(
                "{:<30} {:<8} {:<10} roles",
                "username", "active", "superuser"
            );
            for user in access::list_users(db).await? {
                println!(
                    "{:<30} {:<8} {:<10} {}",
                    user.username,
                    user.is_active,
                    user.is_superuser,
                    user.roles.join(",")
                );
            }
        }
    }
    Ok(())
}

pub async fn roles(db: &Db, command: RolesCommand) -> anyhow::Result<()> {
    match command {
        RolesCommand::Create { name } => {
            access::create_role(db, &name).await?;
            println!("role \"{name}\" created");
        }
        RolesCommand::Assign { role, user } => {
            access::assign_role(db, &role, &user).await?;
            println!("role \"{role}\" assigned to user \"{user}\"");
        }
    }
    Ok(())
}

pub async fn tokens(db: &Db, command: TokensCommand) -> anyhow::Result<()> {
    match command {
        TokensCommand::Create {
            identifier,
            user,
            expires,
            description,
        } => {
            let key = TokenKey::generate();
            access::create_token(db, &identifier, &user, key.hash(), expires, &description).await?;
            println!(
                "token \"{identifier}\" created for user \"{user}\"; its key is shown only now:"
            );
            println!("{}", key.expose());
        }
        TokensCommand::Generate => println!("{}", TokenKey::generate().expose()),
        TokensCommand::Revoke { identifier } => {
            access::revoke_token(db, &identifier).await?;
            println!("token \"{identifier}\" revoked");
        }
        TokensCommand::List => {
            println!(
                "{:<30} {:<20} {:<26} description",
                "identifier", "user", "expires"
            );
            for token in access::list_tokens(db).await? {
                println!(
                    "{:<30} {:<20} {:<26} {}",
                    token.identifier,
                    token.username,
                    token
                        .expires
                        .map(|e| e.to_rfc3339())
                        .unwrap_or_else(|| "never".into()),
                    token.description
                );
            }
        }
    }
    Ok(())
}

pub async fn permissions(db: &Db, command: PermissionsCommand) -> anyhow::Result<()> {
    match command {
        PermissionsCommand::Grant(args) => {
            let (principal, scope) = describe(&args);
            access::grant(db, args.codename, &principal, args.slug.as_deref()).await?;
            println!("granted {} to {scope}", args.codename);
        }
        PermissionsCommand::Revoke(args) => {
            let (principal, scope) = describe(&args);
            access::revoke(db, args.codename, &principal, args.slug.as_deref()).await?;
            println!("revoked {} from {scope}", args.codename);
        }
        PermissionsCommand::List => {
            println!("{:<45} {:<30} on", "permission", "granted to");
            for grant in access::list_grants(db).await? {
                let to = match grant.principal {
                    Principal::User(name) => format!("user {name}"),
                    Principal::Role(name) => format!("role {name}"),
                };
                println!(
                    "{:<45} {:<30} {}",
                    grant.permission,
                    to,
                    grant.slug.unwrap_or_else(|| "(global)".into())
                );
            }
        }
    }
    Ok(())
}

fn describe(args: &GrantArgs) -> (Principal, String) {
    let principal = match (&args.user, &args.role) {
        (Some(user), _) => Principal::User(user.clone()),
        (None, Some(role)) => Principal::Role(role.clone()),
        // clap requires exactly one of the two.
        (None, None) => Principal::User(String::new()),
    };
    let who = match &principal {
        Principal::User(name) => format!("user \"{name}\""),
        Principal::Role(name) => format!("role \"{name}\""),
    };
    let scope = match &args.slug {
        Some(slug) => format!("{who} on \"{slug}\""),
        None => format!("{who} globally"),
    };
    (principal, scope)
}
