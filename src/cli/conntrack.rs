//! `ovnscope conntrack`: the OVS datapath's connection-tracking entries (`dpctl/dump-conntrack`
//! over ovs-vswitchd's control socket), each zone named by the OVN object that owns it.

use super::dbopts::{load_all, DbArgs};
use super::{Failure, Format, Outcome, UsageError};
use crate::capture::conntrack;
use crate::db::{views, Views};
use crate::ovsdb::unixctl::{self, Command};
use crate::topology::build::port_ips;
use crate::topology::focus::find_port;
use crate::trace::connections;
use crate::wire;
use clap::Args;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct ConntrackArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Only the entries of this pod (NAMESPACE/NAME): any of its addresses on either side.
    #[arg(long, value_name = "NS/NAME", conflicts_with = "ip")]
    pub pod: Option<String>,
    /// Only the entries with this address on either side.
    #[arg(long, value_name = "IP")]
    pub ip: Option<IpAddr>,
    /// Only this conntrack zone.
    #[arg(long, value_name = "N")]
    pub zone: Option<u16>,
    /// ovs-vswitchd's control socket [default: the one its pidfile names in $OVS_RUNDIR or
    /// /var/run/openvswitch, as ovs-appctl finds it].
    #[arg(long, value_name = "PATH", conflicts_with_all = ["kernel", "netns"])]
    pub unixctl: Option<PathBuf>,
    /// Read the kernel's table instead of the OVS userspace datapath's (a node with the kernel
    /// datapath, where OVN's zones live in the kernel too).
    #[arg(long)]
    pub kernel: bool,
    /// Read the kernel's table of this network namespace (`ip netns` name or a path), e.g. a
    /// bastion that MASQUERADEs. Its zones are named only from databases given by option
    /// (--ovs-db …), never from the environment's defaults (ovnscope's own node).
    #[arg(long, value_name = "NETNS")]
    pub netns: Option<String>,
    /// Stream changes as they happen (NEW, UPDATE, DESTROY with the TCP state in each), like
    /// `conntrack -E`, until interrupted, --duration or --count. The kernel's table sends
    /// events; the OVS userspace datapath has none, so its table is read every 100 ms and
    /// compared (a state that comes and goes between two readings is not seen).
    /// JSON: one object per line.
    #[arg(long)]
    pub follow: bool,
    /// With --follow: stop after this many seconds.
    #[arg(long, value_name = "SECS", requires = "follow")]
    pub duration: Option<f64>,
    /// With --follow: stop after this many events (of those that match).
    #[arg(long, value_name = "N", requires = "follow")]
    pub count: Option<usize>,
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Where ovs-vswitchd's control socket is: next to the Open_vSwitch database socket when that is
/// `unix:DIR/db.sock` (as OVS lays out its run directory; also the database serve keeps), else
/// `$OVS_RUNDIR`, else /var/run/openvswitch.
fn rundir(db: &DbArgs) -> PathBuf {
    let method = db
        .cached
        .as_ref()
        .and_then(|z| z.get(crate::db::DbKind::Ovs))
        .map(|c| c.method.clone())
        .or_else(|| db.ovs_db.clone());
    if let Some(dir) = method
        .as_deref()
        .and_then(|m| m.strip_prefix("unix:"))
        .and_then(|p| std::path::Path::new(p).parent())
    {
        return dir.to_path_buf();
    }
    std::env::var_os("OVS_RUNDIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/run/openvswitch"))
}

pub async fn run(a: ConntrackArgs) -> Result<Outcome, Failure> {
    let kernel = a.kernel || a.netns.is_some();
    // Another namespace's kernel table (a bastion) is outside OVN unless a node's databases are
    // named on the command line: the environment's defaults name ovnscope's own node, whose zone
    // numbers mean nothing there.
    let v = if a.netns.is_some() && a.db.names_nothing() && a.db.cached.is_none() {
        Views::from_loaded(&[])
    } else {
        match load_all(&a.db, &views::everything).await {
            Ok(l) => Views::from_loaded(&l),
            // The kernel's table of a namespace outside OVN (a bastion) needs no database.
            Err(Failure::Unreachable(e)) if kernel && e.is::<super::dbopts::NoDatabase>() => Views::from_loaded(&[]),
            Err(e) => return Err(e),
        }
    };
    super::warn(&v.warnings);
    let ips: Option<Vec<IpAddr>> = match (&a.pod, a.ip, v.nb.as_ref()) {
        (Some(p), _, Some(nb)) => {
            let port = find_port(nb, p)?;
            Some(port_ips(port).iter().filter_map(|i| i.split('/').next()?.parse().ok()).collect())
        }
        (Some(_), _, None) => return Err(UsageError("--pod needs the Northbound database (--nb-db)".into()).into()),
        (None, Some(ip), _) => Some(vec![ip]),
        (None, None, _) => None,
    };
    let wanted = |e: &conntrack::Entry| {
        ips.as_ref().is_none_or(|ips| ips.iter().any(|ip| connections::about(e, *ip))) && a.zone.is_none_or(|z| e.zone == z)
    };
    let owners = v.ovs.as_ref().map(|o| connections::zones(o, v.sb.as_ref())).unwrap_or_default();
    let source = if kernel {
        Source::Kernel(a.netns.clone())
    } else {
        if v.ovs.is_none() {
            return Err(UsageError("conntrack names zones from the node's Open_vSwitch database (--ovs-db)".into()).into());
        }
        let socket = match &a.unixctl {
            Some(p) => p.clone(),
            None => unixctl::socket_in(&rundir(&a.db), "ovs-vswitchd")?,
        };
        Source::Userspace(socket, a.db.options().call_timeout.max(Duration::from_secs(1)))
    };
    if a.follow {
        let stop = Stop {
            deadline: a.duration.map(|d| std::time::Instant::now() + Duration::from_secs_f64(d)),
            count: a.count,
        };
        follow(&source, &wanted, stop, &mut |ev| {
            let x = connections::explain(vec![ev.entry.clone()], &owners, v.nb.as_ref()).remove(0);
            let out = match a.format {
                Format::Json => {
                    let mut line = serde_json::to_string(&wire::conntrack::Event::new(ev.kind, &x)).expect("an event serialises");
                    line.push('\n');
                    line
                }
                Format::Text => format!("[{}] {}", ev.kind.tag(), connections::to_text(&[x])),
            };
            super::print(&out).is_ok()
        })
        .await?;
        return Ok(Outcome::Answer(String::new()));
    }
    let mut entries = source.read().await?;
    entries.retain(wanted);
    let all = connections::explain(entries, &owners, v.nb.as_ref());
    Ok(Outcome::Answer(match a.format {
        Format::Json => wire::pretty(&wire::conntrack::Conntrack::new(&source.to_string(), &owners, &all))?,
        Format::Text => connections::to_text(&all),
    }))
}

/// Where the entries live.
enum Source {
    /// The kernel's table, of this network namespace or ovnscope's own.
    Kernel(Option<String>),
    /// The OVS userspace datapath, through ovs-vswitchd's control socket.
    Userspace(PathBuf, Duration),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Kernel(ns) => write!(f, "kernel{}", ns.as_ref().map(|n| format!(" (netns {n})")).unwrap_or_default()),
            Source::Userspace(socket, _) => write!(f, "{}", socket.display()),
        }
    }
}

impl Source {
    async fn read(&self) -> Result<Vec<conntrack::Entry>, Failure> {
        match self {
            Source::Kernel(ns) => {
                let ns = ns.clone();
                Ok(tokio::task::spawn_blocking(move || conntrack::kernel(ns.as_deref())).await??)
            }
            Source::Userspace(socket, timeout) => {
                let text = unixctl::call(socket, Command::DumpConntrack, *timeout).await?;
                Ok(conntrack::parse(&text)?)
            }
        }
    }
}

/// When following ends (neither: when interrupted).
struct Stop {
    deadline: Option<std::time::Instant>,
    count: Option<usize>,
}

impl Stop {
    fn left(&self) -> Option<Duration> {
        self.deadline.map(|d| d.saturating_duration_since(std::time::Instant::now()))
    }
}

/// How often the userspace datapath's table is read when following it.
const POLL: Duration = Duration::from_millis(100);

/// Hands every matching event to `emit` (which says whether to go on) until `stop`.
async fn follow(
    source: &Source,
    wanted: &dyn Fn(&conntrack::Entry) -> bool,
    stop: Stop,
    emit: &mut dyn FnMut(&conntrack::Event) -> bool,
) -> Result<(), Failure> {
    let mut seen = 0;
    let mut take = |ev: &conntrack::Event| {
        if !wanted(&ev.entry) {
            return true;
        }
        seen += 1;
        emit(ev) && stop.count.is_none_or(|n| seen < n)
    };
    match source {
        Source::Kernel(ns) => {
            let ns = ns.clone();
            let mut rx = tokio::task::spawn_blocking(move || conntrack::kernel_events(ns.as_deref())).await??;
            eprintln!("following {source}: NEW, UPDATE and DESTROY as the kernel sends them…");
            loop {
                let got = match stop.left() {
                    Some(left) => match tokio::time::timeout(left, rx.recv()).await {
                        Ok(got) => got,
                        Err(_) => return Ok(()),
                    },
                    None => rx.recv().await,
                };
                match got {
                    Some(Ok(ev)) => {
                        if !take(&ev) {
                            return Ok(());
                        }
                    }
                    Some(Err(conntrack::KernelError::Lost)) => eprintln!("warning: {}", conntrack::KernelError::Lost),
                    Some(Err(e)) => return Err(e.into()),
                    None => return Err(Failure::Internal(anyhow::anyhow!("the conntrack event thread ended"))),
                }
            }
        }
        Source::Userspace(..) => {
            let mut before = source.read().await?;
            eprintln!("following {source}: its table read every {} ms and compared…", POLL.as_millis());
            loop {
                let wait = stop.left().map_or(POLL, |l| l.min(POLL));
                if wait.is_zero() {
                    return Ok(());
                }
                tokio::time::sleep(wait).await;
                let now = source.read().await?;
                for ev in conntrack::diff(&before, &now) {
                    if !take(&ev) {
                        return Ok(());
                    }
                }
                before = now;
            }
        }
    }
}

/// The connection-tracking tables a live capture can cite: the node's userspace datapath (when
/// its Open_vSwitch database is named) and the kernel tables of `netns` (capture points outside
/// OVN, e.g. a bastion). What cannot be read is returned as a note, never an error: the capture
/// stands without it.
pub async fn tables(db: &DbArgs, netns: &[String]) -> (Vec<connections::Table>, Vec<String>) {
    let (mut tables, mut notes) = (vec![], vec![]);
    let v = if db.ovs_db.is_some() || db.cached.is_some() {
        match load_all(db, &views::everything).await {
            Ok(l) => Views::from_loaded(&l),
            Err(e) => {
                notes.push(format!("the node's databases: {e}"));
                Views::from_loaded(&[])
            }
        }
    } else {
        Views::from_loaded(&[])
    };
    if let Some(ovs) = v.ovs.as_ref() {
        let read = async {
            let socket = unixctl::socket_in(&rundir(db), "ovs-vswitchd")?;
            let source = Source::Userspace(socket, db.options().call_timeout.max(Duration::from_secs(1)));
            Ok::<_, Failure>((source.to_string(), source.read().await?))
        };
        match read.await {
            Ok((source, entries)) => {
                let owners = connections::zones(ovs, v.sb.as_ref());
                tables.push(connections::Table {
                    source,
                    entries: connections::explain(entries, &owners, v.nb.as_ref()),
                })
            }
            Err(e) => notes.push(format!("the node's userspace datapath: {e}")),
        }
    }
    for ns in netns {
        let source = Source::Kernel(Some(ns.clone()));
        match source.read().await {
            Ok(entries) => tables.push(connections::Table {
                source: source.to_string(),
                entries: connections::explain(entries, &Default::default(), v.nb.as_ref()),
            }),
            Err(e) => notes.push(format!("netns {ns}: {e}")),
        }
    }
    (tables, notes)
}
