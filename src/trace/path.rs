//! `ovnscope trace`: the predicted path of a packet from a pod, with the headers expected at
//! each point where one could capture (the pod's eth0, its host veth, the node NIC, the
//! geneve underlay), built from the model: the router walk of `nat::outbound`, router port
//! MACs, Southbound MAC bindings, Port_Binding chassis and datapath tunnel keys.

use crate::db::nb::{NbDb, SwitchPort};
use crate::db::ovs::OvsDb;
use crate::db::sb::SbDb;
use crate::nat::{self, Answer};
use crate::topology::build::{iface_kind, local_chassis, port_ips};
use crate::topology::IfaceKind;
use std::net::IpAddr;

/// Expected headers at one point of the path.
#[derive(Debug, Clone)]
pub struct Point {
    /// What to pass to `explain --capture` (an OVS interface name, `pod:NS/NAME`), or a
    /// description for a point inside OVN that cannot be captured.
    pub name: String,
    /// `pod-eth0`, `pod-lo`, `host-veth`, `router`, `nic`, `tunnel`.
    pub kind: &'static str,
    pub capturable: bool,
    pub src_mac: Option<String>,
    pub dst_mac: Option<String>,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub ttl: u8,
    /// Geneve VNI (the Datapath_Binding tunnel key) and port keys on the underlay.
    pub vni: Option<i64>,
    pub ingress_port_key: Option<i64>,
    pub egress_port_key: Option<i64>,
    pub note: String,
}

/// A logical flow that implements one step of the predicted path (`trace --lflows`).
#[derive(Debug, Clone)]
pub struct LflowStep {
    pub datapath: String,
    pub pipeline: String,
    pub stage: String,
    pub table_id: i64,
    pub priority: i64,
    pub match_: String,
    pub actions: String,
    pub uuid: String,
    /// Which decision of the path it implements.
    pub why: String,
}

#[derive(Debug, Clone)]
pub struct Prediction {
    pub from: String,
    pub to: IpAddr,
    pub points: Vec<Point>,
    /// The NAT answer for the same packet (path, rule, evidence).
    pub nat: Answer,
    /// With `--lflows`: the logical flows of the key steps (switching, ACLs, load balancing,
    /// NAT, routing, next-hop resolution), taken from the executed pipeline.
    pub lflows: Vec<LflowStep>,
    pub warnings: Vec<String>,
}

fn mac_of(p: &SwitchPort) -> Option<String> {
    p.addresses.first().and_then(|a| a.split_whitespace().next()).map(str::to_string)
}

/// The MAC the router resolves `ip` to on `port`: another router port's MAC, a switch port's
/// address, or a learned MAC_Binding.
fn resolve(nb: &NbDb, sb: Option<&SbDb>, port: &str, ip: IpAddr) -> Option<String> {
    let s = ip.to_string();
    if let Some(p) = nb.router_port_with_address(&s) {
        return Some(p.mac.clone());
    }
    if let Some(p) = nb.switch_port_with_address(&s) {
        return mac_of(p);
    }
    sb.and_then(|sb| sb.neighbour(port, ip, None, false)).map(|m| m.mac.clone())
}

/// Predicts the path of a packet from `port` (a pod's switch port) to `dst`.
pub fn predict(
    ovs: Option<&OvsDb>,
    nb: &NbDb,
    sb: Option<&SbDb>,
    port: &SwitchPort,
    dst: IpAddr,
    ttl: u8,
) -> Result<Prediction, nat::NotFound> {
    let src: IpAddr = port_ips(port)
        .iter()
        .find_map(|i| i.split('/').next()?.parse().ok())
        .ok_or_else(|| nat::NotFound(format!("port {} has no IP address", port.name)))?;
    let ans = nat::outbound(nb, sb, src, dst, Some(&port.name))?;
    let mut warnings = vec![];
    let mut points = vec![];
    let pod = ans.query.pod.clone().unwrap_or_else(|| port.name.clone());
    let first_lrp = ans
        .path
        .first()
        .and_then(|h| h.inport.as_deref())
        .and_then(|n| nb.router_port_named(n));
    // East-west on one switch: the destination's MAC; otherwise the router's.
    let dst_on_switch = nb.switch_port_with_address(&dst.to_string());
    let (mut src_mac, mut dst_mac) = (
        mac_of(port),
        first_lrp.map(|p| p.mac.clone()).or_else(|| dst_on_switch.and_then(mac_of)),
    );
    let (mut cur_src, mut cur_ttl) = (src, ttl);
    let local = ovs.map(local_chassis);
    let iface_of = |lsp: &str| ovs.and_then(|o| o.interfaces.values().find(|i| i.iface_id() == Some(lsp)).map(|i| i.name.clone()));
    let mk = |name: String, kind, capturable, src_mac: &Option<String>, dst_mac: &Option<String>, s, ttl, note: String| {
        Point::with(name, kind, capturable, (src_mac, dst_mac, s, dst, ttl), note)
    };
    if src == dst {
        let p = mk(
            format!("pod:{pod}"),
            "pod-lo",
            true,
            &None,
            &None,
            src,
            ttl,
            "inside the pod's network namespace: capture on lo (tcpdump -i lo), not on eth0 or the veth".into(),
        );
        return Ok(Prediction {
            from: pod,
            to: dst,
            points: vec![p],
            nat: ans,
            lflows: vec![],
            warnings,
        });
    }
    points.push(mk(
        format!("pod:{pod}"),
        "pod-eth0",
        true,
        &src_mac,
        &dst_mac,
        cur_src,
        cur_ttl,
        "the pod's eth0".into(),
    ));
    match iface_of(&port.name) {
        Some(v) => points.push(mk(
            v,
            "host-veth",
            true,
            &src_mac,
            &dst_mac,
            cur_src,
            cur_ttl,
            "host end of the pod's veth (a pipe: unchanged)".into(),
        )),
        None if ovs.is_some() => warnings.push(format!("no OVS interface has iface-id {} in this Open_vSwitch database", port.name)),
        None => {}
    }
    for h in &ans.path {
        let Some(out) = h.outport.as_deref() else { break };
        cur_ttl = cur_ttl.saturating_sub(1);
        src_mac = nb.router_port_named(out).map(|p| p.mac.clone());
        let next = h.nexthop.as_deref().and_then(|n| n.parse::<IpAddr>().ok()).unwrap_or(dst);
        dst_mac = resolve(nb, sb, out, next);
        if dst_mac.is_none() {
            warnings.push(format!(
                "{} has no MAC for {next} on {out} yet: it would send an ARP request first",
                h.router
            ));
        }
        let mut note = format!("{}: {} → out {out}, TTL −1, source MAC of {out}", h.router, h.decided_by);
        if let Some(c) = ans.applies.as_ref().filter(|c| c.router == h.router) {
            cur_src = c.external_ip.parse().unwrap_or(cur_src);
            note += &format!(", SNAT to {} by {} {}", c.external_ip, c.kind, &c.uuid[..8]);
        }
        points.push(mk(
            format!("after {}", h.router),
            "router",
            false,
            &src_mac,
            &dst_mac,
            cur_src,
            cur_ttl,
            note,
        ));
    }
    // Where it leaves the node.
    let last_switch = ans
        .exit
        .split("switch ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .map(str::to_string);
    let localnet = last_switch
        .as_ref()
        .and_then(|s| nb.switch_named(s))
        .and_then(|s| nb.ports_of(s).into_iter().find(|p| p.kind == "localnet"));
    if let (Some(ln), Some(o)) = (localnet, ovs) {
        let net = ln.options.get("network_name").cloned().unwrap_or_default();
        let maps = o
            .system
            .as_ref()
            .and_then(|s| s.external_ids.get("ovn-bridge-mappings"))
            .cloned()
            .unwrap_or_default();
        let bridge = maps
            .split(',')
            .filter_map(|m| m.split_once(':'))
            .find(|(n, _)| *n == net)
            .map(|(_, b)| b.to_string());
        let nic = bridge
            .as_ref()
            .and_then(|b| o.bridges.values().find(|x| &x.name == b))
            .and_then(|b| {
                o.ports_of(b)
                    .into_iter()
                    .flat_map(|p| o.interfaces_of(p))
                    .find(|i| iface_kind(i) == IfaceKind::System)
                    .map(|i| i.name.clone())
            });
        match nic {
            Some(n) => points.push(mk(
                n,
                "nic",
                true,
                &src_mac,
                &dst_mac,
                cur_src,
                cur_ttl,
                format!("node NIC on {} (localnet {} → {net})", bridge.unwrap_or_default(), ln.name),
            )),
            None => warnings.push(format!("no NIC found on the bridge that {net} maps to")),
        }
    } else if let Some(dp) = dst_on_switch {
        // Delivered to a pod: on this chassis through its veth, elsewhere through a tunnel.
        let pb = sb.and_then(|s| s.binding(&dp.name));
        let chassis = pb.and_then(|b| b.chassis).and_then(|c| sb.and_then(|s| s.chassis.get(&c)));
        let remote = chassis.filter(|c| Some(c.name.as_str()) != local.as_deref());
        if let (Some(c), Some(o), Some(sb)) = (remote, ovs, sb) {
            let ips: Vec<String> = sb.encaps_of(c).iter().map(|e| e.ip.clone()).collect();
            let tunnel = o
                .interfaces
                .values()
                .find(|i| iface_kind(i) == IfaceKind::Tunnel && i.options.get("remote_ip").is_some_and(|r| ips.contains(r)));
            let dpb = pb.and_then(|b| b.datapath).and_then(|d| sb.datapaths.get(&d));
            // Routed traffic enters the destination switch through its router port.
            let ingress = ans
                .path
                .last()
                .and_then(|h| h.outport.as_deref())
                .and_then(|out| nb.switch_port_to(out).map(|(_, p)| p).and_then(|p| sb.binding(&p.name)));
            let mut p = mk(
                tunnel.map(|t| t.name.clone()).unwrap_or_else(|| format!("tunnel to {}", c.name)),
                "tunnel",
                tunnel.is_some(),
                &src_mac,
                &dst_mac,
                cur_src,
                cur_ttl,
                format!(
                    "geneve to chassis {} ({}): outer UDP 6081, inner frame as shown",
                    c.name,
                    ips.join(", ")
                ),
            );
            p.vni = dpb.map(|d| d.tunnel_key);
            p.ingress_port_key = ingress.map(|b| b.tunnel_key);
            p.egress_port_key = pb.map(|b| b.tunnel_key);
            points.push(p);
        } else if let Some(v) = iface_of(&dp.name) {
            points.push(mk(
                v,
                "host-veth",
                true,
                &src_mac,
                &dst_mac,
                cur_src,
                cur_ttl,
                format!("host veth of {}", dp.name),
            ));
        }
        points.push(mk(
            format!("pod:{}", dp.name.replacen('_', "/", 1)),
            "pod-eth0",
            remote.is_none(),
            &src_mac,
            &dst_mac,
            cur_src,
            cur_ttl,
            "the destination pod's eth0".into(),
        ));
    }
    Ok(Prediction {
        from: pod,
        to: dst,
        points,
        nat: ans,
        lflows: vec![],
        warnings,
    })
}

/// The stages that carry a path's decisions, and what each decides.
const KEY_STAGES: &[(&str, &str)] = &[
    ("ls_in_l2_lkup", "switching"),
    ("ls_in_acl", "ACL"),
    ("ls_in_acl_eval", "ACL"),
    ("ls_out_acl", "ACL"),
    ("ls_out_acl_eval", "ACL"),
    ("ls_in_pre_stateful", "load balancing"),
    ("ls_in_lb", "load balancing"),
    ("lr_in_unsnat", "un-SNAT"),
    ("lr_in_dnat", "DNAT"),
    ("lr_in_ip_routing", "routing"),
    ("lr_in_policy", "routing policy"),
    ("lr_in_arp_resolve", "next-hop MAC"),
    ("lr_out_undnat", "un-DNAT"),
    ("lr_out_snat", "SNAT"),
];

/// The key steps of an executed pipeline (switching, ACLs, load balancing, NAT, routing,
/// next-hop resolution), for `trace --lflows`' summary; the full run is the trace itself.
pub fn key_steps(t: &crate::lflow::exec::Trace) -> Vec<LflowStep> {
    use crate::lflow::exec::Node;
    fn walk(nodes: &[Node], out: &mut Vec<LflowStep>) {
        for n in nodes {
            match n {
                Node::Table {
                    datapath,
                    pipeline,
                    table,
                    stage,
                    priority,
                    match_,
                    uuid,
                    children,
                    ..
                } => {
                    if let Some((_, what)) = KEY_STAGES.iter().find(|(s, _)| s == stage) {
                        let actions: Vec<&str> = children
                            .iter()
                            .filter_map(|c| match c {
                                Node::Action { text } => Some(text.as_str()),
                                _ => None,
                            })
                            .collect();
                        out.push(LflowStep {
                            datapath: datapath.clone(),
                            pipeline: pipeline.to_string(),
                            stage: stage.clone(),
                            table_id: *table,
                            priority: *priority,
                            match_: match_.clone(),
                            actions: actions.join(" "),
                            uuid: uuid.clone(),
                            why: format!("{what} on {datapath}"),
                        });
                    }
                    walk(children, out);
                }
                Node::Pipeline { children, .. } | Node::Transform { children, .. } => walk(children, out),
                _ => {}
            }
        }
    }
    let mut v = vec![];
    walk(&t.nodes, &mut v);
    v
}

impl Prediction {
    pub fn to_text(&self) -> String {
        let mut o = format!("{} → {}: {}\n", self.from, self.to, self.nat.exit);
        o += &format!(
            "  {:<34} {:<17} {:<17} {:<15} {:<15} {:>3}  {}\n",
            "Point", "Source MAC", "Destination MAC", "Source IP", "Destination IP", "TTL", "Note"
        );
        for p in &self.points {
            let m = |x: &Option<String>| x.clone().unwrap_or_else(|| "?".into());
            let mut note = p.note.clone();
            if let Some(v) = p.vni {
                note += &format!(
                    " [vni {v}, ingress port key {}, egress port key {}]",
                    p.ingress_port_key.unwrap_or(0),
                    p.egress_port_key.unwrap_or(0)
                );
            }
            o += &format!(
                "  {:<34} {:<17} {:<17} {:<15} {:<15} {:>3}  {}\n",
                if p.capturable { p.name.clone() } else { format!("({})", p.name) },
                m(&p.src_mac),
                m(&p.dst_mac),
                p.src,
                p.dst,
                p.ttl,
                note
            );
        }
        if !self.lflows.is_empty() {
            o += "  key logical flows (the whole run, table by table, follows):\n";
            for f in &self.lflows {
                o += &format!(
                    "    {:<16} {:<18} {:<20} priority {:<5} uuid {}  {}\n",
                    f.why.split(" on ").next().unwrap_or(""),
                    f.datapath,
                    f.stage,
                    f.priority,
                    &f.uuid[..8],
                    f.match_
                );
            }
        }
        for w in &self.warnings {
            o += &format!("warning: {w}\n");
        }
        o
    }
}

/// The headers at a point: source and destination MAC, source and destination IP, TTL.
type At<'h> = (&'h Option<String>, &'h Option<String>, IpAddr, IpAddr, u8);

impl Point {
    /// A point with the headers a capture there shows (tunnel keys are the caller's to add).
    fn with(name: String, kind: &'static str, capturable: bool, h: At<'_>, note: String) -> Point {
        let (src_mac, dst_mac, src, dst, ttl) = h;
        Point {
            name,
            kind,
            capturable,
            src_mac: src_mac.clone(),
            dst_mac: dst_mac.clone(),
            src,
            dst,
            ttl,
            vni: None,
            ingress_port_key: None,
            egress_port_key: None,
            note,
        }
    }
}

/// One zone of a cluster, as a path prediction reads it.
pub struct ZoneViews<'a> {
    pub name: &'a str,
    pub ovs: Option<&'a OvsDb>,
    pub nb: &'a NbDb,
    pub sb: Option<&'a SbDb>,
}

/// [`predict`] in a cluster: the source zone's prediction and, when the path crosses the
/// transit switch, the rest as the wire and the destination zone carry it — the geneve frame
/// on the underlay (transit switch key as VNI, the two nodes' `tstor` port keys), the
/// destination zone's cluster router (TTL −1, its node-switch port's MAC), the destination
/// pod's host veth and eth0.
pub fn predict_in_cluster(
    zones: &[ZoneViews<'_>],
    from: usize,
    port: &SwitchPort,
    dst: IpAddr,
    ttl: u8,
) -> Result<Prediction, nat::NotFound> {
    let here = &zones[from];
    let mut p = predict(here.ovs, here.nb, here.sb, port, dst, ttl)?;
    if !p.nat.exit.starts_with("crosses switch") {
        return Ok(p);
    }
    let ts_name = p.nat.exit.split_whitespace().nth(2).unwrap_or_default().to_string();
    let Some(ts) = here.nb.switches.values().find(|s| s.name == ts_name) else {
        return Ok(p);
    };
    let key = |m: &std::collections::BTreeMap<String, String>| m.get("requested-tnl-key").and_then(|k| k.parse::<i64>().ok());
    let hop_out = p.nat.path.last().and_then(|h| h.outport.clone()).unwrap_or_default();
    let ports = here.nb.ports_of(ts);
    let local_ts = ports.iter().find(|x| x.options.get("router-port") == Some(&hop_out));
    let next = p
        .nat
        .path
        .last()
        .and_then(|h| h.nexthop.as_deref())
        .and_then(|n| n.parse::<IpAddr>().ok());
    let remote = ports
        .iter()
        .find(|x| x.kind == "remote" && next.is_some_and(|h| port_ips(x).iter().any(|a| a.split('/').next() == Some(&h.to_string()))));
    let Some(remote) = remote else { return Ok(p) };
    let node = remote.external_ids.get("node").cloned().unwrap_or_default();
    let Some(there) = zones.iter().find(|z| z.name == node) else {
        p.warnings.push(format!("the path continues in zone {node}, which was not read"));
        return Ok(p);
    };
    let last = p.points.last().cloned();
    let (src_mac, dst_mac, cur_src, mut cur_ttl) = match &last {
        Some(l) => (l.src_mac.clone(), l.dst_mac.clone(), l.src, l.ttl),
        None => return Ok(p),
    };
    // The tunnel: this node's geneve interface toward the remote chassis' encap IP.
    let remote_ips: Vec<String> = here
        .sb
        .and_then(|sb| {
            let pb = sb.port_bindings.values().find(|b| b.logical_port == remote.name)?;
            let c = sb.chassis.get(&pb.chassis?)?;
            Some(sb.encaps_of(c).iter().map(|e| e.ip.clone()).collect())
        })
        .unwrap_or_default();
    let tunnel = here.ovs.and_then(|o| {
        o.interfaces
            .values()
            .find(|i| iface_kind(i) == IfaceKind::Tunnel && i.options.get("remote_ip").is_some_and(|r| remote_ips.contains(r)))
    });
    let mk = |name: String, kind, capturable, src_mac: &Option<String>, dst_mac: &Option<String>, ttl, note: String| {
        Point::with(name, kind, capturable, (src_mac, dst_mac, cur_src, dst, ttl), note)
    };
    let mut t = mk(
        tunnel.map(|t| t.name.clone()).unwrap_or_else(|| format!("tunnel to {node}")),
        "tunnel",
        tunnel.is_some(),
        &src_mac,
        &dst_mac,
        cur_ttl,
        format!(
            "geneve to zone {node} ({}) over {ts_name}: {} → {}, outer UDP 6081, inner frame as shown",
            remote_ips.join(", "),
            local_ts.map(|x| x.name.as_str()).unwrap_or("?"),
            remote.name
        ),
    );
    t.vni = key(&ts.other_config);
    t.ingress_port_key = local_ts.and_then(|x| key(&x.options));
    t.egress_port_key = key(&remote.options);
    p.points.push(t);
    // The destination zone: its cluster router routes to the pod's switch.
    let dport = there
        .nb
        .switch_ports
        .values()
        .find(|x| port_ips(x).iter().any(|a| a.split('/').next() == Some(dst.to_string().as_str())));
    let Some(dport) = dport else {
        p.warnings.push(format!("no switch port of zone {node} holds {dst}"));
        return Ok(p);
    };
    let dswitch = there.nb.switches.values().find(|s| s.ports.contains(&dport.uuid));
    let rp = dswitch.into_iter().flat_map(|s| there.nb.ports_of(s)).find_map(|x| {
        x.options
            .get("router-port")
            .and_then(|rp| there.nb.router_ports.values().find(|r| &r.name == rp))
    });
    let router = rp.and_then(|r| there.nb.routers.values().find(|x| x.ports.contains(&r.uuid)));
    cur_ttl = cur_ttl.saturating_sub(1);
    let (src_mac, dst_mac) = (rp.map(|r| r.mac.clone()), mac_of(dport));
    p.points.push(mk(
        format!("after {} [zone {node}]", router.map(|r| r.name.as_str()).unwrap_or("router")),
        "router",
        false,
        &src_mac,
        &dst_mac,
        cur_ttl,
        format!(
            "{} of zone {node}: in {} → out {}, TTL −1, source MAC of {}",
            router.map(|r| r.name.as_str()).unwrap_or("?"),
            remote
                .options
                .get("router-port")
                .cloned()
                .unwrap_or_else(|| format!("rtots-{node}")),
            rp.map(|r| r.name.as_str()).unwrap_or("?"),
            rp.map(|r| r.name.as_str()).unwrap_or("?")
        ),
    ));
    if let Some(v) = there
        .ovs
        .and_then(|o| o.interfaces.values().find(|i| i.iface_id() == Some(dport.name.as_str())))
    {
        p.points.push(mk(
            v.name.clone(),
            "host-veth",
            true,
            &src_mac,
            &dst_mac,
            cur_ttl,
            format!("host veth of {} on node {node}", dport.name),
        ));
    }
    p.points.push(mk(
        format!("pod:{}", dport.name.replacen('_', "/", 1)),
        "pod-eth0",
        true,
        &src_mac,
        &dst_mac,
        cur_ttl,
        format!("the destination pod's eth0, on node {node}"),
    ));
    Ok(p)
}
