//! Command-line interface: clap definitions, one module per command. Each command parses its
//! arguments, calls one domain function, and renders the answer; what it comes to is an
//! [`Outcome`] or a [`Failure`], and [`outcome::exit_code`] alone turns that into a number.

pub mod capture;
pub mod conntrack;
pub mod dbopts;
pub mod detrace;
pub mod explain;
pub mod nat;
pub mod outcome;
pub mod serve;
pub mod show;
pub mod topology;
pub mod trace;

pub use outcome::{exit, exit_code, finish, Failure, Outcome, UsageError};

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "ovnscope",
    version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("OVNSCOPE_GIT_REV"), ")"),
    about = "Explain OVN-Kubernetes networking from the OVSDB databases",
    long_about = "ovnscope reads the Open_vSwitch, OVN Northbound and OVN Southbound databases \
directly (RFC 7047, read-only) and explains what is there and what happens to packets.\n\n\
Exit codes: 0 answer given, 1 the answer is \"no\", 2 usage error, 3 cannot reach or read a database or file, 4 internal error."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// What is there: OVS bridges, NB switches and routers (with NAT), SB chassis and bindings.
    Show(show::ShowArgs),
    /// The graph: chassis, bridges, ports, tunnels, switches, routers, NAT — text, JSON, DOT or SVG.
    Topology(topology::TopologyArgs),
    /// Which NAT rule applies to a pod's traffic (or to an external IP), on which router, and why.
    Nat(nat::NatArgs),
    /// A packet's path: predicted hops and headers at each capture point; with --lflows or
    /// --microflow, the Southbound logical flows executed table by table, as ovn-trace does.
    Trace(trace::TraceArgs),
    /// Recorded captures (pcap/pcapng, one per capture point) explained hop by hop; with
    /// --validate, checked against the logical flows.
    Explain(explain::ExplainArgs),
    /// Live capture at several points (libpcap in process, in network namespaces), explained, pcapng out.
    Capture(capture::CaptureArgs),
    /// The datapath's connection-tracking entries (ovs-vswitchd's dpctl/dump-conntrack), each
    /// zone named by the OVN object that owns it, each NAT by the rule behind it.
    Conntrack(conntrack::ConntrackArgs),
    /// Annotate ofproto/trace or dump-flows output (stdin) with the logical flows and Northbound
    /// rows behind each OpenFlow cookie, like ovn-detrace.
    Detrace(detrace::DetraceArgs),
    /// Serve this node's zone over JSON-RPC 2.0 (HTTP and WebSocket) from a live cache: the
    /// same questions as the commands, the same JSON; for the DaemonSet (see manifests/).
    // serve reads one zone's live databases: the options naming other sources are refused
    // there, so its help does not offer them.
    #[command(
        mut_arg("must_gather", |a| a.hide(true)),
        mut_arg("node", |a| a.hide(true)),
        mut_arg("cluster", |a| a.hide(true)),
        mut_arg("serve", |a| a.hide(true)),
        mut_arg("kube", |a| a.hide(true)),
        mut_arg("context", |a| a.hide(true)),
        mut_arg("kube_namespace", |a| a.hide(true))
    )]
    Serve(serve::ServeArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), generated from this command line.
    Man,
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people.
    Text,
    /// A stable, documented schema for scripts.
    Json,
}

/// The command as invoked: `ovnscope`, or `kubectl ovnscope` / `oc ovnscope` when installed
/// as the plugin `kubectl-ovnscope` / `oc-ovnscope` (kubectl and oc run `kubectl-<name>` found
/// on PATH for `kubectl <name>`).
pub fn command_for(argv0: &str) -> clap::Command {
    use clap::CommandFactory;
    let base = std::path::Path::new(argv0)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("ovnscope");
    let cmd = Cli::command();
    match base {
        "kubectl-ovnscope" => cmd.name("kubectl-ovnscope").bin_name("kubectl ovnscope"),
        "oc-ovnscope" => cmd.name("oc-ovnscope").bin_name("oc ovnscope"),
        _ => cmd,
    }
}

impl Command {
    /// The database options of a command that reads databases.
    pub fn db_mut(&mut self) -> Option<&mut dbopts::DbArgs> {
        Some(match self {
            Command::Show(a) => &mut a.db,
            Command::Topology(a) => &mut a.db,
            Command::Nat(a) => &mut a.db,
            Command::Trace(a) => &mut a.db,
            Command::Explain(a) => &mut a.db,
            Command::Capture(a) => &mut a.db,
            Command::Conntrack(a) => &mut a.db,
            Command::Detrace(a) => &mut a.db,
            Command::Serve(a) => &mut a.db,
            Command::Completions { .. } | Command::Man => return None,
        })
    }
}

/// As the `kubectl`/`oc` plugin with no database named anywhere (options, `OVN_NB_DB`,
/// `OVNSCOPE_CLUSTER`), a command reads the cluster through the Kubernetes API (`--kube`):
/// from a laptop, the kubeconfig's context is all it needs.
pub fn plugin_defaults(cli: &mut Cli, argv0: &str) {
    let base = std::path::Path::new(argv0).file_name().and_then(|n| n.to_str()).unwrap_or_default();
    if !matches!(base, "kubectl-ovnscope" | "oc-ovnscope") || matches!(cli.command, Command::Serve(_)) {
        return;
    }
    let env_names = ["OVN_NB_DB", "OVN_SB_DB", "OVNSCOPE_CLUSTER"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()));
    if let Some(db) = cli.command.db_mut() {
        if db.names_nothing() && !env_names {
            db.kube = true;
        }
    }
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<Outcome, Failure> {
    match &cli.command {
        Command::Completions { shell } => {
            let mut cmd = command_for("ovnscope");
            let mut out = Vec::new();
            clap_complete::generate(*shell, &mut cmd, "ovnscope", &mut out);
            return Ok(Outcome::Answer(String::from_utf8_lossy(&out).into_owned()));
        }
        Command::Man => {
            let mut out = Vec::new();
            clap_mangen::Man::new(command_for("ovnscope")).render(&mut out)?;
            return Ok(Outcome::Answer(String::from_utf8_lossy(&out).into_owned()));
        }
        _ => {}
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(run_async(cli.command))
}

/// Runs one command on the current runtime (`serve` is started by `main.rs`, not here).
pub async fn run_async(command: Command) -> Result<Outcome, Failure> {
    {
        match command {
            Command::Show(a) => show::run(a).await,
            Command::Topology(a) => topology::run(a).await,
            Command::Nat(a) => nat::run(a).await,
            Command::Explain(a) => explain::run(a).await,
            Command::Trace(a) => trace::run(a).await,
            Command::Capture(a) => capture::run(a).await,
            Command::Detrace(a) => detrace::run(a).await,
            Command::Conntrack(a) => conntrack::run(a).await,
            Command::Completions { .. } | Command::Man => Err(UsageError("completions and man print directly".into()).into()),
            Command::Serve(_) => Err(UsageError("serve runs from main, not as a question".into()).into()),
        }
    }
}

/// Writes to stdout; a closed pipe (`ovnscope show | head`) is not an error.
pub fn print(s: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(s.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r,
    }
}

/// Schema warnings from the reads, one line each on standard error.
pub fn warn(warnings: &[String]) {
    for w in warnings {
        eprintln!("warning: {w}");
    }
}
