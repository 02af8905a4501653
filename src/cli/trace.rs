//! `ovnscope trace`: the predicted path of a packet, with expected headers where one could
//! capture; with `--lflows` (or `--microflow`), the Southbound pipeline executed table by table.

use super::dbopts::{load_all, load_zones, DbArgs, DbError, Zone};
use super::{Failure, Format, Outcome, UsageError};
use crate::db::nb::NbDb;
use crate::db::ovs::OvsDb;
use crate::db::sb::SbDb;
use crate::db::{views, Conditions, DbKind, Loaded, TableSpec, Views};
use crate::lflow::exec::Cluster;
use crate::lflow::load::LiveSb;
use crate::lflow::packet::{L4Text, MicroflowText};
use crate::lflow::{Executor, Options, Trace};
use crate::render;
use crate::topology::focus::find_port;
use crate::trace::path;
use crate::wire;
use clap::{Args, ValueEnum};
use std::net::IpAddr;
use std::rc::Rc;

/// How a trace reads live servers: the Southbound's flows for the pipeline, and for `--from`'s
/// prediction the Northbound and the port bindings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReadFlows {
    /// As needed on a large database (more than 16 datapaths, or switches), whole on a small one.
    Auto,
    /// Everything at once.
    All,
    /// Only what the packet reaches (the datapaths; the rows the prediction looks at), in rounds.
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
    /// ovn-trace's own command line: `[DATAPATH] MICROFLOW`, the same as --microflow; a
    /// DATAPATH (name, name2, or 4+ hex digits of its UUID) must be the inport's, else the
    /// error is ovn-trace's (`unknown datapath "X"`).
    #[arg(value_name = "DATAPATH] [MICROFLOW", num_args = 0..=2, conflicts_with_all = ["from", "to", "microflow"])]
    pub positional: Vec<String>,
    /// The source: NAMESPACE/POD, a pod IP, or a logical switch port.
    #[arg(long, value_name = "POD|IP|LSP", required_unless_present_any = ["microflow", "positional"])]
    pub from: Option<String>,
    /// The destination address.
    #[arg(long, value_name = "IP", required_unless_present_any = ["microflow", "positional"])]
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
    /// Print the table-by-table form (the default; with --summary or --minimal, each form
    /// under ovn-trace's heading, as ovn-trace prints them).
    #[arg(long)]
    pub detailed: bool,
    /// Print only header changes and where the packet went (ovn-trace --minimal).
    #[arg(long)]
    pub minimal: bool,
    /// Print the actions without the tables, a block per pipeline and fork (ovn-trace
    /// --summary: "less detailed, more parseable").
    #[arg(long)]
    pub summary: bool,
    /// Print the detailed, summary and minimal forms one after the other (ovn-trace --all).
    #[arg(long)]
    pub all: bool,
    /// Connection-tracking states for successive ct_next/ct_*nat/ct_lb actions, like
    /// ovn-trace --ct (e.g. --ct new --ct est,rpl); trk is always set, as ovn-trace sets it.
    /// After the list: est|trk, as ovn-trace.
    #[arg(long, value_name = "FLAGS")]
    pub ct: Vec<String>,
    /// The backend a load balancer chooses, IP or IP:PORT (ovn-trace --lb-dst); default: the
    /// first listed.
    #[arg(long, value_name = "IP[:PORT]")]
    pub lb_dst: Option<crate::lflow::LbDst>,
    /// Skip the logical flows that use chassis template variables (`^NODEIP`, NodePort and
    /// template load balancers), as ovn-trace does: it never fills them, so on that traffic it
    /// is wrong. By default they are expanded with the values the inport's chassis has
    /// (Chassis_Template_Var), as its ovn-controller does, and each such flow says so.
    /// The text is then ovn-trace's alone: no headers comment after `output(…)` in --minimal,
    /// no closing `verdict:` line.
    #[arg(long)]
    pub ovn_trace_compat: bool,
    /// Names as ovn-trace's default text does (a name ending in a UUID cut to 6 of its digits,
    /// `provnet-42b85d`); the default.
    #[arg(long, overrides_with = "no_friendly_names")]
    pub friendly_names: bool,
    /// Names as ovn-trace --no-friendly-names: datapaths by their Northbound UUID, names that
    /// end in a UUID whole. (JSON always has the names as stored.)
    #[arg(long, overrides_with = "friendly_names")]
    pub no_friendly_names: bool,
    /// The ID a `select()` action (ECMP routes) takes when it is one of the choices, as
    /// ovn-trace --select-id; default: the first listed (OVN picks by a hash of the packet).
    #[arg(long, value_name = "ID")]
    pub select_id: Option<u16>,
    /// Under each logical flow, the OpenFlow flows it became (by cookie) on the bridge at
    /// REMOTE, as ovn-trace --ovs shows them; default unix:$OVS_RUNDIR/br-int.mgmt (the node's
    /// integration bridge). Read with ovs-ofctl dump-flows.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "", value_name = "REMOTE")]
    pub ovs: Option<String>,
    /// On live servers: read the Southbound's logical flows all at once, or only for the
    /// datapaths the packet reaches (ovn-trace reads all; at 13k pods that is seconds and a
    /// gigabyte); with --from, the Northbound and the port bindings too.
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
    let l4 = match a.proto {
        Proto::Icmp => L4Text::Echo { request: true },
        Proto::Tcp => L4Text::Tcp {
            src: a.sport,
            dst: a.dport,
            flags: 2,
        },
        Proto::Udp => L4Text::Udp {
            src: a.sport,
            dst: a.dport,
        },
    };
    MicroflowText {
        inport: lsp.to_string(),
        eth_src: first.src_mac.clone(),
        eth_dst: first.dst_mac.clone(),
        src: first.src,
        dst: first.dst,
        ttl: Some(a.ttl),
        l4,
    }
    .to_string()
}

fn trace_options(a: &TraceArgs) -> Options {
    Options {
        ct: a.ct.clone(),
        lb_dst: a.lb_dst,
        conntrack: false,
        ovn_trace_compat: a.ovn_trace_compat,
        datapath: (a.positional.len() == 2).then(|| a.positional[0].clone()),
        select_id: a.select_id,
        no_friendly_names: a.no_friendly_names,
    }
}

/// Runs `microflow` through the logical flows: read as needed from the live Southbound
/// `live` when there is one, else on `sb` as loaded (a file, a must-gather).
async fn run_pipeline(a: &TraceArgs, live: Option<&str>, sb: Option<&SbDb>, microflow: &str) -> Result<Trace, Failure> {
    if let Some(method) = live {
        let client = a.db.connect(DbKind::Sb, method).await?;
        let whole = match a.read_flows {
            ReadFlows::Auto => None,
            ReadFlows::All => Some(true),
            ReadFlows::AsNeeded => Some(false),
        };
        let wrap = DbError::wrap(DbKind::Sb, method);
        let mut sb = LiveSb::start(&client, whole).await.map_err(&wrap)?;
        let t = sb.trace(microflow, &trace_options(a)).await.map_err(&wrap)?;
        super::warn(&sb.loaded.warnings);
        return Ok(t?);
    }
    let sb = sb.ok_or_else(|| UsageError("the logical flows need the Southbound database (--sb-db)".into()))?;
    let ex = Executor::new(sb, &trace_options(a))?;
    let flow = ex.microflow(microflow)?;
    Ok(ex.run(&flow)?)
}

/// ovn-trace's detailed or minimal text, plus ovnscope's additions (the headers after each
/// output in the minimal form, the closing `verdict:` line) unless `compat` asks for ovn-trace's
/// text alone.
fn pipeline_text(t: &Trace, a: &TraceArgs) -> String {
    let compat = a.ovn_trace_compat;
    // ovn-trace's forms: any of the three (all with --all), the detailed one by default; with
    // more than one, one microflow line and each form under its heading.
    let (mut detailed, summary, minimal) = (a.detailed || a.all, a.summary || a.all, a.minimal || a.all);
    if !detailed && !summary && !minimal {
        detailed = true;
    }
    let forms: Vec<(&str, String)> = [
        (detailed, "Detailed", render::lflow::detailed as fn(&Trace) -> String),
        (summary, "Summary", render::lflow::summary),
    ]
    .into_iter()
    .filter(|f| f.0)
    .map(|(_, name, f)| (name, f(t)))
    .chain(minimal.then(|| ("Minimal", render::lflow::minimal_text(t, !compat))))
    .collect();
    let body = if let [(_, one)] = &forms[..] {
        one.clone()
    } else {
        let rest = |form: &str| form.split_once('\n').map(|(_, r)| r.to_string()).unwrap_or_default();
        let mut s = format!("# {}\n", t.microflow);
        for (name, form) in &forms {
            s += &format!("# {name} trace.\n{}", rest(form));
        }
        s
    };
    if compat {
        body
    } else {
        format!("{body}\nverdict: {}\n", t.verdicts().join("; "))
    }
}

/// The tables to read: for `--microflow` only the pipeline's (and only from a file: a live
/// Southbound is read as the packet goes); otherwise what the prediction looks at
/// ([`views::prediction`]), with the pipeline's when `--lflows` runs on a file.
fn tables(a: &TraceArgs, live_sb: bool, kind: DbKind) -> Vec<TableSpec> {
    let flows = (a.lflows || a.microflow.is_some()) && !live_sb;
    match (a.microflow.is_some(), flows) {
        (true, true) => views::pipeline(kind),
        (true, false) => vec![],
        (false, true) => views::with_pipeline(kind),
        // From a file, the NAT stages' flows too: the evidence a live read fetches by rule.
        (false, false) if !live_sb && kind == DbKind::Sb => {
            let mut v = views::prediction(kind);
            v.extend_from_slice(crate::db::sb::LOGICAL_FLOWS);
            v
        }
        (false, false) => views::prediction(kind),
    }
}

/// `--ovs`: the OpenFlow flows under each step, from the one bridge given (or the default).
fn with_openflow(a: &TraceArgs, t: &mut Trace) -> Result<(), Failure> {
    if let Some(remote) = &a.ovs {
        let remote = if remote.is_empty() {
            crate::trace::openflow::default_remote()
        } else {
            remote.clone()
        };
        crate::trace::openflow::annotate(t, &remote)?;
    }
    Ok(())
}

/// A cluster: the run starts in the zone that holds the inport (or the pod) and continues,
/// across the transit switch, in the zone where the packet arrives.
fn cluster(a: &TraceArgs, zones: Vec<Zone>) -> Result<Outcome, Failure> {
    if a.ovs.is_some() {
        // Each zone's flows are on its own node's bridge; one REMOTE cannot answer for all.
        return Err(UsageError("--ovs reads one node's bridge: give that zone's databases (--sb-db) instead of a cluster".into()).into());
    }
    let views: Vec<(String, Views)> = zones.into_iter().map(|z| (z.name, Views::from_loaded(&z.loaded))).collect();
    for (z, v) in &views {
        let w: Vec<String> = v.warnings.iter().map(|w| format!("zone {z}: {w}")).collect();
        super::warn(&w);
    }
    let cluster = Rc::new(Cluster {
        zones: views.iter().filter_map(|(z, v)| Some((z.clone(), v.sb.as_ref()?))).collect(),
    });
    let run = |zone: &str, m: &str| -> Result<Trace, Failure> {
        let ex = Executor::in_cluster(cluster.clone(), zone, &trace_options(a))?;
        let flow = ex.microflow(m)?;
        Ok(ex.run(&flow)?)
    };
    if let Some(m) = &a.microflow {
        let inport = crate::lflow::exec::inport_of(m)?;
        let zone = Executor::zone_of_port(&cluster, &inport).ok_or_else(|| crate::lflow::Error::UnknownPort(inport.clone()))?;
        let t = run(&zone, m)?;
        return Ok(Outcome::Answer(match a.format {
            Format::Json => wire::pretty(&wire::trace::Pipeline::new(&t, m))?,
            Format::Text => pipeline_text(&t, a),
        }));
    }
    let (Some(from), Some(to)) = (a.from.as_deref(), a.to) else {
        return Err(UsageError("--from and --to are required without --microflow".into()).into());
    };
    let zv: Vec<path::ZoneViews> = views
        .iter()
        .filter_map(|(z, v)| {
            Some(path::ZoneViews {
                name: z,
                ovs: v.ovs.as_ref(),
                nb: v.nb.as_ref()?,
                sb: v.sb.as_ref(),
            })
        })
        .collect();
    let (i, port) = zv
        .iter()
        .enumerate()
        .find_map(|(i, z)| Some((i, find_port(z.nb, from).ok()?)))
        .ok_or_else(|| Failure::NotFound(format!("no zone of the cluster holds {from:?}")))?;
    let zone = zv[i].name;
    let p = path::predict_in_cluster(&zv, i, port, to, a.ttl)?;
    let pipeline = match (a.lflows, p.points.first()) {
        (true, Some(first)) => {
            let m = microflow_of(a, &port.name, first);
            Some((run(zone, &m)?, m))
        }
        _ => None,
    };
    Ok(Outcome::Answer(prediction_output(a, p, pipeline, Some((zone, views.len())))?))
}

/// A prediction (with the executed pipeline, for `--lflows`) as text or JSON.
fn prediction_output(
    a: &TraceArgs,
    mut p: path::Prediction,
    pipeline: Option<(Trace, String)>,
    zone: Option<(&str, usize)>,
) -> Result<String, Failure> {
    if let Some((t, _)) = &pipeline {
        p.lflows = path::key_steps(t);
    }
    Ok(match a.format {
        Format::Json => wire::pretty(&wire::trace::Prediction::new(&p, pipeline.as_ref().map(|(t, m)| (t, m.as_str()))))?,
        Format::Text => {
            let mut s = match zone {
                Some((z, n)) => format!("Zone {z} (of {n})\n{}", p.to_text()),
                None => p.to_text(),
            };
            if let Some((t, m)) = &pipeline {
                s += &format!("\nLogical flows, table by table (microflow: {m}):\n{}", pipeline_text(t, a));
            }
            s
        }
    })
}

/// Reads, into `loaded`, the Northbound rows the prediction from `from` to `to` looks at and,
/// with a live Southbound, the port bindings it looks up (the rest of the Southbound is in
/// `loaded` already): both by the prediction's own demand, walking again after each read until
/// neither lacks anything. An address in no switch's subnet: the Northbound and the bindings
/// whole. Returns the Southbound connection, for the reads that follow.
async fn read_by_demand(
    a: &TraceArgs,
    client: &crate::ovsdb::Client,
    nb_method: &str,
    sb_method: Option<&str>,
    loaded: &mut Vec<Loaded>,
    from: &str,
    to: IpAddr,
) -> Result<Option<crate::ovsdb::Client>, Failure> {
    use crate::nat::load::{NbReader, Who};
    let nb_wrap = DbError::wrap(DbKind::Nb, nb_method);
    let sb_client = match sb_method {
        Some(m) => Some((a.db.connect(DbKind::Sb, m).await?, DbError::wrap(DbKind::Sb, m))),
        None => None,
    };
    let bindings = views::prediction(DbKind::Sb)
        .into_iter()
        .filter(|t| t.table == "Port_Binding")
        .collect::<Vec<_>>();
    let name = from.replacen('/', "_", 1);
    let who = match from.parse::<IpAddr>() {
        Ok(ip) => Who::Ip(ip),
        Err(_) => Who::Port(&name),
    };
    let ovs = loaded.iter().find(|l| l.kind == DbKind::Ovs).map(OvsDb::from_loaded);
    let Some(mut reader) = NbReader::start(client, &who).await.map_err(&nb_wrap)? else {
        loaded.retain(|l| l.kind != DbKind::Nb);
        loaded.push(
            crate::db::load_live(client, DbKind::Nb, &views::everything(DbKind::Nb))
                .await
                .map_err(&nb_wrap)?,
        );
        if let (Some((c, wrap)), Some(sb)) = (&sb_client, loaded.iter_mut().find(|l| l.kind == DbKind::Sb)) {
            crate::db::fetch_into(c, sb, &bindings, &Conditions::new()).await.map_err(wrap)?;
        }
        return Ok(sb_client.map(|(c, _)| c));
    };
    let predict = |nb: &NbDb, sb: Option<&SbDb>| {
        if from.parse::<IpAddr>().is_ok() {
            // find_port looks among the ports read; this says which to read.
            nb.switch_port_with_address(from);
        }
        if let Ok(port) = find_port(nb, from) {
            let _ = path::predict(ovs.as_ref(), nb, sb, port, to, a.ttl);
        }
    };
    let mut asked = std::collections::BTreeSet::new();
    loop {
        let sb = loaded.iter().find(|l| l.kind == DbKind::Sb).map(SbDb::from_loaded);
        reader.fill(|nb| predict(nb, sb.as_ref())).await.map_err(&nb_wrap)?;
        let (Some((c, wrap)), Some(mut sb)) = (&sb_client, sb) else { break };
        sb.demand = crate::db::Demand::on();
        predict(&NbDb::from_loaded(&reader.loaded), Some(&sb));
        let lacks: Vec<String> = sb.demand.take().into_iter().filter(|n| asked.insert(n.clone())).collect();
        if lacks.is_empty() {
            break;
        }
        let sel: Vec<(&'static str, Vec<crate::ovsdb::Condition>)> = lacks
            .iter()
            .map(|n| {
                (
                    "Port_Binding",
                    vec![crate::ovsdb::Condition::eq("logical_port", serde_json::json!(n))],
                )
            })
            .collect();
        let Some(l) = loaded.iter_mut().find(|l| l.kind == DbKind::Sb) else {
            break;
        };
        crate::db::select_into(c, l, &bindings, &sel).await.map_err(wrap)?;
    }
    loaded.retain(|l| l.kind != DbKind::Nb);
    loaded.push(reader.loaded);
    Ok(sb_client.map(|(c, _)| c))
}

pub async fn run(mut a: TraceArgs) -> Result<Outcome, Failure> {
    // ovn-trace's positional form is --microflow (the datapath went into the options).
    if let Some(m) = a.positional.last() {
        a.microflow = Some(m.clone());
    }
    let zone_tables = |k| {
        if a.microflow.is_some() {
            views::pipeline(k)
        } else {
            views::with_pipeline(k)
        }
    };
    if let Some(zones) = load_zones(&a.db, &zone_tables, &|_| Conditions::new()).await? {
        return cluster(&a, zones);
    }
    let live_sb = a.db.live(DbKind::Sb);
    let specs = |k| tables(&a, live_sb.is_some(), k);
    if let Some(m) = &a.microflow {
        let sb = match live_sb {
            Some(_) => None,
            None => {
                let v = Views::from_loaded(&load_all(&a.db, &specs).await?);
                super::warn(&v.warnings);
                v.sb
            }
        };
        let mut t = run_pipeline(&a, live_sb.as_deref(), sb.as_ref(), m).await?;
        with_openflow(&a, &mut t)?;
        return Ok(Outcome::Answer(match a.format {
            Format::Json => wire::pretty(&wire::trace::Pipeline::new(&t, m))?,
            Format::Text => pipeline_text(&t, &a),
        }));
    }
    let (Some(from), Some(to)) = (a.from.as_deref(), a.to) else {
        return Err(UsageError("--from and --to are required without --microflow".into()).into());
    };
    // A live Northbound is read by the prediction's own demand (the rows its walk looks at, as
    // `nat` reads them); the Open_vSwitch and Southbound databases first, whole, since the
    // prediction looks at them too.
    let live_nb = a.db.live(DbKind::Nb).filter(|_| !a.db.any_file());
    // A small Northbound (up to 16 switches: a lab) is read whole, where a dozen round trips
    // cost more than its bytes (the lab bench: 26 → 34 ms by demand).
    let demand = match &live_nb {
        Some(m) => {
            let c = a.db.connect(DbKind::Nb, m).await?;
            let big = match a.read_flows {
                ReadFlows::All => false,
                ReadFlows::AsNeeded => true,
                ReadFlows::Auto => crate::nat::load::switch_count(&c).await.map_err(DbError::wrap(DbKind::Nb, m))? > 16,
            };
            big.then_some((c, m.clone()))
        }
        None => None,
    };
    let by_demand = demand.is_some();
    let specs = |k| match k {
        // Only its one global row here (so that a Northbound alone is still a database to
        // read); the rest by demand below.
        DbKind::Nb if by_demand => views::everything(k).into_iter().filter(|t| t.table == "NB_Global").collect(),
        DbKind::Sb if by_demand && live_sb.is_some() => specs(k).into_iter().filter(|t| t.table != "Port_Binding").collect(),
        k => specs(k),
    };
    let mut loaded = load_all(&a.db, &specs).await?;
    let mut sb_client = None;
    if let Some((client, method)) = &demand {
        sb_client = read_by_demand(&a, client, method, live_sb.as_deref(), &mut loaded, from, to).await?;
    }
    let mut v = Views::from_loaded(&loaded);
    super::warn(&v.warnings);
    let nb =
        v.nb.as_ref()
            .ok_or_else(|| UsageError("ovnscope trace needs the Northbound database (--nb-db)".into()))?;
    let port = find_port(nb, from)?;
    let mut p = path::predict(v.ovs.as_ref(), nb, v.sb.as_ref(), port, to, a.ttl)?;
    if let (Some(method), Some(sb)) = (&live_sb, v.sb.as_mut()) {
        // The NAT rules' logical flows, as `nat` reads them (the prediction's Southbound tables
        // have none), then the prediction again with them.
        let pairs = crate::nat::query::evidence_pairs(nb, &p.nat);
        if !pairs.is_empty() {
            let wrap = DbError::wrap(DbKind::Sb, method);
            let client = match sb_client.take() {
                Some(c) => c,
                None => a.db.connect(DbKind::Sb, method).await?,
            };
            let into = match loaded.iter().find(|l| l.kind == DbKind::Sb) {
                Some(l) => l.empty_like(),
                None => crate::db::start_live(&client, DbKind::Sb).await.map_err(&wrap)?,
            };
            let ev = crate::nat::load::sb_evidence(&client, into, &pairs).await.map_err(&wrap)?;
            sb.logical_flows.extend(ev.logical_flows);
            sb.dp_groups.extend(ev.dp_groups);
            p = path::predict(v.ovs.as_ref(), nb, v.sb.as_ref(), port, to, a.ttl)?;
        }
    }
    let pipeline = match (a.lflows, p.points.first()) {
        (true, Some(first)) => {
            let m = microflow_of(&a, &port.name, first);
            let mut t = run_pipeline(&a, live_sb.as_deref(), v.sb.as_ref(), &m).await?;
            with_openflow(&a, &mut t)?;
            Some((t, m))
        }
        _ => None,
    };
    Ok(Outcome::Answer(prediction_output(&a, p, pipeline, None)?))
}
