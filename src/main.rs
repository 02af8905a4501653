//! The thin binary: parse the command line, run, map errors to exit codes in one place.
#![forbid(unsafe_code)]

use ovnscope::cli::{self, exit, Cli, UsageError};

fn exit_code(e: &anyhow::Error) -> i32 {
    for cause in e.chain() {
        if cause.is::<ovnscope::topology::focus::NotFound>() {
            return exit::NO;
        }
        if cause.is::<UsageError>() {
            return exit::USAGE;
        }
        if cause.is::<ovnscope::ovsdb::Error>()
            || cause.is::<cli::dbopts::DbError>()
            || cause.is::<cli::dbopts::NoDatabase>()
            || cause.is::<ovnscope::db::mustgather::MustGatherError>()
            || cause.is::<ovnscope::render::dot::SvgError>()
            || cause.is::<ovnscope::capture::file::CaptureError>()
            || cause.is::<ovnscope::capture::live::LiveError>()
            || cause.is::<std::io::Error>()
        {
            return exit::UNREACHABLE;
        }
    }
    exit::INTERNAL
}

fn main() {
    use clap::FromArgMatches;
    // One crypto provider for every TLS user in the process (ring; no aws-lc).
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
    let argv0 = std::env::args().next().unwrap_or_default();
    let matches = cli::command_for(&argv0).get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    let code = match cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ovnscope: error: {e:#}");
            exit_code(&e)
        }
    };
    std::process::exit(code);
}
