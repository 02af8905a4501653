//! Which NAT rule applies to a pod's traffic, on which router, and why.
//!
//! The packet is walked through the routers it really traverses toward the destination:
//! connected networks and static routes (longest prefix by OVN's route priorities), then
//! reroute policies, across join/transit switches to the next router, until it leaves through
//! a switch with a localnet port. On every gateway router — and on a router with a distributed
//! gateway port when the packet leaves through that port — the router's NAT rules are turned
//! into the `lr_out_snat` flows ovn-northd would write (ovn-reference §B.4) and the highest
//! priority flow that matches wins. Equal priorities are a tie: OVN leaves the winner
//! undefined, so ovnscope names both and picks neither.

pub mod load;
pub mod query;

use crate::db::nb::{Nat, NbDb, Router, RouterPort, StaticRoute};
use crate::db::sb::{LogicalFlow, SbDb};
use crate::lflow::{contains, expr, net, Packet, Truth};
use crate::topology::build::{lsp_kind, pod_identity, port_ips};
use crate::topology::LspKind;
use ipnet::IpNet;
use std::net::IpAddr;

/// What was asked.
#[derive(Debug, Clone)]
pub struct Query {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub lsp: Option<String>,
    pub pod: Option<String>,
    pub switch: Option<String>,
    /// `outbound` (which SNAT) or `inbound` (which DNAT for an external IP).
    pub direction: &'static str,
}

/// One router the packet crosses.
#[derive(Debug, Clone)]
pub struct Hop {
    pub router: String,
    pub gateway: bool,
    pub inport: Option<String>,
    pub outport: Option<String>,
    pub nexthop: Option<String>,
    /// The route or policy that decided, in words.
    pub decided_by: String,
    pub priority: i64,
}

/// The Southbound flow that implements a rule.
#[derive(Debug, Clone)]
pub struct FlowRef {
    pub uuid: String,
    pub stage: String,
    pub table_id: i64,
    pub priority: i64,
    pub match_: String,
    pub actions: String,
}

/// A NAT rule considered.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub uuid: String,
    pub kind: String,
    pub external_ip: String,
    pub logical_ip: String,
    pub logical_port: Option<String>,
    pub router: String,
    /// `external_port_range`: the source ports SNAT picks from (`ct_snat(IP,LOW-HIGH)`).
    pub port_range: Option<String>,
    /// The priority of the flow northd writes for it (None when northd writes none).
    pub priority: Option<i64>,
    pub lflow: Option<FlowRef>,
    /// Why this rule does not decide (None for the one that applies).
    pub why_not: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Answer {
    pub query: Query,
    pub path: Vec<Hop>,
    /// Where the walk ended: `leaves the cluster via …`, `delivered on …`, `dropped …`.
    pub exit: String,
    pub applies: Option<Candidate>,
    /// The address the packet carries after the routers on the path (its own when no rule applies).
    pub translated: Option<String>,
    /// Rules tied at the top priority (OVN leaves the winner undefined).
    pub tie: Vec<String>,
    pub candidates: Vec<Candidate>,
    pub reasoning: Vec<String>,
    pub warnings: Vec<String>,
}

/// The pod or address asked about does not exist.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NotFound(pub String);

/// Route priority as ovn-northd 22.x–24.x computes it: prefix × 3, +1 for a static dst-ip
/// route, +2 for a connected network, +0 for a src-ip route.
fn route_priority(plen: u8, offset: i64) -> i64 {
    i64::from(plen) * 3 + offset
}

/// A router "has NAT": a gateway router, or one with a distributed gateway port.
fn dgps<'a>(nb: &'a NbDb, r: &Router) -> Vec<&'a RouterPort> {
    nb.router_ports_of(r)
        .into_iter()
        .filter(|p| !p.gateway_chassis.is_empty() || p.ha_chassis_group.is_some())
        .collect()
}

struct Decision {
    outport: String,
    nexthop: Option<IpAddr>,
    why: String,
    priority: i64,
}

fn route(
    nb: &NbDb,
    r: &Router,
    src: IpAddr,
    dst: IpAddr,
    inport: Option<&str>,
    packet: &Packet,
    warnings: &mut Vec<String>,
) -> Option<Decision> {
    let ports = nb.router_ports_of(r);
    let mut best: Vec<Decision> = vec![];
    let offer = |d: Decision, best: &mut Vec<Decision>| match best.first().map(|b| b.priority) {
        Some(p) if p > d.priority => {}
        Some(p) if p == d.priority => best.push(d),
        _ => *best = vec![d],
    };
    for p in &ports {
        for n in p.networks.iter().filter_map(|n| n.parse::<IpNet>().ok()) {
            if n.contains(&dst) {
                offer(
                    Decision {
                        outport: p.name.clone(),
                        nexthop: None,
                        why: format!("connected network {n} of {}", p.name),
                        priority: route_priority(n.prefix_len(), 2),
                    },
                    &mut best,
                );
            }
        }
    }
    let routes: Vec<&StaticRoute> = nb.routes_of(r).into_iter().filter(|s| s.route_table.is_empty()).collect();
    for s in routes {
        let Some(prefix) = net(&s.ip_prefix) else { continue };
        let src_route = s.policy.as_deref() == Some("src-ip");
        let hit = if src_route { prefix.contains(&src) } else { prefix.contains(&dst) };
        if !hit || prefix.addr().is_ipv4() != dst.is_ipv4() {
            continue;
        }
        let nexthop: Option<IpAddr> = s.nexthop.parse().ok();
        let outport = s.output_port.clone().or_else(|| {
            ports
                .iter()
                .find(|p| nexthop.is_some_and(|h| p.networks.iter().any(|n| contains(n, h))))
                .map(|p| p.name.clone())
        });
        let Some(outport) = outport else {
            warnings.push(format!(
                "route {} via {} on {} has no port toward its next hop; northd ignores it",
                s.ip_prefix, s.nexthop, r.name
            ));
            continue;
        };
        let kind = if src_route { "src-ip" } else { "dst-ip" };
        offer(
            Decision {
                outport,
                nexthop,
                why: format!("static route {} via {} ({kind})", s.ip_prefix, s.nexthop),
                priority: route_priority(prefix.prefix_len(), if src_route { 0 } else { 1 }),
            },
            &mut best,
        );
    }
    if best.len() > 1 {
        warnings.push(format!(
            "{} has {} routes at priority {} for this packet (ECMP or a tie); the first is followed",
            r.name,
            best.len(),
            best[0].priority
        ));
    }
    let mut decision = best.into_iter().next();
    // Reroute policies run after routing (lr_in_policy), highest priority first.
    let pols = nb.policies_of(r);
    let mut pkt = packet.clone();
    pkt.inport = inport.map(str::to_string);
    for pol in pols {
        let m = match expr::parse(&pol.match_) {
            Ok(m) => m,
            Err(e) => {
                warnings.push(format!("policy {} on {}: {e}", pol.priority, r.name));
                continue;
            }
        };
        nb.want_names(&m.address_sets(), &m.port_groups());
        match pkt.eval(&m) {
            Truth::False => continue,
            Truth::Unknown(what) => {
                warnings.push(format!(
                    "policy {} on {} ({}) depends on {what}; assumed not to match",
                    pol.priority, r.name, pol.match_
                ));
                continue;
            }
            Truth::True => {}
        }
        match pol.action.as_str() {
            "allow" => {
                if let Some(d) = &mut decision {
                    d.why += &format!("; allowed by policy {} ({})", pol.priority, pol.match_);
                }
            }
            "drop" => return None,
            "reroute" => {
                let hops: Vec<String> = if pol.nexthops.is_empty() {
                    pol.nexthop.iter().cloned().collect()
                } else {
                    pol.nexthops.clone()
                };
                let Some(h) = hops.first().and_then(|h| h.parse::<IpAddr>().ok()) else {
                    continue;
                };
                if hops.len() > 1 {
                    warnings.push(format!(
                        "policy {} on {} reroutes to {} next hops (ECMP); following {h}",
                        pol.priority,
                        r.name,
                        hops.len()
                    ));
                }
                let Some(p) = ports.iter().find(|p| p.networks.iter().any(|n| contains(n, h))) else {
                    continue;
                };
                decision = Some(Decision {
                    outport: p.name.clone(),
                    nexthop: Some(h),
                    why: format!("reroute policy {} ({}) to {h}", pol.priority, pol.match_),
                    priority: pol.priority,
                });
            }
            _ => {}
        }
        break;
    }
    decision
}

/// The flows northd writes in lr_out_snat for one rule, as (priority, bypass?).
struct SnatFlow<'a> {
    nat: &'a Nat,
    priority: i64,
    /// The `exempted_ext_ips` companion (`next;`, no SNAT).
    bypass: bool,
}

fn address_set(nb: &NbDb, u: Option<uuid::Uuid>) -> Option<(String, Vec<String>)> {
    u.and_then(|u| nb.address_set(u)).map(|a| (a.name.clone(), a.addresses.clone()))
}

fn in_list(ip: IpAddr, list: &[String]) -> bool {
    list.iter().any(|a| contains(a, ip))
}

fn lflow_for(sb: Option<&SbDb>, router: &Router, stage: &str, nat: &Nat, priority: i64) -> Option<FlowRef> {
    let sb = sb?;
    let dp = sb
        .datapaths
        .values()
        .find(|d| d.nb_object() == Some(router.uuid) || d.name() == router.name)?;
    let hint = &nat.uuid.to_string()[..8];
    let on_dp = |f: &LogicalFlow| {
        f.logical_datapath == Some(dp.uuid)
            || f.logical_dp_group
                .and_then(|g| sb.dp_groups.get(&g))
                .is_some_and(|g| g.contains(&dp.uuid))
    };
    sb.logical_flows
        .values()
        .filter(|f| {
            f.stage() == stage && f.priority == priority && on_dp(f) && f.external_ids.get("stage-hint").map(String::as_str) == Some(hint)
        })
        .min_by_key(|f| f.uuid)
        .map(|f| FlowRef {
            uuid: f.uuid.to_string(),
            stage: f.stage().into(),
            table_id: f.table_id,
            priority: f.priority,
            match_: f.match_.clone(),
            actions: f.actions.clone(),
        })
}

fn candidate(nat: &Nat, router: &Router, priority: Option<i64>, why_not: Option<String>) -> Candidate {
    Candidate {
        uuid: nat.uuid.to_string(),
        kind: nat.kind.clone(),
        external_ip: nat.external_ip.clone(),
        logical_ip: nat.logical_ip.clone(),
        logical_port: nat.logical_port.clone(),
        router: router.name.clone(),
        port_range: Some(nat.external_port_range.clone()).filter(|r| !r.is_empty()),
        priority,
        lflow: None,
        why_not,
    }
}

/// Evaluates the SNAT rules of one router for (src, dst). Returns the winner (if any), ties,
/// and every candidate with its reason.
fn snat_at(nb: &NbDb, sb: Option<&SbDb>, r: &Router, dgp: bool, src: IpAddr, dst: IpAddr, out: &mut Answer) -> Option<Candidate> {
    let offset = if dgp { 128 } else { 0 };
    let mut flows: Vec<SnatFlow> = vec![];
    let mut cands: Vec<Candidate> = vec![];
    let mut others = 0;
    for n in nb.nats_of(r) {
        let Some(net) = net(&n.logical_ip) else {
            cands.push(candidate(
                n,
                r,
                None,
                Some(format!(
                    "logical_ip {:?} is not an address or network; northd skips the rule",
                    n.logical_ip
                )),
            ));
            continue;
        };
        if !net.contains(&src) {
            others += 1;
            continue;
        }
        if n.kind == "dnat" {
            cands.push(candidate(n, r, None, Some("a dnat rule rewrites destinations only".into())));
            continue;
        }
        if n.kind == "dnat_and_snat" && net.prefix_len() != net.max_prefix_len() {
            cands.push(candidate(
                n,
                r,
                None,
                Some("dnat_and_snat needs a host logical_ip; northd skips the rule".into()),
            ));
            continue;
        }
        let allowed = address_set(nb, n.allowed_ext_ips);
        let exempted = address_set(nb, n.exempted_ext_ips);
        if allowed.is_some() && exempted.is_some() {
            cands.push(candidate(
                n,
                r,
                None,
                Some("both allowed_ext_ips and exempted_ext_ips are set; northd ignores the rule".into()),
            ));
            continue;
        }
        let plen = i64::from(net.prefix_len());
        // 24.09+: a rule with a `match` gets 300 + its own priority (whatever its prefix), and
        // its flow matches only where the match holds (northd 25.03's lr_out_snat, read back
        // from the Southbound it computes).
        let prio = if n.match_.is_empty() {
            plen + 1 + offset
        } else {
            300 + n.priority + offset
        };
        if !n.match_.is_empty() {
            let packet = Packet {
                src: Some(src),
                dst: Some(dst),
                address_sets: nb.address_set_map(),
                port_groups: nb.port_group_map(),
                ..Default::default()
            };
            let why = match expr::parse(&n.match_).map(|m| {
                nb.want_names(&m.address_sets(), &m.port_groups());
                packet.eval(&m)
            }) {
                Err(e) => Some(format!("its match {:?} does not parse ({e}); northd skips the rule", n.match_)),
                Ok(Truth::False) => Some(format!("its match ({}) does not hold for this packet", n.match_)),
                Ok(Truth::Unknown(what)) => {
                    out.reasoning.push(format!(
                        "on {}: rule {} ({} {} ← {}, match {}, flow priority {prio}) takes the packets its match selects (it depends on {what}, which the question leaves open); the answer is for the others",
                        r.name, n.uuid, n.kind, n.external_ip, n.logical_ip, n.match_
                    ));
                    Some(format!("applies only when {} (the question leaves {what} open)", n.match_))
                }
                Ok(Truth::True) => None,
            };
            if let Some(why) = why {
                let mut c = candidate(n, r, Some(prio), Some(why));
                c.lflow = lflow_for(sb, r, "lr_out_snat", n, prio);
                cands.push(c);
                continue;
            }
        }
        if let Some((name, list)) = &allowed {
            if !in_list(dst, list) {
                cands.push(candidate(n, r, Some(prio), Some(format!("{dst} is not in allowed_ext_ips {name}"))));
                continue;
            }
        }
        if let Some((name, list)) = &exempted {
            if in_list(dst, list) {
                flows.push(SnatFlow {
                    nat: n,
                    priority: prio + 2,
                    bypass: true,
                });
                cands.push(candidate(n, r, Some(prio), Some(format!("{dst} is in exempted_ext_ips {name}"))));
                continue;
            }
        }
        flows.push(SnatFlow {
            nat: n,
            priority: prio,
            bypass: false,
        });
    }
    if others > 0 {
        out.reasoning
            .push(format!("{others} other NAT rule(s) on {} do not cover {src}", r.name));
    }
    flows.sort_by_key(|f| std::cmp::Reverse(f.priority));
    let top = flows.first().map(|f| f.priority);
    let winners: Vec<&SnatFlow> = flows.iter().filter(|f| Some(f.priority) == top).collect();
    let mut winner = None;
    if let Some(w) = winners.first() {
        if w.bypass {
            let flow = lflow_for(sb, r, "lr_out_snat", w.nat, w.priority);
            out.reasoning.push(format!(
                "on {}: the exempted_ext_ips flow of rule {} (priority {}{}) sends the packet on unchanged",
                r.name,
                w.nat.uuid,
                w.priority,
                flow.as_ref().map(|f| format!(", lflow {}", &f.uuid[..8])).unwrap_or_default()
            ));
            for c in cands.iter_mut().filter(|c| c.uuid == w.nat.uuid.to_string()) {
                c.lflow = flow.clone();
            }
        } else if winners.len() > 1 {
            out.tie = winners.iter().map(|f| f.nat.uuid.to_string()).collect();
            out.warnings.push(format!(
                "{} rules on {} tie at priority {} for {src}: {}; OVN leaves the winner undefined (the dataplane keeps whichever flow ovn-controller installed first)",
                winners.len(),
                r.name,
                w.priority,
                winners.iter().map(|f| format!("{} {} ← {}", f.nat.kind, f.nat.external_ip, f.nat.logical_ip)).collect::<Vec<_>>().join(", ")
            ));
        } else {
            let mut c = candidate(w.nat, r, Some(w.priority), None);
            c.lflow = lflow_for(sb, r, "lr_out_snat", w.nat, w.priority);
            // Only when logical flows were read at all (a live `trace` reads them as needed,
            // not here): then a missing one means northd is behind.
            if c.lflow.is_none() && sb.is_some_and(|s| !s.logical_flows.is_empty()) {
                out.warnings.push(format!("no lr_out_snat logical flow with stage-hint {} at priority {} on {}: is ovn-northd running and the Southbound in sync?", &c.uuid[..8], w.priority, r.name));
            }
            winner = Some(c);
        }
    }
    for f in flows.iter().filter(|f| !f.bypass) {
        if winner.as_ref().is_some_and(|w| w.uuid == f.nat.uuid.to_string()) {
            continue;
        }
        let why = if out.tie.contains(&f.nat.uuid.to_string()) {
            format!("tied at priority {} (undefined winner)", f.priority)
        } else {
            format!("priority {} is below the winning flow's {}", f.priority, top.unwrap_or(0))
        };
        let mut c = candidate(f.nat, r, Some(f.priority), Some(why));
        c.lflow = lflow_for(sb, r, "lr_out_snat", f.nat, f.priority);
        cands.push(c);
    }
    out.candidates.extend(cands);
    winner
}

/// Which SNAT applies to traffic from `src` (on switch port `lsp`, if known) toward `dst`.
pub fn outbound(nb: &NbDb, sb: Option<&SbDb>, src: IpAddr, dst: IpAddr, lsp: Option<&str>) -> Result<Answer, NotFound> {
    // The pod's switch: the one holding its port, or the one whose router port network contains it.
    let port = lsp.and_then(|l| nb.switch_ports.values().find(|p| p.name == l));
    let switch = match port {
        Some(p) => nb.switch_of(p.uuid),
        None => nb.switches_sorted().into_iter().find(|s| {
            nb.ports_of(s).iter().any(|p| {
                lsp_kind(p) == LspKind::Router
                    && p.options
                        .get("router-port")
                        .and_then(|rp| nb.router_port_named(rp))
                        .is_some_and(|x| x.networks.iter().any(|n| contains(n, src)))
            })
        }),
    }
    .ok_or_else(|| NotFound(format!("no logical switch holds {src}; give --pod or --lsp")))?;
    let pod = port.filter(|p| lsp_kind(p) == LspKind::Pod).map(|p| {
        let (ns, name) = pod_identity(p);
        if ns.is_empty() {
            name
        } else {
            format!("{ns}/{name}")
        }
    });
    let mut a = Answer::new(Query {
        src,
        dst,
        lsp: port.map(|p| p.name.clone()),
        pod,
        switch: Some(switch.name.clone()),
        direction: "outbound",
    });
    let mut packet = Packet {
        src: Some(src),
        dst: Some(dst),
        ..Default::default()
    };
    packet.address_sets = nb.address_set_map();
    packet.port_groups = nb.port_group_map();
    let mut cur_switch = switch;
    let mut from_port: Option<String> = None; // the switch port the packet came in on
    let mut gateway_seen = false;
    let mut src_now = src;
    // To its own address: containers of one pod talk over the pod's network namespace.
    if src == dst {
        a.exit = "stays inside the pod's network namespace (its containers share it): OVN never sees it".into();
        a.reasoning
            .push("source and destination are the same pod: the packet never reaches the veth, OVS or OVN".into());
        a.translated = Some(src.to_string());
        return Ok(a);
    }
    // A destination on the pod's own switch is switched, not routed.
    if nb
        .ports_of(switch)
        .iter()
        .any(|p| lsp_kind(p) != LspKind::Router && port_ips(p).iter().any(|i| i.split('/').next() == Some(dst.to_string().as_str())))
    {
        a.exit = format!("delivered on switch {} (the same switch: switched, not routed)", switch.name);
        a.reasoning
            .push("source and destination share a switch: no router, so no NAT".into());
        a.translated = Some(src.to_string());
        return Ok(a);
    }
    for _ in 0..16 {
        // The router this switch hands the packet to: toward the next hop, or the only one.
        let router_ports: Vec<&RouterPort> = nb
            .ports_of(cur_switch)
            .into_iter()
            .filter(|p| lsp_kind(p) == LspKind::Router && Some(&p.name) != from_port.as_ref())
            .filter_map(|p| p.options.get("router-port").and_then(|rp| nb.router_port_named(rp)))
            .collect();
        let next_hop = a.path.last().and_then(|h| h.nexthop.clone()).and_then(|h| h.parse::<IpAddr>().ok());
        let entry = match (a.path.is_empty(), next_hop) {
            (true, _) => router_ports.first().copied(),
            (false, Some(h)) => router_ports
                .iter()
                .copied()
                .find(|p| p.networks.iter().any(|n| n.split('/').next() == Some(&h.to_string()))),
            (false, None) => None,
        };
        let Some(entry) = entry else {
            let localnet = nb.ports_of(cur_switch).into_iter().find(|p| p.kind == "localnet");
            // Interconnect: the next hop is a remote port of the transit switch, i.e. a router of
            // another zone; pod traffic between nodes is not NATed.
            let remote = next_hop.and_then(|h| {
                nb.ports_of(cur_switch)
                    .into_iter()
                    .find(|p| p.kind == "remote" && port_ips(p).iter().any(|a| a.split('/').next() == Some(&h.to_string())))
            });
            if let Some(r) = remote {
                let zone = r.external_ids.get("node").cloned().unwrap_or_else(|| r.name.clone());
                a.exit = format!(
                    "crosses switch {} to zone {zone} (remote port {}): traffic between nodes is not NATed",
                    cur_switch.name, r.name
                );
                break;
            }
            a.exit = match (localnet, a.path.is_empty()) {
                (_, true) => format!("switch {} has no router: no gateway router reachable", cur_switch.name),
                (Some(l), _) => format!(
                    "leaves the cluster through switch {} and its localnet port {} (network {})",
                    cur_switch.name,
                    l.name,
                    l.options.get("network_name").cloned().unwrap_or_default()
                ),
                (None, _) if next_hop.is_none() => format!("delivered on switch {} (the destination is attached there)", cur_switch.name),
                (None, _) => format!(
                    "next hop {} is not a router port on switch {}",
                    next_hop.map(|h| h.to_string()).unwrap_or_default(),
                    cur_switch.name
                ),
            };
            break;
        };
        let r = nb
            .router_of(entry.uuid)
            .ok_or_else(|| NotFound(format!("router port {} belongs to no router", entry.name)))?;
        let Some(d) = route(nb, r, src_now, dst, Some(&entry.name), &packet, &mut a.warnings) else {
            a.path.push(Hop {
                router: r.name.clone(),
                gateway: r.gateway_chassis().is_some(),
                inport: Some(entry.name.clone()),
                outport: None,
                nexthop: None,
                decided_by: "no route (or a drop policy)".into(),
                priority: 0,
            });
            a.exit = format!("dropped on {}: no route to {dst}", r.name);
            break;
        };
        let gateway = r.gateway_chassis().is_some();
        let dgp = dgps(nb, r);
        let via_dgp = dgp.iter().any(|p| p.name == d.outport);
        a.path.push(Hop {
            router: r.name.clone(),
            gateway,
            inport: Some(entry.name.clone()),
            outport: Some(d.outport.clone()),
            nexthop: d.nexthop.map(|h| h.to_string()),
            decided_by: d.why.clone(),
            priority: d.priority,
        });
        if gateway || via_dgp {
            gateway_seen = true;
            if let Some(w) = snat_at(nb, sb, r, via_dgp && !gateway, src_now, dst, &mut a) {
                src_now = w.external_ip.parse().unwrap_or(src_now);
                a.applies = Some(w);
            }
        } else if !r.nat.is_empty() {
            a.reasoning.push(format!("{} has {} NAT rule(s) but no gateway (no options:chassis, no distributed gateway port on the way out): they have no effect here", r.name, r.nat.len()));
            for n in nb.nats_of(r).into_iter().filter(|n| contains(&n.logical_ip, src_now)) {
                a.candidates.push(candidate(
                    n,
                    r,
                    None,
                    Some(format!("{} has no gateway on this path: northd writes no NAT flows for it", r.name)),
                ));
            }
        }
        // Across to the next switch (or straight to a peer router port).
        match nb.switch_port_to(&d.outport) {
            Some((s, p)) => {
                from_port = Some(p.name.clone());
                cur_switch = s;
            }
            None => {
                a.exit = match nb.router_port_named(&d.outport).and_then(|p| p.peer.clone()) {
                    Some(peer) => format!("continues to router port {peer} (router-to-router peers are not followed yet)"),
                    None => format!("leaves {} through {}, which is attached to no switch", r.name, d.outport),
                };
                break;
            }
        }
    }
    if a.exit.starts_with("crosses switch") {
        a.reasoning.push(
            "the packet goes to a pod on another node over the transit switch (interconnect); OVN-Kubernetes NATs only traffic leaving the cluster".into(),
        );
    } else if !gateway_seen {
        a.reasoning
            .push("no gateway router (or distributed gateway port) is on the path, so no SNAT can apply".into());
    }
    a.translated = Some(src_now.to_string());
    Ok(a)
}

/// Which DNAT applies to traffic arriving for `external_ip` (from `src`).
pub fn inbound(nb: &NbDb, sb: Option<&SbDb>, external_ip: IpAddr, src: IpAddr) -> Answer {
    let mut a = Answer::new(Query {
        src,
        dst: external_ip,
        lsp: None,
        pod: None,
        switch: None,
        direction: "inbound",
    });
    let mut hits: Vec<Candidate> = vec![];
    for r in nb.routers_sorted() {
        let has_gw = r.gateway_chassis().is_some() || !dgps(nb, r).is_empty();
        for n in nb
            .nats_of(r)
            .into_iter()
            .filter(|n| n.external_ip.parse::<IpAddr>().ok() == Some(external_ip))
        {
            let why = if n.kind == "snat" {
                Some("an snat rule rewrites sources only (its external IP is answered by ARP and un-SNATed, not DNATed)".to_string())
            } else if !has_gw {
                Some(format!("{} has no gateway: northd writes no NAT flows for it", r.name))
            } else {
                let allowed = address_set(nb, n.allowed_ext_ips);
                let exempted = address_set(nb, n.exempted_ext_ips);
                match (allowed, exempted) {
                    (Some(_), Some(_)) => Some("both allowed_ext_ips and exempted_ext_ips are set; northd ignores the rule".into()),
                    (Some((name, l)), None) if !in_list(src, &l) => Some(format!("{src} is not in allowed_ext_ips {name}")),
                    (None, Some((name, l))) if in_list(src, &l) => Some(format!("{src} is in exempted_ext_ips {name}")),
                    _ => None,
                }
            };
            let mut c = candidate(n, r, if why.is_none() { Some(100) } else { None }, why);
            if c.why_not.is_none() {
                c.lflow = lflow_for(sb, r, "lr_in_dnat", n, 100);
            }
            hits.push(c);
        }
    }
    let live: Vec<&Candidate> = hits.iter().filter(|c| c.why_not.is_none()).collect();
    match live.len() {
        0 => a.reasoning.push(format!("no dnat or dnat_and_snat rule takes {external_ip}")),
        1 => {
            let c = live[0].clone();
            a.reasoning
                .push(format!("{} on {} maps {} to {}", c.kind, c.router, c.external_ip, c.logical_ip));
            a.translated = Some(c.logical_ip.clone());
            if let Some(p) = nb.switch_ports.values().find(|p| port_ips(p).iter().any(|i| i == &c.logical_ip)) {
                a.query.lsp = Some(p.name.clone());
            }
            a.applies = Some(c);
        }
        n => {
            a.tie = live.iter().map(|c| c.uuid.clone()).collect();
            a.warnings.push(format!(
                "{n} rules take {external_ip} (on {}); which one applies depends on the router the packet enters",
                live.iter().map(|c| c.router.as_str()).collect::<Vec<_>>().join(", ")
            ));
        }
    }
    let winner = a.applies.as_ref().map(|w| w.uuid.clone());
    a.candidates = hits.into_iter().filter(|c| Some(&c.uuid) != winner.as_ref()).collect();
    a
}

impl Answer {
    /// An answer to `query` with nothing found yet.
    fn new(query: Query) -> Answer {
        Answer {
            query,
            path: vec![],
            exit: String::new(),
            applies: None,
            translated: None,
            tie: vec![],
            candidates: vec![],
            reasoning: vec![],
            warnings: vec![],
        }
    }

    /// One line that answers, then the reasoning.
    pub fn to_text(&self) -> String {
        let q = &self.query;
        let who = q
            .pod
            .clone()
            .or_else(|| q.lsp.clone())
            .map(|w| format!("{w} ({})", q.src))
            .unwrap_or_else(|| q.src.to_string());
        let mut o = String::new();
        if q.direction == "inbound" {
            o += &match (&self.applies, self.tie.is_empty()) {
                (Some(c), _) => format!(
                    "{} is DNATed to {} by {} {} on {} (priority {})\n",
                    q.dst,
                    c.logical_ip,
                    c.kind,
                    c.uuid,
                    c.router,
                    c.priority.unwrap_or(0)
                ),
                (None, false) => format!("{} is taken by {} rules; see the warning\n", q.dst, self.tie.len()),
                (None, true) => format!("{} is not DNATed by any rule\n", q.dst),
            };
        } else {
            let gw = self.path.iter().rev().find(|h| h.gateway).map(|h| h.router.clone());
            o += &match (&self.applies, self.tie.is_empty()) {
                (Some(c), _) => format!(
                    "{who} leaves with {}{} toward {}: {} rule {} on {} (logical_ip {}, priority {})\n",
                    c.external_ip,
                    c.port_range.as_ref().map(|r| format!(" (source ports {r})")).unwrap_or_default(),
                    q.dst,
                    c.kind,
                    c.uuid,
                    c.router,
                    c.logical_ip,
                    c.priority.unwrap_or(0)
                ),
                (None, false) => format!(
                    "{who} leaves with an undefined address toward {}: {} NAT rules tie\n",
                    q.dst,
                    self.tie.len()
                ),
                (None, true) => match gw {
                    Some(g) => format!("{who} leaves with its own IP toward {}: no SNAT on {g}\n", q.dst),
                    None if self.exit.starts_with("crosses switch") => {
                        format!("{who} toward {}: to another zone over the transit switch, so no SNAT\n", q.dst)
                    }
                    None => format!("{who} toward {}: no gateway router reachable, so no SNAT\n", q.dst),
                },
            };
        }
        for h in &self.path {
            o += &format!(
                "  via {}{}: in {} → out {} ({}, priority {})\n",
                h.router,
                if h.gateway { " [gateway]" } else { "" },
                h.inport.as_deref().unwrap_or("?"),
                h.outport.as_deref().unwrap_or("-"),
                h.decided_by,
                h.priority
            );
        }
        if !self.exit.is_empty() {
            o += &format!("  then {}\n", self.exit);
        }
        if let Some(f) = self.applies.as_ref().and_then(|c| c.lflow.as_ref()) {
            o += &format!(
                "  evidence: {} flow {} (table {}, priority {}): match ({}) actions ({})\n",
                f.stage, f.uuid, f.table_id, f.priority, f.match_, f.actions
            );
        }
        for r in &self.reasoning {
            o += &format!("  - {r}\n");
        }
        for c in &self.candidates {
            o += &format!(
                "  not {} {} ← {} on {} ({}): {}\n",
                c.kind,
                c.external_ip,
                c.logical_ip,
                c.router,
                &c.uuid[..8],
                c.why_not.as_deref().unwrap_or("")
            );
        }
        for w in &self.warnings {
            o += &format!("warning: {w}\n");
        }
        o
    }
}
