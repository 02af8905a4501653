//! A topology as an indented text tree: chassis → bridges → interfaces, then routers and
//! switches with their ports, peers and NAT rules.

use crate::topology::{EdgeKind, NodeKind, Topology};
use petgraph::Direction;
use std::fmt::Write;

fn children<'a>(t: &'a Topology, id: &str, kind: fn(&EdgeKind) -> bool) -> Vec<&'a crate::topology::Node> {
    let Some(i) = t.get(id) else { return vec![] };
    let mut v: Vec<_> = t
        .graph
        .edges_directed(i, Direction::Incoming)
        .filter(|e| kind(e.weight()))
        .map(|e| &t.graph[petgraph::visit::EdgeRef::source(&e)])
        .collect();
    v.sort_by(|a, b| a.id.cmp(&b.id));
    v
}

fn out_edges<'a>(t: &'a Topology, id: &str) -> Vec<(&'a EdgeKind, &'a crate::topology::Node)> {
    let Some(i) = t.get(id) else { return vec![] };
    let mut v: Vec<_> = t
        .graph
        .edges_directed(i, Direction::Outgoing)
        .map(|e| (e.weight(), &t.graph[petgraph::visit::EdgeRef::target(&e)]))
        .collect();
    v.sort_by(|a, b| a.1.id.cmp(&b.1.id));
    v
}

fn one_line(s: &str) -> String {
    s.replace('\n', "  ")
}

pub fn to_text(t: &Topology) -> String {
    let mut o = String::new();
    for c in t.nodes_sorted().into_iter().filter(|n| matches!(n.kind, NodeKind::Chassis { .. })) {
        let _ = writeln!(o, "{}", one_line(&c.label));
        for b in children(t, &c.id, |k| matches!(k, EdgeKind::PortOf)) {
            let _ = writeln!(o, "  bridge {}", one_line(&b.label));
            for i in children(t, &b.id, |k| matches!(k, EdgeKind::PortOf)) {
                let mut extra = vec![];
                for (k, to) in out_edges(t, &i.id) {
                    match k {
                        EdgeKind::PatchPeer => extra.push(format!("⇄ {}", to.id.rsplit(':').next().unwrap_or(""))),
                        EdgeKind::Tunnel {
                            tunnel_type,
                            local_ip,
                            remote_ip,
                        } => extra.push(format!(
                            "→ {} ({tunnel_type} {} → {remote_ip})",
                            one_line(&to.label),
                            local_ip.as_deref().unwrap_or("?")
                        )),
                        EdgeKind::Binding => extra.push(format!("↔ switch port {}", to.id.trim_start_matches("lsp:"))),
                        _ => {}
                    }
                }
                for p in children(t, &i.id, |k| matches!(k, EdgeKind::PodOf)) {
                    extra.push(format!("← {}", one_line(&p.label)));
                }
                let _ = writeln!(
                    o,
                    "    {}{}",
                    one_line(&i.label),
                    if extra.is_empty() {
                        String::new()
                    } else {
                        format!("  {}", extra.join("  "))
                    }
                );
            }
        }
    }
    for r in t.nodes_sorted().into_iter().filter(|n| matches!(n.kind, NodeKind::Router { .. })) {
        let _ = writeln!(o, "{}", one_line(&r.label));
        for p in children(t, &r.id, |k| matches!(k, EdgeKind::Member)) {
            let peers: Vec<String> = t
                .graph
                .neighbors_undirected(t.get(&p.id).expect("indexed"))
                .map(|n| &t.graph[n])
                .filter(|n| matches!(n.kind, NodeKind::SwitchPort { .. } | NodeKind::RouterPort { .. }))
                .map(|n| n.id.split_once(':').map_or(n.id.clone(), |(_, x)| x.to_string()))
                .collect();
            let _ = writeln!(
                o,
                "  port {}{}",
                one_line(&p.label),
                if peers.is_empty() {
                    String::new()
                } else {
                    format!("  ⇄ {}", peers.join(", "))
                }
            );
        }
        for n in children(t, &r.id, |k| matches!(k, EdgeKind::NatOn)) {
            let _ = writeln!(o, "  nat {}", one_line(&n.label));
        }
    }
    for s in t.nodes_sorted().into_iter().filter(|n| matches!(n.kind, NodeKind::Switch { .. })) {
        let _ = writeln!(o, "{}", one_line(&s.label));
        for p in children(t, &s.id, |k| matches!(k, EdgeKind::Member)) {
            let mut extra = vec![];
            for (k, to) in out_edges(t, &p.id) {
                match k {
                    EdgeKind::RouterPeer => extra.push(format!("⇄ router port {}", to.id.trim_start_matches("lrp:"))),
                    EdgeKind::Localnet { network } => extra.push(format!("→ {} via {network}", one_line(&to.label))),
                    EdgeKind::Binding => extra.push(format!("bound on {}", one_line(&to.label))),
                    _ => {}
                }
            }
            let _ = writeln!(
                o,
                "  port {}{}",
                one_line(&p.label),
                if extra.is_empty() {
                    String::new()
                } else {
                    format!("  {}", extra.join("  "))
                }
            );
        }
    }
    o
}
