//! One graph of a whole cluster from its zones' graphs (OVN interconnect: one zone per node).
//!
//! Each zone's graph is built as for one zone, then merged:
//! - physical nodes are already cluster-wide (chassis by system-id, bridges and interfaces under
//!   their chassis), and pods by namespace/name; a zone's `remote` Chassis row is the same node
//!   as that chassis in its own zone, which wins;
//! - the transit switch is drawn once, with its real ports: `tstor-N` is a router port in zone N
//!   and a `remote` port everywhere else, so the remote ones fold into the real one;
//! - every other logical object (`ovn_cluster_router`, `join`, … exist in every zone) gets its
//!   zone in its id (`lr:ovn_cluster_router@worker-1`; switches and routers in their label too)
//!   and is drawn in its zone's cluster.

use super::build::{build, Options};
use super::{LspKind, Node, NodeKind, Topology};
use crate::db::Views;
use std::collections::HashMap;

/// The name OVN-Kubernetes gives the transit switch (ovn-ic.md §1).
pub const TRANSIT_SWITCH: &str = "transit_switch";

fn shared(n: &Node) -> bool {
    match &n.kind {
        NodeKind::Chassis { .. } | NodeKind::Bridge { .. } | NodeKind::Interface { .. } | NodeKind::Pod { .. } => true,
        NodeKind::Switch { name } => name == TRANSIT_SWITCH,
        NodeKind::SwitchPort { name, .. } => name.starts_with("tstor-"),
        _ => false,
    }
}

/// Added after the others, so the real object wins over its stand-in.
fn stand_in(n: &Node) -> bool {
    matches!(&n.kind, NodeKind::SwitchPort { lsp: LspKind::Remote, .. }) || matches!(&n.kind, NodeKind::Chassis { local: false, .. })
}

/// The graph of every zone, merged.
pub fn build_cluster(zones: &[(String, Views)], o: &Options) -> Topology {
    let graphs: Vec<(&str, Topology)> = zones
        .iter()
        .map(|(z, v)| (z.as_str(), build(v.ovs.as_ref(), v.nb.as_ref(), v.sb.as_ref(), o)))
        .collect();
    let mut t = Topology {
        view: Some(o.view),
        ..Default::default()
    };
    let mut ids: Vec<HashMap<String, String>> = vec![HashMap::new(); graphs.len()];
    for pass in [false, true] {
        for (gi, (zone, g)) in graphs.iter().enumerate() {
            for n in g.nodes_sorted() {
                if stand_in(n) != pass {
                    continue;
                }
                let mut m = n.clone();
                if !shared(n) {
                    m.id = format!("{}@{zone}", n.id);
                    // Switches and routers say their zone; their ports and rules sit under them.
                    if matches!(n.kind, NodeKind::Switch { .. } | NodeKind::Router { .. }) {
                        m.label = format!("{}\n[zone {zone}]", n.label);
                    }
                    m.zone = Some(zone.to_string());
                }
                ids[gi].insert(n.id.clone(), m.id.clone());
                t.add(m);
            }
        }
    }
    for (gi, (_, g)) in graphs.iter().enumerate() {
        for (a, b, k) in g.edges_sorted() {
            let (Some(a), Some(b)) = (ids[gi].get(a), ids[gi].get(b)) else {
                continue;
            };
            let exists = t
                .get(a)
                .zip(t.get(b))
                .is_some_and(|(x, y)| t.graph.edges_connecting(x, y).any(|e| e.weight() == k));
            if !exists {
                t.link(a, b, k.clone());
            }
        }
    }
    t
}
