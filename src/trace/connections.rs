//! A datapath's connection-tracking entries in OVN's terms: each zone named by the object
//! ovn-controller gave it (`ct-zone-<port>` for a logical port, `ct-zone-<datapath>_dnat` /
//! `_snat` for a router, in the integration bridge's `external_ids`), each NAT the entry shows
//! tied to the Northbound rule that makes it, each address to its pod.

use crate::capture::conntrack::Entry;
use crate::db::nb::NbDb;
use crate::db::ovs::OvsDb;
use crate::db::sb::SbDb;
use crate::lflow::contains;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Who owns a conntrack zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// A logical port's zone (a pod's, a router port's, a localnet port's).
    Port(String),
    /// A router's DNAT or SNAT zone.
    Router { name: String, snat: bool },
    /// A datapath the Southbound does not name (`ct-zone-<uuid>_…` with no such datapath).
    Datapath { key: String },
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Owner::Port(p) => write!(f, "logical port {p}"),
            Owner::Router { name, snat } => write!(f, "{name} {} zone", if *snat { "SNAT" } else { "DNAT" }),
            Owner::Datapath { key } => write!(f, "datapath {key}"),
        }
    }
}

/// Zone numbers → owners, from `ct-zone-*` of the integration bridge (`ovn-bridge`, else
/// `br-int`), routers named through the Southbound's datapaths.
pub fn zones(ovs: &OvsDb, sb: Option<&SbDb>) -> BTreeMap<u16, Owner> {
    let bridge = ovs
        .system
        .as_ref()
        .and_then(|s| s.external_ids.get("ovn-bridge").cloned())
        .unwrap_or_else(|| "br-int".into());
    let Some(br) = ovs.bridges.values().find(|b| b.name == bridge) else {
        return BTreeMap::new();
    };
    let mut out = BTreeMap::new();
    for (k, v) in &br.external_ids {
        let (Some(name), Ok(zone)) = (k.strip_prefix("ct-zone-"), v.parse::<u16>()) else {
            continue;
        };
        // ovn-controller 23.03 keys a datapath's zones by its uuid (`ct-zone-<uuid>_snat`),
        // 25.03 by its name (`ct-zone-GR_worker-1_snat`); a logical port's zone is keyed by the
        // port's name, which the Southbound tells apart from a datapath's.
        let is_port = sb.is_some_and(|sb| sb.port_bindings.values().any(|p| p.logical_port == name));
        let owner = match name.rsplit_once('_') {
            Some((dp, kind @ ("dnat" | "snat"))) if !is_port => {
                let snat = kind == "snat";
                let by_uuid = dp.parse::<uuid::Uuid>().ok();
                let named = sb.and_then(|sb| {
                    let d = match by_uuid {
                        Some(u) => sb.datapaths.get(&u),
                        None => sb.datapaths.values().find(|d| d.name() == dp),
                    };
                    d.map(|d| d.name().to_string())
                });
                match (named, by_uuid) {
                    (Some(n), _) if !n.is_empty() => Owner::Router { name: n, snat },
                    // By name, with no Southbound to confirm it: the name is still the datapath's.
                    (None, None) if sb.is_none() => Owner::Router {
                        name: dp.to_string(),
                        snat,
                    },
                    _ => Owner::Datapath { key: name.to_string() },
                }
            }
            _ => Owner::Port(name.to_string()),
        };
        out.insert(zone, owner);
    }
    out
}

/// One entry, explained.
#[derive(Debug, Clone)]
pub struct Explained {
    pub entry: Entry,
    pub owner: Option<Owner>,
    /// The NAT the entry shows, with the rule behind it when the Northbound has one.
    pub nat: Option<String>,
    /// Pods by address, for the addresses of the entry that are pods'.
    pub pods: BTreeMap<IpAddr, String>,
}

fn nat_rule(nb: &NbDb, logical: IpAddr, external: IpAddr, router: Option<&str>) -> Option<String> {
    for r in nb.routers_sorted().into_iter().filter(|r| router.is_none_or(|n| n == r.name)) {
        for n in nb.nats_of(r) {
            if n.external_ip.parse::<IpAddr>().ok() == Some(external) && contains(&n.logical_ip, logical) {
                return Some(format!("{} rule {} (logical_ip {}) on {}", n.kind, n.uuid, n.logical_ip, r.name));
            }
        }
    }
    None
}

/// The address of a load-balancer VIP or backend (`IP`, `IP:PORT`, `[IPv6]:PORT`).
fn host_of(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    s.parse().ok().or_else(|| {
        let (h, _) = s.rsplit_once(':')?;
        h.trim_matches(['[', ']']).parse().ok()
    })
}

/// The load balancer whose hairpin an entry shows: a backend reached itself through it (the
/// answering end is the client) and was SNATed to the balancer's
/// `hairpin_snat_ip` or one of its VIPs — the one SNAT OVN makes from an address to itself.
fn hairpin_lb(nb: &NbDb, backend: IpAddr, to: IpAddr) -> Option<&str> {
    nb.load_balancers
        .values()
        .find(|lb| {
            let backs = lb.vips.values().any(|b| b.split(',').any(|x| host_of(x) == Some(backend)));
            let snat_ip = lb
                .options
                .get("hairpin_snat_ip")
                .is_some_and(|v| v.split_whitespace().any(|a| a.parse() == Ok(to)));
            backs && (snat_ip || lb.vips.keys().any(|k| host_of(k) == Some(to)))
        })
        .map(|lb| lb.name.as_str())
}

/// Explains `entries` with the zone owners and the Northbound.
pub fn explain(entries: Vec<Entry>, owners: &BTreeMap<u16, Owner>, nb: Option<&NbDb>) -> Vec<Explained> {
    entries
        .into_iter()
        .map(|e| {
            let owner = owners.get(&e.zone).cloned();
            let router = match &owner {
                Some(Owner::Router { name, .. }) => Some(name.as_str()),
                _ => None,
            };
            let mut nat = vec![];
            if let Some((from, to)) = e.snat() {
                let rule = nb.and_then(|nb| nat_rule(nb, from, to, router));
                // The answering end (after any DNAT) is the client itself.
                let hairpin = (e.reply.src == from).then(|| nb.and_then(|nb| hairpin_lb(nb, from, to)));
                nat.push(match (rule, hairpin) {
                    (Some(r), _) => format!("SNAT {from} → {to} by {r}"),
                    (None, Some(Some(lb))) => format!("SNAT {from} → {to}: hairpin, the backend reached itself through load balancer {lb}"),
                    (None, Some(None)) => format!("SNAT {from} → {to}: hairpin, a backend reaching itself through a load balancer"),
                    (None, None) => format!("SNAT {from} → {to} (no OVN NAT rule maps these)"),
                });
            }
            if let Some((from, to)) = e.dnat() {
                let rule = nb.and_then(|nb| nat_rule(nb, to, from, router));
                nat.push(match rule {
                    Some(r) => format!("DNAT {from} → {to} by {r}"),
                    None => format!("DNAT {from} → {to} (a load balancer, or a rule outside OVN)"),
                });
            }
            let mut pods = BTreeMap::new();
            if let Some(nb) = nb {
                for ip in [e.orig.src, e.orig.dst, e.reply.src, e.reply.dst] {
                    if let Ok(p) = crate::topology::focus::find_port(nb, &ip.to_string()) {
                        pods.insert(ip, p.name.replacen('_', "/", 1));
                    }
                }
            }
            Explained {
                owner,
                nat: (!nat.is_empty()).then(|| nat.join("; ")),
                pods,
                entry: e,
            }
        })
        .collect()
}

/// Entries about `ip` (either direction, either side).
pub fn about(e: &Entry, ip: IpAddr) -> bool {
    [e.orig.src, e.orig.dst, e.reply.src, e.reply.dst].contains(&ip)
}

fn tuple_text(t: &crate::capture::conntrack::Tuple) -> String {
    let rest: Vec<String> = t.fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("src={} dst={} {}", t.src, t.dst, rest.join(" "))
}

/// For people: one block per entry, like `conntrack -L` with the OVN names added.
pub fn to_text(all: &[Explained]) -> String {
    let mut s = String::new();
    for x in all {
        let e = &x.entry;
        s += &format!(
            "{} zone {}{}{}{}\n",
            e.proto,
            e.zone,
            x.owner
                .as_ref()
                .map(|o| format!(" = {o}"))
                .unwrap_or_else(|| " (not an OVN zone)".into()),
            e.state.as_ref().map(|st| format!("  {st}")).unwrap_or_default(),
            e.timeout.map(|t| format!("  timeout {t} s")).unwrap_or_default(),
        );
        s += &format!("  original  {}\n  reply     {}\n", tuple_text(&e.orig), tuple_text(&e.reply));
        if let Some(n) = &x.nat {
            s += &format!("  {n}\n");
        }
        for (ip, pod) in &x.pods {
            s += &format!("  {ip} is pod {pod}\n");
        }
    }
    if all.is_empty() {
        s += "no connection-tracking entries match\n";
    }
    s
}

/// One place connection-tracking entries were read from (a datapath's table), explained.
pub struct Table {
    /// `kernel (netns X)` or the control socket.
    pub source: String,
    pub entries: Vec<Explained>,
}

/// The ICMP id a capture's packet key names (`icmp echo id N seq M`).
fn icmp_id(what: &str) -> Option<&str> {
    let rest = what.strip_prefix("icmp echo id ")?;
    rest.split_whitespace().next()
}

/// An entry that holds the rewrite `old → new` of a packet's `side` (source or destination),
/// seen in the packet's `forward` direction or in its reply.
fn holds(x: &Explained, what: &str, forward: bool, dst_changed: bool, old: IpAddr, new: IpAddr) -> bool {
    let e = &x.entry;
    let proto = what.split_whitespace().next().unwrap_or_default();
    if e.proto != proto || icmp_id(what).is_some_and(|id| e.orig.fields.get("id").is_some_and(|v| v != id)) {
        return false;
    }
    match (forward, dst_changed) {
        // SNAT: the original source, replies expected to the new one.
        (true, false) => e.orig.src == old && e.reply.dst == new,
        // DNAT: the original destination, replies from the new one.
        (true, true) => e.orig.dst == old && e.reply.src == new,
        // A reply's un-SNAT: the entry's original source is where it goes now.
        (false, true) => e.orig.src == new && e.reply.dst == old,
        // A reply's un-DNAT.
        (false, false) => e.orig.dst == new && e.reply.src == old,
    }
}

/// Adds to every address rewrite a capture report names the connection-tracking entry that
/// holds it — the confirmation the guide gets from `conntrack -L` by hand — or says that none of
/// the tables read holds one (a NAT the flows make but the datapath never committed, or one
/// that expired before the capture ended).
pub fn cite(packets: &mut [crate::trace::explain::Explained], tables: &[Table]) {
    if tables.is_empty() {
        return;
    }
    for p in packets {
        let mut prev: Option<(Option<IpAddr>, Option<IpAddr>)> = None;
        for r in &mut p.rows {
            if !r.seen {
                continue;
            }
            if let Some((ps, pd)) = prev {
                let mut notes = vec![];
                for (dst_changed, old, new) in [(false, ps, r.src), (true, pd, r.dst)] {
                    let (Some(old), Some(new)) = (old, new) else { continue };
                    if old == new {
                        continue;
                    }
                    let found = tables.iter().find_map(|t| {
                        t.entries
                            .iter()
                            .find(|x| holds(x, &p.key.what, p.key.forward, dst_changed, old, new))
                            .map(|x| (t, x))
                    });
                    notes.push(match found {
                        Some((t, x)) => format!(
                            "conntrack ({}): zone {}{} holds it{}",
                            t.source,
                            x.entry.zone,
                            x.owner
                                .as_ref()
                                .map(|o| format!(" = {o}"))
                                .unwrap_or_else(|| " (not an OVN zone)".into()),
                            x.entry.state.as_ref().map(|s| format!(", {s}")).unwrap_or_default()
                        ),
                        None => format!(
                            "conntrack: no entry in {} holds {old} → {new} (never committed, or expired)",
                            tables.iter().map(|t| t.source.as_str()).collect::<Vec<_>>().join(", ")
                        ),
                    });
                }
                if !notes.is_empty() {
                    r.what = format!("{}; {}", r.what, notes.join("; "));
                }
            }
            prev = Some((r.src, r.dst));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::conntrack::parse;
    use crate::trace::explain::{Explained as Packet, Row};

    fn row(point: &str, src: &str, dst: &str) -> Row {
        Row {
            point: point.into(),
            seen: true,
            number: Some(1),
            src: src.parse().ok(),
            dst: dst.parse().ok(),
            src_mac: None,
            dst_mac: None,
            ttl: None,
            vni: None,
            what: "w".into(),
            by: vec![],
        }
    }

    #[test]
    fn a_hairpin_snat_names_its_load_balancer() {
        let mut nb = NbDb::default();
        let lb = crate::db::nb::LoadBalancer {
            uuid: uuid::Uuid::from_u128(1),
            name: "svc".into(),
            vips: [("10.96.0.50:80".to_string(), "10.128.2.43:9080,10.128.2.44:9080".to_string())].into(),
            protocol: Some("tcp".into()),
            options: [("hairpin_snat_ip".to_string(), "169.254.169.5 fd69::5".to_string())].into(),
            external_ids: Default::default(),
        };
        nb.load_balancers.insert(lb.uuid, lb);
        let nat = |line: &str| explain(parse(line).unwrap(), &BTreeMap::new(), Some(&nb))[0].nat.clone().unwrap();
        // DNAT and SNAT in one entry (the switch's zone), and the SNAT alone.
        assert_eq!(
            nat("tcp,orig=(src=10.128.2.43,dst=10.96.0.50,sport=5,dport=80),reply=(src=10.128.2.43,dst=169.254.169.5,sport=9080,dport=5),zone=9\n"),
            "SNAT 10.128.2.43 → 169.254.169.5: hairpin, the backend reached itself through load balancer svc; DNAT 10.96.0.50 → 10.128.2.43 (a load balancer, or a rule outside OVN)"
        );
        assert_eq!(
            nat("tcp,orig=(src=10.128.2.43,dst=10.128.2.43,sport=5,dport=9080),reply=(src=10.128.2.43,dst=10.96.0.50,sport=9080,dport=5),zone=9\n"),
            "SNAT 10.128.2.43 → 10.96.0.50: hairpin, the backend reached itself through load balancer svc"
        );
        // Another pod's connection to the VIP is no hairpin.
        assert!(!nat("tcp,orig=(src=10.128.2.44,dst=10.96.0.50,sport=5,dport=80),reply=(src=10.128.2.43,dst=10.128.2.44,sport=9080,dport=5),zone=9\n").contains("hairpin"));
    }

    #[test]
    fn a_snat_is_cited_or_said_missing() {
        let packet = |id: u32| Packet {
            key: crate::capture::correlate::Key {
                what: format!("icmp echo id {id} seq 1"),
                forward: true,
            },
            rows: vec![row("pod", "10.128.2.43", "203.0.113.8"), row("nic", "198.18.0.9", "203.0.113.8")],
            lost: None,
        };
        let entries = parse("icmp,orig=(src=10.128.2.43,dst=203.0.113.8,id=7,type=8,code=0),reply=(src=203.0.113.8,dst=198.18.0.9,id=7,type=0,code=0),zone=5,timeout=29\n").unwrap();
        let owners = BTreeMap::from([(
            5,
            Owner::Router {
                name: "GR_worker-1".into(),
                snat: true,
            },
        )]);
        let tables = [Table {
            source: "vswitchd".into(),
            entries: explain(entries, &owners, None),
        }];
        // Its entry (same ICMP id), and another ping's, that no entry holds.
        let mut packets = vec![packet(7), packet(8)];
        cite(&mut packets, &tables);
        assert_eq!(packets[0].rows[0].what, "w");
        assert_eq!(
            packets[0].rows[1].what,
            "w; conntrack (vswitchd): zone 5 = GR_worker-1 SNAT zone holds it"
        );
        assert_eq!(
            packets[1].rows[1].what,
            "w; conntrack: no entry in vswitchd holds 10.128.2.43 → 198.18.0.9 (never committed, or expired)"
        );
    }
}
