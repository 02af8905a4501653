//! `ovnscope serve`'s command line, and how serve runs the other commands on its cache.
//!
//! The server itself lives in `serve/` (above this layer: it answers with these very
//! commands); `main.rs` hands it the parsed [`ServeArgs`].

use super::dbopts::DbArgs;
use super::{Cli, Command, Failure, Outcome, UsageError};
use clap::{Args, Parser};
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Where to listen: IP:PORT (HTTP and WebSocket) or unix:PATH. Loopback by default, so
    /// from outside the node the only way in is the API server's port-forward (RBAC
    /// `pods/portforward`).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7470")]
    pub listen: String,
    /// Listen on an address that is not loopback (without TLS: anyone who reaches the port can
    /// read the databases).
    #[arg(long)]
    pub allow_remote: bool,
    /// TLS listener: the server's certificate (PEM). Needs --tls-key and --tls-client-ca;
    /// clients must present a certificate signed by that CA, as ovsdb-server requires.
    #[arg(long, value_name = "FILE", requires_all = ["tls_key", "tls_client_ca"])]
    pub tls_cert: Option<PathBuf>,
    /// TLS listener: the server's private key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// TLS listener: the CA that signed the clients' certificates (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,
    /// Largest request accepted, in bytes (a larger one gets an error, the server goes on).
    #[arg(long, value_name = "BYTES", default_value_t = 16 << 20)]
    pub max_request_bytes: u32,
    /// Largest answer sent, in bytes (a whole Southbound's rows can be hundreds of MB).
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 30)]
    pub max_response_bytes: u32,
    /// Connections served at once.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub max_connections: u32,
    /// Questions computed at once; more wait their turn.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub max_concurrent: usize,
}

/// The commands serve answers (`--format json` unless the arguments say otherwise).
pub const QUESTIONS: &[&str] = &["show", "topology", "nat", "trace", "explain", "conntrack"];

/// Parses one question as serve receives it — the command's name and its arguments as the
/// command line takes them — and checks that it asks only about serve's own zone.
pub fn question(command: &str, args: &[String]) -> Result<Command, Failure> {
    if !QUESTIONS.contains(&command) {
        return Err(UsageError(format!("serve answers {}, not {command:?}", QUESTIONS.join(", "))).into());
    }
    let mut argv = vec!["ovnscope".to_string(), command.to_string()];
    argv.extend(args.iter().cloned());
    // JSON unless the question names its own format (text and DOT come back as strings).
    if !args
        .iter()
        .any(|a| a == "-f" || a == "--format" || a.starts_with("--format=") || (a.starts_with("-f") && a.len() > 2))
    {
        argv.extend(["--format".to_string(), "json".to_string()]);
    }
    let cli = Cli::try_parse_from(&argv).map_err(|e| Failure::Usage(e.render().to_string().trim_end().to_string()))?;
    let db = match &cli.command {
        Command::Show(a) => &a.db,
        Command::Topology(a) => {
            if a.output.is_some() {
                return Err(UsageError("serve writes no files: drop --output".into()).into());
            }
            &a.db
        }
        Command::Nat(a) => &a.db,
        Command::Trace(a) => &a.db,
        Command::Explain(a) => &a.db,
        // The node's userspace datapath, through the ovs-vswitchd next to serve's database; a
        // caller may not point serve at another socket or namespace.
        Command::Conntrack(a) => {
            if a.unixctl.is_some() || a.kernel || a.netns.is_some() {
                return Err(UsageError("serve reads its node's ovs-vswitchd only: drop --unixctl/--kernel/--netns".into()).into());
            }
            // A question gets one answer; following would print on serve's own standard output.
            if a.follow {
                return Err(UsageError("serve answers once: drop --follow (run conntrack --follow on the node)".into()).into());
            }
            &a.db
        }
        _ => unreachable!("QUESTIONS holds only these"),
    };
    let named = db.ovs_db.is_some()
        || db.nb_db.is_some()
        || db.sb_db.is_some()
        || db.must_gather.is_some()
        || db.cluster.is_some()
        || db.serve.is_some();
    if named {
        return Err(UsageError("serve answers for its own zone: database options (--nb-db, --cluster, …) are not taken".into()).into());
    }
    Ok(cli.command)
}

/// Runs a question from [`question`] on the zone serve holds.
pub async fn answer(mut command: Command, zone: crate::db::cache::Zone) -> Result<Outcome, Failure> {
    match &mut command {
        Command::Show(a) => a.db.cached = Some(zone),
        Command::Topology(a) => a.db.cached = Some(zone),
        Command::Nat(a) => a.db.cached = Some(zone),
        Command::Trace(a) => a.db.cached = Some(zone),
        Command::Explain(a) => a.db.cached = Some(zone),
        Command::Conntrack(a) => a.db.cached = Some(zone),
        _ => return Err(UsageError("not a question serve answers".into()).into()),
    }
    super::run_async(command).await
}
