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
                nat.push(format!(
                    "SNAT {from} → {to}{}",
                    rule.map(|r| format!(" by {r}"))
                        .unwrap_or_else(|| " (no OVN NAT rule maps these)".into())
                ));
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
