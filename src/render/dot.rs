//! DOT for a [`Topology`]: a cluster per chassis and per bridge, node shapes by kind, edge
//! styles by kind, and a legend of the edge kinds that appear. Written directly (petgraph's
//! `Dot` has no clusters); `to_svg` pipes it through graphviz's `dot`.

use crate::topology::{EdgeKind, IfaceKind, LspKind, Node, NodeKind, Topology, View};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::io::Write as _;
use std::process::{Command, Stdio};

fn q(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n"))
}

fn node_style(n: &Node) -> &'static str {
    match &n.kind {
        NodeKind::Chassis { local: true, .. } => r##"shape=box3d, style=filled, fillcolor="#e8e8e8""##,
        NodeKind::Chassis { .. } => r##"shape=box3d, style="filled,dashed", fillcolor="#f4f4f4""##,
        NodeKind::Bridge { .. } => r##"shape=component, style=filled, fillcolor="#dce9f9""##,
        NodeKind::Interface { iface, .. } => match iface {
            IfaceKind::PodVeth => r##"shape=ellipse, style=filled, fillcolor="#e3f4e1""##,
            IfaceKind::Patch => r##"shape=ellipse, style=filled, fillcolor="#d6e4ff""##,
            IfaceKind::Tunnel => r##"shape=ellipse, style=filled, fillcolor="#eadcf8""##,
            IfaceKind::System => r##"shape=ellipse, style=filled, fillcolor="#ffe9c7""##,
            _ => r##"shape=ellipse, style=filled, fillcolor="#f0f0f0""##,
        },
        NodeKind::Switch { .. } => r##"shape=box, style="rounded,filled", fillcolor="#cfe8ff", penwidth=1.5"##,
        NodeKind::SwitchPort { .. } => r##"shape=ellipse, style=filled, fillcolor="#ffffff", fontsize=9"##,
        NodeKind::Router { gateway: true, .. } => r##"shape=box, style=filled, fillcolor="#ffc98f", peripheries=2"##,
        NodeKind::Router { .. } => r##"shape=box, style=filled, fillcolor="#ffd8a8""##,
        NodeKind::RouterPort { .. } => r##"shape=ellipse, style=filled, fillcolor="#fff1e0", fontsize=9"##,
        NodeKind::Nat { .. } => r##"shape=note, style=filled, fillcolor="#fff7c2", fontsize=9"##,
        NodeKind::LoadBalancer { .. } => r##"shape=cylinder, style=filled, fillcolor="#f2f2f2", fontsize=9"##,
        NodeKind::Pod { .. } => r##"shape=box, style="rounded,filled", fillcolor="#c8f0c8""##,
        NodeKind::Group { .. } => r##"shape=folder, style=filled, fillcolor="#eeeeee""##,
    }
}

/// (attributes, legend sample colour, legend text)
fn edge_style(e: &EdgeKind) -> (String, &'static str, &'static str) {
    match e {
        EdgeKind::PortOf => (
            "color=gray60, arrowhead=none".into(),
            "gray60",
            "port of bridge / bridge of chassis",
        ),
        EdgeKind::PatchPeer => (
            r##"style=dashed, color="#1f5fbf", dir=both, penwidth=1.5"##.into(),
            "#1f5fbf",
            "patch port peers (dashed)",
        ),
        EdgeKind::Tunnel {
            tunnel_type,
            local_ip,
            remote_ip,
        } => (
            format!(
                r##"style=bold, color="#7b3fbf", penwidth=2, label={}, fontcolor="#7b3fbf""##,
                q(&format!("{tunnel_type}\n{} → {remote_ip}", local_ip.as_deref().unwrap_or("?")))
            ),
            "#7b3fbf",
            "tunnel to a remote chassis (bold)",
        ),
        EdgeKind::Binding => (
            r##"style=dotted, color="#2e7d32", dir=none, penwidth=1.5"##.into(),
            "#2e7d32",
            "binding: iface-id / Port_Binding (dotted)",
        ),
        EdgeKind::RouterPeer => ("color=black, dir=none, penwidth=2".into(), "black", "router port peer (thick)"),
        EdgeKind::Localnet { network } => (
            format!(
                r##"style=dashed, color="#8d5524", penwidth=1.5, label={}, fontcolor="#8d5524""##,
                q(&format!("localnet {network}"))
            ),
            "#8d5524",
            "localnet port → bridge (ovn-bridge-mappings)",
        ),
        EdgeKind::NatOn => (
            r##"style=dotted, color="#b8860b", arrowhead=none"##.into(),
            "#b8860b",
            "NAT rule of router (dotted)",
        ),
        EdgeKind::LbOn => (
            "style=dotted, color=gray50, arrowhead=none".into(),
            "gray50",
            "load balancer of switch/router",
        ),
        EdgeKind::Member => ("color=gray40, arrowhead=none".into(), "gray40", "port of switch/router"),
        EdgeKind::PodOf => (r##"color="#2e7d32", arrowhead=none"##.into(), "#2e7d32", "pod on port/veth"),
        EdgeKind::PinnedTo => (
            r##"style=dashed, color="#b35c00", label="options:chassis", fontcolor="#b35c00""##.into(),
            "#b35c00",
            "gateway router pinned to chassis (dashed)",
        ),
    }
}

fn cluster_id(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect()
}

/// The DOT text of a topology.
pub fn to_dot(t: &Topology, title: &str) -> String {
    let mut o = String::new();
    // Logical drawings read top-down (routers above switches above pods); physical and full
    // ones left to right (chassis → bridges → interfaces → pods → logical ports).
    // A logical drawing with many switches under one router would be one very wide row, so
    // beyond a handful it is laid out left to right as well.
    let switches = t.graph.node_weights().filter(|n| matches!(n.kind, NodeKind::Switch { .. })).count();
    let rankdir = match t.view {
        Some(View::Logical) if switches <= 6 => "TB",
        _ => "LR",
    };
    let _ = writeln!(o, "digraph ovnscope {{");
    let _ = writeln!(o, "  graph [label={}, labelloc=t, fontsize=16, fontname=\"Helvetica\", rankdir={rankdir}, compound=true, nodesep=0.25, ranksep=0.55, newrank=true];", q(title));
    let _ = writeln!(o, "  node [fontname=\"Helvetica\", fontsize=10, margin=\"0.08,0.03\"];");
    let _ = writeln!(o, "  edge [fontname=\"Helvetica\", fontsize=8];");
    // chassis → bridge → nodes; nodes without a chassis are logical.
    let mut by_chassis: BTreeMap<&str, BTreeMap<Option<&str>, Vec<&Node>>> = BTreeMap::new();
    let mut logical = vec![];
    for n in t.nodes_sorted() {
        match &n.chassis {
            Some(c) => by_chassis
                .entry(c.as_str())
                .or_default()
                .entry(n.bridge.as_deref())
                .or_default()
                .push(n),
            None => logical.push(n),
        }
    }
    let line = |o: &mut String, indent: &str, n: &Node| {
        let _ = writeln!(o, "{indent}{} [label={}, {}];", q(&n.id), q(&n.label), node_style(n));
    };
    for (c, bridges) in &by_chassis {
        // A remote chassis with nothing but itself needs no frame around it.
        if bridges.len() == 1 && bridges.get(&None).is_some_and(|n| n.len() == 1) {
            line(&mut o, "  ", bridges[&None][0]);
            continue;
        }
        let _ = writeln!(o, "  subgraph cluster_chassis_{} {{", cluster_id(c));
        let _ = writeln!(
            o,
            "    label={}; style=rounded; color=gray40; fontsize=12;",
            q(&format!("chassis {c}"))
        );
        for (b, nodes) in bridges {
            match b {
                None => nodes.iter().for_each(|n| line(&mut o, "    ", n)),
                Some(b) => {
                    let _ = writeln!(o, "    subgraph cluster_bridge_{}_{} {{", cluster_id(c), cluster_id(b));
                    let _ = writeln!(
                        o,
                        "      label={}; style=filled; fillcolor=\"#f5f9ff\"; color=\"#8aaee0\"; fontsize=11;",
                        q(&format!("bridge {b}"))
                    );
                    nodes.iter().for_each(|n| line(&mut o, "      ", n));
                    let _ = writeln!(o, "    }}");
                }
            }
        }
        let _ = writeln!(o, "  }}");
    }
    if !logical.is_empty() {
        let wrap = t.view == Some(View::Full);
        if wrap {
            let _ = writeln!(o, "  subgraph cluster_logical {{");
            let _ = writeln!(
                o,
                "    label=\"logical network (OVN Northbound)\"; style=rounded; color=\"#d08c30\"; fontsize=12;"
            );
        }
        let pad = if wrap { "    " } else { "  " };
        let mut by_zone: BTreeMap<Option<&str>, Vec<&Node>> = BTreeMap::new();
        for n in logical {
            by_zone.entry(n.zone.as_deref()).or_default().push(n);
        }
        for (zone, nodes) in by_zone {
            match zone {
                None => nodes.iter().for_each(|n| line(&mut o, pad, n)),
                Some(z) => {
                    let _ = writeln!(o, "{pad}subgraph cluster_zone_{} {{", cluster_id(z));
                    let _ = writeln!(
                        o,
                        "{pad}  label={}; style=dashed; color=\"#6a9a3a\"; fontsize=12;",
                        q(&format!("zone {z}"))
                    );
                    let inner = format!("{pad}  ");
                    nodes.iter().for_each(|n| line(&mut o, &inner, n));
                    let _ = writeln!(o, "{pad}}}");
                }
            }
        }
        if wrap {
            let _ = writeln!(o, "  }}");
        }
    }
    let mut legend: BTreeMap<&str, (&str, &str)> = BTreeMap::new();
    for (a, b, k) in t.edges_sorted() {
        let (attrs, colour, text) = edge_style(k);
        legend.insert(k.name(), (colour, text));
        // Draw containment top-down / left-to-right: owner before member, router before the
        // switch it feeds. The graph keeps member → owner; only the drawing is reversed.
        let reverse = match k {
            EdgeKind::PortOf | EdgeKind::NatOn | EdgeKind::LbOn | EdgeKind::PodOf | EdgeKind::RouterPeer => true,
            EdgeKind::Member => !matches!(t.node(a).map(|n| &n.kind), Some(NodeKind::SwitchPort { lsp: LspKind::Router, .. })),
            _ => false,
        };
        let (from, to, attrs) = if reverse {
            (b, a, format!("{attrs}, dir=none"))
        } else {
            (a, b, attrs)
        };
        let _ = writeln!(o, "  {} -> {} [{attrs}];", q(from), q(to));
    }
    if !legend.is_empty() {
        let _ = writeln!(o, "  subgraph cluster_legend {{");
        let _ = writeln!(o, "    label=\"edges\"; style=rounded; color=gray70; fontsize=10;");
        let mut rows = String::new();
        for (colour, text) in legend.values() {
            let _ = write!(
                rows,
                "<TR><TD><FONT COLOR=\"{colour}\"><B>━━━</B></FONT></TD><TD ALIGN=\"LEFT\">{text}</TD></TR>"
            );
        }
        let _ = writeln!(
            o,
            "    legend [shape=plaintext, fontsize=9, label=<<TABLE BORDER=\"0\" CELLSPACING=\"2\">{rows}</TABLE>>];"
        );
        let _ = writeln!(o, "  }}");
    }
    let _ = writeln!(o, "}}");
    o
}

/// graphviz's `dot` is not installed or failed.
#[derive(Debug, thiserror::Error)]
pub enum SvgError {
    #[error("SVG needs graphviz's `dot` program, which is not installed ({0}); install it (Debian/Fedora: package graphviz) or use --format dot")]
    NoDot(std::io::Error),
    #[error("`dot` failed: {0}")]
    Failed(String),
}

/// Renders DOT to SVG (or another graphviz format such as png) with the `dot` program.
pub fn render(dot: &str, format: &str) -> Result<Vec<u8>, SvgError> {
    let mut child = Command::new("dot")
        .arg(format!("-T{format}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(SvgError::NoDot)?;
    let mut stdin = child.stdin.take().expect("piped");
    let text = dot.to_string();
    // Write from another thread so a large graph cannot deadlock on full pipes.
    let writer = std::thread::spawn(move || stdin.write_all(text.as_bytes()));
    let out = child.wait_with_output().map_err(|e| SvgError::Failed(e.to_string()))?;
    let _ = writer.join();
    if !out.status.success() {
        return Err(SvgError::Failed(String::from_utf8_lossy(&out.stderr).into_owned()));
    }
    Ok(out.stdout)
}
