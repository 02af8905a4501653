//! Building the [`Topology`] from the typed views.

use super::*;
use crate::db::nb::{NbDb, SwitchPort};
use crate::db::ovs::{Interface, OvsDb};
use crate::db::sb::SbDb;
use std::collections::{BTreeMap, BTreeSet};

/// How to build.
#[derive(Debug, Clone)]
pub struct Options {
    pub view: View,
    /// Draw every pod (and veth, NAT rule, load balancer) even beyond the threshold.
    pub expand: bool,
    /// More than this many pods on one switch (veths on one bridge, NAT rules on one router,
    /// load balancers) are drawn as one box with a count.
    pub threshold: usize,
    /// Keep only this node's logical objects (its switch, `GR_<node>`, `ext_<node>`) besides
    /// the shared ones.
    pub node: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            view: View::Full,
            expand: false,
            threshold: 8,
            node: None,
        }
    }
}

/// The kind of an OVS interface.
pub fn iface_kind(i: &Interface) -> IfaceKind {
    match i.kind.as_str() {
        "patch" => IfaceKind::Patch,
        "geneve" | "vxlan" | "stt" | "gre" => IfaceKind::Tunnel,
        "internal" => IfaceKind::Internal,
        "" | "system" if i.iface_id().is_some() => IfaceKind::PodVeth,
        "" | "system" => IfaceKind::System,
        _ => IfaceKind::Other,
    }
}

/// The kind of a logical switch port, from its type and OVN-Kubernetes naming.
pub fn lsp_kind(p: &SwitchPort) -> LspKind {
    match p.kind.as_str() {
        "router" => LspKind::Router,
        "localnet" => LspKind::Localnet,
        "remote" => LspKind::Remote,
        "" if p.name.starts_with("k8s-") => LspKind::Management,
        "" if p.external_ids.get("pod").is_some_and(|v| v == "true") || p.external_ids.contains_key("namespace") => LspKind::Pod,
        // Non-OVN-Kubernetes CMSs (neutron) mark VIFs with a device owner instead.
        "" if p.parent_name.is_some() || p.addresses.iter().any(|a| a.split_whitespace().count() > 1) => LspKind::Pod,
        _ => LspKind::Other,
    }
}

/// (namespace, pod) of a pod's switch port: `external_ids:namespace` and the `<ns>_<pod>` name.
pub fn pod_identity(p: &SwitchPort) -> (String, String) {
    match p.external_ids.get("namespace") {
        Some(ns) => (ns.clone(), p.name.strip_prefix(&format!("{ns}_")).unwrap_or(&p.name).to_string()),
        None => match p.name.split_once('_') {
            Some((ns, pod)) => (ns.to_string(), pod.to_string()),
            None => (String::new(), p.name.clone()),
        },
    }
}

/// The IP addresses in a port's `addresses` ("MAC IP IP…").
pub fn port_ips(p: &SwitchPort) -> Vec<String> {
    p.addresses
        .iter()
        .flat_map(|a| a.split_whitespace().skip(1).map(str::to_string))
        .collect()
}

fn pod_label(ns: &str, pod: &str, ips: &[String]) -> String {
    let who = if ns.is_empty() { pod.to_string() } else { format!("{ns}/{pod}") };
    format!("pod {who}\n{}", ips.join(" "))
}

fn row(db: DbKind, table: &'static str, uuid: Uuid) -> Option<RowRef> {
    Some(RowRef { db, table, uuid })
}

fn plain(id: String, kind: NodeKind, label: String, r: Option<RowRef>) -> Node {
    Node {
        id,
        kind,
        label,
        row: r,
        chassis: None,
        bridge: None,
        zone: None,
    }
}

/// The local chassis name of an Open_vSwitch database.
pub fn local_chassis(ovs: &OvsDb) -> String {
    let ext = ovs.system.as_ref().map(|s| &s.external_ids);
    ext.and_then(|e| e.get("system-id").or_else(|| e.get("hostname")))
        .cloned()
        .unwrap_or_else(|| "local".into())
}

/// Builds the graph. Any of the three views may be missing; what is there is drawn.
pub fn build(ovs: Option<&OvsDb>, nb: Option<&NbDb>, sb: Option<&SbDb>, o: &Options) -> Topology {
    let mut t = Topology {
        view: Some(o.view),
        ..Default::default()
    };
    let local = ovs.map(local_chassis);
    // Chassis: every SB chassis, plus the OVS database's own.
    let mut encap_owner: BTreeMap<String, String> = BTreeMap::new();
    if let Some(sb) = sb {
        for c in sb.chassis_sorted() {
            let ips: Vec<String> = sb.encaps_of(c).iter().map(|e| e.ip.clone()).collect();
            for ip in &ips {
                encap_owner.insert(ip.clone(), c.name.clone());
            }
            let is_local = local.as_deref() == Some(c.name.as_str());
            let label = format!("chassis {}\n{}", c.name, ips.join(", "));
            let mut n = plain(
                format!("chassis:{}", c.name),
                NodeKind::Chassis {
                    name: c.name.clone(),
                    hostname: c.hostname.clone(),
                    encap_ips: ips,
                    local: is_local,
                },
                label,
                row(DbKind::Sb, "Chassis", c.uuid),
            );
            n.chassis = Some(c.name.clone());
            t.add(n);
        }
    }
    if let (Some(ovs), Some(local)) = (ovs, &local) {
        if t.get(&format!("chassis:{local}")).is_none() {
            let ext = ovs.system.as_ref().map(|s| s.external_ids.clone()).unwrap_or_default();
            let ips: Vec<String> = ext
                .get("ovn-encap-ip")
                .map(|i| i.split(',').map(str::to_string).collect())
                .unwrap_or_default();
            let mut n = plain(
                format!("chassis:{local}"),
                NodeKind::Chassis {
                    name: local.clone(),
                    hostname: ext.get("hostname").cloned().unwrap_or_default(),
                    encap_ips: ips.clone(),
                    local: true,
                },
                format!("chassis {local}\n{}", ips.join(", ")),
                ovs.system.as_ref().map(|s| RowRef {
                    db: DbKind::Ovs,
                    table: "Open_vSwitch",
                    uuid: s.uuid,
                }),
            );
            n.chassis = Some(local.clone());
            t.add(n);
        }
    }
    if o.view.physical() {
        if let (Some(ovs), Some(local)) = (ovs, &local) {
            physical(&mut t, ovs, nb, local, &encap_owner, o);
        }
    }
    if o.view.logical() {
        if let Some(nb) = nb {
            logical(&mut t, nb, sb, o);
        }
    }
    if o.view == View::Full {
        joins(&mut t, ovs, nb, sb, local.as_deref());
    }
    // Chassis nodes that nothing refers to are noise in a logical drawing.
    if o.view == View::Logical {
        let lonely: Vec<NodeIndex> = t
            .graph
            .node_indices()
            .filter(|i| matches!(t.graph[*i].kind, NodeKind::Chassis { .. }) && t.graph.neighbors_undirected(*i).next().is_none())
            .collect();
        for i in lonely.into_iter().rev() {
            let id = t.graph[i].id.clone();
            t.graph.remove_node(i);
            t.index.remove(&id);
            // remove_node swaps the last node into i: re-index it.
            if let Some(n) = t.graph.node_weight(i) {
                t.index.insert(n.id.clone(), i);
            }
        }
    }
    t
}

fn physical(t: &mut Topology, ovs: &OvsDb, nb: Option<&NbDb>, local: &str, encap_owner: &BTreeMap<String, String>, o: &Options) {
    let chassis_id = format!("chassis:{local}");
    let local_encap = ovs.system.as_ref().and_then(|s| s.external_ids.get("ovn-encap-ip")).cloned();
    let lsps: BTreeMap<&str, &SwitchPort> = nb
        .map(|nb| nb.switch_ports.values().map(|p| (p.name.as_str(), p)).collect())
        .unwrap_or_default();
    let mut peers = vec![];
    let mut tunnels = vec![];
    for b in ovs.bridges_sorted() {
        let bid = format!("bridge:{local}:{}", b.name);
        let mut n = plain(
            bid.clone(),
            NodeKind::Bridge {
                name: b.name.clone(),
                datapath_type: b.datapath_type.clone(),
            },
            format!(
                "{}\n{}",
                b.name,
                if b.datapath_type.is_empty() { "system" } else { &b.datapath_type }
            ),
            row(DbKind::Ovs, "Bridge", b.uuid),
        );
        n.chassis = Some(local.into());
        n.bridge = Some(b.name.clone());
        t.add(n);
        t.link(&bid, &chassis_id, EdgeKind::PortOf);
        let ifaces: Vec<&Interface> = ovs.ports_of(b).into_iter().flat_map(|p| ovs.interfaces_of(p)).collect();
        let veths = ifaces.iter().filter(|i| iface_kind(i) == IfaceKind::PodVeth).count();
        let collapse = !o.expand && veths > o.threshold;
        if collapse {
            let gid = format!("group:{local}:{}:veths", b.name);
            let mut g = plain(
                gid.clone(),
                NodeKind::Group {
                    what: "pod veths".into(),
                    count: veths,
                },
                format!("{veths} pod veths\n(--expand to list)"),
                None,
            );
            g.chassis = Some(local.into());
            g.bridge = Some(b.name.clone());
            t.add(g);
            t.link(&gid, &bid, EdgeKind::PortOf);
        }
        for i in ifaces {
            let kind = iface_kind(i);
            if collapse && kind == IfaceKind::PodVeth {
                continue;
            }
            let iid = format!("iface:{local}:{}", i.name);
            let mut label = i.name.clone();
            match kind {
                IfaceKind::Tunnel => label += &format!("\n{}", i.kind),
                IfaceKind::Patch => label += "\npatch",
                IfaceKind::Internal => label += "\ninternal",
                IfaceKind::System => label += "\nNIC / link",
                _ => {}
            }
            if let Some(p) = i.ofport.filter(|p| *p > 0) {
                label += &format!(" ofport {p}");
            }
            let mut n = plain(
                iid.clone(),
                NodeKind::Interface {
                    name: i.name.clone(),
                    iface: kind.clone(),
                    ovs_type: i.kind.clone(),
                    ofport: i.ofport,
                    ifindex: i.ifindex,
                    iface_id: i.iface_id().map(str::to_string),
                },
                label,
                row(DbKind::Ovs, "Interface", i.uuid),
            );
            n.chassis = Some(local.into());
            n.bridge = Some(b.name.clone());
            t.add(n);
            t.link(&iid, &bid, EdgeKind::PortOf);
            if let Some(peer) = i.options.get("peer") {
                peers.push((iid.clone(), format!("iface:{local}:{peer}")));
            }
            if kind == IfaceKind::Tunnel {
                if let Some(remote) = i.options.get("remote_ip") {
                    let local_ip = i.options.get("local_ip").cloned().or_else(|| local_encap.clone());
                    tunnels.push((iid.clone(), i.kind.clone(), local_ip, remote.clone()));
                }
            }
            if kind == IfaceKind::PodVeth {
                let id = i.iface_id().unwrap_or_default();
                let (ns, pod, ips) = match lsps.get(id) {
                    Some(p) => {
                        let (ns, pod) = pod_identity(p);
                        (ns, pod, port_ips(p))
                    }
                    None => match id.split_once('_') {
                        Some((ns, pod)) => (ns.to_string(), pod.to_string(), vec![]),
                        None => (String::new(), id.to_string(), vec![]),
                    },
                };
                let pid = format!("pod:{ns}/{pod}");
                let mut n = plain(
                    pid.clone(),
                    NodeKind::Pod {
                        namespace: ns.clone(),
                        name: pod.clone(),
                        ips: ips.clone(),
                    },
                    pod_label(&ns, &pod, &ips),
                    lsps.get(id).map(|p| RowRef {
                        db: DbKind::Nb,
                        table: "Logical_Switch_Port",
                        uuid: p.uuid,
                    }),
                );
                n.chassis = Some(local.into());
                t.add(n);
                t.link(&pid, &iid, EdgeKind::PodOf);
            }
        }
    }
    for (a, b) in peers {
        if a < b || t.get(&b).is_none() {
            t.link(&a, &b, EdgeKind::PatchPeer);
        }
    }
    for (iid, tunnel_type, local_ip, remote_ip) in tunnels {
        let target = match encap_owner.get(&remote_ip) {
            Some(c) => format!("chassis:{c}"),
            None => {
                let id = format!("chassis:?{remote_ip}");
                let mut n = plain(
                    id.clone(),
                    NodeKind::Chassis {
                        name: String::new(),
                        hostname: String::new(),
                        encap_ips: vec![remote_ip.clone()],
                        local: false,
                    },
                    format!("unknown chassis\n{remote_ip}"),
                    None,
                );
                n.chassis = Some(format!("?{remote_ip}"));
                t.add(n);
                id
            }
        };
        t.link(
            &iid,
            &target,
            EdgeKind::Tunnel {
                tunnel_type,
                local_ip,
                remote_ip,
            },
        );
    }
}

/// Names of other nodes' own objects, left out when drawing one node.
fn foreign(name: &str, me: &str, chassis: &BTreeSet<String>) -> bool {
    chassis
        .iter()
        .filter(|c| c.as_str() != me)
        .any(|c| name == c || name == format!("GR_{c}") || name == format!("ext_{c}"))
}

fn logical(t: &mut Topology, nb: &NbDb, sb: Option<&SbDb>, o: &Options) {
    let chassis: BTreeSet<String> = sb.map(|s| s.chassis.values().map(|c| c.name.clone()).collect()).unwrap_or_default();
    let skip = |name: &str| o.node.as_deref().is_some_and(|me| foreign(name, me, &chassis));
    let mut router_ports = vec![];
    for s in nb.switches_sorted() {
        if skip(&s.name) {
            continue;
        }
        let sid = format!("ls:{}", s.name);
        // OVN-Kubernetes puts the subnet in other_config; neutron names the network in external_ids.
        let extra: String = [s.other_config.get("subnet"), s.external_ids.get("neutron:network_name")]
            .into_iter()
            .flatten()
            .map(|x| format!("\n{x}"))
            .collect();
        t.add(plain(
            sid.clone(),
            NodeKind::Switch { name: s.name.clone() },
            format!("switch {}{extra}", s.name),
            row(DbKind::Nb, "Logical_Switch", s.uuid),
        ));
        let ports = nb.ports_of(s);
        let pods = ports.iter().filter(|p| lsp_kind(p) == LspKind::Pod).count();
        let collapse = !o.expand && pods > o.threshold;
        if collapse {
            let gid = format!("group:ls:{}:pods", s.name);
            t.add(plain(
                gid.clone(),
                NodeKind::Group {
                    what: "pods".into(),
                    count: pods,
                },
                format!("{pods} pods\n(--expand to list)"),
                None,
            ));
            t.link(&gid, &sid, EdgeKind::Member);
        }
        for p in ports {
            let kind = lsp_kind(p);
            if collapse && kind == LspKind::Pod {
                continue;
            }
            let pid = format!("lsp:{}", p.name);
            let ips = port_ips(p);
            let label = match kind {
                LspKind::Pod => format!("{}\n{}", p.name, ips.join(" ")),
                LspKind::Localnet => format!(
                    "{}\nlocalnet {}",
                    p.name,
                    p.options.get("network_name").cloned().unwrap_or_default()
                ),
                _ if !p.kind.is_empty() => format!("{}\n{}", p.name, p.kind),
                _ => p.name.clone(),
            };
            t.add(plain(
                pid.clone(),
                NodeKind::SwitchPort {
                    name: p.name.clone(),
                    lsp: kind.clone(),
                    lsp_type: p.kind.clone(),
                    addresses: p.addresses.clone(),
                },
                label,
                row(DbKind::Nb, "Logical_Switch_Port", p.uuid),
            ));
            t.link(&pid, &sid, EdgeKind::Member);
            if let Some(rp) = p.options.get("router-port").filter(|_| kind == LspKind::Router) {
                router_ports.push((pid.clone(), format!("lrp:{rp}")));
            }
            if kind == LspKind::Pod {
                let (ns, pod) = pod_identity(p);
                let podid = format!("pod:{ns}/{pod}");
                t.add(plain(
                    podid.clone(),
                    NodeKind::Pod {
                        namespace: ns.clone(),
                        name: pod.clone(),
                        ips: ips.clone(),
                    },
                    pod_label(&ns, &pod, &ips),
                    row(DbKind::Nb, "Logical_Switch_Port", p.uuid),
                ));
                t.link(&podid, &pid, EdgeKind::PodOf);
            }
        }
        lbs(t, nb, &s.load_balancers, &sid, o);
    }
    let mut lrp_peers = vec![];
    for r in nb.routers_sorted() {
        if skip(&r.name) {
            continue;
        }
        let rid = format!("lr:{}", r.name);
        let chassis = r.gateway_chassis().map(str::to_string);
        let label = match &chassis {
            Some(c) => format!("gateway router {}\non {c}", r.name),
            None => format!("router {}", r.name),
        };
        t.add(plain(
            rid.clone(),
            NodeKind::Router {
                name: r.name.clone(),
                gateway: chassis.is_some(),
                chassis,
            },
            label,
            row(DbKind::Nb, "Logical_Router", r.uuid),
        ));
        for p in nb.router_ports_of(r) {
            let pid = format!("lrp:{}", p.name);
            t.add(plain(
                pid.clone(),
                NodeKind::RouterPort {
                    name: p.name.clone(),
                    mac: p.mac.clone(),
                    networks: p.networks.clone(),
                },
                format!("{}\n{}", p.name, p.networks.join(" ")),
                row(DbKind::Nb, "Logical_Router_Port", p.uuid),
            ));
            t.link(&pid, &rid, EdgeKind::Member);
            if let Some(peer) = &p.peer {
                lrp_peers.push((pid.clone(), format!("lrp:{peer}")));
            }
        }
        let nats = nb.nats_of(r);
        if !o.expand && nats.len() > o.threshold {
            let gid = format!("group:lr:{}:nat", r.name);
            let kinds: BTreeMap<&str, usize> = nats.iter().fold(BTreeMap::new(), |mut m, n| {
                *m.entry(n.kind.as_str()).or_default() += 1;
                m
            });
            let summary: Vec<String> = kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
            t.add(plain(
                gid.clone(),
                NodeKind::Group {
                    what: "NAT rules".into(),
                    count: nats.len(),
                },
                format!("{} NAT rules\n{}", nats.len(), summary.join(", ")),
                None,
            ));
            t.link(&gid, &rid, EdgeKind::NatOn);
        } else {
            for n in nats {
                let nid = format!("nat:{}:{}:{}:{}", r.name, n.kind, n.external_ip, n.logical_ip);
                let arrow = match n.kind.as_str() {
                    "dnat" => format!("{} → {}", n.external_ip, n.logical_ip),
                    "dnat_and_snat" => format!("{} ↔ {}", n.external_ip, n.logical_ip),
                    _ => format!("{} ← {}", n.external_ip, n.logical_ip),
                };
                t.add(plain(
                    nid.clone(),
                    NodeKind::Nat {
                        nat_type: n.kind.clone(),
                        external_ip: n.external_ip.clone(),
                        logical_ip: n.logical_ip.clone(),
                    },
                    format!("{}\n{arrow}", n.kind),
                    row(DbKind::Nb, "NAT", n.uuid),
                ));
                t.link(&nid, &rid, EdgeKind::NatOn);
            }
        }
        lbs(t, nb, &r.load_balancers, &rid, o);
    }
    for (a, b) in router_ports {
        t.link(&a, &b, EdgeKind::RouterPeer);
    }
    for (a, b) in lrp_peers {
        if a < b {
            t.link(&a, &b, EdgeKind::RouterPeer);
        }
    }
}

fn lbs(t: &mut Topology, nb: &NbDb, ids: &[Uuid], owner: &str, o: &Options) {
    let list: Vec<_> = ids.iter().filter_map(|u| nb.load_balancers.get(u)).collect();
    if list.is_empty() {
        return;
    }
    if !o.expand && list.len() > o.threshold {
        let gid = format!("group:{owner}:lbs");
        let vips: usize = list.iter().map(|l| l.vips.len()).sum();
        t.add(plain(
            gid.clone(),
            NodeKind::Group {
                what: "load balancers".into(),
                count: list.len(),
            },
            format!("{} load balancers\n{vips} VIPs", list.len()),
            None,
        ));
        t.link(&gid, owner, EdgeKind::LbOn);
        return;
    }
    for l in list {
        let id = format!("lb:{}", if l.name.is_empty() { l.uuid.to_string() } else { l.name.clone() });
        t.add(plain(
            id.clone(),
            NodeKind::LoadBalancer {
                name: l.name.clone(),
                vips: l.vips.len(),
            },
            format!("LB {}\n{} VIPs", l.name, l.vips.len()),
            row(DbKind::Nb, "Load_Balancer", l.uuid),
        ));
        t.link(&id, owner, EdgeKind::LbOn);
    }
}

fn joins(t: &mut Topology, ovs: Option<&OvsDb>, nb: Option<&NbDb>, sb: Option<&SbDb>, local: Option<&str>) {
    let Some(nb) = nb else { return };
    // OVS interface ↔ switch port, by iface-id.
    let mut bound = BTreeSet::new();
    if let (Some(ovs), Some(local)) = (ovs, local) {
        for i in ovs.interfaces.values() {
            if let Some(id) = i.iface_id() {
                if t.link(&format!("iface:{local}:{}", i.name), &format!("lsp:{id}"), EdgeKind::Binding) {
                    bound.insert(id.to_string());
                }
            }
        }
        // Localnet ports → the bridge their network is mapped to on this chassis.
        let mappings = ovs
            .system
            .as_ref()
            .and_then(|s| s.external_ids.get("ovn-bridge-mappings"))
            .cloned()
            .unwrap_or_default();
        let map: BTreeMap<&str, &str> = mappings.split(',').filter_map(|m| m.trim().split_once(':')).collect();
        for p in nb.switch_ports.values().filter(|p| p.kind == "localnet") {
            if let Some(net) = p.options.get("network_name") {
                if let Some(br) = map.get(net.as_str()) {
                    t.link(
                        &format!("lsp:{}", p.name),
                        &format!("bridge:{local}:{br}"),
                        EdgeKind::Localnet { network: net.clone() },
                    );
                }
            }
        }
    }
    // Pods bound on other chassis: switch port → chassis (Port_Binding).
    if let Some(sb) = sb {
        for pb in sb.port_bindings.values() {
            if bound.contains(&pb.logical_port) || !pb.kind.is_empty() {
                continue;
            }
            if let Some(c) = pb.chassis.and_then(|c| sb.chassis.get(&c)) {
                if local != Some(c.name.as_str()) {
                    t.link(
                        &format!("lsp:{}", pb.logical_port),
                        &format!("chassis:{}", c.name),
                        EdgeKind::Binding,
                    );
                }
            }
        }
    }
    // Gateway routers → their chassis.
    for r in nb.routers.values() {
        if let Some(c) = r.gateway_chassis() {
            t.link(&format!("lr:{}", r.name), &format!("chassis:{c}"), EdgeKind::PinnedTo);
        }
    }
}
