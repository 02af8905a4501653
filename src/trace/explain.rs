//! Captured packets explained hop by hop: for each packet, one row per capture point in path
//! order, and what changed since the previous point — and which OVN object changed it (a NAT
//! rule on a router, a router's port MAC, the routers of the path), or that nothing in OVN
//! explains it ("outside OVN", e.g. a bastion's MASQUERADE).

use crate::capture::correlate::{inner, Journey, Key};
use crate::capture::decode::{Frame, Observation};
use crate::db::nb::NbDb;
use crate::lflow::contains;
use std::net::IpAddr;

#[derive(Debug, Clone)]
pub struct Row {
    pub point: String,
    pub seen: bool,
    /// Packet number in that point's file.
    pub number: Option<usize>,
    pub src: Option<IpAddr>,
    pub dst: Option<IpAddr>,
    pub src_mac: Option<String>,
    pub dst_mac: Option<String>,
    pub ttl: Option<u8>,
    /// Geneve VNI when the packet was seen encapsulated.
    pub vni: Option<u32>,
    pub what: String,
    /// The OVN rows that explain the change (NAT uuids, router names, port names).
    pub by: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Explained {
    pub key: Key,
    pub rows: Vec<Row>,
    /// "lost between A and B" when the packet stops being seen.
    pub lost: Option<String>,
}

/// The NAT rule (and its router) that maps `logical` to `external`.
fn nat_rule(nb: &NbDb, logical: IpAddr, external: IpAddr, types: &[&str]) -> Option<(String, String, String, String)> {
    for r in nb.routers_sorted() {
        for n in nb.nats_of(r) {
            if types.contains(&n.kind.as_str())
                && n.external_ip.parse::<IpAddr>().ok() == Some(external)
                && contains(&n.logical_ip, logical)
            {
                return Some((n.uuid.to_string(), n.kind.clone(), n.logical_ip.clone(), r.name.clone()));
            }
        }
    }
    None
}

fn router_port_of_mac<'a>(nb: &'a NbDb, mac: &str) -> Option<(&'a str, &'a str)> {
    for r in nb.routers_sorted() {
        for p in nb.router_ports_of(r) {
            if p.mac.eq_ignore_ascii_case(mac) {
                return Some((p.name.as_str(), r.name.as_str()));
            }
        }
    }
    None
}

/// The routers OVN routes a packet through, in order (from the NAT path walk).
fn ovn_routers(nb: &NbDb, src: IpAddr, dst: IpAddr) -> Vec<String> {
    crate::nat::outbound(nb, None, src, dst, None)
        .map(|a| a.path.into_iter().filter(|h| h.outport.is_some()).map(|h| h.router).collect())
        .unwrap_or_default()
}

fn describe(prev: &Frame, cur: &Frame, forward: bool, nb: Option<&NbDb>) -> (String, Vec<String>) {
    let mut what = vec![];
    let mut by = vec![];
    let mut ovn = false;
    let mut outside = false;
    // A source rewrite is SNAT (or a reply's un-DNAT); a destination rewrite DNAT (or a
    // reply's un-SNAT). Either way the rule maps its logical address to its external one.
    for (dst, old, new) in [(false, prev.src, cur.src), (true, prev.dst, cur.dst)] {
        if old == new {
            continue;
        }
        let side = if dst { "destination" } else { "source" };
        let (Some(old), Some(new)) = (old, new) else {
            return (format!("{side} address appeared or vanished"), by);
        };
        let rule = nb.and_then(|nb| match dst {
            false => nat_rule(nb, old, new, &["snat", "dnat_and_snat"]).or_else(|| nat_rule(nb, old, new, &["dnat"])),
            true => nat_rule(nb, new, old, &["snat", "dnat_and_snat", "dnat"]),
        });
        match rule {
            Some((uuid, kind, logical, router)) => {
                let verb = match (dst, forward) {
                    (false, true) => "SNAT",
                    (false, false) => "un-DNAT (reply)",
                    (true, true) => "DNAT",
                    (true, false) => "un-SNAT (reply)",
                };
                what.push(format!(
                    "{verb} {old} → {new} by {kind} rule {} (logical_ip {logical}) on {router}",
                    &uuid[..8]
                ));
                by.extend([uuid, router]);
                ovn = true;
            }
            None => {
                let example = if dst { "conntrack un-NAT of a MASQUERADE" } else { "a MASQUERADE" };
                what.push(format!(
                    "{side} {old} → {new}: no OVN NAT rule maps these — rewritten outside OVN (e.g. {example})"
                ));
                outside = true;
            }
        }
    }
    let hops = match (prev.ttl, cur.ttl) {
        (Some(a), Some(b)) if b < a => a - b,
        _ => 0,
    };
    let mac_port = nb.zip(cur.src_mac.as_deref()).and_then(|(nb, m)| router_port_of_mac(nb, m));
    if hops > 0 {
        // Name the routers when OVN's own path has that many and the change is OVN's to explain.
        // Forward: the routers from the packet's source (before this hop's NAT) to its destination.
        // Reply: the forward path of the conversation, reversed.
        let routers = match (nb, forward, prev.src, prev.dst, cur.src, cur.dst) {
            (Some(nb), true, Some(s), Some(d), _, _) if !outside => ovn_routers(nb, s, d),
            (Some(nb), false, _, _, Some(s), Some(d)) if !outside => ovn_routers(nb, d, s).into_iter().rev().collect(),
            _ => vec![],
        };
        if (ovn || mac_port.is_some()) && routers.len() == usize::from(hops) {
            what.push(format!("TTL −{hops}: routed by {}", routers.join(" → ")));
            by.extend(routers);
        } else if let (1, Some((_, router))) = (hops, mac_port.filter(|_| routers.is_empty())) {
            // One hop, and the new source MAC is that router's port (e.g. the second zone's
            // router of an interconnect path, which this zone's walk does not reach).
            what.push(format!("TTL −1: routed by {router}"));
            by.push(router.to_string());
        } else if outside || (!ovn && mac_port.is_none()) {
            what.push(format!("TTL −{hops}: {hops} router hop(s) outside OVN"));
        } else {
            what.push(format!("TTL −{hops}: {hops} router hop(s)"));
        }
    }
    if prev.src_mac != cur.src_mac {
        match mac_port {
            Some((port, router)) => {
                what.push(format!(
                    "source MAC {} is router port {port} of {router}",
                    cur.src_mac.as_deref().unwrap_or("?")
                ));
                by.push(port.to_string());
            }
            None if hops > 0 => what.push(format!("source MAC now {}", cur.src_mac.as_deref().unwrap_or("?"))),
            None => {}
        }
    }
    if what.is_empty() {
        what.push("unchanged".into());
    }
    (what.join("; "), by)
}

/// The ACL that drops a lost packet, when the model can say so: among the ACLs that apply to
/// the destination's port (its switch's to-lport ACLs and its port groups') and the source's
/// (from-lport), the highest-priority one whose match is true — claimed only when it drops or
/// rejects and no higher-priority ACL's match is undecidable. Stage: ls_out_acl / ls_in_acl.
fn acl_drop(nb: &NbDb, f: &Frame) -> Option<String> {
    use crate::lflow::{expr::parse, Packet, Truth};
    let (Some(src), Some(dst)) = (f.src, f.dst) else { return None };
    let proto = match &f.l4 {
        Some(crate::capture::decode::L4::Echo { .. }) | Some(crate::capture::decode::L4::Icmp { .. }) => {
            Some(if src.is_ipv4() { "icmp4" } else { "icmp6" })
        }
        Some(crate::capture::decode::L4::Tcp { .. }) => Some("tcp"),
        Some(crate::capture::decode::L4::Udp { .. }) => Some("udp"),
        _ => None,
    };
    let port_of = |ip: IpAddr| {
        nb.switch_ports.values().find(|p| {
            crate::topology::build::port_ips(p)
                .iter()
                .any(|i| i.split('/').next() == Some(ip.to_string().as_str()))
        })
    };
    let mut best: Option<(i64, String)> = None;
    for (ip, direction, stage) in [(dst, "to-lport", "ls_out_acl"), (src, "from-lport", "ls_in_acl")] {
        let Some(port) = port_of(ip) else { continue };
        let switch = nb.switches.values().find(|s| s.ports.contains(&port.uuid));
        let mut acls: Vec<(&crate::db::nb::Acl, String)> = vec![];
        if let Some(sw) = switch {
            acls.extend(
                sw.acls
                    .iter()
                    .filter_map(|u| nb.acls.get(u))
                    .map(|a| (a, format!("switch {}", sw.name))),
            );
        }
        for g in nb.port_groups.values().filter(|g| g.ports.contains(&port.uuid)) {
            acls.extend(
                g.acls
                    .iter()
                    .filter_map(|u| nb.acls.get(u))
                    .map(|a| (a, format!("port group {}", g.name))),
            );
        }
        let pkt = Packet {
            src: Some(src),
            dst: Some(dst),
            proto: proto.map(str::to_string),
            inport: (direction == "from-lport").then(|| port.name.clone()),
            outport: (direction == "to-lport").then(|| port.name.clone()),
            address_sets: nb.address_set_map(),
            port_groups: nb.port_group_map(),
            ..Default::default()
        };
        acls.retain(|(a, _)| a.direction == direction);
        acls.sort_by_key(|(a, _)| std::cmp::Reverse(a.priority));
        for (a, owner) in acls {
            match parse(&a.match_).map(|e| pkt.eval(&e)) {
                Ok(Truth::True) => {
                    if matches!(a.action.as_str(), "drop" | "reject") && best.as_ref().is_none_or(|b| a.priority > b.0) {
                        best = Some((
                            a.priority,
                            format!(
                                "dropped by ACL {} ({direction}, priority {}, match ({}), action {}) of {owner}, stage {stage}",
                                a.uuid, a.priority, a.match_, a.action
                            ),
                        ));
                    }
                    break;
                }
                Ok(Truth::False) => continue,
                // Undecidable at this priority: no claim about lower ones.
                _ => break,
            }
        }
    }
    best.map(|b| b.1)
}

/// When a packet stops being seen with a TTL too small for the routers ahead of it, the model
/// says where it expires (traceroute probes, routing loops).
fn ttl_expiry(nb: &NbDb, f: &Frame, forward: bool) -> Option<String> {
    let (Some(src), Some(dst), Some(ttl)) = (f.src, f.dst, f.ttl) else {
        return None;
    };
    if !forward {
        return None;
    }
    let routers = ovn_routers(nb, src, dst);
    let at = routers.get(usize::from(ttl).checked_sub(1)?)?;
    Some(format!(
        "its TTL {ttl} expires at {at}, router {} of {} on the path (which answers with ICMP time exceeded)",
        ttl,
        routers.len()
    ))
}

fn row(point: &str, o: Option<&Observation>) -> Row {
    let f = o.map(|o| inner(&o.frame));
    Row {
        point: point.into(),
        seen: o.is_some(),
        number: o.map(|o| o.number),
        src: f.and_then(|f| f.src),
        dst: f.and_then(|f| f.dst),
        src_mac: f.and_then(|f| f.src_mac.clone()),
        dst_mac: f.and_then(|f| f.dst_mac.clone()),
        ttl: f.and_then(|f| f.ttl),
        vni: o.and_then(|o| o.frame.geneve.as_ref().map(|g| g.vni)),
        what: String::new(),
        by: vec![],
    }
}

pub fn explain(journeys: &[Journey], nb: Option<&NbDb>) -> Vec<Explained> {
    let zones: Vec<(String, &NbDb)> = nb.into_iter().map(|n| (String::new(), n)).collect();
    explain_zones(journeys, &zones)
}

/// The zone whose Northbound explains a hop: the one that owns the router port whose MAC the
/// packet now carries, else the one holding the sender's (forward) or receiver's port.
fn zone_for<'a>(zones: &'a [(String, &'a NbDb)], prev: &Frame, cur: &Frame, forward: bool) -> Option<&'a (String, &'a NbDb)> {
    if zones.len() < 2 {
        return zones.first();
    }
    let by_mac = cur
        .src_mac
        .as_deref()
        .and_then(|m| zones.iter().find(|(_, nb)| router_port_of_mac(nb, m).is_some()));
    let holder = |ip: Option<IpAddr>| {
        let ip = ip?.to_string();
        zones.iter().find(|(_, nb)| crate::topology::focus::find_port(nb, &ip).is_ok())
    };
    by_mac
        .or_else(|| holder(if forward { prev.src } else { prev.dst }))
        .or_else(|| zones.first())
}

/// A geneve frame between zones: the transit switch by its datapath key and the ports by their
/// keys, as the zones' Northbounds request them (`requested-tnl-key`, OVN-Kubernetes
/// interconnect); `None` for other tunnels (their keys are allocated by northd, not named here).
fn tunnel_note(zones: &[(String, &NbDb)], g: &crate::capture::decode::Geneve) -> Option<String> {
    let key = |m: &std::collections::BTreeMap<String, String>| m.get("requested-tnl-key").and_then(|k| k.parse::<i64>().ok());
    for (_, nb) in zones {
        let Some(ts) = nb.switches.values().find(|s| key(&s.other_config) == Some(i64::from(g.vni))) else {
            continue;
        };
        let port = |k: Option<u16>| {
            let k = i64::from(k?);
            zones
                .iter()
                .flat_map(|(_, nb)| nb.ports_of_named_switch(&ts.name))
                .find(|p| key(&p.options) == Some(k))
                .map(|p| p.name.clone())
        };
        let (i, e) = (port(g.ingress_port_key), port(g.egress_port_key));
        return Some(format!(
            "over geneve VNI {} = switch {}{}",
            g.vni,
            ts.name,
            match (i, e) {
                (Some(i), Some(e)) => format!(", from {i} to {e}"),
                _ => String::new(),
            }
        ));
    }
    None
}

/// Like [`explain`], with the Northbound of each zone of a cluster (each hop explained by its
/// own zone, and named with it).
pub fn explain_zones(journeys: &[Journey], zones: &[(String, &NbDb)]) -> Vec<Explained> {
    journeys
        .iter()
        .map(|j| {
            let mut rows = vec![];
            let mut prev: Option<(&str, &Frame)> = None;
            let mut lost = None;
            let last_seen = j.seen.iter().rposition(Option::is_some);
            for (i, (point, o)) in j.points.iter().zip(&j.seen).enumerate() {
                let mut r = row(point, o.as_ref());
                match (o, prev) {
                    (Some(_), None) => {
                        r.what = if i == 0 {
                            "original packet".into()
                        } else {
                            "first seen here".into()
                        }
                    }
                    (Some(o), Some((_, p))) => {
                        let cur = inner(&o.frame);
                        let z = zone_for(zones, p, cur, j.key.forward);
                        let (mut w, by) = describe(p, cur, j.key.forward, z.map(|z| z.1));
                        if let Some((name, _)) = z.filter(|(n, _)| !n.is_empty() && w != "unchanged") {
                            w += &format!(" [zone {name}]");
                        }
                        if let Some(t) = o.frame.geneve.as_ref().and_then(|g| tunnel_note(zones, g)) {
                            w = if w == "unchanged" { t } else { format!("{w}; {t}") };
                        }
                        r.what = w;
                        r.by = by;
                    }
                    (None, Some((pp, pf))) if last_seen.is_some_and(|l| i > l) && lost.is_none() => {
                        let nb = zone_for(zones, pf, pf, j.key.forward).map(|z| z.1);
                        let why = nb
                            .and_then(|nb| ttl_expiry(nb, pf, j.key.forward).or_else(|| acl_drop(nb, pf)))
                            .map(|w| format!(": {w}"))
                            .unwrap_or_default();
                        r.what = format!("not seen: lost between {pp} and {point}{why}");
                        lost = Some(format!("lost between {pp} and {point}{why}"));
                    }
                    (None, _) => r.what = "not seen here".into(),
                }
                if let Some(o) = o {
                    prev = Some((point, inner(&o.frame)));
                }
                rows.push(r);
            }
            Explained {
                key: j.key.clone(),
                rows,
                lost,
            }
        })
        .collect()
}

/// The guide's table, one per packet.
pub fn to_text(all: &[Explained]) -> String {
    let mut o = String::new();
    for e in all {
        o += &format!("{} ({})\n", e.key.what, if e.key.forward { "forward" } else { "reply" });
        let w = e.rows.iter().map(|r| r.point.len()).max().unwrap_or(5).max(13);
        o += &format!(
            "  {:<w$}  {:<16} {:<16} {:>3}  What happened\n",
            "Capture point", "Source IP", "Destination IP", "TTL"
        );
        for r in &e.rows {
            let ip = |a: &Option<IpAddr>| a.map(|x| x.to_string()).unwrap_or_else(|| "-".into());
            o += &format!(
                "  {:<w$}  {:<16} {:<16} {:>3}  {}\n",
                r.point,
                ip(&r.src),
                ip(&r.dst),
                r.ttl.map(|t| t.to_string()).unwrap_or_else(|| "-".into()),
                r.what
            );
        }
        if let Some(l) = &e.lost {
            o += &format!("  => {l}\n");
        }
        o.push('\n');
    }
    o
}
