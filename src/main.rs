//! Entry point: parses settings, sets up logging and runs one subcommand.

use std::{process::ExitCode, time::Duration};

use clap::Parser;
use plex_source_service::{
    admin,
    app::{Application, ServerSettings, StreamLimits, TlsFiles, shutdown_signal},
    blueprint,
    config::{Cli, Command, ServeArgs, TlsArgs},
    domain::access::TokenKey,
    probe, store, telemetry,
};
use tonic_health::pb::health_check_response::ServingStatus;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.log_format);
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        None => serve(&cli.database_url, cli.lock_timeout, cli.serve).await,
        Some(Command::Serve(args)) => serve(&cli.database_url, cli.lock_timeout, args).await,
        Some(Command::Migrate) => {
            let db = connect(&cli.database_url, cli.lock_timeout, None).await?;
            migrate(&db).await?;
            println!("migrations applied");
            Ok(())
        }
        Some(Command::Health(args)) => {
            let status = probe::check(&args).await?;
            println!("{:?}: {}", args.service, status.as_str_name());
            anyhow::ensure!(status == ServingStatus::Serving, "not serving");
            Ok(())
        }
        Some(Command::Users(command)) => {
            admin::users(&ready(&cli.database_url, cli.lock_timeout).await?, command).await
        }
        Some(Command::Roles(command)) => {
            admin::roles(&ready(&cli.database_url, cli.lock_timeout).await?, command).await
        }
        Some(Command::Tokens(command)) => {
            admin::tokens(&ready(&cli.database_url, cli.lock_timeout).await?, command).await
        }
        Some(Command::Permissions(command)) => {
            admin::permissions(&ready(&cli.database_url, cli.lock_timeout).await?, command).await
        }
        Some(Command::Import { files, no_migrate }) => {
            let db = connect(&cli.database_url, cli.lock_timeout, None).await?;
            if !no_migrate {
                migrate(&db).await?;
            }
            for file in files {
                let report = blueprint::import_file(&db, &file).await?;
                println!(
                    "{}: {} created, {} updated, {} unchanged, {} deleted, {} skipped",
                    file.display(),
                    report.created,
                    report.updated,
                    report.unchanged,
                    report.deleted,
                    report.skipped
                );
            }
            Ok(())
        }
    }
}

async fn serve(database_url: &str, lock_timeout: Duration, args: ServeArgs) -> anyhow::Result<()> {
    // A bad bootstrap key is refused before anything touches the database.
    if let Some(key) = &args.bootstrap_token {
        TokenKey::bootstrap(key)?;
    }
    // So are bad TLS files.
    let tls = tls_files(*args.tls);
    if let Some(files) = &tls {
        files.check()?;
    }
    if !args.no_migrate {
        // On a pool of their own: a migration's statements may outlast the
        // request timeout.
        let db = connect(database_url, lock_timeout, None).await?;
        migrate(&db).await?;
        db.close().await.ok();
    }
    // Calls' statements end with the calls that wait for them.
    let db = connect(database_url, lock_timeout, Some(args.request_timeout)).await?;
    if let Some(key) = args.bootstrap_token {
        admin::bootstrap(&db, &key).await?;
    }
    let app = Application::build(
        db,
        ServerSettings {
            listen: args.listen,
            shutdown_delay: args.shutdown_delay,
            shutdown_grace_period: args.shutdown_grace_period,
            health_check_interval: args.health_check_interval,
            change_poll_interval: args.change_poll_interval,
            change_retention: args.change_retention,
            cache_max_bytes: args.cache_max_bytes,
            streams: StreamLimits {
                max_concurrent_streams: args.max_concurrent_streams,
                max_watch_streams: args.max_watch_streams,
                keepalive_interval: args.keepalive_interval,
                keepalive_timeout: args.keepalive_timeout,
            },
            request_timeout: args.request_timeout,
            tls,
        },
    )
    .await?;
    tracing::info!(address = %app.local_addr()?, "serving plexsource.v1.PlexSourceService");
    app.run_until_stopped(shutdown_signal()).await
}

/// Connects; the error never repeats the URL, which may carry a password.
async fn connect(
    url: &str,
    lock_timeout: Duration,
    statement_timeout: Option<Duration>,
) -> anyhow::Result<sea_orm::DatabaseConnection> {
    store::connect_bounded(url, lock_timeout, statement_timeout)
        .await
        .map_err(|err| anyhow::anyhow!("{}", store::describe_connect_error(url, &err)))
}

async fn migrate(db: &sea_orm::DatabaseConnection) -> anyhow::Result<()> {
    store::migrate(db).await.map_err(|err| {
        tracing::error!(error = %err, "migration failed");
        anyhow::anyhow!("database migration failed")
    })
}

/// A connection to a migrated database, for the management commands.
async fn ready(url: &str, lock_timeout: Duration) -> anyhow::Result<sea_orm::DatabaseConnection> {
    let db = connect(url, lock_timeout, None).await?;
    migrate(&db).await?;
    Ok(db)
}

/// The TLS files `serve` is given, if any (clap takes `--tls-cert` and
/// `--tls-key` only together).
fn tls_files(args: TlsArgs) -> Option<TlsFiles> {
    Some(TlsFiles {
        cert: args.tls_cert?,
        key: args.tls_key?,
        client_ca: args.tls_client_ca,
        reload_interval: args.tls_reload_interval,
    })
}
