//! `ovnscope trace`: the predicted path of a packet, with expected headers where one could
//! capture; with `--lflows` (or `--microflow`), the Southbound pipeline executed table by table.

use super::dbopts::{load_all, DbArgs};
use super::topology::{all_specs, Views};
use super::{exit, Format, UsageError};
use crate::db::DbKind;
use crate::lflow::exec::{Executor, Options, Trace};
use crate::topology::focus::find_port;
use crate::trace::path;
use clap::{Args, ValueEnum};
use std::net::IpAddr;

/// How `--microflow` reads a live Southbound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReadFlows {
    /// As needed on a large Southbound (more than 16 datapaths), whole on a small one.
    Auto,
    /// Everything at once.
    All,
    /// Only the datapaths the packet reaches, in rounds.
    AsNeeded,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Proto {
    Icmp,
    Tcp,
    Udp,
}

#[derive(Debug, Args)]
pub struct TraceArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// The source: NAMESPACE/POD, a pod IP, or a logical switch port.
    #[arg(long, value_name = "POD|IP|LSP", required_unless_present = "microflow")]
    pub from: Option<String>,
    /// The destination address.
    #[arg(long, value_name = "IP", required_unless_present = "microflow")]
    pub to: Option<IpAddr>,
    /// Also execute the Southbound logical flows for this packet, table by table (datapath,
    /// stage, priority, match, actions, lflow uuid), as ovn-trace's detailed output does.
    #[arg(long)]
    pub lflows: bool,
    /// Execute the logical flows for this ovn-trace style microflow instead of a pod's packet,
    /// e.g. 'inport == "ns_pod" && eth.src == 0a:58:0a:80:02:2b && ip4.src == 10.128.2.43 &&
    /// ip4.dst == 203.0.113.8 && ip.ttl == 64 && icmp4.type == 8'. Needs only the Southbound.
    #[arg(long, value_name = "EXPR", conflicts_with_all = ["from", "to"])]
    pub microflow: Option<String>,
    /// The packet's protocol (with --from/--to).
    #[arg(long, value_enum, default_value_t = Proto::Icmp)]
    pub proto: Proto,
    /// Destination port for TCP/UDP.
    #[arg(long, default_value_t = 80)]
    pub dport: u16,
    /// Source port for TCP/UDP.
    #[arg(long, default_value_t = 40000)]
    pub sport: u16,
    /// Print only header changes and where the packet went (ovn-trace --minimal).
    #[arg(long)]
    pub minimal: bool,
    /// Connection-tracking states for successive ct_next/ct_*nat/ct_lb actions, like
    /// ovn-trace --ct (e.g. --ct new,trk --ct est,rpl,trk). After the list: est|trk, as ovn-trace.
    #[arg(long, value_name = "FLAGS")]
    pub ct: Vec<String>,
    /// The backend a load balancer chooses (ovn-trace --lb-dst); default: the first listed.
    #[arg(long, value_name = "IP")]
    pub lb_dst: Option<IpAddr>,
    /// With --microflow on a live server: read the Southbound's logical flows all at once, or
    /// only for the datapaths the packet reaches (ovn-trace reads all; at 13k pods that is
    /// seconds and a gigabyte).
    #[arg(long, value_enum, default_value_t = ReadFlows::Auto)]
    pub read_flows: ReadFlows,
    /// The TTL the packet leaves the pod with.
    #[arg(long, default_value_t = 64)]
    pub ttl: u8,
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// The ovn-trace microflow for a pod's packet as it leaves the pod's eth0.
fn microflow_of(a: &TraceArgs, lsp: &str, first: &path::Point) -> String {
    let v4 = first.src.is_ipv4();
    let ip = if v4 { "ip4" } else { "ip6" };
    let mut m = format!("inport == \"{lsp}\"");
    if let Some(s) = &first.src_mac {
        m += &format!(" && eth.src == {s}");
    }
    if let Some(d) = &first.dst_mac {
        m += &format!(" && eth.dst == {d}");
    }
    m += &format!(" && {ip}.src == {} && {ip}.dst == {} && ip.ttl == {}", first.src, first.dst, a.ttl);
    m += &match (a.proto, v4) {
        (Proto::Icmp, true) => " && icmp4.type == 8 && icmp4.code == 0".to_string(),
        (Proto::Icmp, false) => " && icmp6.type == 128 && icmp6.code == 0".to_string(),
        (Proto::Tcp, _) => format!(" && tcp.src == {} && tcp.dst == {} && tcp.flags == 2", a.sport, a.dport),
        (Proto::Udp, _) => format!(" && udp.src == {} && udp.dst == {}", a.sport, a.dport),
    };
    m
}

fn trace_options(a: &TraceArgs) -> Options {
    Options {
        ct: a.ct.clone(),
        lb_dst: a.lb_dst,
        conntrack: false,
    }
}

/// Runs `microflow` through the logical flows: read as needed from the live Southbound
/// `live` when there is one, else on `sb` as loaded (a file, a must-gather).
async fn run_pipeline(a: &TraceArgs, live: Option<&str>, sb: Option<&crate::db::sb::SbDb>, microflow: &str) -> anyhow::Result<Trace> {
    if let Some(method) = live {
        let wrap = super::dbopts::DbError::wrap(DbKind::Sb, method);
        let client = crate::ovsdb::connect(method, &a.db.options()).await.map_err(&wrap)?;
        let whole = match a.read_flows {
            ReadFlows::Auto => None,
            ReadFlows::All => Some(true),
            ReadFlows::AsNeeded => Some(false),
        };
        let mut sb = crate::lflow::load::LiveSb::start(&client, whole).await.map_err(&wrap)?;
        let t = sb.trace(microflow, &trace_options(a)).await.map_err(&wrap)?;
        sb.loaded.warnings.iter().for_each(|w| eprintln!("warning: {w}"));
        return Ok(t?);
    }
    let sb = sb.ok_or_else(|| UsageError("the logical flows need the Southbound database (--sb-db)".into()))?;
    let ex = Executor::new(sb, &trace_options(a))?;
    let flow = ex.microflow(microflow)?;
    Ok(ex.run(&flow)?)
}

fn pipeline_json(t: &Trace, microflow: &str) -> serde_json::Value {
    serde_json::json!({
        "microflow": microflow,
        "packet": t.microflow,
        "verdicts": t.verdicts(),
        "steps": t.steps().iter().map(|s| serde_json::json!({
            "datapath": s.datapath, "stage": s.stage, "priority": s.priority, "uuid": s.uuid,
        })).collect::<Vec<_>>(),
        "trace": t.nodes,
    })
}

fn pipeline_text(t: &Trace, minimal: bool) -> String {
    let body = if minimal {
        crate::render::lflow::minimal(t)
    } else {
        crate::render::lflow::detailed(t)
    };
    format!("{body}\nverdict: {}\n", t.verdicts().join("; "))
}

pub async fn run(a: TraceArgs) -> anyhow::Result<i32> {
    // On a live Southbound the logical flows are read for the datapaths the packet reaches
    // only (lflow::load); from a file, with the rest.
    let live_sb = super::dbopts::live_choice(&a.db, DbKind::Sb);
    let wants_flows = (a.lflows || a.microflow.is_some()) && live_sb.is_none();
    let with_flows = |k: DbKind| {
        let mut v = if a.microflow.is_some() { vec![] } else { all_specs(k) };
        if wants_flows && k == DbKind::Sb {
            v.extend_from_slice(crate::db::sb::TABLES);
            v.extend_from_slice(crate::db::sb::LOGICAL_FLOWS);
            v.extend_from_slice(crate::db::sb::PIPELINE);
            v.sort_by_key(|t| t.table);
            v.dedup_by_key(|t| t.table);
        }
        v
    };
    if let Some(m) = &a.microflow {
        let sb = match live_sb {
            Some(_) => None,
            None => {
                let v = Views::from_loaded(&load_all(&a.db, &with_flows).await?);
                v.warnings.iter().for_each(|w| eprintln!("warning: {w}"));
                v.sb
            }
        };
        let t = run_pipeline(&a, live_sb.as_deref(), sb.as_ref(), m).await?;
        let out = match a.format {
            Format::Json => serde_json::to_string_pretty(&pipeline_json(&t, m))? + "\n",
            Format::Text => pipeline_text(&t, a.minimal),
        };
        super::print(&out)?;
        return Ok(exit::OK);
    }
    let loaded = load_all(&a.db, &with_flows).await?;
    let v = Views::from_loaded(&loaded);
    v.warnings.iter().for_each(|w| eprintln!("warning: {w}"));
    let (Some(from), Some(to)) = (a.from.as_deref(), a.to) else {
        return Err(UsageError("--from and --to are required without --microflow".into()).into());
    };
    let nb =
        v.nb.as_ref()
            .ok_or_else(|| UsageError("ovnscope trace needs the Northbound database (--nb-db)".into()))?;
    let port = match find_port(nb, from) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("ovnscope: {e}");
            return Ok(exit::NO);
        }
    };
    let mut p = match path::predict(v.ovs.as_ref(), nb, v.sb.as_ref(), port, to, a.ttl) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("ovnscope: {e}");
            return Ok(exit::NO);
        }
    };
    let pipeline = match (a.lflows, p.points.first()) {
        (true, Some(first)) => {
            let m = microflow_of(&a, &port.name, first);
            Some((run_pipeline(&a, live_sb.as_deref(), v.sb.as_ref(), &m).await?, m))
        }
        _ => None,
    };
    if let Some((t, _)) = &pipeline {
        p.lflows = path::key_steps(t);
    }
    let out = match a.format {
        Format::Json => {
            let mut j = serde_json::to_value(&p)?;
            if let Some((t, m)) = &pipeline {
                j["pipeline"] = pipeline_json(t, m);
            }
            serde_json::to_string_pretty(&j)? + "\n"
        }
        Format::Text => {
            let mut s = p.to_text();
            if let Some((t, m)) = &pipeline {
                s += &format!("\nLogical flows, table by table (microflow: {m}):\n{}", pipeline_text(t, a.minimal));
            }
            s
        }
    };
    super::print(&out)?;
    Ok(exit::OK)
}
