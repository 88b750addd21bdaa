//! Entry point: parses settings, sets up logging and runs one subcommand.

use std::{process::ExitCode, time::Duration};

use clap::Parser;
use plex_source_service::{
    admin,
    app::{Application, Preparation, ServerSettings, StreamLimits, TlsFiles, shutdown_signal},
    blueprint,
    config::{Cli, Command, ServeArgs, TlsArgs, TokensCommand},
    domain::access::TokenKey,
    probe, store, telemetry,
};
use tonic_health::pb::health_check_response::ServingStatus;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // Traces are the server's: the management commands export none.
    let traces = match cli.command {
        None | Some(Command::Serve(_)) => telemetry::Traces::FromEnvironment,
        Some(_) => telemetry::Traces::Off,
    };
    let telemetry = telemetry::init(cli.log_format, traces);
    // A panic is logged as one line of the log's own format (a request's
    // panic is also answered, see `app::catch_panic`).
    std::panic::set_hook(Box::new(|info| {
        tracing::error!(panic = %info, "panicked");
    }));
    let result = run(cli).await;
    // After a graceful shutdown too: the last calls' spans are sent.
    telemetry.shutdown().await;
    match result {
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
        Some(Command::Serve(args)) => serve(&cli.database_url, cli.lock_timeout, *args).await,
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
        // A key for BOOTSTRAP_TOKEN: no database involved.
        Some(Command::Tokens(TokensCommand::Generate)) => {
            println!("{}", TokenKey::generate().expose());
            Ok(())
        }
        Some(Command::Tokens(command)) => {
            admin::tokens(&ready(&cli.database_url, cli.lock_timeout).await?, command).await
        }
        Some(Command::Permissions(command)) => {
            admin::permissions(&ready(&cli.database_url, cli.lock_timeout).await?, command).await
        }
        Some(Command::Import {
            files,
            no_migrate,
            context,
            context_file,
        }) => {
            // A bad context is refused before the database is touched.
            let context = blueprint::load_context(context_file.as_deref(), &context)?;
            let options = blueprint::ImportOptions::process(context);
            let db = connect(&cli.database_url, cli.lock_timeout, None).await?;
            if !no_migrate {
                migrate(&db).await?;
            }
            for file in files {
                let report = blueprint::import_file_with(&db, &file, &options).await?;
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
    // Calls' statements end with the calls that wait for them. Connected
    // on first use: the server listens even while the database is down.
    let db = store::connect_lazy(database_url, lock_timeout, Some(args.request_timeout))
        .await
        .map_err(|err| anyhow::anyhow!("{}", store::describe_connect_error(database_url, &err)))?;
    let app = Application::build(
        db.clone(),
        ServerSettings {
            listen: args.listen,
            admin_listen: args.admin_listen.0,
            shutdown_delay: args.shutdown_delay,
            shutdown_grace_period: args.shutdown_grace_period,
            health_check_interval: args.health_check_interval,
            change_poll_interval: args.change_poll_interval,
            change_retention: args.change_retention,
            cache_max_bytes: args.cache_max_bytes,
            lock_timeout,
            streams: StreamLimits {
                max_concurrent_streams: args.max_concurrent_streams,
                max_watch_streams: args.max_watch_streams,
                max_watch_streams_per_token: args.max_watch_streams_per_token as usize,
                max_watch_replay: args.max_watch_replay,
                keepalive_interval: args.keepalive_interval,
                keepalive_timeout: args.keepalive_timeout,
                max_request_bytes: args.max_request_bytes,
                max_requests_in_flight: args.max_requests_in_flight as usize,
                max_connections: args.max_connections as usize,
                header_read_timeout: args.header_read_timeout,
                max_connection_age: args.max_connection_age.0,
                max_connection_age_grace: args.max_connection_age_grace,
            },
            request_timeout: args.request_timeout,
            tls,
            panic_hook: false,
        },
    )
    .await?
    .with_preparation(preparation(
        database_url.to_owned(),
        lock_timeout,
        !args.no_migrate,
        args.bootstrap_token,
        db,
    ));
    tracing::info!(
        address = %app.local_addr()?,
        admin = ?app.admin_addr(),
        "listening; reaching the database"
    );
    app.run_until_stopped(shutdown_signal()).await
}

/// What `serve` does before it uses the database, again until it works:
/// migrate (on a pool of its own: a migration's statements may outlast the
/// request timeout) and create the bootstrap user.
fn preparation(
    url: String,
    lock_timeout: Duration,
    migrations: bool,
    bootstrap_token: Option<String>,
    db: crate::store::Db,
) -> Preparation {
    Box::new(move || {
        let (url, bootstrap_token, db) = (url.clone(), bootstrap_token.clone(), db.clone());
        Box::pin(async move {
            if migrations {
                let own = connect(&url, lock_timeout, None).await?;
                let migrated = migrate(&own).await;
                own.close().await.ok();
                migrated?;
            }
            if let Some(key) = bootstrap_token {
                admin::bootstrap(&db, &key).await?;
            }
            Ok(())
        })
    })
}

/// Connects; the error never repeats the URL, which may carry a password.
async fn connect(
    url: &str,
    lock_timeout: Duration,
    statement_timeout: Option<Duration>,
) -> anyhow::Result<crate::store::Db> {
    store::connect_bounded(url, lock_timeout, statement_timeout)
        .await
        .map_err(|err| anyhow::anyhow!("{}", store::describe_connect_error(url, &err)))
}

async fn migrate(db: &crate::store::Db) -> anyhow::Result<()> {
    store::migrate(db).await.map_err(|err| {
        tracing::error!(error = %err, "migration failed");
        anyhow::anyhow!("database migration failed")
    })
}

/// A connection to a migrated database, for the management commands.
async fn ready(url: &str, lock_timeout: Duration) -> anyhow::Result<crate::store::Db> {
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
