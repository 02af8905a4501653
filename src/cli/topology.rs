//! `ovnscope topology`: the graph of the physical and logical network as text, JSON, DOT or SVG.

use super::dbopts::{load_all, load_zones, DbArgs, Zone};
use super::{Failure, Outcome, UsageError};
use crate::db::{views, Conditions, Views};
use crate::render;
use crate::topology::{build, focus, Topology, View};
use crate::wire;
use clap::{Args, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    /// An indented tree.
    Text,
    /// Nodes and edges with their kinds and source rows.
    Json,
    /// Graphviz DOT.
    Dot,
    /// SVG, drawn by graphviz's `dot`.
    Svg,
}

#[derive(Debug, Args)]
pub struct TopologyArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// What to draw.
    #[arg(long, value_enum, default_value_t = View::Full)]
    pub view: View,
    /// One pod's chain (NAMESPACE/POD, an IP address or a logical switch port): pod → switch port →
    /// OVS interface (ifindex, ofport) → bridge → chassis → gateway router and its NAT rules.
    #[arg(long, value_name = "POD|IP|LSP")]
    pub focus: Option<String>,
    #[arg(long, short = 'f', value_enum, default_value_t = GraphFormat::Text)]
    pub format: GraphFormat,
    /// Write to this file instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Draw every pod, veth, NAT rule and load balancer, however many.
    #[arg(long)]
    pub expand: bool,
    /// Draw more than this many pods on a switch (veths on a bridge, NAT rules on a router,
    /// load balancers) as one box with a count.
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub collapse_above: usize,
}

/// The answer written to `--output`, or returned for standard output.
fn answer(path: &Option<PathBuf>, bytes: Vec<u8>) -> Result<Outcome, Failure> {
    match path {
        Some(p) => {
            std::fs::write(p, &bytes).map_err(|e| Failure::Unreachable(anyhow::anyhow!("cannot write {}: {e}", p.display())))?;
            Ok(Outcome::Answer(String::new()))
        }
        None => Ok(Outcome::Answer(String::from_utf8_lossy(&bytes).into_owned())),
    }
}

/// One pod's chain, in text or JSON (shared with `show --focus`).
pub fn focus_output(v: &Views, query: &str, json: bool) -> Result<(String, focus::Chain), Failure> {
    let nb =
        v.nb.as_ref()
            .ok_or_else(|| UsageError("--focus needs the Northbound database (--nb-db)".into()))?;
    let chain = focus::focus(query, v.ovs.as_ref(), nb, v.sb.as_ref())?;
    let text = if json {
        wire::pretty(&wire::topology::Chain::from(&chain))?
    } else {
        chain.to_text()
    };
    Ok((text, chain))
}

/// A cluster: one graph of every zone (`--focus`: the chain in the zone that holds the pod).
fn cluster(a: &TopologyArgs, zones: Vec<Zone>) -> Result<Outcome, Failure> {
    let views: Vec<(String, Views)> = zones.into_iter().map(|z| (z.name, Views::from_loaded(&z.loaded))).collect();
    for (z, v) in &views {
        let w: Vec<String> = v.warnings.iter().map(|w| format!("zone {z}: {w}")).collect();
        super::warn(&w);
    }
    let opts = build::Options {
        view: a.view,
        expand: a.expand || a.focus.is_some(),
        threshold: a.collapse_above,
        node: None,
    };
    if let Some(q) = &a.focus {
        let found = views.iter().find(|(_, v)| {
            v.nb.as_ref()
                .is_some_and(|nb| focus::focus(q, v.ovs.as_ref(), nb, v.sb.as_ref()).is_ok())
        });
        let (_, v) = found.ok_or_else(|| Failure::NotFound(format!("no zone of the cluster holds {q:?}")))?;
        let (text, chain) = focus_output(v, q, a.format == GraphFormat::Json)?;
        if matches!(a.format, GraphFormat::Text | GraphFormat::Json) {
            return answer(&a.output, text.into_bytes());
        }
        let topo = build::build(v.ovs.as_ref(), v.nb.as_ref(), v.sb.as_ref(), &opts);
        let topo = topo.subgraph(&chain_ids(&chain, &topo));
        return draw(a, &topo, &format!("ovnscope — {}/{}", chain.namespace, chain.pod));
    }
    let topo = crate::topology::cluster::build_cluster(&views, &opts);
    let title = format!(
        "ovnscope topology — {} view, {} zones",
        format!("{:?}", a.view).to_lowercase(),
        views.len()
    );
    draw(a, &topo, &title)
}

fn draw(a: &TopologyArgs, topo: &Topology, title: &str) -> Result<Outcome, Failure> {
    let bytes = match a.format {
        GraphFormat::Text => render::tree::to_text(topo).into_bytes(),
        GraphFormat::Json => wire::pretty(&wire::topology::Graph::from(topo))?.into_bytes(),
        GraphFormat::Dot => render::dot::to_dot(topo, title).into_bytes(),
        GraphFormat::Svg => render::dot::render(&render::dot::to_dot(topo, title), "svg")?,
    };
    answer(&a.output, bytes)
}

pub async fn run(a: TopologyArgs) -> Result<Outcome, Failure> {
    if let Some(zones) = load_zones(&a.db, &views::everything, &|_| Conditions::new()).await? {
        return cluster(&a, zones);
    }
    let loaded = load_all(&a.db, &views::everything).await?;
    let v = Views::from_loaded(&loaded);
    super::warn(&v.warnings);
    let opts = build::Options {
        view: a.view,
        expand: a.expand || a.focus.is_some(),
        threshold: a.collapse_above,
        node: a.db.node.clone(),
    };
    let mut topo = build::build(v.ovs.as_ref(), v.nb.as_ref(), v.sb.as_ref(), &opts);
    let mut title = format!("ovnscope topology — {} view", format!("{:?}", a.view).to_lowercase());
    if let Some(q) = &a.focus {
        let (text, chain) = focus_output(&v, q, a.format == GraphFormat::Json)?;
        if matches!(a.format, GraphFormat::Text | GraphFormat::Json) {
            return answer(&a.output, text.into_bytes());
        }
        topo = topo.subgraph(&chain_ids(&chain, &topo));
        title = format!("ovnscope — {}/{}", chain.namespace, chain.pod);
    }
    draw(&a, &topo, &title)
}

/// The graph nodes of a focus chain.
fn chain_ids(c: &focus::Chain, t: &Topology) -> Vec<String> {
    let mut ids = vec![format!("pod:{}/{}", c.namespace, c.pod), format!("lsp:{}", c.port.name)];
    if let Some(s) = &c.port.switch {
        ids.push(format!("ls:{s}"));
    }
    if let Some(ch) = &c.chassis {
        ids.push(format!("chassis:{ch}"));
        if let Some(i) = &c.interface {
            ids.push(format!("iface:{ch}:{}", i.name));
            if let Some(b) = &i.bridge {
                ids.push(format!("bridge:{ch}:{b}"));
            }
        }
    }
    if let Some(gr) = &c.gateway_router {
        ids.push(format!("lr:{gr}"));
        for n in &c.nat {
            ids.push(format!("nat:{gr}:{}:{}:{}", n.kind, n.external_ip, n.logical_ip));
        }
    }
    ids.retain(|i| t.get(i).is_some());
    ids
}
