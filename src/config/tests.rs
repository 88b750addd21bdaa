use clap::CommandFactory;

use super::*;

#[test]
fn no_subcommand_means_serve_with_defaults() {
    let cli = Cli::try_parse_from(["plex-source-service"]).unwrap();
    assert!(cli.command.is_none());
    assert_eq!(cli.serve.listen.port(), 50051);
    assert_eq!(cli.serve.shutdown_grace_period, Duration::from_secs(10));
    assert_eq!(cli.serve.shutdown_delay, Duration::ZERO);
    assert_eq!(cli.serve.request_timeout, Duration::from_secs(30));
    assert_eq!(cli.serve.admin_listen.0.map(|a| a.port()), Some(9464));
}

#[test]
fn the_admin_listener_can_be_turned_off_or_moved() {
    let off =
        Cli::try_parse_from(["plex-source-service", "serve", "--admin-listen", "off"]).unwrap();
    let Some(Command::Serve(args)) = off.command else {
        panic!("serve");
    };
    assert_eq!(args.admin_listen, AdminListen(None));
    let moved =
        Cli::try_parse_from(["plex-source-service", "--admin-listen", "127.0.0.1:9000"]).unwrap();
    assert_eq!(
        moved.serve.admin_listen.0,
        Some("127.0.0.1:9000".parse().unwrap())
    );
    let err = Cli::try_parse_from(["plex-source-service", "--admin-listen", "nine"])
        .unwrap_err()
        .to_string();
    assert!(err.contains("not an address"), "{err}");
}

#[test]
fn serve_flags_parse_durations_and_addresses() {
    let cli = Cli::try_parse_from([
        "plex-source-service",
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--shutdown-grace-period",
        "250ms",
        "--shutdown-delay",
        "3s",
        "--request-timeout",
        "2s",
        "--no-migrate",
    ])
    .unwrap();
    let Some(Command::Serve(args)) = cli.command else {
        panic!("expected serve");
    };
    assert_eq!(args.listen.port(), 0);
    assert_eq!(args.shutdown_grace_period, Duration::from_millis(250));
    assert_eq!(args.shutdown_delay, Duration::from_secs(3));
    assert_eq!(args.request_timeout, Duration::from_secs(2));
    assert!(args.no_migrate);
}

#[test]
fn poll_help_quotes_the_freshness_bound() {
    let help = Cli::command().render_long_help().to_string();
    assert!(help.contains("Keep it well under 750ms"), "{help}");
}

#[test]
fn cache_sizes_take_bytes_or_units() {
    let cli = Cli::try_parse_from(["plex-source-service"]).unwrap();
    assert_eq!(cli.serve.cache_max_bytes, 64 << 20);
    for (text, bytes) in [
        ("1048576", 1 << 20),
        ("16MiB", 16 << 20),
        ("2 GiB", 2 << 30),
        ("512kib", 512 << 10),
        ("10MB", 10_000_000),
    ] {
        assert_eq!(parse_bytes(text), Ok(bytes), "{text}");
    }
    for bad in [
        "",
        "MiB",
        "64 parsecs",
        "-1",
        "1.5MiB",
        "99999999999999999999GiB",
    ] {
        assert!(parse_bytes(bad).is_err(), "{bad}");
    }
    let cli = Cli::try_parse_from(["plex-source-service", "--cache-max-bytes", "8MiB"]).unwrap();
    assert_eq!(cli.serve.cache_max_bytes, 8 << 20);
}

#[test]
fn import_takes_context_pairs_and_a_context_file() {
    let cli = Cli::try_parse_from([
        "plex-source-service",
        "import",
        "a.yaml",
        "--context",
        "slug=x",
        "--context",
        "k=a=b",
        "--context-file",
        "ctx.json",
    ])
    .unwrap();
    let Some(Command::Import {
        context,
        context_file,
        ..
    }) = cli.command
    else {
        panic!("not an import");
    };
    assert_eq!(context, ["slug=x", "k=a=b"]);
    assert_eq!(context_file, Some(PathBuf::from("ctx.json")));
    for bad in ["novalue", "=x"] {
        let args = ["plex-source-service", "import", "a.yaml", "--context", bad];
        assert!(Cli::try_parse_from(args).is_err(), "{bad}");
    }
}

#[test]
fn import_needs_a_file_and_bad_values_are_refused() {
    for bad in [
        "import",
        "--listen nope",
        "--log-format xml",
        "permissions grant view_everything --user u",
        "permissions grant view_plexsource --user u --role r",
        "tokens create t --user u --expires tomorrow",
    ] {
        let args = std::iter::once("plex-source-service").chain(bad.split(' '));
        assert!(Cli::try_parse_from(args).is_err(), "{bad}");
    }
}
