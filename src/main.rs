//! The thin binary: parse the command line, install the TLS crypto provider, run, and exit
//! with the code [`ovnscope::cli::exit_code`] decides.
#![forbid(unsafe_code)]

use ovnscope::cli::{self, Cli};

fn main() {
    use clap::FromArgMatches;
    // One crypto provider for every TLS user in the process (ring; no aws-lc).
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
    let argv0 = std::env::args().next().unwrap_or_default();
    let matches = cli::command_for(&argv0).get_matches();
    let mut cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    cli::plugin_defaults(&mut cli, &argv0);
    // serve sits above the commands (it answers with them), so it is started here.
    let result = match cli.command {
        cli::Command::Serve(a) => ovnscope::serve::run(a),
        command => cli::run(Cli { command }),
    };
    std::process::exit(cli::finish(result));
}
