//! `ovnscope capture`: live capture at several points, explained as packets arrive, with a
//! pcapng that carries one interface per point and each packet's explanation as a comment.

use super::dbopts::{load_all, DbArgs};
use super::{Failure, Format, Outcome, UsageError};
use crate::capture::live::{self, Point};
use crate::capture::netns;
use crate::capture::probe::{self, Probe};
use crate::capture::session::{self, Limits};
use crate::db::{views, Views};
use crate::topology::build::port_ips;
use crate::topology::focus::find_port;
use crate::trace::{path, points};
use clap::Args;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct CaptureArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// A capture point in path order: NAME=IFACE, or NAME=IFACE@NETNS to capture inside a
    /// network namespace (e.g. pod:ns/pod=eth0@<pod netns>, ens2f0np0=ens2f0np0). With --pod,
    /// points outside OVN to add after the ones chosen (e.g. the bastion).
    #[arg(long = "point", value_name = "NAME=IFACE[@NETNS]", required_unless_present = "pod")]
    pub points: Vec<String>,
    /// Choose the points from the model and the host: the pod's eth0 (the namespace holding
    /// its address), its host veth, and with --to the NIC the traffic leaves by (or the
    /// destination pod's eth0); needs --nb-db and --ovs-db. Prints the points and why.
    #[arg(long, value_name = "NS/NAME")]
    pub pod: Option<String>,
    /// With --pod: where the traffic goes.
    #[arg(long, value_name = "IP", requires = "pod")]
    pub to: Option<IpAddr>,
    /// With --pod and --to: send the packet itself from the pod's namespace once capturing
    /// runs — icmp (3 echoes), tcp:PORT (one connection attempt) or udp:PORT (3 datagrams).
    #[arg(long, value_name = "icmp|tcp:PORT|udp:PORT", requires = "to")]
    pub probe: Option<Probe>,
    /// A BPF filter applied at every point (tcpdump syntax), e.g. "icmp or tcp port 8080".
    #[arg(long, value_name = "BPF")]
    pub filter: Option<String>,
    /// Stop after this many packets in all (across points).
    #[arg(long, value_name = "N")]
    pub count: Option<usize>,
    /// Stop after this many seconds [default: 10 when --count is not given].
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,
    /// Write every packet to this pcapng: one interface per point, the explanation as a comment.
    #[arg(long, short = 'w', value_name = "OUT.pcapng")]
    pub write: Option<PathBuf>,
    /// Also check each packet against the Southbound logical flows, as `explain --validate`
    /// does (needs --nb-db and --sb-db); exit 1 when one disagrees.
    #[arg(long)]
    pub validate: bool,
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// The points `--pod` chooses (and the pod's namespace, for the probe), said on stderr.
async fn chosen_points(a: &CaptureArgs, pod: &str) -> Result<(Vec<Point>, Option<String>), Failure> {
    let v = Views::from_loaded(&load_all(&a.db, &views::everything).await?);
    super::warn(&v.warnings);
    let (Some(nb), Some(ovs)) = (v.nb.as_ref(), v.ovs.as_ref()) else {
        return Err(UsageError("--pod needs the Northbound and the node's Open_vSwitch database (--nb-db, --ovs-db)".into()).into());
    };
    let port = find_port(nb, pod)?;
    let src: IpAddr = port_ips(port)
        .iter()
        .find_map(|i| i.split('/').next()?.parse().ok())
        .ok_or_else(|| UsageError(format!("port {} has no address", port.name)))?;
    let to = a.to.unwrap_or(src);
    let p = path::predict(Some(ovs), nb, v.sb.as_ref(), port, to, 64)?;
    // The node: where the ovs-vswitchd of this Open_vSwitch database runs.
    let node =
        a.db.ovs_db
            .as_deref()
            .and_then(|m| m.strip_prefix("unix:"))
            .and_then(|sock| std::path::Path::new(sock).parent().map(|d| d.join("ovs-vswitchd.pid")))
            .or_else(|| std::env::var_os("OVS_RUNDIR").map(|d| PathBuf::from(d).join("ovs-vswitchd.pid")))
            .and_then(|pidfile| std::fs::read_to_string(pidfile).ok())
            .and_then(|pid| pid.trim().parse::<u32>().ok())
            .and_then(netns::of_process);
    let (chosen, notes) = points::choose(&p, Some(ovs), node.as_deref()).map_err(UsageError)?;
    let pod_ns = chosen.first().and_then(|c| c.point.netns.clone());
    eprintln!("points chosen for {pod}{}:", a.to.map(|t| format!(" → {t}")).unwrap_or_default());
    for c in &chosen {
        eprintln!(
            "  {}={}{}  ({})",
            c.point.name,
            c.point.iface,
            c.point.netns.as_ref().map(|n| format!("@{n}")).unwrap_or_default(),
            c.why
        );
    }
    for n in notes {
        eprintln!("  note: {n}");
    }
    Ok((chosen.into_iter().map(|c| c.point).collect(), pod_ns))
}

pub async fn run(a: CaptureArgs) -> Result<Outcome, Failure> {
    let mut points: Vec<Point> = vec![];
    let mut pod_ns = None;
    if let Some(pod) = &a.pod {
        (points, pod_ns) = chosen_points(&a, pod).await?;
    }
    // The --point points (outside OVN, e.g. a bastion) follow the chosen ones.
    let given = points.len();
    for p in &a.points {
        points.push(Point::parse(p).ok_or_else(|| UsageError(format!("--point {p:?}: expected NAME=IFACE or NAME=IFACE@NETNS")))?);
    }
    // Everything the report (and the pipeline, with --validate) needs is read before capturing.
    let names = super::explain::report_names(&a.db, a.validate).await?;
    let limits = Limits {
        count: a.count,
        duration: a.duration.map(Duration::from_secs_f64).or(match (a.count, a.probe) {
            (None, Some(_)) => Some(Duration::from_secs(3)),
            (None, None) => Some(Duration::from_secs(10)),
            _ => None,
        }),
    };
    let probe = a.probe.zip(a.to);
    let (filter, pts) = (a.filter.clone(), points.clone());
    let run = tokio::task::spawn_blocking(move || {
        let announce = || {
            eprintln!(
                "capturing on {} point(s){}…",
                pts.len(),
                limits
                    .duration
                    .map(|d| format!(" for {:.1} s", d.as_secs_f64()))
                    .unwrap_or_default()
            );
            // The probe goes once every point listens, from the pod's namespace.
            if let Some((p, dst)) = probe {
                let ns = pod_ns.clone();
                std::thread::spawn(move || match probe::send(ns.as_deref(), dst, p) {
                    Ok(what) => eprintln!("probe: {what}"),
                    Err(e) => eprintln!("probe: {e}"),
                });
            }
        };
        session::run(&pts, filter.as_deref(), limits, &mut { announce }, &mut |n, c| {
            eprintln!("{n:>5} {}", session::one_line(&c.obs))
        })
    })
    .await??;
    eprint!("{}", session::stats_text(&run.stats));
    let dropped: u32 = run.stats.iter().map(|p| p.dropped + p.if_dropped).sum();
    if dropped > 0 {
        eprintln!("warning: {dropped} packet(s) dropped before ovnscope saw them: a packet not seen at a point may have been one");
    }
    let captured = run.packets;
    let point_names: Vec<String> = points.iter().map(|p| p.name.clone()).collect();
    let observations: Vec<_> = captured.iter().map(|c| c.obs.clone()).collect();
    // The entries that hold each NAT, read right after the capture (they outlive its packets by
    // their timeouts): the node's datapath, and the kernel tables where --point points are.
    let mut outside: Vec<String> = points[given..].iter().filter_map(|p| p.netns.clone()).collect();
    outside.sort();
    outside.dedup();
    let (tables, notes) = super::conntrack::tables(&a.db, &outside).await;
    for n in notes {
        eprintln!("note: conntrack not cited from {n}");
    }
    let (outcome, report) = super::explain::answer(&point_names, observations, &names, a.validate, a.format, &tables)?;
    if let Some(path) = &a.write {
        let what = report.comments();
        let packets: Vec<_> = captured
            .iter()
            .map(|c| {
                (
                    c.point,
                    c.obs.ts,
                    c.data.clone(),
                    what.get(&(c.obs.point.clone(), c.obs.number)).cloned().unwrap_or_default(),
                )
            })
            .collect();
        live::write_pcapng(path, &points, &packets)
            .map_err(|e| Failure::Unreachable(anyhow::anyhow!("cannot write {}: {e}", path.display())))?;
        eprintln!("wrote {} packets to {}", packets.len(), path.display());
    }
    Ok(outcome)
}
