//! One graph of the physical and logical network, built from the three snapshots.
//!
//! Nodes carry the database row they came from, so every box in a drawing can be traced back
//! to `ovs-vsctl list`/`ovn-nbctl list` output. Keys are built from names (not uuids) where
//! names are unique, so renderings of the same topology are stable from run to run.

pub mod build;
pub mod cluster;
pub mod focus;

use crate::db::DbKind;
use petgraph::graph::{DiGraph, NodeIndex};
use serde::Serialize;
use std::collections::HashMap;
use uuid::Uuid;

/// Which part of the network to draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum View {
    /// Chassis, bridges, interfaces, patch ports, tunnels and the pods on them.
    Physical,
    /// Switches, routers, their ports and peers, NAT rules, load balancers, pods.
    Logical,
    /// Both, joined by bindings (OVS iface-id ↔ switch port ↔ chassis) and localnet ↔ bridge.
    Full,
}

impl View {
    pub fn physical(self) -> bool {
        matches!(self, View::Physical | View::Full)
    }
    pub fn logical(self) -> bool {
        matches!(self, View::Logical | View::Full)
    }
}

/// What an OVS interface is, from its type and evidence (ovn-reference §D.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IfaceKind {
    /// A veth whose `external_ids:iface-id` binds it to a logical port.
    PodVeth,
    /// An OVS internal port (the bridge's own, `ovn-k8s-mp0`).
    Internal,
    Patch,
    /// geneve, vxlan, stt, gre.
    Tunnel,
    /// A kernel device without a logical binding: the node's NIC or an underlay link.
    System,
    Other,
}

/// What a logical switch port is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LspKind {
    Pod,
    Router,
    Localnet,
    /// A port bound on another zone/chassis (interconnect transit ports).
    Remote,
    /// The node's management port (`k8s-<node>`).
    Management,
    Other,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    Chassis {
        name: String,
        hostname: String,
        encap_ips: Vec<String>,
        local: bool,
    },
    Bridge {
        name: String,
        datapath_type: String,
    },
    Interface {
        name: String,
        iface: IfaceKind,
        ovs_type: String,
        ofport: Option<i64>,
        ifindex: Option<i64>,
        iface_id: Option<String>,
    },
    Switch {
        name: String,
    },
    SwitchPort {
        name: String,
        lsp: LspKind,
        lsp_type: String,
        addresses: Vec<String>,
    },
    Router {
        name: String,
        gateway: bool,
        chassis: Option<String>,
    },
    RouterPort {
        name: String,
        mac: String,
        networks: Vec<String>,
    },
    Nat {
        nat_type: String,
        external_ip: String,
        logical_ip: String,
    },
    LoadBalancer {
        name: String,
        vips: usize,
    },
    Pod {
        namespace: String,
        name: String,
        ips: Vec<String>,
    },
    /// Several pods (or pod veths) drawn as one box, beyond the collapse threshold.
    Group {
        what: String,
        count: usize,
    },
}

/// The database row a node came from.
#[derive(Debug, Clone, PartialEq)]
pub struct RowRef {
    pub db: DbKind,
    pub table: &'static str,
    pub uuid: Uuid,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Stable identifier, e.g. `bridge:worker-1:br-int`, `ls:worker-1`, `lsp:stor-worker-1`.
    pub id: String,
    pub kind: NodeKind,
    pub label: String,
    pub row: Option<RowRef>,
    /// The chassis (and bridge) whose cluster the node is drawn in.
    pub chassis: Option<String>,
    pub bridge: Option<String>,
    /// In a cluster's graph: the zone a logical object belongs to (`None`: one zone, or an
    /// object of the whole cluster such as the transit switch).
    pub zone: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum EdgeKind {
    /// Interface (or bridge) belongs to a bridge (or chassis).
    PortOf,
    /// Patch port ↔ its `options:peer`.
    PatchPeer,
    /// Tunnel interface → the remote chassis it reaches.
    Tunnel {
        tunnel_type: String,
        local_ip: Option<String>,
        remote_ip: String,
    },
    /// OVS interface ↔ logical switch port (`iface-id`), or switch port → chassis (Port_Binding).
    Binding,
    /// Router-type switch port → router port (`options:router-port`), or router port ↔ `peer`.
    RouterPeer,
    /// Localnet switch port → the bridge its `network_name` maps to (`ovn-bridge-mappings`).
    Localnet { network: String },
    /// NAT rule → its router.
    NatOn,
    /// Load balancer → switch or router.
    LbOn,
    /// Switch port → switch, router port → router.
    Member,
    /// Pod → its switch port or its veth.
    PodOf,
    /// Gateway router → the chassis it is pinned to (`options:chassis`).
    PinnedTo,
}

impl EdgeKind {
    pub fn name(&self) -> &'static str {
        match self {
            EdgeKind::PortOf => "port_of",
            EdgeKind::PatchPeer => "patch_peer",
            EdgeKind::Tunnel { .. } => "tunnel",
            EdgeKind::Binding => "binding",
            EdgeKind::RouterPeer => "router_peer",
            EdgeKind::Localnet { .. } => "localnet",
            EdgeKind::NatOn => "nat_on",
            EdgeKind::LbOn => "lb_on",
            EdgeKind::Member => "member",
            EdgeKind::PodOf => "pod_of",
            EdgeKind::PinnedTo => "pinned_to",
        }
    }
}

/// The graph plus an index by node id.
#[derive(Debug, Default)]
pub struct Topology {
    pub graph: DiGraph<Node, EdgeKind>,
    pub index: HashMap<String, NodeIndex>,
    pub view: Option<View>,
}

impl Topology {
    pub fn add(&mut self, node: Node) -> NodeIndex {
        if let Some(i) = self.index.get(&node.id) {
            return *i;
        }
        let id = node.id.clone();
        let i = self.graph.add_node(node);
        self.index.insert(id, i);
        i
    }

    pub fn get(&self, id: &str) -> Option<NodeIndex> {
        self.index.get(id).copied()
    }

    pub fn link(&mut self, from: &str, to: &str, kind: EdgeKind) -> bool {
        match (self.get(from), self.get(to)) {
            (Some(a), Some(b)) => {
                self.graph.add_edge(a, b, kind);
                true
            }
            _ => false,
        }
    }

    pub fn node(&self, id: &str) -> Option<&Node> {
        self.get(id).map(|i| &self.graph[i])
    }

    /// Nodes in a stable order (by id).
    pub fn nodes_sorted(&self) -> Vec<&Node> {
        let mut v: Vec<&Node> = self.graph.node_weights().collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    }

    /// Edges as (from id, to id, kind) in a stable order.
    pub fn edges_sorted(&self) -> Vec<(&str, &str, &EdgeKind)> {
        let mut v: Vec<(&str, &str, &EdgeKind)> = self
            .graph
            .edge_indices()
            .map(|e| {
                let (a, b) = self.graph.edge_endpoints(e).expect("edge exists");
                (self.graph[a].id.as_str(), self.graph[b].id.as_str(), &self.graph[e])
            })
            .collect();
        v.sort_by(|a, b| (a.0, a.1, a.2.name()).cmp(&(b.0, b.1, b.2.name())));
        v
    }

    /// The nodes with these ids and the edges among them.
    pub fn subgraph(&self, ids: &[String]) -> Topology {
        let mut t = Topology {
            view: self.view,
            ..Default::default()
        };
        for id in ids {
            if let Some(n) = self.node(id) {
                t.add(n.clone());
            }
        }
        for (a, b, k) in self.edges_sorted() {
            t.link(a, b, k.clone());
        }
        t
    }
}
