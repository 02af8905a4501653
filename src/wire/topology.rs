//! `topology --format json` (the graph) and `--focus` (one pod's chain).

use crate::topology::{self as topo, focus};
use serde::{Deserialize, Serialize};

/// The graph: nodes and edges, in a stable order, with the database row behind each node.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Graph {
    pub schema: u32,
    /// `physical`, `logical` or `full`; `null` for a focus subgraph.
    pub view: Option<String>,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Node {
    /// Stable identifier, e.g. `bridge:worker-1:br-int`, `ls:worker-1`, `lsp:stor-worker-1`.
    pub id: String,
    #[serde(flatten)]
    pub kind: NodeKind,
    pub label: String,
    pub row: Option<Row>,
    /// The chassis (and bridge) whose cluster the node is drawn in.
    pub chassis: Option<String>,
    pub bridge: Option<String>,
    /// In a cluster's graph: the zone of a logical object.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub zone: Option<String>,
}

/// The database row a node came from.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Row {
    /// `ovs`, `nb` or `sb`.
    pub db: String,
    pub table: String,
    pub uuid: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
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
        /// `pod_veth`, `internal`, `patch`, `tunnel`, `system`, `other`.
        iface: String,
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
        /// `pod`, `router`, `localnet`, `remote`, `management`, `other`.
        lsp: String,
        lsp_type: String,
        addresses: Vec<String>,
    },
    Router {
        name: String,
        gateway: bool,
        /// The chassis a gateway router is pinned to. (Before schema 1 this was written as a
        /// second `chassis` key, which the node's own `chassis` overwrote.)
        gateway_chassis: Option<String>,
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
    /// Several pods (or veths, NAT rules, load balancers) drawn as one box.
    Group {
        what: String,
        count: usize,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Edge {
    #[serde(flatten)]
    pub kind: EdgeKind,
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EdgeKind {
    PortOf,
    PatchPeer,
    Tunnel {
        tunnel_type: String,
        local_ip: Option<String>,
        remote_ip: String,
    },
    Binding,
    RouterPeer,
    Localnet {
        network: String,
    },
    NatOn,
    LbOn,
    Member,
    PodOf,
    PinnedTo,
}

/// A unit-like enum's serialised name (`pod_veth`, `physical`, …).
fn name_of<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

impl From<&topo::Topology> for Graph {
    fn from(t: &topo::Topology) -> Graph {
        Graph {
            schema: super::VERSION,
            view: t.view.as_ref().map(name_of),
            nodes: t.nodes_sorted().into_iter().map(Node::from).collect(),
            edges: t
                .edges_sorted()
                .into_iter()
                .map(|(a, b, k)| Edge {
                    kind: k.into(),
                    from: a.to_string(),
                    to: b.to_string(),
                })
                .collect(),
        }
    }
}

impl From<&topo::Node> for Node {
    fn from(n: &topo::Node) -> Node {
        use topo::NodeKind as K;
        let kind = match &n.kind {
            K::Chassis {
                name,
                hostname,
                encap_ips,
                local,
            } => NodeKind::Chassis {
                name: name.clone(),
                hostname: hostname.clone(),
                encap_ips: encap_ips.clone(),
                local: *local,
            },
            K::Bridge { name, datapath_type } => NodeKind::Bridge {
                name: name.clone(),
                datapath_type: datapath_type.clone(),
            },
            K::Interface {
                name,
                iface,
                ovs_type,
                ofport,
                ifindex,
                iface_id,
            } => NodeKind::Interface {
                name: name.clone(),
                iface: name_of(iface),
                ovs_type: ovs_type.clone(),
                ofport: *ofport,
                ifindex: *ifindex,
                iface_id: iface_id.clone(),
            },
            K::Switch { name } => NodeKind::Switch { name: name.clone() },
            K::SwitchPort {
                name,
                lsp,
                lsp_type,
                addresses,
            } => NodeKind::SwitchPort {
                name: name.clone(),
                lsp: name_of(lsp),
                lsp_type: lsp_type.clone(),
                addresses: addresses.clone(),
            },
            K::Router { name, gateway, chassis } => NodeKind::Router {
                name: name.clone(),
                gateway: *gateway,
                gateway_chassis: chassis.clone(),
            },
            K::RouterPort { name, mac, networks } => NodeKind::RouterPort {
                name: name.clone(),
                mac: mac.clone(),
                networks: networks.clone(),
            },
            K::Nat {
                nat_type,
                external_ip,
                logical_ip,
            } => NodeKind::Nat {
                nat_type: nat_type.clone(),
                external_ip: external_ip.clone(),
                logical_ip: logical_ip.clone(),
            },
            K::LoadBalancer { name, vips } => NodeKind::LoadBalancer {
                name: name.clone(),
                vips: *vips,
            },
            K::Pod { namespace, name, ips } => NodeKind::Pod {
                namespace: namespace.clone(),
                name: name.clone(),
                ips: ips.clone(),
            },
            K::Group { what, count } => NodeKind::Group {
                what: what.clone(),
                count: *count,
            },
        };
        Node {
            id: n.id.clone(),
            kind,
            label: n.label.clone(),
            row: n.row.as_ref().map(|r| Row {
                db: name_of(&r.db),
                table: r.table.to_string(),
                uuid: r.uuid.to_string(),
            }),
            chassis: n.chassis.clone(),
            bridge: n.bridge.clone(),
            zone: n.zone.clone(),
        }
    }
}

impl From<&topo::EdgeKind> for EdgeKind {
    fn from(k: &topo::EdgeKind) -> EdgeKind {
        use topo::EdgeKind as K;
        match k {
            K::PortOf => EdgeKind::PortOf,
            K::PatchPeer => EdgeKind::PatchPeer,
            K::Tunnel {
                tunnel_type,
                local_ip,
                remote_ip,
            } => EdgeKind::Tunnel {
                tunnel_type: tunnel_type.clone(),
                local_ip: local_ip.clone(),
                remote_ip: remote_ip.clone(),
            },
            K::Binding => EdgeKind::Binding,
            K::RouterPeer => EdgeKind::RouterPeer,
            K::Localnet { network } => EdgeKind::Localnet { network: network.clone() },
            K::NatOn => EdgeKind::NatOn,
            K::LbOn => EdgeKind::LbOn,
            K::Member => EdgeKind::Member,
            K::PodOf => EdgeKind::PodOf,
            K::PinnedTo => EdgeKind::PinnedTo,
        }
    }
}

/// One pod's chain: pod → switch port → OVS interface → bridge → chassis → gateway router
/// and the NAT rules that cover the pod.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Chain {
    pub schema: u32,
    pub query: String,
    pub namespace: String,
    pub pod: String,
    pub port: Port,
    pub interface: Option<Interface>,
    pub chassis: Option<String>,
    pub encap_ips: Vec<String>,
    pub gateway_router: Option<String>,
    pub nat: Vec<Nat>,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Port {
    pub name: String,
    pub uuid: String,
    pub switch: Option<String>,
    pub mac: Option<String>,
    pub ips: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Interface {
    pub name: String,
    pub uuid: String,
    /// The host-side ifindex: the N in the pod's `eth0@ifN`.
    pub ifindex: Option<i64>,
    pub ofport: Option<i64>,
    pub attached_mac: Option<String>,
    pub bridge: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nat {
    pub uuid: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub external_ip: String,
    pub logical_ip: String,
    /// `exact` (the pod's own address) or `cidr` (a prefix that contains it).
    pub matched: String,
}

impl From<&focus::Chain> for Chain {
    fn from(c: &focus::Chain) -> Chain {
        Chain {
            schema: super::VERSION,
            query: c.query.clone(),
            namespace: c.namespace.clone(),
            pod: c.pod.clone(),
            port: Port {
                name: c.port.name.clone(),
                uuid: c.port.uuid.clone(),
                switch: c.port.switch.clone(),
                mac: c.port.mac.clone(),
                ips: c.port.ips.clone(),
            },
            interface: c.interface.as_ref().map(|i| Interface {
                name: i.name.clone(),
                uuid: i.uuid.clone(),
                ifindex: i.ifindex,
                ofport: i.ofport,
                attached_mac: i.attached_mac.clone(),
                bridge: i.bridge.clone(),
            }),
            chassis: c.chassis.clone(),
            encap_ips: c.encap_ips.clone(),
            gateway_router: c.gateway_router.clone(),
            nat: c
                .nat
                .iter()
                .map(|n| Nat {
                    uuid: n.uuid.clone(),
                    kind: n.kind.clone(),
                    external_ip: n.external_ip.clone(),
                    logical_ip: n.logical_ip.clone(),
                    matched: n.matched.to_string(),
                })
                .collect(),
            notes: c.notes.clone(),
        }
    }
}
