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
    /// bastion that MASQUERADEs.
    #[arg(long, value_name = "NETNS")]
    pub netns: Option<String>,
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
    let v = match load_all(&a.db, &views::everything).await {
        Ok(l) => Views::from_loaded(&l),
        // The kernel's table of a namespace outside OVN (a bastion) needs no database.
        Err(Failure::Unreachable(e)) if kernel && e.is::<super::dbopts::NoDatabase>() => Views::from_loaded(&[]),
        Err(e) => return Err(e),
    };
    super::warn(&v.warnings);
    let (source, mut entries) = if kernel {
        let ns = a.netns.clone();
        let entries = tokio::task::spawn_blocking(move || conntrack::kernel(ns.as_deref())).await??;
        (
            format!("kernel{}", a.netns.as_ref().map(|n| format!(" (netns {n})")).unwrap_or_default()),
            entries,
        )
    } else {
        let socket = match &a.unixctl {
            Some(p) => p.clone(),
            None => unixctl::socket_in(&rundir(&a.db), "ovs-vswitchd")?,
        };
        if v.ovs.is_none() {
            return Err(UsageError("conntrack names zones from the node's Open_vSwitch database (--ovs-db)".into()).into());
        }
        let text = unixctl::call(
            &socket,
            Command::DumpConntrack,
            a.db.options().call_timeout.max(Duration::from_secs(1)),
        )
        .await?;
        (socket.display().to_string(), conntrack::parse(&text)?)
    };
    let ips: Option<Vec<IpAddr>> = match (&a.pod, a.ip, v.nb.as_ref()) {
        (Some(p), _, Some(nb)) => {
            let port = find_port(nb, p)?;
            Some(port_ips(port).iter().filter_map(|i| i.split('/').next()?.parse().ok()).collect())
        }
        (Some(_), _, None) => return Err(UsageError("--pod needs the Northbound database (--nb-db)".into()).into()),
        (None, Some(ip), _) => Some(vec![ip]),
        (None, None, _) => None,
    };
    entries
        .retain(|e| ips.as_ref().is_none_or(|ips| ips.iter().any(|ip| connections::about(e, *ip))) && a.zone.is_none_or(|z| e.zone == z));
    let owners = v.ovs.as_ref().map(|o| connections::zones(o, v.sb.as_ref())).unwrap_or_default();
    let all = connections::explain(entries, &owners, v.nb.as_ref());
    Ok(Outcome::Answer(match a.format {
        Format::Json => wire::pretty(&wire::conntrack::Conntrack::new(&source, &owners, &all))?,
        Format::Text => connections::to_text(&all),
    }))
}
